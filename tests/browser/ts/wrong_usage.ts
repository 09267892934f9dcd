// Must FAIL to type-check (tests/test_client_runtime.py): each line marked "error:" is wrong and
// must be reported by tsc, and no other line may be. Proves the declarations are not `any`.
import type { StreamOp } from "../../../src/component_framework/static/component-framework.js";

document.addEventListener("stream:done", (event) => {
  console.log(event.detail.text); // error: done events carry no text
});
document.addEventListener("stream:text", (event) => {
  const length: number = event.detail.text; // error: text is a string
  console.log(length);
});
document.addEventListener("stream:error", (event) => {
  console.log(event.detail.message); // error: the error text is `error`, not `message`
});
document.addEventListener("component-error", (event) => {
  console.log(event.detail.error); // error: component errors have code and message
});
document.addEventListener("component:broadcast", (event) => {
  const name: number = event.detail.event; // error: the event name is a string
  console.log(name);
});
const missingHtml: StreamOp = { op: "insert", stream: "s" }; // error: insert needs html
const badMode: StreamOp = { op: "text", stream: "s", text: "t", mode: "prepend" }; // error: mode
const badKind: StreamOp = { op: "upsert", stream: "s" }; // error: no such op
window.componentFramework.applyOps("#chat", [missingHtml, badMode, badKind]); // error: an Element
window.componentFramework.flush(true); // error: flush takes no argument
