/**
 * Types for the component-framework client runtime (component-framework.js), for pages and
 * scripts that listen to its DOM events or call its small API. Served by ComponentASGI at
 * <prefix>/_static/component-framework.d.ts.
 */

/** One stream operation as the server sends it (SSE `stream` frames, WebSocket `stream` messages). */
export type StreamOp =
  | { op: "start"; stream: string }
  | { op: "text"; stream: string; text: string; mode?: "append" | "replace"; target?: string }
  | { op: "insert"; stream: string; html: string; at?: "append" | "prepend"; target?: string }
  | { op: "replace"; stream: string; html: string; target?: string }
  | { op: "delete"; stream: string; selector: string }
  | { op: "error"; stream: string; text: string }
  | { op: "done"; stream: string };

/** `detail` of `stream:start`, `stream:update` and `stream:done`. */
export interface StreamEventDetail {
  stream: string;
  op: StreamOp;
}

/** `detail` of `stream:text`: the text just appended (or the new text, in replace mode). */
export interface StreamTextDetail extends StreamEventDetail {
  text: string;
}

/** `detail` of `stream:error`: the error text, shown in the stream element too. */
export interface StreamErrorDetail extends StreamEventDetail {
  error: string;
}

/** `detail` of `component-error`: fired on the component (HTTP via `HX-Trigger`, WebSocket
 * errors, and `not_applied` from the runtime: events queued while a socket was away, dropped
 * because the server could not resume the component and mounted it afresh). */
export interface ComponentErrorDetail {
  /** The server's error code (`validation_error`, `invalid_snapshot`, ...) or `not_applied`. */
  code: string;
  /** For people: shown in the component. */
  message: string;
  component?: string;
  ref?: string | number | null;
  /** `validation_error`: the (dotted) field name the message is about. */
  field?: string;
  /** `invalid_snapshot`: `malformed`, `tampered`, `unknown_key`, `foreign`, `expired`, `oversized`. */
  reason?: string;
  retry_after?: number;
}

/** `detail` of `component:broadcast`: an event forwarded by `WebSocketManager.broadcast`. */
export interface ComponentBroadcastDetail {
  type?: "broadcast";
  event: string;
  payload: Record<string, unknown>;
}

/** Navigation and client effects a handler asked for (`redirect`, `push_url` or `replace_url`,
 * `trigger`): the `effects` of a WebSocket `effects` message, an SSE `effects` frame and a JSON
 * answer (htmx answers carry them as `HX-Redirect`, `HX-Push-Url`, `HX-Replace-Url`, `HX-Trigger`).
 * Each trigger fires a bubbling DOM event on the component's root; its `detail` is the object the
 * handler gave, or `{ value }` for anything else. */
export interface ComponentEffects {
  redirect?: string;
  push_url?: string;
  replace_url?: string;
  trigger?: Record<string, unknown>;
}

/** `detail` of `component:restored`: after the first render of a (re)opened socket, the fields
 * that showed other values before it (typed, chosen, not sent) got them back. */
export interface ComponentRestoredDetail {
  /** The `name` of each restored field. */
  fields: string[];
}

/** `detail` of `component:upload-progress`: fired on the component while a request from inside
 * it sends files (htmx 2 and htmx 4 alike), from 0 when it starts to 100 when the last byte is
 * sent. The root's `data-upload-progress` and each `<progress data-upload-progress>` in it show
 * `percent` meanwhile. */
export interface ComponentUploadProgressDetail {
  /** Bytes of the request body sent so far. */
  loaded: number;
  /** The whole body's bytes (0 while the browser does not know it). */
  total: number;
  /** 0-100, or `null` while the total is unknown. */
  percent: number | null;
}

/** The global the runtime installs as `window.componentFramework`. */
export interface ComponentFrameworkRuntime {
  /** Queue stream operations for the component around `scope`; applied at the next frame. */
  applyOps(scope: Element, ops: StreamOp[]): void;
  /** Apply every queued operation now. */
  flush(): void;
  /** This page load's id (32 hex digits: 128 random bits): sent with component requests and
   * htmx 4 streams (`X-Component-Page`) and in socket and EventSource URLs (`_page`), so live
   * components hear the events emitted on this page. */
  readonly page: string;
}

declare global {
  interface Window {
    componentFramework: ComponentFrameworkRuntime;
  }
  interface HTMLElementEventMap {
    "stream:start": CustomEvent<StreamEventDetail>;
    "stream:text": CustomEvent<StreamTextDetail>;
    "stream:update": CustomEvent<StreamEventDetail>;
    "stream:error": CustomEvent<StreamErrorDetail>;
    "stream:done": CustomEvent<StreamEventDetail>;
    "component-error": CustomEvent<ComponentErrorDetail>;
    "component:broadcast": CustomEvent<ComponentBroadcastDetail>;
    "component:restored": CustomEvent<ComponentRestoredDetail>;
    "component:upload-progress": CustomEvent<ComponentUploadProgressDetail>;
  }
  interface DocumentEventMap {
    "stream:start": CustomEvent<StreamEventDetail>;
    "stream:text": CustomEvent<StreamTextDetail>;
    "stream:update": CustomEvent<StreamEventDetail>;
    "stream:error": CustomEvent<StreamErrorDetail>;
    "stream:done": CustomEvent<StreamEventDetail>;
    "component-error": CustomEvent<ComponentErrorDetail>;
    "component:broadcast": CustomEvent<ComponentBroadcastDetail>;
    "component:restored": CustomEvent<ComponentRestoredDetail>;
    "component:upload-progress": CustomEvent<ComponentUploadProgressDetail>;
  }
}
