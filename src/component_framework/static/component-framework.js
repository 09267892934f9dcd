/* component-framework client runtime: an htmx extension for htmx 2 and htmx 4 alike, CSP-safe (no
 * eval, no inline script or style). Pages load it minified (component-framework.min.js: after an
 * edit here, run scripts/build-runtime.sh and commit its output); served by ComponentASGI under
 * <prefix>/_static/; load it after htmx (and its sse/ws extensions). On htmx 2
 * put hx-ext="component-framework" on <body>; htmx 4 extensions are global once registered.
 * Types: component-framework.d.ts beside this file. What it does, in order below:
 * stream operations (SSE "stream" frames and compact "t" text frames, WebSocket "stream" messages), batched once per frame;
 * SSE ends and resumes; one connection per page for the streams of this app (POST <prefix>/_page/,
 * or the page's socket when it has one); one socket per page for its ws-connect components; WebSocket resume with the component's last snapshot, sent in a join
 * message (never in the URL), events queued while the socket is away (sent after the rejoin, or
 * reported as not applied after a fresh mount);
 * errors shown in the component, with no htmx console error for them; loading state; a field the
 * user is typing in is never overwritten by a swap; forms: validating as the person types, and
 * the fields' values kept across a socket's reconnect; nested components (a request carries the
 * snapshots of the components inside its own; over a socket an event names its child). The last two sections adapt it to each htmx:
 * htmx 2 (defineExtension, inherited hx-vals/hx-target/hx-swap) and htmx 4 (registerExtension,
 * where the runtime itself gives every request from inside a component the root's snapshot, target
 * and swap, and closes a finished stream, since hx-sse would otherwise reconnect forever).
 */
(function () {
  "use strict";
  var htmx = window.htmx;
  if (!htmx) { return; }
  var HTMX4 = typeof htmx.registerExtension === "function", api = null;
  var ROOT = "[data-component]", ACTIVE = "data-stream-active", LOADING = "data-loading";
  var NEAR_BOTTOM = 48;
  var NOT_APPLIED = "Your last action was not applied: the server could not resume this component " +
    "(a new server key, or its state expired), so it was reloaded. Please try again.";

  function fire(elt, name, detail) {
    elt.dispatchEvent(new CustomEvent(name, { bubbles: true, detail: detail }));
  }
  function rootOf(elt) { return elt && elt.closest ? elt.closest(ROOT) : null; }
  function headersFor(elt, own) { // the runtime's own requests carry the page's hx-headers (a CSRF token)
    var at = (elt && elt.isConnected ? elt : document.body).closest("[hx-headers],[hx-headers\\:inherited]");
    var text = at && (at.getAttribute("hx-headers") || at.getAttribute("hx-headers:inherited")), more = {};
    try { more = text && !/^\s*(js|javascript):/.test(text) ? JSON.parse(text) : {}; } catch (e) { /* htmx says so on its own requests */ }
    return Object.assign(more, own);
  }
  function rootIn(elt) { return elt.matches(ROOT) ? elt : elt.querySelector(ROOT) || rootOf(elt); }
  function snapshotOf(root) {
    try { return JSON.parse(root.getAttribute("hx-vals") || "{}").snapshot || null; } catch (e) { return null; }
  }

  /* -- stream operations ---------------------------------------------------------------------- */
  var queue = [], scheduled = false;

  function streamElement(scope, name) {
    var selector = '[data-stream="' + CSS.escape(name) + '"]', root = rootOf(scope);
    return (root && root.querySelector(selector)) || scope.querySelector(selector) ||
      document.querySelector(selector);
  }
  function textOps(data) { // a compact text frame (event "t"): "<stream> <text>"
    var space = data.indexOf(" ");
    return space > 0 ? [{ op: "text", stream: data.slice(0, space), text: data.slice(space + 1), mode: "append" }] : [];
  }
  function enqueue(scope, ops) {
    for (var i = 0; i < ops.length; i++) { queue.push([scope, ops[i]]); }
    if (!scheduled) {
      scheduled = true;
      if (document.hidden) { setTimeout(flush, 16); } else { requestAnimationFrame(flush); }
    }
  }
  function scroller(elt) {
    for (var node = elt; node && node !== document.body; node = node.parentElement) {
      var overflow = getComputedStyle(node).overflowY;
      if (overflow === "auto" || overflow === "scroll") { return node; }
    }
    return document.scrollingElement || document.documentElement;
  }
  function flush() {
    scheduled = false;
    var batch = queue, boxes = new Map();
    queue = [];
    batch.forEach(function (item) {
      var op = item[1], elt = streamElement(item[0], op.stream);
      if (!elt) { return; }
      var box = scroller(elt);
      if (!boxes.has(box)) { boxes.set(box, box.scrollHeight - box.scrollTop - box.clientHeight <= NEAR_BOTTOM); }
      try { apply(elt, op); } catch (error) { console.warn("component-framework: stream op", op, error); }
    });
    boxes.forEach(function (near, box) { if (near) { box.scrollTop = box.scrollHeight; } });
  }
  function appendText(elt, text) {
    var node = elt.cfText;
    if (node && node.parentNode === elt && elt.lastChild === node) { node.appendData(text); return; }
    elt.cfText = elt.appendChild(document.createTextNode(text));
  }
  function apply(elt, op) {
    var target = op.target ? elt.querySelector(op.target) : elt, detail = { stream: op.stream, op: op };
    if (!target) { return; }
    switch (op.op) {
      case "start":
        elt.setAttribute(ACTIVE, "");
        elt.removeAttribute("data-stream-error");
        return fire(elt, "stream:start", detail);
      case "text":
        if (op.mode === "replace") { target.textContent = op.text; target.cfText = target.firstChild; }
        else { appendText(target, op.text); }
        detail.text = op.text;
        return fire(elt, "stream:text", detail);
      case "insert":
        target.insertAdjacentHTML(op.at === "prepend" ? "afterbegin" : "beforeend", op.html);
        htmx.process(target);
        break;
      case "replace":
        target.innerHTML = op.html;
        htmx.process(target);
        break;
      case "delete":
        elt.querySelectorAll(op.selector).forEach(function (node) { node.remove(); });
        break;
      case "error":
        var note = document.createElement("p");
        note.className = "stream-error";
        note.setAttribute("role", "alert");
        note.textContent = op.text;
        elt.appendChild(note);
        elt.removeAttribute(ACTIVE);
        elt.setAttribute("data-stream-error", "");
        detail.error = op.text;
        return fire(elt, "stream:error", detail);
      case "done":
        elt.removeAttribute(ACTIVE);
        return fire(elt, "stream:done", detail);
      default:
        return;
    }
    fire(elt, "stream:update", detail);
  }
  function endStreams(scope) {
    scope.cfLive = false; // a live stream that heard its page's events has ended
    scope.querySelectorAll("[" + ACTIVE + "]").forEach(function (elt) { elt.removeAttribute(ACTIVE); });
  }

  /* -- errors and loading state ---------------------------------------------------------------- */
  function showError(root, message) {
    var box = root.querySelector("[data-component-error]");
    if (!box) {
      box = document.createElement("p");
      box.className = "component-error";
      box.setAttribute("role", "alert");
      box.setAttribute("data-component-error", "");
      root.insertBefore(box, root.firstChild);
    }
    box.textContent = message;
  }
  document.addEventListener("component-error", function (event) {
    var root = rootOf(event.target), detail = event.detail || {};
    if (root) { setLoading(root, false); showError(root, detail.message || "Something went wrong"); }
  });
  function setLoading(root, on) {
    if (!root) { return; }
    if (on) { root.setAttribute(LOADING, ""); root.setAttribute("aria-busy", "true"); }
    else { root.removeAttribute(LOADING); root.removeAttribute("aria-busy"); }
  }
  function clearLoading(scope) {
    var root = rootIn(scope);
    if (root) { setLoading(root, false); }
    scope.querySelectorAll("[" + LOADING + "]").forEach(function (elt) { setLoading(elt, false); });
  }

  /* -- SSE: end on the final frames, never re-run a finished stream ---------------------------- */
  var FINAL = ["done", "error", "shutdown", "lost"];
  function ended(elt, name, data) { // a FINAL frame: the source is closed by now
    flush();
    endStreams(elt);
    if (name === "error" || name === "lost") { // lost: a resume the server could not serve
      var root = rootIn(elt), error = JSON.parse(data);
      if (root) { showError(root, (error.error || error).message || "The stream failed"); }
      if (name === "lost") { fire(elt, "stream:lost", { error: error }); }
    }
  }
  function hookSource(elt, source) { // htmx 2: the extension's EventSource
    if (source.cfHooked) { return; }
    source.cfHooked = true;
    source.addEventListener("stream", function (event) { enqueue(elt, JSON.parse(event.data)); });
    source.addEventListener("t", function (event) { enqueue(elt, textOps(event.data)); });
    source.addEventListener("effects", function (event) { applyEffects(elt, JSON.parse(event.data)); });
    source.addEventListener("listening", function () { elt.cfLive = true; });
    source.addEventListener("broadcast", function (event) {
      fire(rootIn(elt) || elt, "component:broadcast", JSON.parse(event.data));
    });
    FINAL.forEach(function (name) {
      source.addEventListener(name, function (event) {
        if (event.data === undefined) { return; } // the browser's own error: it reconnects itself
        source.close();
        ended(elt, name, event.data);
      });
    });
  }
  function stopConnection(connection) { // htmx 4: hx-sse's loop ends instead of reconnecting
    connection.config.reconnect = false;
    try { if (connection.reader) { connection.reader.cancel(); } } catch (e) { /* already released */ }
  }
  function onStreamMessage(elt, message, connection) { // htmx 4: every frame, before hx-sse acts
    switch (message.event) {
      case "": flush(); break; // a render replaces the elements queued operations are meant for
      case "stream": enqueue(elt, JSON.parse(message.data)); break;
      case "t": enqueue(elt, textOps(message.data)); break;
      case "effects": applyEffects(elt, JSON.parse(message.data)); break;
      case "listening": elt.cfLive = true; break; // the server delivers the page's events to it
      case "broadcast": fire(rootIn(elt) || elt, "component:broadcast", JSON.parse(message.data)); break;
      default:
        if (FINAL.indexOf(message.event) >= 0) {
          stopConnection(connection);
          ended(elt, message.event, message.data);
        }
    }
  }

  /* -- WebSocket: resume the page's component on every (re)connect ------------------------------ */
  // Both htmx ws extensions are driven through a "link": the socket's queue of unsent events,
  // send (a text now), resend (a queued event now) and reconnect (with the extension's backoff).
  var FRESH_CLOSE = 4000; // htmx 4: our close code when the page must mount afresh
  function joinUrl(url, elt) { // the snapshot goes in a join message, never in a logged URL
    var root = rootIn(elt), joined = new URL(url), kept = new URLSearchParams();
    elt.cfJoin = !elt.cfFresh && root && snapshotOf(root);
    elt.cfKids = elt.cfJoin ? childSnapshots(root) : [];
    if (!elt.cfJoin) { return url; }
    ["format", "target"].forEach(function (name) {
      if (joined.searchParams.has(name)) { kept.set(name, joined.searchParams.get(name)); }
    });
    kept.set("join", "message");
    joined.search = kept.toString();
    return joined.href;
  }
  function joined(elt, link, message) {
    // The first answer to the join: a refused snapshot (expired, new key), or server-held
    // state that is gone or was replaced meanwhile, means a fresh mount from the page's URL,
    // where the held events are dropped and reported as not applied.
    var held = elt.cfHeld;
    elt.cfHeld = null;
    if (message && /^(invalid_(snapshot|child)|state_expired|stale_state|state_conflict)$/.test(message.code)) {
      elt.cfFresh = true;
      link.queue.push.apply(link.queue, held);
      link.reconnect();
      return false;
    }
    held.forEach(link.resend);
    return true;
  }
  function socketOpened(elt, link) {
    elt.cfOpened = true;
    var shown = elt.cfShown = {}; // given back after the render that answers this open
    eachField(elt, function (field, key) { shown[key] = fieldValue(field); });
    // A fresh mount: the events queued meanwhile were meant for the component it replaced.
    if (elt.cfFresh) { elt.cfDropped = link.queue.splice(0).filter(function (item) { return !isCheck(item.message); }).length; }
    elt.cfFresh = false;
    if (elt.cfJoin) { // events queued meanwhile wait for the answer to the join
      elt.cfHeld = link.queue.splice(0);
      var join = { type: "join", snapshot: elt.cfJoin, url: location.href }; // url: for URL state
      if (elt.cfKids.length) { join.children = elt.cfKids; }
      link.send(JSON.stringify(join));
    }
  }
  function socketClosed(elt, link) {
    elt.cfOpened = false;
    if (elt.cfHeld) { // closed before the join was answered: they wait for the next one
      [].unshift.apply(link.queue, elt.cfHeld);
      elt.cfHeld = null;
    }
    if (!link.queue.length) { clearLoading(elt); }
  }
  function reportDropped(elt) { // after the fresh render has been swapped: shown in it
    if (elt.cfDropped) {
      fire(rootIn(elt) || elt, "component-error", { code: "not_applied", message: NOT_APPLIED });
      elt.cfDropped = 0;
    }
  }
  function onSocketMessage(elt, text, link) { // false: not for htmx to swap
    if (isFrame(text) || /^\{"type":"unstreamed"/.test(text)) { return false; } // the page's streams
    for (var i = 0; i < routed.length; i++) { // a joined component's message: its stand-in's
      if (routed[i].text === text) {
        if (routed[i].to === elt) { break; }
        routed.splice(i, 1);
        return false;
      }
    }
    var json = text.charAt(0) === "{", message = json && JSON.parse(text), root = rootIn(elt);
    clearLoading(elt);
    if (elt.cfHeld && !joined(elt, link, message)) { return false; }
    if (!json) { flush(); return true; } // HTML: ops before it land first
    if (message.type === "stream") { enqueue(elt, [message]); }
    else if (message.type === "error" && root) { fire(root, "component-error", message); }
    else if (message.type === "broadcast") { fire(root || elt, "component:broadcast", message); }
    else if (message.type === "effects") { applyEffects(elt, message); }
    return false;
  }

  /* -- one socket per page (docs/websocket.md): the page's ws-connect components share one ----- */
  // The first ws-connect socket of this app is the page's; every other one of the same format
  // joins it ({"type": "join", "component"}) through a stand-in socket that its ws extension
  // (htmx 2's, or htmx 4's hx-ws) drives as its own, and leaves when it is removed. A message naming a joined
  // component (the ref of its join, its component_id, or for HTML the id its fragment swaps)
  // goes to its stand-in. A drop closes every stand-in with the socket's code (1006 unless
  // 1011-1013), so each extension reconnects and rejoins with its snapshot.
  // data-page-connection="off" keeps a socket on its own.
  var pageSocket = null, joinCount = 0, routed = [], wsElts = {};
  function socketFormat(url) { return new URL(url, location.href).searchParams.get("format") || ""; }
  function wsName(url) { var m = /\/([^\/]+)\/ws\/?$/.exec(new URL(url, location.href).pathname); return m && m[1]; }
  function heldId(member) {
    var root = member.elt.matches(ROOT) ? member.elt : member.elt.querySelector(ROOT);
    return member.id || (root && root.id);
  }
  function memberFor(host, text) {
    var message = text.charAt(0) === "{" && JSON.parse(text), first = !message && /^<[^>]*?\sid="([^"]+)"/.exec(text);
    return host.members.filter(function (m) {
      if (message) {
        if (message.ref === m.ref && message.component_id) { m.id = message.component_id; }
        if (message.ref === m.ref && message.type === "error") { m.refused = true; } // holds nothing
        return message.ref === m.ref || (!!message.component_id && message.component_id === heldId(m));
      }
      return !!first && (first[1] === m.target || first[1] === heldId(m));
    })[0];
  }
  function dropMembers(host, code) { // each member's extension reconnects, and it rejoins
    code = [1011, 1012, 1013].indexOf(code) < 0 ? 1006 : code; // the socket's own, if a retry's
    host.members.splice(0).forEach(function (m) {
      m.readyState = 3;
      m.fire("close", { type: "close", code: code, target: m });
    });
  }
  function attachHost(host, socket) {
    // A new socket of the host's own (a fresh mount after a refused rejoin) while its old one
    // still closes: the members joined on the old one rejoin on the new one.
    if (host.socket) { dropMembers(host); }
    host.socket = socket;
    if (Object.keys(members).length) { reopen(0); } // the page's streams move onto it
    socket.addEventListener("open", function () {
      if (host.socket !== socket) { return; }
      socket.cfUp = true;
      host.refused = false;
      setTimeout(function () { host.members.forEach(openMember); }, 0);
      reopen(0); // every stream entry, resumed after its last frame
    });
    socket.addEventListener("message", function (event) {
      if (host.socket === socket && typeof event.data === "string" && isFrame(event.data)) {
        var shorts = socket.cfShort || (socket.cfShort = {}); // its compact frames' numbers
        return event.data.split("\n\n").forEach(function (block) { if (block) { linkFrame(block, shorts); } });
      }
      var member = host.socket === socket && typeof event.data === "string" && memberFor(host, event.data);
      if (member) { routed.push({ text: event.data, to: member.elt }); member.deliver(event.data); }
    });
    socket.addEventListener("close", function (event) {
      if (host.socket !== socket) { return; }
      if (!host.elt.isConnected || [1006, 1011, 1012, 1013].indexOf(event.code) < 0) { pageSocket = null; }
      host.refused = !socket.cfUp; // never opened: the streams go over /_page/ meanwhile
      dropMembers(host, event.code);
      reopen(0); // its reconnect carries them again, else /_page/
    });
  }
  function openMember(member) {
    if (member.readyState) { return; }
    member.readyState = 1;
    if (!member.elt.cfJoin) { member.send(JSON.stringify({ type: "join", params: member.params })); }
    member.fire("open", { type: "open", target: member }); // a resume: the runtime sends its join
  }
  function memberSocket(url, elt, host) {
    var listeners = [], own = new URL(url, location.href), member = {
      OPEN: 1, readyState: 0, elt: elt, id: null, ref: "cf-join-" + (++joinCount), name: wsName(url),
      target: own.searchParams.get("target"), params: {},
      addEventListener: function (type, fn, options) { listeners.push([type, fn, options && options.signal]); },
      fire: function (type, event) {
        if (member["on" + type]) { member["on" + type](event); } // htmx 2 sets onopen, onclose
        listeners.forEach(function (l) { if (l[0] === type && !(l[2] && l[2].aborted)) { l[1](event); } });
      },
      deliver: function (text) { member.fire("message", { type: "message", data: text, target: member }); },
      send: function (text) { host.socket.send(tagged(member, text)); },
      close: function (code) { // as a socket's: then a close event (hx-ws reconnects on its code)
        var at = host.members.indexOf(member), was = member.readyState;
        if (at >= 0) { host.members.splice(at, 1); }
        if (was === 1 && !member.refused && host.socket.readyState === 1) { // by its join's ref: answered or not
          host.socket.send(JSON.stringify({ type: "leave", join_ref: member.ref }));
        }
        member.readyState = 3;
        if (was < 3) { setTimeout(function () { member.fire("close", { type: "close", code: code || 1005, target: member }); }, 0); }
      }
    };
    own.searchParams.forEach(function (value, key) {
      if (!/^(format|target|join|_page)$/.test(key)) { member.params[key] = value; }
    });
    host.members = host.members.filter(function (m) { return m.elt !== elt; }); // replaced
    host.members.push(member);
    if (host.socket.readyState === 1) { setTimeout(function () { openMember(member); }, 0); }
    return member;
  }
  function tagged(member, text) { // a joined component's message names it
    var message;
    try { message = JSON.parse(text); } catch (e) { return text; }
    if (message.type === "join") {
      message.component = member.name;
      message.ref = member.ref;
      if (member.target) { message.target = member.target; }
    } else if (!message.component_id && heldId(member)) { message.component_id = heldId(member); }
    return JSON.stringify(message);
  }
  function pageSocketFor(url, elt, open) { // the socket of a ws-connect of ours: shared or its own
    var host = pageSocket;
    var http = url.replace(/^ws/, "http"); // ours() compares with the page's http(s) URLs
    if (!elt || !ours(http) || !wsName(url) || elt.closest('[data-page-connection="off"]')) { return open(); }
    if (host && host.elt !== elt && host.elt.isConnected && host.format === socketFormat(url)) {
      return memberSocket(url, elt, host);
    }
    if (!host || !host.elt.isConnected) { host = pageSocket = { elt: elt, format: socketFormat(url), members: [] }; }
    var socket = open();
    if (host.elt === elt) { attachHost(host, socket); }
    return socket;
  }

  /* -- nested components: children's snapshots with their parent's requests (docs/nesting.md) -- */
  // Every request from inside a component carries the snapshots of the components inside it
  // (children, theirs, ...), so its re-render keeps them; over a socket an event from inside a
  // held child names it.
  function childSnapshots(root) {
    var found = [];
    root.querySelectorAll(ROOT).forEach(function (child) {
      var token = snapshotOf(child);
      if (token) { found.push(token); }
    });
    return found;
  }
  function withChildren(src, body) { // body: the request's FormData
    var root = rootOf(src), tokens = root && !hasAttr(src, "data-lazy") ? childSnapshots(root) : [];
    if (tokens.length && body && body.set) { body.set("children", JSON.stringify(tokens)); }
  }
  function ownRoot(socketElt) {
    return socketElt.matches(ROOT) ? socketElt : rootOf(socketElt) || socketElt.querySelector(ROOT);
  }
  function heldChild(elt, values) { // an event sent over its parent's socket
    var socket = elt.closest("[ws-connect],[data-ws-connect],[hx-ws\\:connect]"), root = rootOf(elt);
    if (values && socket && root && root !== ownRoot(socket)) { values.component_id = root.id; }
  }

  /* -- navigation and client effects: WebSocket "effects" messages, SSE "effects" frames -------- */
  // Over HTTP htmx applies them from its HX-* headers; here they come after the render they belong
  // to, so a trigger fires on the new root. Order as htmx: events, then history, then redirect.
  function applyEffects(scope, data, depth) {
    var effects = data.effects || {}, triggers = effects.trigger || {};
    var root = document.getElementById(data.component_id) || rootIn(scope) || scope;
    Object.keys(triggers).forEach(function (name) {
      var detail = triggers[name], object = detail !== null && typeof detail === "object" && !Array.isArray(detail);
      fire(root, name, object ? detail : { value: detail });
    });
    if (effects.emit) { deliver(effects.emit, depth || 1); }
    if (effects.push_url) { toHistory(effects.push_url, true); }
    if (effects.replace_url) { toHistory(effects.replace_url, false); }
    if (effects.redirect) { window.location.assign(effects.redirect); }
  }
  // As htmx's own history changes, so that Back is htmx's restore (docs/url-state.md): the entry
  // left is marked as htmx's (else htmx ignores the popstate), and htmx 2 files the page it saves
  // on Back under the address now shown (its "current path"; htmx 4 reloads the URL instead).
  function toHistory(url, push) {
    if (!(history.state && history.state.htmx)) { history.replaceState({ htmx: true }, "", location.href); }
    history[push ? "pushState" : "replaceState"]({ htmx: true }, "", url);
    try { sessionStorage.setItem("htmx-current-path-for-history", location.pathname + location.search); } catch (e) { /* no storage */ }
  }

  /* -- events between components (docs/events.md): emitted events reach the page's listeners -- */
  // Listeners inside an open socket or a live stream that said "listening" (both name this page
  // load) get them from the server; the others in one POST to <prefix>/_emit/ per answer, whose
  // renders are swapped in by id. The page id: 128 random bits (getRandomValues works on plain
  // http too, where randomUUID does not exist).
  var PAGE = Array.prototype.map.call(crypto.getRandomValues(new Uint8Array(16)), function (b) { return (b + 256).toString(16).slice(1); }).join("");
  var SCRIPT = document.currentScript, APP = SCRIPT && SCRIPT.src.split("/_static/")[0], EMIT_URL = APP && APP + "/_emit/";
  var SSE = "[sse-connect],[data-sse-connect],[hx-sse\\:connect],[data-hx-sse\\:connect]";
  function paged(url) { var own = new URL(url, location.href); own.searchParams.set("_page", PAGE); return own.href; }
  function ours(url) { return !!APP && new URL(url, location.href).href.indexOf(APP + "/") === 0; }
  function heldLive(root) {
    return !!((root.closest("[ws-connect],[data-ws-connect]") || {}).cfOpened || (root.closest(SSE) || {}).cfLive);
  }
  function swapRoot(root, html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var next = template.content.firstElementChild;
    root.replaceWith(next);
    htmx.process(next);
    return next;
  }
  // One batch at a time, each naming the listeners as the previous batch's renders left them:
  // two batches in flight would both carry a listener's old snapshot, and one update be lost.
  var delivering = Promise.resolve();
  function deliver(events, depth) { // depth: the hop of this chain (a cycle stops at the server's limit)
    delivering = delivering.then(function () { return sendBatch(events, depth); }).catch(function () {});
  }
  function sendBatch(events, depth) {
    var names = events.map(function (e) { return e.event; }), roots = [];
    document.querySelectorAll("[data-listens]").forEach(function (root) {
      var listens = root.getAttribute("data-listens").split(" ");
      if (!heldLive(root) && snapshotOf(root) && names.some(function (n) { return listens.indexOf(n) >= 0; })) { roots.push(root); }
    });
    if (!roots.length || !EMIT_URL || depth > 8) { return null; }
    roots.forEach(function (root) { setLoading(root, true); });
    var listeners = roots.map(function (root) {
      var listener = { component: root.getAttribute("data-component"), id: root.id, snapshot: snapshotOf(root) };
      var kids = childSnapshots(root);
      if (kids.length) { listener.children = kids; } // its re-render keeps them (docs/nesting.md)
      return listener;
    });
    return fetch(EMIT_URL, {
      method: "POST", credentials: "same-origin", headers: headersFor(roots[0], { "Content-Type": "application/json" }),
      body: JSON.stringify({ events: events, listeners: listeners, page: PAGE, depth: depth })
    }).then(function (response) { return response.json(); }).then(function (answer) {
      roots.forEach(function (root) { setLoading(root, false); });
      (answer.results || []).forEach(function (result) {
        var root = document.getElementById(result.component_id);
        if (!root) { return; }
        if (result.error) { fire(root, "component-error", result.error); return; }
        applyEffects(swapRoot(root, result.html), result, depth + 1);
      });
      if (answer.error) { roots.forEach(function (root) { fire(root, "component-error", answer.error); }); }
    }).catch(function (error) {
      roots.forEach(function (root) { setLoading(root, false); fire(root, "component-error", { message: String(error) }); });
    });
  }
  document.addEventListener("component:emit", function (event) { // HX-Trigger of an HTTP answer
    var events = (event.detail || {}).events;
    if (events) { setTimeout(function () { deliver(events, 1); }, 0); } // after htmx 2's swap
  });

  /* -- one connection per page (docs/scaling.md): every stream of ours shares one response ---- */
  // POST <prefix>/_page/ names each joined stream (what its own URL would ask, or its run and
  // last frame to resume); the answer carries every run's frames (the id names the run; in a
  // compact text frame, the number its control frame gave it). A join or an early leave re-opens it with the new list, a drop re-opens it once with
  // backoff: each stream resumes after its own last frame, so nothing is lost or repeated.
  // When the page has a socket of ours (open, opening or reconnecting), the same entries ride
  // it instead: {"type": "stream", ...} one by one, {"type": "unstream", key} on a leave, the
  // same frames back as socket messages; each (re)open of the socket sends them all again.
  // data-page-connection="off" on the element (or an ancestor) keeps a stream on its own.
  var PAGE_URL = APP && APP + "/_page/", members = {}, byRun = {}, memberCount = 0;
  var link = null, reopening = 0, backoff = 0;
  function pageEntry(url, elt) { // {name, query} of a stream that joins the page's, else null
    if (!PAGE_URL || !window.ReadableStream || (elt && elt.closest('[data-page-connection="off"]'))) { return null; }
    var own = new URL(url, location.href), base = new URL(APP + "/", location.href);
    if (own.origin !== base.origin || own.pathname.indexOf(base.pathname) !== 0) { return null; }
    var match = /^([^\/]+)\/stream\/?$/.exec(own.pathname.slice(base.pathname.length));
    return match ? { name: decodeURIComponent(match[1]), query: own.search.slice(1) } : null;
  }
  function join(member, elt) {
    member.key = String(++memberCount);
    member.elt = elt;
    members[member.key] = member;
    reopen(10);
  }
  function leave(member) {
    if (members[member.key] !== member) { return; }
    delete members[member.key];
    if (member.run) { delete byRun[member.run]; }
    if (member.ended) { return; }
    if (!member.on) { return reopen(10); } // its run still streams to this page: say it left
    if (member.on.readyState === 1) { member.on.send(JSON.stringify({ type: "unstream", key: member.key })); }
  }
  function reopen(delay) {
    if (reopening && delay) { return; }
    clearTimeout(reopening);
    reopening = setTimeout(openLink, delay);
  }
  function isFrame(text) { return /^(event|id|data|t):/.test(text); } // a socket message of the page's streams
  function openLink() {
    reopening = 0;
    if (link && Object.keys(members).some(function (key) { return members[key].sent === link; })) {
      return reopen(50); // its new runs are not named yet: sent again, each would start twice
    }
    if (link) { link.abort(); link = null; }
    Object.keys(members).forEach(function (key) { // removed without a close (htmx 4 keeps reading)
      var member = members[key];
      if (member.elt && !member.elt.isConnected) { member.ended = true; member.end("gone", {}); }
    });
    var host = pageSocket, socket = host && host.socket && host.elt.isConnected && !host.refused && host.socket;
    var controller = socket || new AbortController(), streams = [], elt = null;
    Object.keys(members).forEach(function (key) {
      var member = members[key];
      if (socket && (socket.readyState !== 1 || member.on === socket)) { return; } // its open sends them
      elt = elt || member.elt;
      member.on = socket || null;
      if (member.run) { return streams.push({ key: key, name: member.name, resume: member.run + "." + member.seq }); }
      if (member.sent && member.method) { // a POST whose connection dropped unanswered: never sent twice
        member.ended = true;
        return member.end("lost", { error: { code: "stream_lost", message: "the connection dropped before the stream started" } });
      }
      member.sent = controller;
      streams.push({ key: key, name: member.name, query: member.query, method: member.method, body: member.body });
    });
    if (socket) { // the page's socket carries them, one message each
      return streams.forEach(function (entry) { entry.type = "stream"; entry.frames = "compact"; socket.send(JSON.stringify(entry)); });
    }
    var keys = streams.map(function (entry) { return entry.key; }), current = link = controller;
    if (!keys.length) { link = null; return; }
    fetch(PAGE_URL, {
      method: "POST", credentials: "same-origin", signal: controller.signal,
      headers: headersFor(elt, { "Content-Type": "application/json", "X-Component-Page": PAGE }),
      body: JSON.stringify({ page: PAGE, streams: streams, frames: "compact" })
    }).then(function (answer) {
      if (answer.ok) { backoff = 0; return readLink(answer.body.getReader(), current); }
      if (answer.status === 429 || answer.status >= 500) { throw answer.status; } // again later
      return answer.json().catch(function () { return {}; }).then(function (json) { // refused as a whole: each as if alone
        var error = json.error || { code: "page_connection_refused", message: "The page connection was refused (" + answer.status + ")." };
        keys.forEach(function (key) { control({ key: key, end: "refused", status: answer.status, error: error }); });
      });
    }).then(function () { dropped(current); }, function () { dropped(current); });
  }
  function dropped(current) {
    if (link !== current) { return; } // replaced on purpose
    link = null;
    if (Object.keys(members).length) { backoff = Math.min(backoff ? backoff * 2 : 250, 16000); reopen(backoff); }
  }
  function readLink(reader, current) {
    var decoder = new TextDecoder(), buffer = "", shorts = {}; // this connection's numbers of its runs
    function pump() {
      return reader.read().then(function (step) {
        if (link !== current) { reader.cancel(); return; }
        if (step.done) { return; }
        buffer += decoder.decode(step.value, { stream: true }).replace(/\r\n/g, "\n");
        for (var end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          linkFrame(buffer.slice(0, end), shorts);
          buffer = buffer.slice(end + 2);
          if (link !== current) { reader.cancel(); return; }
        }
        return pump();
      });
    }
    return pump();
  }
  // Compact frames (asked for above): a text frame is "t:<n>.<seq>" and its data, <n> the
  // number this connection's control frame gave the run; every other frame names its run.
  function linkFrame(block, shorts) { // one SSE frame (the server's own: "\n" line ends, no retry to keep)
    var id = "", event = "message", data = [];
    block.split("\n").forEach(function (line) {
      var colon = line.indexOf(":"), field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? "" : line.slice(colon + (line.charAt(colon + 1) === " " ? 2 : 1));
      if (field === "data") { data.push(value); } else if (field === "event") { event = value; } else if (field === "id") { id = value; }
      if (field === "t") { // the full id again: each entry resumes with it
        var at = value.indexOf("."), owner = members[shorts[value.slice(0, at)]];
        event = "t";
        id = owner && owner.run ? owner.run + value.slice(at) : "";
      }
    });
    if (!data.length) { return; } // a heartbeat
    var text = data.join("\n"), dot = id.lastIndexOf(".");
    if (event === "page") { return control(JSON.parse(text), shorts); }
    if (event === "shutdown") { // the server goes away: every stream, as its own would
      return Object.keys(members).forEach(function (key) { members[key].ended = true; members[key].frame(event, text, ""); });
    }
    var member = dot > 0 ? members[byRun[id.slice(0, dot)]] : null;
    if (!member) { return; }
    member.seq = +id.slice(dot + 1);
    if (FINAL.indexOf(event) >= 0) { member.ended = true; }
    member.frame(event, text, id);
  }
  function control(info, shorts) {
    var member = members[info.key];
    if (!member) { return; }
    member.sent = null;
    if (info.short) { shorts[info.short] = info.key; }
    if (info.run) {
      if (member.run !== info.run) { member.run = info.run; member.seq = 0; byRun[info.run] = member.key; }
      return member.opened();
    }
    member.ended = true;
    member.end(info.end, info);
  }
  function frameText(event, data, id) { // a frame for htmx 4's own reader
    return (event === "message" ? "" : "event: " + event + "\n") + (id ? "id: " + id + "\n" : "") +
      data.split("\n").map(function (line) { return "data: " + line + "\n"; }).join("") + "\n";
  }
  function pageSource(url, entry, elt) { // htmx 2: an EventSource fed by the page's connection
    var source = new EventTarget(), member = { name: entry.name, query: entry.query, run: null, seq: 0 };
    source.url = url;
    source.withCredentials = true;
    source.readyState = 0;
    source.onopen = source.onerror = source.onmessage = null;
    source.close = function () { if (source.readyState !== 2) { source.readyState = 2; leave(member); } };
    member.opened = function () { source.readyState = 1; if (source.onopen) { source.onopen(new Event("open")); } };
    member.frame = function (event, data, id) {
      var message = new MessageEvent(event, { data: data, lastEventId: id });
      if (event === "message" && source.onmessage) { source.onmessage(message); }
      source.dispatchEvent(message);
    };
    member.end = function (how, info) { // finished (a 204 alone), lost, refused, gone
      if (how === "lost") { member.frame("lost", JSON.stringify(info.error), ""); }
      if (source.readyState === 2) { return leave(member); }
      source.readyState = 2;
      leave(member);
      if (source.onerror) { source.onerror(new Event("error")); }
    };
    join(member, elt);
    return source;
  }
  function pageFetch(src, own) { // htmx 4: hx-sse's request answered from the page's connection
    return function (url, request) {
      // A POST joins with its form body (a small one: the page's body limit is shared).
      var form = /^post$/i.test(request.method) && request.body instanceof URLSearchParams && String(request.body);
      var entry = (form === false ? /^get$/i.test(request.method || "GET") : form.length < 65536) && pageEntry(url, src);
      if (!entry) { return (own || window.fetch.bind(window))(url, request); }
      return new Promise(function (resolve) {
        var member = { name: entry.name, query: entry.query, run: null, seq: 0 }, body = null, feed = null;
        if (form !== false) { member.method = "POST"; member.body = form; }
        var encoder = new TextEncoder(), stream = new ReadableStream({
          start: function (controller) { feed = controller; },
          cancel: function () { leave(member); }
        });
        function answer(status, text, type) { resolve(new Response(text, { status: status, headers: { "Content-Type": type } })); }
        member.opened = function () { if (!body) { body = stream; answer(200, stream, "text/event-stream"); } };
        member.frame = function (event, data, id) {
          try { feed.enqueue(encoder.encode(frameText(event, data, id))); } catch (e) { /* cancelled */ }
        };
        member.end = function (how, info) {
          leave(member);
          if (!body) { // what its own request would have been answered
            if (how === "refused") { return answer(info.status, JSON.stringify({ error: info.error }), "application/json"); }
            if (how === "lost") { return answer(200, frameText("lost", JSON.stringify(info.error), ""), "text/event-stream"); }
            return answer(204, null, "text/event-stream");
          }
          if (how === "lost") { member.frame("lost", JSON.stringify(info.error), ""); }
          try { feed.close(); } catch (e) { /* cancelled */ }
        };
        if (request && request.signal) { request.signal.addEventListener("abort", function () { leave(member); }); }
        join(member, src);
      });
    };
  }
  function sourceElement(url) { // the element whose sse-connect asked for url (htmx 2 names only the URL)
    var wanted = new URL(url, location.href).href, found = null;
    document.querySelectorAll("[sse-connect],[data-sse-connect]").forEach(function (elt) {
      var own = elt.getAttribute("sse-connect") || elt.getAttribute("data-sse-connect");
      if (!found && new URL(own, location.href).href === wanted) { found = elt; }
    });
    return found;
  }

  /* -- typing: a field with unsent input keeps its value, caret and focus across swaps ---------- */
  var focused = null, typing = null, watcher = new MutationObserver(keepField);
  function isField(elt) {
    return elt.tagName === "TEXTAREA" ||
      (elt.tagName === "INPUT" && /^(text|search|email|url|tel|password|number)$/.test(elt.type));
  }
  function track(elt) {
    focused = elt;
    var root = rootOf(elt);
    elt.cfRoot = root && root.id;
    watcher.observe(document.documentElement, { childList: true, subtree: true });
  }
  function replacement(old) {
    if (old.id) { return document.getElementById(old.id); }
    var root = old.cfRoot && document.getElementById(old.cfRoot);
    return root && old.name ? root.querySelector(old.tagName + '[name="' + CSS.escape(old.name) + '"]') : null;
  }
  function stale(field) { // the render did not see this typing: checks of the field run again
    setTimeout(function () { if (field === typing) { field.dispatchEvent(new Event("input", { bubbles: true })); } }, 50);
  }
  function keepField() {
    var old = typing, next;
    if (old && !old.isConnected) { // unsent input: its value and caret move to the new field
      next = replacement(old);
      typing = next && isField(next) ? next : null;
      if (typing) {
        if (typing.value !== old.value) { stale(typing); }
        typing.value = old.value;
        typing.cfRoot = old.cfRoot;
        try { typing.setSelectionRange(old.selectionStart, old.selectionEnd); } catch (e) { /* no caret */ }
      }
    }
    old = focused;
    if (old && !old.isConnected) { // the field that had focus gets it back
      next = replacement(old);
      focused = next && isField(next) ? next : null;
      if (focused && (!document.activeElement || document.activeElement === document.body)) {
        focused.focus();
        if (focused === typing) {
          try { focused.setSelectionRange(old.selectionStart, old.selectionEnd); } catch (e) { /* no caret */ }
        }
      }
      if (focused) { focused.cfRoot = old.cfRoot; }
    }
    if (!typing && !focused) { watcher.disconnect(); }
  }
  document.addEventListener("focusin", function (event) { if (isField(event.target)) { track(event.target); } });
  document.addEventListener("focusout", function (event) {
    var elt = event.target;
    setTimeout(function () { // a field removed by a swap stays tracked until its replacement is found
      if (elt === focused && elt.isConnected && document.activeElement !== elt) {
        focused = null;
        if (!typing) { watcher.disconnect(); }
      }
    }, 0);
  });
  document.addEventListener("input", function (event) {
    if (isField(event.target)) { typing = event.target; if (focused !== typing) { track(typing); } }
  }, true);
  function sent(elt) { // the value of a field inside the sending form has been sent
    var form = elt.closest("form") || elt;
    if (typing && form.contains(typing)) { typing = null; }
  }

  /* -- forms: validation as the person types; fields kept across a reconnect ---------------- */
  // A request with a `validate` value only checks fields (no handler runs): nothing was sent for
  // good, so the typing and caret stay and nothing is loading. It also re-checks the fields of
  // its form that show an error (aria-invalid="true"), so their messages stay until put right.
  var VALIDATE = "validate", UNRESTORED = /^(file|hidden|submit|button|reset|image)$/;
  function alsoValidate(elt, named) {
    var scope = elt.closest("form") || rootOf(elt), names = [];
    (scope ? scope.querySelectorAll('[aria-invalid="true"][name]') : []).forEach(function (field) {
      if (named.concat(names).indexOf(field.name) < 0) { names.push(field.name); }
    });
    return names;
  }
  function validatesForm(elt, data) { // an HTTP request's FormData
    if (!data || !data.getAll || !data.has(VALIDATE)) { return false; }
    alsoValidate(elt, data.getAll(VALIDATE)).forEach(function (name) { data.append(VALIDATE, name); });
    return true;
  }
  function checks(elt) { // a socket check goes out: not from a field a render replaced, nor while
    var root = rootOf(elt); // its form is being sent (what hx-sync="closest form:abort" does on HTTP)
    return elt.isConnected && !(root && root.hasAttribute(LOADING));
  }
  function isCheck(message) { // a queued socket message that only validates: no lost action
    try { return JSON.parse(message.data || message)[VALIDATE] !== undefined; } catch (e) { return false; }
  }
  function validatesValues(elt, values) { // a WebSocket message's values
    if (!values || values[VALIDATE] === undefined) { return false; }
    values[VALIDATE] = [].concat(values[VALIDATE]);
    values[VALIDATE] = values[VALIDATE].concat(alsoValidate(elt, values[VALIDATE]));
    return true;
  }
  // The first render after a socket (re)opens replaces the component: every named field gets
  // back the value the page showed (a reconnect, a restart, a fresh mount lose no typing).
  function eachField(scope, each) { // each(field, key): by component, name and rank
    var seen = {};
    scope.querySelectorAll("input[name],textarea[name],select[name]").forEach(function (field) {
      var root = rootOf(field), key = root && root.getAttribute("data-component") + "\n" + field.name;
      if (root && !UNRESTORED.test(field.type)) { seen[key] = (seen[key] || 0) + 1; each(field, key + "\n" + seen[key]); }
    });
  }
  function fieldValue(field) {
    if (/^(checkbox|radio)$/.test(field.type)) { return field.checked; }
    return field.options ? [].filter.call(field.options, function (option) { return option.selected; })
      .map(function (option) { return option.value; }).join("\n") : field.value;
  }
  function restoreShown(elt) { // after the render that answers a socket's open
    var shown = elt.cfShown, names = [];
    if (!shown) { return; }
    elt.cfShown = null;
    eachField(elt, function (field, key) {
      var value = shown[key];
      if (value === undefined || value === fieldValue(field)) { return; } // equal: its caret stays
      if (typeof value === "boolean") { field.checked = value; }
      else if (field.options) {
        [].forEach.call(field.options, function (option) { option.selected = value.split("\n").indexOf(option.value) >= 0; });
      } else { field.value = value; }
      if (names.indexOf(field.name) < 0) { names.push(field.name); }
    });
    if (names.length) { fire(rootIn(elt) || elt, "component:restored", { fields: names }); }
  }

  /* -- uploads: progress of a request that sends files, on its component (docs/uploads.md) ----- */
  // htmx 4 sends with fetch, which reports no upload progress: such a request goes through
  // XMLHttpRequest in its ctx.fetch hook. No inline style: a strict CSP refuses it on settle.
  var UPLOAD = "data-upload-progress";
  function sendsFiles(body) { // a chosen file (an empty file input sends a nameless one)
    var found = false;
    if (body && body.forEach && window.File) { body.forEach(function (v) { found = found || (v instanceof File && !!v.name); }); }
    return found;
  }
  function bars(root, value) {
    root.querySelectorAll("progress[" + UPLOAD + "]").forEach(function (bar) {
      bar.max = 100;
      if (value === null) { bar.removeAttribute("value"); } else { bar.value = value; }
    });
  }
  function showUpload(root, loaded, total) {
    var percent = total > 0 ? Math.min(100, Math.floor(loaded * 100 / total)) : null;
    root.setAttribute(UPLOAD, percent === null ? "" : percent);
    bars(root, percent);
    fire(root, "component:upload-progress", { loaded: loaded, total: total, percent: percent });
  }
  function trackUpload(xhr, elt) { // before send(): later upload listeners never fire
    var root = elt.cfUpload = rootOf(elt) || elt;
    showUpload(root, 0, 1);
    xhr.upload.addEventListener("progress", function (e) { showUpload(root, e.loaded, e.lengthComputable ? e.total : 0); });
  }
  function endUpload(elt) { // after the answer was swapped, or refused and not swapped
    var root = elt && elt.cfUpload;
    if (root) { elt.cfUpload = null; root.removeAttribute(UPLOAD); bars(root, 0); }
  }
  function uploadSent(elt, detail) { // htmx 2's beforeSend, with its own XMLHttpRequest
    var config = detail.requestConfig || {}, encoded = elt.closest("[hx-encoding],[data-hx-encoding]");
    var multipart = (encoded && attr(encoded, "hx-encoding") === "multipart/form-data") ||
      (elt.matches("form") && elt.enctype === "multipart/form-data");
    if (multipart && !config.useUrlParams && !elt.cfValidation && sendsFiles(config.formData)) { trackUpload(detail.xhr, elt); }
  }
  function uploadConfigured(ctx) { // htmx 4's config:request
    var src = ctx.sourceElement;
    if (!ctx.fetch && !src.cfValidation && sendsFiles(ctx.request.body)) { ctx.fetch = fetchWithProgress(src); }
  }
  function fetchWithProgress(elt) { // fetch's contract over XMLHttpRequest
    return function (url, request) {
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest(), signal = request.signal, headers = new Headers();
        var aborted = function () { reject(new DOMException("upload aborted", "AbortError")); };
        if (signal && signal.aborted) { return aborted(); }
        xhr.open(request.method || "POST", url);
        Object.keys(request.headers || {}).forEach(function (name) { xhr.setRequestHeader(name, request.headers[name]); });
        xhr.withCredentials = request.credentials === "include";
        xhr.responseType = "blob";
        trackUpload(xhr, elt);
        xhr.onload = function () {
          xhr.getAllResponseHeaders().trim().split(/[\r\n]+/).forEach(function (line) {
            var at = line.indexOf(":");
            if (at > 0) { headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim()); }
          });
          var empty = [101, 204, 205, 304].indexOf(xhr.status) >= 0;
          resolve(new Response(empty ? null : xhr.response, { status: xhr.status, statusText: xhr.statusText, headers: headers }));
        };
        xhr.onerror = function () { reject(new TypeError("upload failed")); };
        xhr.onabort = aborted;
        if (signal) { signal.addEventListener("abort", function () { xhr.abort(); }); }
        xhr.send(request.body);
      });
    };
  }

  /* -- resumable uploads: chosen files over a threshold go first, in chunks (docs/uploads.md) --- */
  // Each is created at {prefix}/_uploads/, sent in chunks that resume from the server's offset
  // after a network error, and the request then carries its id where the file was.
  var CHUNKED = "data-upload-chunked", CHUNK_TYPE = "application/offset+octet-stream";
  function bigFiles(elt) { // [{name, file}] of the sending form, each over its threshold
    var form = elt.closest("form") || elt, found = [];
    form.querySelectorAll("input[type=file][name]").forEach(function (input) {
      var own = input.getAttribute(CHUNKED) || form.getAttribute(CHUNKED), limit = own === "off" ? Infinity : +own || 8388608;
      [].forEach.call(input.files || [], function (file) { if (file.size > limit) { found.push({ name: input.name, file: file }); } });
    });
    return found;
  }
  function eventOf(elt, url) { // the URL's ?event=, the form's event field, or an hx-vals event
    var named = new URL(url, location.href).searchParams.get("event"), form = elt.closest("form");
    if (!named && form && form.elements.event) { named = form.elements.event.value; }
    for (var e = elt; !named && e; e = e.matches(ROOT) ? null : e.parentElement) {
      try { named = JSON.parse(attr(e, "hx-vals") || "{}").event; } catch (x) { named = null; }
    }
    return named;
  }
  function refused(answer) { // a 4xx/5xx: its error document, thrown
    return answer.json().then(function (json) { throw json.error; }, function () { throw { message: "The upload failed (" + answer.status + ")." }; });
  }
  function sendChunked(elt, url, big) { // resolves with the uploads' ids by field name
    var root = elt.cfUpload = rootOf(elt) || elt, at = new URL(url, location.href).pathname.replace(/[^\/]+\/?$/, "_uploads/");
    var total = 0, offsets = big.map(function (item) { total += item.file.size; return 0; }), ids = {};
    showUpload(root, 0, total);
    function one(item, index) {
      var file = item.file, id, chunk, delay = 1000;
      function moved(offset) {
        offsets[index] = offset;
        showUpload(root, offsets.reduce(function (a, b) { return a + b; }), total);
        return offset < file.size ? step(offset) : id;
      }
      function step(offset) {
        var headers = headersFor(root, { "Content-Type": CHUNK_TYPE, "Upload-Offset": String(offset) });
        return fetch(at + id, { method: "PATCH", headers: headers, body: file.slice(offset, offset + chunk) }).then(function (answer) {
          if (!answer.ok && answer.status !== 409) { return refused(answer); }
          delay = 1000;
          return answer.json().then(function (json) { return moved(answer.ok ? json.offset : json.error.offset); });
        }, retry);
      }
      function retry() { // a network error: wait, ask the server where it stands, go on from there
        return new Promise(function (done) { setTimeout(done, delay); delay = Math.min(delay * 2, 30000); })
          .then(function () { return fetch(at + id, { method: "HEAD" }); })
          .then(function (answer) { return answer.ok ? moved(+answer.headers.get("Upload-Offset")) : refused(answer); }, retry);
      }
      var described = { component: root.getAttribute("data-component"), event: eventOf(elt, url), field: item.name, filename: file.name, size: file.size, content_type: file.type };
      return fetch(at, { method: "POST", headers: headersFor(root, { "Content-Type": "application/json" }), body: JSON.stringify(described) })
        .then(function (answer) { return answer.ok ? answer.json() : refused(answer); })
        .then(function (json) { id = json.upload; chunk = json.chunk_bytes; return moved(0); })
        .then(function (done) { (ids[item.name] = ids[item.name] || []).push(done); });
    }
    return big.reduce(function (before, item, index) { return before.then(function () { return one(item, index); }); }, Promise.resolve())
      .then(function () { return ids; }, function (error) {
        endUpload(elt);
        showError(root, (error && error.message) || "The upload failed.");
        throw error;
      });
  }
  function withIds(body, big, ids) { // the request's body: each uploaded file replaced by its id
    var sent = big.map(function (item) { return item.file; });
    Object.keys(ids).forEach(function (name) {
      var kept = body.getAll(name).filter(function (v) {
        return !sent.some(function (f) { return v.name === f.name && v.size === f.size && v.lastModified === f.lastModified; });
      });
      body.delete(name);
      kept.concat(ids[name]).forEach(function (v) { body.append(name, v); });
    });
  }
  function chunkFirst(elt, detail) { // htmx 2's confirm: false holds the request until the files are up
    var big = elt.matches("form") && !elt.cfChunked ? bigFiles(elt) : []; // a submission, not a check
    if (!big.length) { return true; }
    sendChunked(elt, detail.path, big).then(function (ids) {
      elt.cfChunked = { big: big, ids: ids };
      detail.issueRequest(true);
    }, function () {});
    return false;
  }
  function chunkedConfigured(ctx) { // htmx 4: the files go first, inside the request's own fetch
    var src = ctx.sourceElement, big = src.cfValidation ? [] : bigFiles(src), own = ctx.fetch;
    if (!big.length || !ctx.request.body || !ctx.request.body.getAll) { return; }
    ctx.fetch = function (url, request) {
      return sendChunked(src, url, big).then(function (ids) {
        withIds(request.body, big, ids);
        return (own || (sendsFiles(request.body) ? fetchWithProgress(src) : window.fetch.bind(window)))(url, request);
      });
    };
  }

  /* -- htmx 2: an extension on <body>; hx-vals, hx-target and hx-swap are inherited by htmx ----- */
  function socketElement(url) {
    var wanted = new URL(url), found = null;
    document.querySelectorAll("[ws-connect],[data-ws-connect]").forEach(function (elt) {
      var own = new URL(elt.getAttribute("ws-connect") || elt.getAttribute("data-ws-connect"), location.href);
      if (own.pathname === wanted.pathname && own.search === wanted.search) { found = elt; }
    });
    return found;
  }
  function wrapperLink(wrapper) {
    return {
      queue: wrapper.queue,
      send: function (text) { wrapper.send(text); },
      resend: function (item) { wrapper.send(item.message, item.sendElt); },
      reconnect: function () { wrapper.reconnect(); }
    };
  }
  function defineHtmx2() {
    var createSocket = htmx.createWebSocket || function (url) {
      var socket = new WebSocket(url, []);
      socket.binaryType = htmx.config.wsBinaryType || "blob";
      return socket;
    };
    htmx.createWebSocket = function (url) {
      var elt = socketElement(url), own = paged(elt ? joinUrl(url, elt) : url);
      return pageSocketFor(url, elt, function () { return createSocket(own); });
    };
    var createSource = htmx.createEventSource || function (url) { return new EventSource(url, { withCredentials: true }); };
    htmx.createEventSource = function (url) { // an EventSource sends no header: the page id in its URL
      var elt = ours(url) ? sourceElement(url) : null, entry = ours(url) && pageEntry(url, elt);
      return entry ? pageSource(url, entry, elt) : createSource(ours(url) ? paged(url) : url);
    };
    htmx.defineExtension("component-framework", {
      onEvent: function (name, event) {
        var elt = event.target, detail = event.detail || {};
        switch (name) {
          case "htmx:confirm":
            return chunkFirst(elt, detail);
          case "htmx:configRequest":
            (detail.elt || elt).cfValidation = validatesForm(detail.elt || elt, detail.formData);
            withChildren(detail.elt || elt, detail.formData);
            if (elt.cfChunked) { withIds(detail.formData, elt.cfChunked.big, elt.cfChunked.ids); elt.cfChunked = null; }
            if (rootOf(detail.elt || elt)) { detail.headers["X-Component-Page"] = PAGE; }
            break;
          case "htmx:beforeRequest":
            if ((detail.elt || elt).cfValidation) { break; } // checks fields, sends nothing for good
            sent(detail.elt || elt);
            setLoading(rootOf(detail.elt || elt), true);
            break;
          case "htmx:beforeSend":
            uploadSent(detail.elt || elt, detail);
            break;
          case "htmx:afterRequest":
            setLoading(rootOf(detail.elt || elt), false);
            endUpload(detail.elt || elt);
            break;
          case "htmx:beforeSwap": // a component error is shown by its HX-Trigger: not an htmx error
            if (/component-error/.test(detail.xhr.getResponseHeader("HX-Trigger"))) { detail.isError = false; }
            break;
          case "htmx:sseOpen":
            if (detail.source) { hookSource(elt, detail.source); }
            break;
          case "htmx:sseBeforeMessage":
            flush(); // a render replaces the elements that queued operations are meant for
            break;
          case "htmx:sseError":
            if (detail.source && detail.source.readyState === EventSource.CLOSED) {
              // The server ended it (204: finished or unknown); a fresh source would re-run the work.
              elt.removeAttribute("sse-connect");
              elt.removeAttribute("data-sse-connect");
              endStreams(elt);
            }
            break;
          case "htmx:wsConnecting":
            elt.cfOpened = false;
            break;
          case "htmx:wsOpen":
            socketOpened(elt, wrapperLink(detail.socketWrapper));
            break;
          case "htmx:wsClose":
            socketClosed(elt, wrapperLink(detail.socketWrapper));
            break;
          case "htmx:wsAfterMessage":
            restoreShown(elt);
            reportDropped(elt);
            break;
          case "htmx:wsConfigSend": // queued until the socket is back: show it as pending
            heldChild(elt, detail.parameters);
            elt.cfValidation = validatesValues(elt, detail.parameters);
            if (elt.cfValidation) { return checks(elt); }
            if (!(elt.closest("[ws-connect],[data-ws-connect]") || {}).cfOpened) { setLoading(rootOf(elt), true); }
            break;
          case "htmx:wsBeforeSend":
            if (elt.cfValidation) { break; }
            sent(elt);
            setLoading(rootOf(elt), true);
            break;
          case "htmx:wsBeforeMessage":
            return onSocketMessage(elt, detail.message, wrapperLink(detail.socketWrapper));
        }
        return true;
      }
    });
  }

  /* -- htmx 4: a global extension; attributes are not inherited, so the runtime passes them ---- */
  function hasAttr(elt, name) { return elt.hasAttribute(name) || elt.hasAttribute("data-" + name); }
  function attr(elt, name) { return elt.hasAttribute(name) ? elt.getAttribute(name) : elt.getAttribute("data-" + name); }
  function isStreamSource(elt) {
    return hasAttr(elt, "sse-connect") || hasAttr(elt, "hx-sse:connect");
  }
  function fromComponent(src, root, name) {
    // htmx 2's inheritance inside a component: the closest element up to the root that sets
    // `name`, unless the source has its own (plain or hx-*:inherited) value.
    if (api.attributeValue(src, name) != null) { return null; }
    for (var elt = src.parentElement; elt; elt = elt === root ? null : elt.parentElement) {
      if (hasAttr(elt, name)) { return { owner: elt, value: attr(elt, name) }; }
    }
    return null;
  }
  function configure(ctx) { // every request, before htmx 4 sends it
    var src = ctx.sourceElement, root = rootOf(src), body = ctx.request.body, stream = isStreamSource(src);
    if (stream && (hasAttr(src, "sse-connect") && !hasAttr(src, "sse-swap"))) {
      ctx.swap = "none"; // htmx 2 markup: without sse-swap, renders are not swapped (only ops apply)
    }
    src.cfValidation = !stream && !!root && validatesForm(src, body);
    if (root || stream && ours(ctx.request.action)) { ctx.request.headers["X-Component-Page"] = PAGE; }
    if (ours(ctx.request.action) && (stream || pageEntry(ctx.request.action, src))) { ctx.fetch = pageFetch(src, ctx.fetch); } // the page's connection (a POST stream's too)
    if (!root) { return; }
    if (hasAttr(src, "data-lazy")) { return; } // a lazy load sends no parent's state
    if (!stream) { withChildren(src, body); }
    if (body && typeof body.set === "function") {
      if (stream) { body.delete("snapshot"); } // never in a stream URL (htmx 2 never sent it)
      else if (!body.has("snapshot") && snapshotOf(root)) { body.set("snapshot", snapshotOf(root)); }
    }
    var target = fromComponent(src, root, "hx-target"), swap = fromComponent(src, root, "hx-swap");
    if (target) {
      ctx.target = target.value === "this" ? target.owner : htmx.find(target.owner, target.value);
      if (ctx.target) { ctx.request.headers["HX-Target"] = ctx.target.tagName.toLowerCase() + (ctx.target.id ? "#" + ctx.target.id : ""); }
    }
    if (swap && ctx.swap !== "none") { ctx.swap = swap.value; }
  }
  function connectionLink(connection) {
    return {
      queue: connection.queue,
      send: function (text) { connection.socket.send(text); },
      resend: function (item) { connection.socket.send(item.message.data); },
      reconnect: function () { // hx-ws reconnects only on the close codes of its config
        var codes = connection.config.reconnectCodes;
        if (codes.indexOf(FRESH_CLOSE) < 0) { connection.config.reconnectCodes = codes.concat([FRESH_CLOSE]); }
        connection.socket.close(FRESH_CLOSE, "mount afresh");
      }
    };
  }
  function registerHtmx4() {
    var Native = window.WebSocket; // hx-ws has no socket factory: the page's socket goes here
    var PageWebSocket = function (url, protocols) {
      return pageSocketFor(url, wsElts[url], function () { return new Native(url, protocols); });
    };
    PageWebSocket.prototype = Native.prototype;
    ["CONNECTING", "OPEN", "CLOSING", "CLOSED"].forEach(function (name) { PageWebSocket[name] = Native[name]; });
    window.WebSocket = PageWebSocket;
    htmx.registerExtension("component-framework", {
      init: function (internalApi) { api = internalApi; },
      htmx_config_request: function (elt, detail) {
        configure(detail.ctx);
        chunkedConfigured(detail.ctx);
        uploadConfigured(detail.ctx);
      },
      htmx_before_request: function (elt, detail) {
        var src = detail.ctx.sourceElement;
        if (isStreamSource(src) || src.cfValidation) { return; } // no pending action: a stream, a validation
        sent(src);
        setLoading(rootOf(src), true);
      },
      htmx_finally_request: function (elt, detail) {
        if (!isStreamSource(detail.ctx.sourceElement)) { setLoading(rootOf(detail.ctx.sourceElement), false); }
        endUpload(detail.ctx.sourceElement);
      },
      htmx_sse_after_connection: function (elt, detail) {
        var connection = detail.connection;
        if (connection.status === 204) { // a resume answered "finished": never again
          stopConnection(connection);
          connection.abortController.abort(); // its empty body is not an error to report
          endStreams(elt);
        }
      },
      htmx_sse_before_message: function (elt, detail) {
        onStreamMessage(elt, detail.message, detail.connection);
      },
      htmx_ws_before_connection: function (elt, detail) {
        var connection = detail.connection;
        elt.cfUrl = elt.cfUrl || connection.url;
        elt.cfOpened = false;
        connection.url = paged(joinUrl(elt.cfUrl, elt));
        wsElts[connection.url] = elt; // hx-ws opens it next, with new WebSocket(url)
      },
      htmx_ws_after_connection: function (elt, detail) { socketOpened(elt, connectionLink(detail.connection)); },
      htmx_ws_close: function (elt, detail) { socketClosed(elt, connectionLink(detail.connection)); },
      htmx_ws_before_message_outgoing: function (elt, detail) {
        heldChild(elt, detail.message && detail.message.values);
        elt.cfValidation = validatesValues(elt, detail.message && detail.message.values);
        if (elt.cfValidation) { detail.cancelled = !checks(elt); return; }
        sent(elt);
        setLoading(rootOf(elt), true);
      },
      htmx_ws_before_message_incoming: function (elt, detail) {
        var data = detail.message.data;
        if (typeof data === "string" && !onSocketMessage(elt, data, connectionLink(detail.connection))) {
          detail.cancelled = true;
        }
      },
      htmx_ws_after_message_incoming: function (elt) {
        restoreShown(elt);
        reportDropped(elt);
      }
    });
  }

  if (HTMX4) { registerHtmx4(); } else { defineHtmx2(); }

  window.componentFramework = {
    /** Apply stream operations as if they had arrived for the component around ``scope``. */
    applyOps: function (scope, ops) { enqueue(scope, ops); },
    /** Apply every queued operation now instead of at the next animation frame. */
    flush: flush,
    /** This page load's id (sent with component requests and in socket URLs: docs/events.md). */
    page: PAGE
  };
})();
