"""The client runtime (``component-framework.js``) in a real headless Chromium.

Runs ``tests.browser.runtime_app:app`` under a real uvicorn on loopback; every page loads
``ComponentASGI.script_tags()`` (htmx and its extensions from ``node_modules``), has
``<body hx-ext="component-framework">`` and a strict Content-Security-Policy. A script installed
before the page's own (``add_init_script``) records the runtime's DOM events with the state of
their element at that moment, the htmx WebSocket lifecycle and every CSP violation. Every test
ends with no CSP violation; happy paths also end with no console error.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.harness import WatchedPage, http_json, watched_page
from tests.browser.runtime_app import (
    ANSWER_TOKENS,
    CSP,
    FAIL_MESSAGE,
    REFUSE_MESSAGE,
    RESUME_TOKENS,
    TEXT_TOKENS,
)
from tests.servers import uvicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

#: Longest wait for something the page should show (milliseconds).
UI_TIMEOUT_MS = 10_000
#: How long a finished stream is watched for a re-run: the app's ``retry:`` hint is 0.3 s and
#: htmx-ext-sse re-creates a closed source after 0.5 s, so a re-run would show well within it.
AFTER_DONE_WATCH_MS = 1_500
#: Tolerates every console line (error-path tests).
ANY_LINE = re.compile(".*", re.DOTALL)
HANDLER_FAILED = "the component failed to handle the request"

#: Runs after the harness's watch script: the runtime's DOM events and the socket's life.
INIT_SCRIPT = """
(() => {
  const cf = window.__cf = { events: [], ws: [], wsMessages: 0 };
  const ids = new WeakMap();
  let nextId = 0;
  const nodeId = (node) => {
    if (!node) { return null; }
    if (!ids.has(node)) { ids.set(node, ++nextId); }
    return ids.get(node);
  };
  ["stream:start", "stream:text", "stream:update", "stream:error", "stream:done", "stream:lost"]
    .forEach(
    (name) => document.addEventListener(name, (e) => {
      const el = e.target, d = e.detail || {};
      const texts = Array.from(el.childNodes).filter((n) => n.nodeType === Node.TEXT_NODE);
      cf.events.push({
        type: e.type, stream: d.stream, op: d.op ? d.op.op : null,
        text: d.text === undefined ? null : d.text, error: d.error === undefined ? null : d.error,
        element: el.getAttribute("data-stream"), active: el.hasAttribute("data-stream-active"),
        failed: el.hasAttribute("data-stream-error"), children: el.childNodes.length,
        root: el.closest("[data-component]") ? el.closest("[data-component]").id : null,
        textChildren: texts.length, firstId: nodeId(el.firstChild),
        content: el.textContent, html: el.innerHTML,
      });
    }));
  ["component-error", "component:broadcast"].forEach((name) => document.addEventListener(
    name, (e) => {
      const d = e.detail || {}, root = e.target.closest("[data-component]");
      cf.events.push({
        type: e.type, code: d.code || null, message: d.message || null,
        event: d.event || null, on: root ? root.getAttribute("data-component") : null,
      });
    }));
  // The socket's life under htmx 2's event names, then under htmx 4's.
  document.addEventListener("htmx:wsOpen", () => cf.ws.push({ type: "open" }));
  document.addEventListener("htmx:wsClose", (e) => cf.ws.push({
    type: "close", code: e.detail.event.code,
  }));
  document.addEventListener("htmx:wsAfterMessage", () => { cf.wsMessages += 1; });
  document.addEventListener("htmx:ws:after:connection", () => cf.ws.push({ type: "open" }));
  document.addEventListener("htmx:ws:close", (e) => {
    if (e.detail.reason === "closed") { cf.ws.push({ type: "close", code: e.detail.code }); }
  });
  document.addEventListener("htmx:ws:after:message:incoming", () => { cf.wsMessages += 1; });
})();
"""


@dataclass
class RuntimePage(WatchedPage):
    """One page of the test app, what it recorded, and the server's record. Tests check the
    ``component-error`` events themselves (many provoke them)."""

    expected_component_errors: tuple[str, ...] | None = None

    def expect_console_errors(self) -> None:
        """For tests of error paths: htmx logs failed requests to the console itself."""
        self.tolerated = (ANY_LINE,)

    def events(self, *types: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate("window.__cf.events")
        return [event for event in found if not types or event["type"] in types]

    def wait_for_event(self, kind: str, stream: str | None = None) -> None:
        self.page.wait_for_function(
            "([kind, stream]) => window.__cf.events.some("
            "(e) => e.type === kind && (stream === null || e.stream === stream))",
            arg=[kind, stream],
            timeout=UI_TIMEOUT_MS,
        )

    def record(self) -> dict[str, Any]:
        found: dict[str, Any] = http_json(self.base_url + "/record")
        return found

    def post(self, path: str) -> dict[str, Any]:
        found: dict[str, Any] = http_json(self.base_url + path, "POST")
        return found

    def ws_messages(self) -> int:
        count: int = self.page.evaluate("window.__cf.wsMessages")
        return count

    def wait_for_ws_messages(self, count: int) -> None:
        self.page.wait_for_function(
            "(count) => window.__cf.wsMessages >= count", arg=count, timeout=UI_TIMEOUT_MS
        )

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"runtime-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("runtime-app")
    with uvicorn_server("tests.browser.runtime_app:app", log_dir) as server:
        yield server.base_url


@pytest.fixture
def rt(browser: Browser, base_url: str) -> Iterator[RuntimePage]:
    http_json(base_url + "/record/reset", "POST")
    with watched_page(browser, base_url, RuntimePage, scripts=[INIT_SCRIPT]) as opened:
        yield opened


def _root(rt: RuntimePage, name: str) -> Any:
    return rt.page.locator(f"[data-component={name}]")


def _open_ws_page(rt: RuntimePage) -> str:
    """Open ``/ws`` and wait for the first render over the socket; returns the component id."""
    rt.goto("/ws")
    rt.wait_for_ws_messages(1)
    component_id: str = _root(rt, "wsbox").get_attribute("id") or ""
    return component_id


# -- 1. text into one text node ------------------------------------------------------------------


def _assert_text_stream(events: list[dict[str, Any]]) -> None:
    texts = [event for event in events if event["type"] == "stream:text"]
    assert [event["text"] for event in texts] == [*TEXT_TOKENS, "REPLACED", " +more"]
    appends = texts[: len(TEXT_TOKENS)]
    for count, event in enumerate(appends, start=1):
        # One Text child holding everything so far, and always the same node (appended to).
        assert event["children"] == event["textChildren"] == 1, event
        assert event["content"] == "".join(TEXT_TOKENS[:count])
    assert len({event["firstId"] for event in appends}) == 1, "appends made new text nodes"
    replaced, more = texts[len(TEXT_TOKENS) :]
    assert (replaced["children"], replaced["content"]) == (1, "REPLACED")
    assert (more["children"], more["textChildren"], more["content"]) == (1, 1, "REPLACED +more")
    assert more["firstId"] == replaced["firstId"], "the append after a replace made a new node"


@pytest.mark.parametrize("path", ["/sse", "/sse-around"], ids=["inside", "around"])
def test_sse_text_appends_grow_one_text_node_and_replace_mode_replaces_it(
    rt: RuntimePage, path: str
) -> None:
    """The ``sse-connect`` element inside the component, or around it."""
    rt.goto(f"{path}?script=text")
    rt.wait_for_event("stream:done", "text")

    _assert_text_stream(rt.events())
    text = rt.page.locator("[data-stream=text]")
    expect(text).to_have_text("REPLACED +more")
    assert text.evaluate("(el) => el.childNodes.length") == 1
    rt.shot(f"sse-text-{path.strip('/')}")
    # The appends came as compact text frames (``event:t``, data ``<stream> <text>``), which
    # the runtime decodes on htmx 2 (EventSource listener) and htmx 4 (hx-sse message hook).
    raw = _raw_stream(rt.base_url + "/components/ops/stream/?script=text")
    assert raw.count(b"event:t\n") >= len(TEXT_TOKENS) - 1, raw[:400]
    assert b"data:text w0 \n" in raw


def _raw_stream(url: str) -> bytes:
    """The whole body of a stream that ends by itself."""
    request = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
    with urllib.request.urlopen(request, timeout=20) as answer:
        body: bytes = answer.read()
    return body


def test_two_components_with_the_same_stream_name_each_get_their_own_ops(
    rt: RuntimePage,
) -> None:
    rt.goto("/sse-two?script=text")
    rt.page.wait_for_function(
        "() => window.__cf.events.filter((e) => e.type === 'stream:done').length === 2",
        timeout=UI_TIMEOUT_MS,
    )

    roots = rt.page.locator("[data-component=ops]")
    expect(roots).to_have_count(2)
    by_root: dict[str, list[dict[str, Any]]] = {}
    for event in rt.events():
        by_root.setdefault(event["root"], []).append(event)
    assert sorted(by_root) == sorted(roots.evaluate_all("(els) => els.map((el) => el.id)"))
    for events in by_root.values():
        _assert_text_stream(events)
    expect(rt.page.locator("[data-stream=text]")).to_have_text(["REPLACED +more"] * 2)


def test_ops_queued_before_a_websocket_render_never_land_in_the_new_element(
    rt: RuntimePage,
) -> None:
    """The render right behind the last text op already holds the whole answer: the queued
    ops go into the element it replaces, so nothing is doubled."""
    _open_ws_page(rt)
    messages = rt.ws_messages()
    rt.page.locator(".answer-btn").click()
    rt.wait_for_ws_messages(messages + 2)  # the renders: empty answer, whole answer

    rt.page.evaluate("() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)))")
    answer = rt.page.locator("[data-stream=answer]")
    assert answer.text_content() == "".join(ANSWER_TOKENS)
    assert "".join(event["text"] for event in rt.events("stream:text")) == "".join(ANSWER_TOKENS)


def test_websocket_text_appends_grow_one_text_node_and_replace_mode_replaces_it(
    rt: RuntimePage,
) -> None:
    _open_ws_page(rt)
    rt.page.locator(".run-text").click()
    rt.wait_for_event("stream:done", "text")

    _assert_text_stream(rt.events())
    text = rt.page.locator("[data-stream=text]")
    expect(text).to_have_text("REPLACED +more")
    assert text.evaluate("(el) => el.childNodes.length") == 1


# -- 2. insert / replace / delete ----------------------------------------------------------------

PANEL_AFTER_TARGETED_REPLACE = (
    '<span class="inner"><b>inner new</b></span><span class="other">other</span>'
)


def _assert_html_stream(rt: RuntimePage) -> None:
    updates = rt.events("stream:update")
    assert [(event["stream"], event["op"]) for event in updates] == [
        ("list", "insert"),
        ("list", "insert"),
        ("list", "insert"),
        ("list", "delete"),
        ("panel", "replace"),
        ("panel", "replace"),
    ]
    assert updates[0]["content"] == "seedappended"
    assert updates[1]["content"] == "prependedseedappended"
    assert updates[2]["content"] == "prependedseedappendedto delete"
    assert updates[3]["content"] == "prependedseedappended"
    assert updates[4]["html"] == PANEL_AFTER_TARGETED_REPLACE
    expect(rt.page.locator("[data-stream=list] li")).to_have_text(["prepended", "seed", "appended"])
    expect(rt.page.locator("[data-stream=list] .gone")).to_have_count(0)
    expect(rt.page.locator("[data-stream=panel] .whole")).to_have_text("whole new")
    expect(rt.page.locator("[data-stream=panel] .inner")).to_have_count(0)


def test_sse_insert_replace_and_delete_ops_change_the_stream_elements(rt: RuntimePage) -> None:
    rt.goto("/sse?script=html")
    rt.wait_for_event("stream:done", "list")

    _assert_html_stream(rt)
    rt.shot("sse-html")


def test_websocket_insert_replace_and_delete_ops_change_the_stream_elements(
    rt: RuntimePage,
) -> None:
    _open_ws_page(rt)
    rt.page.locator(".run-html").click()
    rt.wait_for_event("stream:done", "list")

    _assert_html_stream(rt)


def test_inserted_htmx_markup_is_live(rt: RuntimePage) -> None:
    rt.goto("/sse?script=html")
    rt.wait_for_event("stream:done", "list")

    rt.page.locator("[data-stream=panel] button.poke").click()

    expect(rt.page.locator("#poke-result")).to_have_text("poked 1", timeout=UI_TIMEOUT_MS)
    assert rt.record()["pokes"] == 1


# -- 3. events and the active mark ---------------------------------------------------------------


def test_stream_events_fire_in_order_with_their_details_while_active_marks_the_run(
    rt: RuntimePage,
) -> None:
    rt.goto("/sse?script=html")
    rt.wait_for_event("stream:done", "list")

    list_events = [event for event in rt.events() if event["stream"] == "list"]
    assert [(event["type"], event["op"]) for event in list_events] == [
        ("stream:start", "start"),
        ("stream:update", "insert"),
        ("stream:update", "insert"),
        ("stream:update", "insert"),
        ("stream:update", "delete"),
        ("stream:done", "done"),
    ]
    # Every event is dispatched on the stream element itself and bubbles to the document.
    assert {event["element"] for event in list_events} == {"list"}
    # Active from start until done, not after.
    assert [event["active"] for event in list_events] == [True, True, True, True, True, False]
    expect(rt.page.locator("[data-stream=list]")).not_to_have_attribute("data-stream-active", "")
    # The panel was never started: its updates do not mark it active.
    panel_events = [event for event in rt.events() if event["stream"] == "panel"]
    assert [event["active"] for event in panel_events] == [False, False]


def test_stream_text_events_carry_the_text_and_active_is_set_until_done(
    rt: RuntimePage,
) -> None:
    rt.goto("/sse?script=text")
    rt.wait_for_event("stream:done", "text")

    events = rt.events()
    assert [event["type"] for event in events] == [
        "stream:start",
        *["stream:text"] * (len(TEXT_TOKENS) + 2),
        "stream:done",
    ]
    assert all(event["stream"] == "text" for event in events)
    assert [event["active"] for event in events] == [True] * (len(events) - 1) + [False]
    expect(rt.page.locator("[data-stream=text]")).not_to_have_attribute("data-stream-active", "")


# -- 4. errors inside a stream -------------------------------------------------------------------


def test_stream_error_keeps_the_partial_text_and_shows_the_error(rt: RuntimePage) -> None:
    rt.goto("/sse?script=fail")
    rt.wait_for_event("stream:error", "text")

    events = rt.events()
    assert [event["type"] for event in events] == [
        "stream:start",
        "stream:text",
        "stream:text",
        "stream:error",
    ]
    error = events[-1]
    assert (error["stream"], error["op"], error["error"]) == ("text", "error", FAIL_MESSAGE)
    assert error["active"] is False
    assert error["failed"] is True
    text = rt.page.locator("[data-stream=text]")
    assert text.evaluate("(el) => el.firstChild.data") == "partial content"
    alert = text.locator(".stream-error[role=alert]")
    expect(alert).to_have_text(FAIL_MESSAGE)
    expect(text).to_have_attribute("data-stream-error", "")
    expect(text).not_to_have_attribute("data-stream-active", "")
    rt.shot("sse-stream-error")


def test_a_handler_failing_mid_stream_keeps_the_partial_text_and_shows_the_error(
    rt: RuntimePage,
) -> None:
    # The failure arrives as an ``event: error`` frame, which EventSource also hands to
    # ``onerror``: htmx-ext-sse logs it as htmx:sseError (a console error) before our runtime
    # shows it in the component.
    rt.expect_console_errors()
    rt.goto("/sse?script=raise&own=1")

    message = _root(rt, "ops").locator("[data-component-error]")
    expect(message).to_have_text(HANDLER_FAILED, timeout=UI_TIMEOUT_MS)
    text = rt.page.locator("[data-stream=text]")
    expect(text).to_have_text("partial content")
    expect(text).not_to_have_attribute("data-stream-active", "")
    rt.page.wait_for_timeout(AFTER_DONE_WATCH_MS)
    record = rt.record()
    assert record["runs"] == {"raise": 1}, "the failed stream ran again"
    assert len(record["streams"]) == 1
    rt.shot("sse-handler-failed")


# -- 5. batching ---------------------------------------------------------------------------------

BURST_SCRIPT = """
async ({ ops, separately }) => {
  const el = document.querySelector("[data-stream=burst]");
  const host = document.getElementById("burst-host");
  let callbacks = 0, records = 0, events = 0;
  const observer = new MutationObserver((list) => { callbacks += 1; records += list.length; });
  observer.observe(el, { childList: true, characterData: true, subtree: true });
  el.addEventListener("stream:text", () => { events += 1; });
  const expected = ops.map((op) => op.text).join("");
  let frames = 0;
  const hidden = document.hidden;
  if (separately) {
    for (const op of ops) { window.componentFramework.applyOps(host, [op]); }
  } else {
    window.componentFramework.applyOps(host, ops);
  }
  const textRightAfter = el.textContent;
  await new Promise((resolve) => {
    const tick = () => {
      frames += 1;
      if (el.textContent.length >= expected.length || frames > 30) { resolve(); }
      else { requestAnimationFrame(tick); }
    };
    requestAnimationFrame(tick);
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return {
    callbacks, records, events, frames, hidden, textRightAfter,
    text: el.textContent, expected, children: el.childNodes.length,
  };
}
"""


def _burst(count: int) -> list[dict[str, str]]:
    return [{"op": "text", "stream": "burst", "text": f"{index},"} for index in range(count)]


@pytest.mark.parametrize("separately", [False, True], ids=["one-call", "one-call-per-op"])
def test_a_burst_of_text_ops_is_applied_in_one_dom_update_per_frame(
    rt: RuntimePage, separately: bool
) -> None:
    rt.goto("/burst")

    result = rt.page.evaluate(BURST_SCRIPT, {"ops": _burst(500), "separately": separately})

    assert result["hidden"] is False
    assert result["textRightAfter"] == "", "ops were applied synchronously, not per frame"
    assert result["frames"] == 1, result  # all 500 landed by the first animation frame
    assert result["callbacks"] <= 2, result  # one batch of DOM mutations, not 500
    assert result["events"] == 500
    assert result["text"] == result["expected"]
    assert result["children"] == 1


# -- 6. auto-scroll ------------------------------------------------------------------------------

SCROLL_STATE = """() => {
  const box = document.getElementById("scrollbox");
  return { top: box.scrollTop, height: box.scrollHeight, client: box.clientHeight,
           overflow: getComputedStyle(box).overflowY };
}"""
ADD_LINES = """async ({ start, count }) => {
  const ops = [];
  for (let i = start; i < start + count; i++) {
    ops.push({ op: "insert", stream: "log", html: "<p>line " + i + "</p>" });
  }
  window.componentFramework.applyOps(document.getElementById("scroll-host"), ops);
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}"""


def _at_bottom(state: dict[str, Any]) -> bool:
    return bool(state["top"] + state["client"] >= state["height"] - 1)


def test_auto_scroll_follows_new_content_only_when_the_reader_is_at_the_bottom(
    rt: RuntimePage,
) -> None:
    rt.goto("/burst")
    page = rt.page
    assert page.evaluate(SCROLL_STATE)["overflow"] == "auto"  # from the stylesheet file

    page.evaluate(ADD_LINES, {"start": 0, "count": 30})
    state = page.evaluate(SCROLL_STATE)
    assert state["height"] > state["client"] * 2
    assert _at_bottom(state), state

    page.evaluate(ADD_LINES, {"start": 30, "count": 10})
    state = page.evaluate(SCROLL_STATE)
    assert _at_bottom(state), f"did not follow new content: {state}"

    page.evaluate("() => { document.getElementById('scrollbox').scrollTop = 40; }")
    page.evaluate(ADD_LINES, {"start": 40, "count": 10})
    state = page.evaluate(SCROLL_STATE)
    assert state["top"] == 40, f"moved the reader who had scrolled up: {state}"
    assert not _at_bottom(state)

    # Back near the bottom (within 48 px): following again.
    page.evaluate(
        "() => { const box = document.getElementById('scrollbox');"
        " box.scrollTop = box.scrollHeight - box.clientHeight - 30; }"
    )
    page.evaluate(ADD_LINES, {"start": 50, "count": 10})
    assert _at_bottom(page.evaluate(SCROLL_STATE))
    expect(page.locator("#scrollbox p")).to_have_count(60)


# -- 7. SSE end and resume -----------------------------------------------------------------------


def test_a_finished_sse_stream_is_not_run_again(rt: RuntimePage) -> None:
    rt.goto("/sse?script=text&own=1")
    rt.wait_for_event("stream:done", "text")

    rt.page.wait_for_timeout(AFTER_DONE_WATCH_MS)

    record = rt.record()
    assert record["runs"] == {"text": 1}
    assert len(record["streams"]) == 1, record["streams"]
    assert len(rt.events("stream:start")) == 1


def test_a_dropped_sse_stream_resumes_with_last_event_id_without_loss_or_repeat(
    rt: RuntimePage,
) -> None:
    rt.expect_console_errors()  # htmx-ext-sse logs the dropped connection as an error
    rt.post("/arm-drop?after=6")
    rt.goto("/sse?script=resume&own=1")
    rt.wait_for_event("stream:done", "text")

    record = rt.record()
    assert record["runs"] == {"resume": 1}, "the stream was run again instead of resumed"
    first, second = record["streams"]
    assert first["dropped_after"] == 6
    assert first["last_event_id"] is None
    assert second["last_event_id"], "the reconnect did not carry Last-Event-ID"
    assert second["status"] == 200
    expected = "".join(RESUME_TOKENS)
    texts = [event["text"] for event in rt.events("stream:text")]
    assert "".join(texts) == expected
    assert texts == list(RESUME_TOKENS)
    text = rt.page.locator("[data-stream=text]")
    expect(text).to_have_text(expected)
    assert text.evaluate("(el) => el.childNodes.length") == 1
    assert len(rt.events("stream:start")) == 1
    expect(text).not_to_have_attribute("data-stream-active", "")


def test_a_resume_answered_204_ends_the_stream_and_is_never_retried(rt: RuntimePage) -> None:
    # htmx 2: the EventSource is CLOSED by the 204 and the runtime keeps htmx-ext-sse from
    # re-creating it; htmx 4: hx-sse reads the 204 as a success and would retry every 0.5 s.
    rt.expect_console_errors()  # htmx-ext-sse logs the dropped connection as an error
    rt.post("/arm-drop?after=6&forget=1")
    rt.goto("/sse?script=resume&own=1")
    text = rt.page.locator("[data-stream=text]")
    expect(text).to_have_attribute("data-stream-active", "")
    expect(text).not_to_have_attribute("data-stream-active", "", timeout=UI_TIMEOUT_MS)
    rt.page.wait_for_timeout(AFTER_DONE_WATCH_MS)

    streams = rt.record()["streams"]
    assert [(s["last_event_id"] is None, s["status"]) for s in streams] == [
        (True, 200),
        (False, 204),
    ], streams
    assert rt.record()["runs"] == {"resume": 1}


def test_a_resume_the_server_cannot_serve_is_shown_as_lost_and_never_retried(
    rt: RuntimePage,
) -> None:
    # The reconnect reaches a server that does not know the run (as another worker would):
    # it answers one `lost` frame; the runtime closes the stream, shows the message in the
    # component and fires stream:lost, and nothing runs again or asks again.
    rt.expect_console_errors()  # htmx-ext-sse logs the dropped connection as an error
    rt.post("/arm-drop?after=6&forget=lost")
    rt.goto("/sse?script=resume&own=1")
    text = rt.page.locator("[data-stream=text]")
    expect(text).to_have_attribute("data-stream-active", "")
    rt.wait_for_event("stream:lost")
    expect(text).not_to_have_attribute("data-stream-active", "")
    error = rt.page.locator("[data-component-error]")
    expect(error).to_contain_text("lost")
    rt.page.wait_for_timeout(AFTER_DONE_WATCH_MS)

    streams = rt.record()["streams"]
    assert [(s["last_event_id"] is None, s["status"]) for s in streams] == [
        (True, 200),
        (False, 200),
    ], streams
    assert streams[1]["last_event_id"].startswith("forgotten-run"), streams
    assert rt.record()["runs"] == {"resume": 1}
    (lost,) = rt.events("stream:lost")
    assert lost["error"]["code"] == "stream_lost"


# -- 8. WebSocket resume -------------------------------------------------------------------------


def _without_page(query: str) -> str:
    """A socket URL's query without the page id the runtime adds (``_page``: 128 random bits
    in hex, docs/events.md), which it checks is there."""
    kept, page = [], []
    for pair in query.split("&"):
        (page if pair.startswith("_page=") else kept).append(pair)
    assert len(page) == 1, query
    assert re.fullmatch(r"_page=[0-9a-f]{32}", page[0]), query
    return "&".join(kept)


def _no_snapshot_in_urls(sockets: list[dict[str, Any]]) -> None:
    """No WebSocket URL of the page carried a snapshot (it would be in access logs)."""
    for socket in sockets:
        assert "snapshot" not in socket["query"], socket["query"]


def test_the_socket_resumes_the_page_component_with_its_snapshot(rt: RuntimePage) -> None:
    component_id = _open_ws_page(rt)

    record = rt.record()
    (served,) = record["pages"]
    (socket,) = record["sockets"]
    assert socket["outcome"] == "accepted"
    assert socket["snapshot"] == served["snapshot"], socket  # sent in the join message
    assert _without_page(socket["query"]) == "format=html&target=ws-box&join=message"
    _no_snapshot_in_urls(record["sockets"])
    assert component_id == served["id"]
    expect(_root(rt, "wsbox")).to_have_count(1)


def test_after_a_1012_close_the_page_reconnects_with_its_state(rt: RuntimePage) -> None:
    component_id = _open_ws_page(rt)
    page = rt.page
    page.locator("input[name=text]").fill("before the drop")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["before the drop"])
    messages = rt.ws_messages()

    assert rt.post("/test/close-sockets")["closed"] == 1

    page.wait_for_function(
        "() => window.__cf.ws.filter((e) => e.type === 'open').length >= 2",
        timeout=UI_TIMEOUT_MS,
    )
    rt.wait_for_ws_messages(messages + 1)  # the render of the resumed component
    closes = [
        event["code"] for event in page.evaluate("window.__cf.ws") if event["type"] == "close"
    ]
    assert closes == [1012]
    expect(page.locator(".items li")).to_have_text(["before the drop"])
    sockets = rt.record()["sockets"]
    assert [socket["outcome"] for socket in sockets] == ["accepted", "accepted"]
    assert sockets[1]["snapshot"], "the reconnect did not carry the component's snapshot"
    assert sockets[1]["snapshot"] != sockets[0]["snapshot"]  # the latest state, not the page's
    _no_snapshot_in_urls(sockets)
    assert _root(rt, "wsbox").get_attribute("id") == component_id

    page.locator("input[name=text]").fill("after the drop")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["before the drop", "after the drop"])
    rt.shot("ws-reconnected")


def test_a_join_whose_server_held_state_is_gone_is_retried_as_a_fresh_mount(
    rt: RuntimePage,
) -> None:
    rt.goto("/ws-vault")
    rt.wait_for_ws_messages(1)
    old_id = _root(rt, "vaultbox").get_attribute("id")
    page = rt.page
    page.locator("input[name=text]").fill("kept on the server")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["kept on the server"])
    assert "kept on the server" not in (_root(rt, "vaultbox").get_attribute("hx-vals") or "")

    assert rt.post("/test/forget-state")["forgotten"] >= 1  # (earlier tests' too)
    rt.post("/test/close-sockets")

    page.wait_for_function(
        "() => window.__cf.ws.filter((e) => e.type === 'open').length >= 3",
        timeout=UI_TIMEOUT_MS,
    )
    expect(page.locator(".items li")).to_have_count(0)  # a fresh component
    sockets = rt.record()["sockets"]
    assert [socket["join_error"] for socket in sockets][1] == "state_expired"
    assert sockets[-1]["snapshot"] is None  # mounted from the page's own URL
    expect(page.locator("[data-component-error]")).to_have_count(0)
    new_id = _root(rt, "vaultbox").get_attribute("id")
    assert new_id
    assert new_id != old_id
    page.locator("input[name=text]").fill("fresh")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["fresh"])


def test_a_join_refused_for_its_snapshot_is_retried_as_a_fresh_mount(
    rt: RuntimePage,
) -> None:
    old_id = _open_ws_page(rt)
    page = rt.page
    page.locator("input[name=text]").fill("lost with the snapshot")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_count(1)
    page.evaluate(
        """() => document.querySelector("[data-component=wsbox]")
            .setAttribute("hx-vals", JSON.stringify({ snapshot: "v1.tampered.token" }))"""
    )

    rt.post("/test/close-sockets")

    expect(page.locator(".items")).to_be_attached()
    page.wait_for_function(
        "() => window.__cf.ws.filter((e) => e.type === 'open').length >= 2",
        timeout=UI_TIMEOUT_MS,
    )
    expect(page.locator(".items li")).to_have_count(0)  # a fresh component
    sockets = rt.record()["sockets"]
    outcomes = [(socket["snapshot"], socket["join_error"]) for socket in sockets]
    assert outcomes[1] == ("v1.tampered.token", "invalid_snapshot"), outcomes
    assert outcomes[-1] == (None, None)  # mounted from the page's own URL
    assert _without_page(sockets[-1]["query"]) == "format=html&target=ws-box"
    assert all(socket["outcome"] == "accepted" for socket in sockets)
    _no_snapshot_in_urls(sockets)
    expect(page.locator("[data-component-error]")).to_have_count(0)  # nothing was queued
    new_id = _root(rt, "wsbox").get_attribute("id")
    assert new_id
    assert new_id != old_id

    page.locator("input[name=text]").fill("fresh")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["fresh"])


def test_a_reconnect_refused_while_the_server_restarts_still_resumes_the_state(
    rt: RuntimePage,
) -> None:
    """A restart: sockets closed with 1012, then handshakes refused (503) for a while, as a
    server that is going down or not up yet does. The snapshot was never the problem, so once
    the server is back the page must resume its component, not mount a fresh one."""
    rt.expect_console_errors()  # refused handshakes are logged by the browser
    component_id = _open_ws_page(rt)
    page = rt.page
    page.locator("input[name=text]").fill("before the restart")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["before the restart"])

    rt.post("/test/restart?down=1.5")

    page.wait_for_function(
        "() => window.__cf.ws.filter((e) => e.type === 'open').length >= 2",
        timeout=2 * UI_TIMEOUT_MS,
    )
    sockets = rt.record()["sockets"]
    outcomes = [("join=message" in socket["query"], socket["outcome"]) for socket in sockets]
    assert outcomes[1] == (True, "refused 503"), outcomes  # the retry inside the restart
    assert outcomes[-1] == (True, "accepted"), f"the page gave up its snapshot: {outcomes}"
    assert sockets[-1]["snapshot"]
    assert sockets[-1]["join_error"] is None
    _no_snapshot_in_urls(sockets)
    expect(page.locator(".items li")).to_have_text(["before the restart"])
    assert _root(rt, "wsbox").get_attribute("id") == component_id


def test_a_long_snapshot_resumes_through_the_join_message(
    rt: RuntimePage,
) -> None:
    component_id = _open_ws_page(rt)
    page = rt.page
    long_item = "long " * 1500  # a snapshot over 6000 characters: too long for a URL
    page.locator("input[name=text]").fill(long_item)
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_count(1)
    messages = rt.ws_messages()

    rt.post("/test/close-sockets")

    page.wait_for_function(
        "() => window.__cf.ws.filter((e) => e.type === 'open').length >= 2",
        timeout=UI_TIMEOUT_MS,
    )
    rt.wait_for_ws_messages(messages + 1)
    expect(page.locator(".items li")).to_have_text([long_item.strip()])
    assert _root(rt, "wsbox").get_attribute("id") == component_id
    sockets = rt.record()["sockets"]
    assert len(sockets[-1]["snapshot"]) > 6000
    assert _without_page(sockets[-1]["query"]) == "format=html&target=ws-box&join=message"
    page.locator("input[name=text]").fill("after")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text([long_item.strip(), "after"])


# -- 9. loading state ----------------------------------------------------------------------------


def test_loading_is_marked_on_the_component_during_an_http_event(rt: RuntimePage) -> None:
    rt.goto("/http")
    root = _root(rt, "slowhttp")

    root.locator("button.work").click()

    expect(root).to_have_attribute("data-loading", "")
    expect(root).to_have_attribute("aria-busy", "true")
    expect(root.locator(".works")).to_have_text("works: 1", timeout=UI_TIMEOUT_MS)
    expect(root).not_to_have_attribute("data-loading", "")
    expect(root).not_to_have_attribute("aria-busy", "true")


def test_pages_run_on_the_htmx_of_their_round(rt: RuntimePage, htmx_version: int) -> None:
    rt.goto("/http")
    assert rt.page.evaluate("htmx.version").split(".")[0] == str(htmx_version)


def test_a_page_built_with_htmx_4_tags_runs_its_component_on_htmx_4(rt: RuntimePage) -> None:
    # Served by the app itself (script_tags(htmx=4): htmx4.min.js, hx-sse.min.js, hx-ws.min.js),
    # whatever the round: the server side of choosing htmx 4.
    rt.goto("/http-htmx4")
    assert rt.page.evaluate("htmx.version") == "4.0.1"
    root = _root(rt, "slowhttp")
    root.locator("form.set-form input").fill("7")
    root.locator("form.set-form button").click()
    expect(root.locator(".value")).to_have_text("value: 7", timeout=UI_TIMEOUT_MS)
    root.locator("button.work").click()
    expect(root.locator(".works")).to_have_text("works: 1", timeout=UI_TIMEOUT_MS)
    expect(root.locator(".value")).to_have_text("value: 7")  # the snapshot went with the click


def test_loading_is_marked_on_the_component_during_a_websocket_event(rt: RuntimePage) -> None:
    _open_ws_page(rt)
    root = _root(rt, "wsbox")

    root.locator("button.slow").click()

    expect(root).to_have_attribute("data-loading", "")
    expect(root).to_have_attribute("aria-busy", "true")
    expect(root.locator(".slow-done")).to_have_text("slow: 1", timeout=UI_TIMEOUT_MS)
    expect(root).not_to_have_attribute("data-loading", "")
    expect(root).not_to_have_attribute("aria-busy", "true")


# -- 10. typing kept -----------------------------------------------------------------------------

FIELD_STATE = """() => {
  const input = document.querySelector("[data-component=wsbox] input[name=text]");
  return { value: input.value, start: input.selectionStart, end: input.selectionEnd,
           focused: document.activeElement === input, original: input.__original === true };
}"""


def test_a_push_render_keeps_what_the_user_is_typing_and_a_sent_value_is_cleared(
    rt: RuntimePage,
) -> None:
    _open_ws_page(rt)
    page = rt.page
    field_ = page.locator("[data-component=wsbox] input[name=text]")
    field_.click()
    page.keyboard.type("hello world")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    field_.evaluate("(input) => { input.__original = true; }")

    assert rt.post("/test/broadcast")["reached"] == 1
    expect(page.locator(".ticks")).to_have_text("ticks: 1", timeout=UI_TIMEOUT_MS)

    state = page.evaluate(FIELD_STATE)
    assert state["original"] is False, "the push render did not replace the field"
    assert state == {"value": "hello world", "start": 8, "end": 8, "focused": True,
                     "original": False}  # fmt: skip
    page.keyboard.type("!")  # the caret is where the user left it
    expect(field_).to_have_value("hello wo!rld")

    page.keyboard.press("Enter")

    expect(page.locator(".items li")).to_have_text(["hello wo!rld"], timeout=UI_TIMEOUT_MS)
    expect(field_).to_have_value("")
    expect(field_).to_be_focused()
    rt.shot("ws-typing-kept")


def test_a_typed_value_is_kept_when_another_control_of_the_component_causes_the_render(
    rt: RuntimePage,
) -> None:
    """The user types a draft, then clicks another button of the same component: the draft
    was never sent, so the render that button causes must not wipe it."""
    _open_ws_page(rt)
    page = rt.page
    field_ = page.locator("[data-component=wsbox] input[name=text]")
    field_.click()
    page.keyboard.type("my draft")

    page.locator("button.slow").click()

    expect(page.locator(".slow-done")).to_have_text("slow: 1", timeout=UI_TIMEOUT_MS)
    expect(field_).to_have_value("my draft")


# -- 11. errors shown in the component ---------------------------------------------------------


@pytest.mark.parametrize(
    ("button", "code", "message"),
    [
        ("refuse", "validation_error", REFUSE_MESSAGE),
        ("explode", "handler_error", HANDLER_FAILED),
    ],
)
def test_a_websocket_error_is_shown_in_the_component_which_keeps_working(
    rt: RuntimePage, button: str, code: str, message: str
) -> None:
    _open_ws_page(rt)
    page = rt.page
    page.locator("input[name=text]").fill("kept")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["kept"])

    page.locator(f"button.{button}").click()

    shown = _root(rt, "wsbox").locator("[data-component-error]")
    expect(shown).to_have_text(message, timeout=UI_TIMEOUT_MS)
    errors = rt.events("component-error")
    assert [(event["code"], event["message"], event["on"]) for event in errors] == [
        (code, message, "wsbox")
    ]
    expect(page.locator(".items li")).to_have_text(["kept"])
    expect(_root(rt, "wsbox")).not_to_have_attribute("data-loading", "")
    page.locator("input[name=text]").fill("still working")
    page.locator(".add-form button").click()
    expect(page.locator(".items li")).to_have_text(["kept", "still working"])


def test_an_http_422_is_shown_in_the_component_which_keeps_working(rt: RuntimePage) -> None:
    rt.expect_console_errors()  # checked below: only the browser's own network line
    rt.goto("/http")
    root = _root(rt, "slowhttp")
    component_id = root.get_attribute("id")

    root.locator("input[name=value]").fill("abc")
    root.locator(".set-form button").click()

    shown = root.locator("[data-component-error]")
    expect(shown).to_have_text("Enter a whole number.", timeout=UI_TIMEOUT_MS)
    (error,) = rt.events("component-error")
    assert error["code"] == "validation_error"
    # htmx logs no "Response Status Error Code 422" for it: the runtime handles component
    # errors. Chromium's own network line for a 4xx cannot be silenced by a page script.
    assert rt.console_errors == [
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ], rt.console_errors
    assert error["on"] == "slowhttp"
    expect(root.locator(".value")).to_have_text("value: 0")
    expect(root).not_to_have_attribute("data-loading", "")
    rt.shot("http-422")

    root.locator("input[name=value]").fill("5")
    root.locator(".set-form button").click()
    expect(root.locator(".value")).to_have_text("value: 5", timeout=UI_TIMEOUT_MS)
    expect(root.locator("[data-component-error]")).to_have_count(0)
    assert root.get_attribute("id") == component_id


# -- 12. CSP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sse?script=text", "/ws", "/http", "/http-htmx4", "/burst"])
def test_pages_run_the_runtime_under_a_strict_csp(rt: RuntimePage, path: str) -> None:
    response = rt.goto(path)

    assert response.headers["content-security-policy"] == CSP
    assert rt.page.evaluate("typeof window.componentFramework.applyOps") == "function"
    assert rt.page.evaluate("document.body.getAttribute('hx-ext')") == "component-framework"
    if path == "/ws":
        rt.wait_for_ws_messages(1)
    elif path.startswith("/sse"):
        rt.wait_for_event("stream:done", "text")
    # The fixture then checks: no CSP violation and no console error on this page.


def _run_a_blocked_inline_script(browser: Browser, base_url: str) -> None:
    with watched_page(browser, base_url) as opened:
        opened.goto("/burst")
        opened.page.evaluate(
            """() => { const s = document.createElement("script");
            s.textContent = "window.__inlineRan = true"; document.body.append(s); }"""
        )
        opened.page.wait_for_function("window.__seen.csp.length > 0")
        assert opened.page.evaluate("window.__inlineRan === undefined")


def test_the_harness_fails_a_page_with_a_csp_violation(browser: Browser, base_url: str) -> None:
    """The control case for the checks above: under this CSP an inline script is blocked, the
    harness records it and fails the page (so "no violation" elsewhere means something)."""
    with pytest.raises(AssertionError, match=r"CSP violations: \['script-src"):
        _run_a_blocked_inline_script(browser, base_url)


def _log_an_error(browser: Browser, base_url: str, *tolerated: re.Pattern[str]) -> None:
    with watched_page(browser, base_url) as opened:
        opened.tolerated = tolerated
        opened.goto("/burst")
        opened.page.evaluate("() => console.error('boom')")


def test_the_harness_fails_a_page_with_a_console_error_it_does_not_tolerate(
    browser: Browser, base_url: str
) -> None:
    with pytest.raises(AssertionError, match=r"console errors: \['boom'\]"):
        _log_an_error(browser, base_url)
    _log_an_error(browser, base_url, re.compile("bo+m"))
