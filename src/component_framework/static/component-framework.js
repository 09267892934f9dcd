/* component-framework client runtime (minimal, no build step, CSP-safe: no eval, no inline).
 * Served by ComponentASGI at <prefix>/_static/component-framework.js.
 *
 * Streams: htmx's SSE extension re-creates a closed EventSource without Last-Event-ID, which
 * would start the work again. A stream ends with a "done", "error" or "shutdown" frame, so this
 * closes the source on any of them: the finished report is never re-run.
 */
(function () {
  "use strict";
  var FINAL_EVENTS = ["done", "error", "shutdown"];
  document.addEventListener("htmx:sseOpen", function (event) {
    var source = event.detail && event.detail.source;
    if (!source || source.componentFrameworkHooked) { return; }
    source.componentFrameworkHooked = true;
    FINAL_EVENTS.forEach(function (name) {
      source.addEventListener(name, function () { source.close(); });
    });
  });
})();
