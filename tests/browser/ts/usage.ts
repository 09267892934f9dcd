// Type-checked by tests/test_client_runtime.py with `tsc --noEmit --strict`: how a page script
// uses the runtime's declarations (every event, its detail, and window.componentFramework).
import type {
  ComponentBroadcastDetail,
  ComponentErrorDetail,
  ComponentFrameworkRuntime,
  ComponentRestoredDetail,
  ComponentUploadProgressDetail,
  StreamErrorDetail,
  StreamEventDetail,
  StreamOp,
  StreamTextDetail,
} from "../../../src/component_framework/static/component-framework.js";

const log: string[] = [];

document.addEventListener("stream:start", (event) => {
  const detail: StreamEventDetail = event.detail;
  log.push(`start ${detail.stream} ${detail.op.op}`);
});
document.addEventListener("stream:text", (event) => {
  const text: string = event.detail.text;
  const detail: StreamTextDetail = event.detail;
  log.push(`${detail.stream}: ${text}`);
});
document.addEventListener("stream:update", (event) => {
  const op: StreamOp = event.detail.op;
  if (op.op === "insert") {
    const html: string = op.html;
    const at: "append" | "prepend" | undefined = op.at;
    log.push(`insert ${html} ${at ?? "append"}`);
  } else if (op.op === "delete") {
    const selector: string = op.selector;
    log.push(`delete ${selector}`);
  }
});
document.addEventListener("stream:error", (event) => {
  const detail: StreamErrorDetail = event.detail;
  log.push(`error ${detail.stream}: ${detail.error}`);
});
document.addEventListener("stream:done", (event) => {
  log.push(`done ${event.detail.stream}`);
});
document.addEventListener("component-error", (event) => {
  const detail: ComponentErrorDetail = event.detail;
  const field: string | undefined = detail.field;
  log.push(`${detail.code}: ${detail.message} ${field ?? ""} ${detail.retry_after ?? 0}`);
});
document.addEventListener("component:broadcast", (event) => {
  const detail: ComponentBroadcastDetail = event.detail;
  const payload: Record<string, unknown> = detail.payload;
  log.push(`broadcast ${detail.event} ${Object.keys(payload).length}`);
});

document.addEventListener("component:restored", (event) => {
  const detail: ComponentRestoredDetail = event.detail;
  const fields: string[] = detail.fields;
  log.push(`restored ${fields.join(", ")}`);
});

document.addEventListener("component:upload-progress", (event) => {
  const detail: ComponentUploadProgressDetail = event.detail;
  const shown: string = detail.percent === null ? "?" : `${detail.percent}%`;
  log.push(`upload ${shown} of ${detail.total} (${detail.loaded} sent)`);
});

const answer = document.querySelector<HTMLElement>("[data-stream=answer]");
answer?.addEventListener("stream:text", (event) => {
  log.push(event.detail.text.toUpperCase());
});
answer?.addEventListener("stream:done", (event) => {
  log.push(event.detail.op.op);
});

const runtime: ComponentFrameworkRuntime = window.componentFramework;
const ops: StreamOp[] = [
  { op: "start", stream: "answer" },
  { op: "text", stream: "answer", text: "Hello", mode: "append" },
  { op: "text", stream: "answer", text: "Hi", mode: "replace", target: ".line" },
  { op: "insert", stream: "answer", html: "<li>x</li>", at: "prepend" },
  { op: "replace", stream: "answer", html: "<b>y</b>", target: ".inner" },
  { op: "delete", stream: "answer", selector: ".old" },
  { op: "error", stream: "answer", text: "failed" },
  { op: "done", stream: "answer" },
];
runtime.applyOps(document.body, ops);
window.componentFramework.flush();
export { log };
