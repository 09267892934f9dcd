"""Helpers for the showcase's real-browser tests: servers, pages that watch for problems, actions.

A :class:`ShowcasePage` is one browser context (one user) on the showcase's index page. From
before the page's first script it records console errors, page errors and Content-Security-Policy
violations; :meth:`ShowcasePage.problems` returns them so every test can assert that there were
none. The page also counts, per WebSocket element, the sockets opened and the messages received,
so tests wait for "connected" instead of sleeping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Request, WebSocket, expect

from tests.browser.conftest import ARTIFACTS
from tests.servers import UvicornServer, start_uvicorn

#: A fixed key (>= 32 characters), so that a restarted server accepts the page's snapshots.
SECRET_KEY = "showcase-browser-tests-secret-key-0123456789"
SERVER_ENV = {"COMPONENT_FRAMEWORK_SECRET_KEY": SECRET_KEY}
#: uvicorn's access log (one line per HTTP request and per WebSocket handshake, with its URL).
ACCESS_LOG = ("--log-level", "info")
#: Longest wait for anything the page should show (milliseconds).
UI_TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 900}
SOCKET_BOXES = ("chat-box", "ticker-box", "todo-box")

#: Installed before any script of the page runs.
WATCH_SCRIPT = """
window.__violations = [];
window.__wsOpened = {};
window.__wsMessages = {};
window.__wsCloses = {};
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
// htmx 2 names first, then htmx 4's (the same moments of a socket's life).
const opened = (event) => {
  const id = event.target.id;
  window.__wsOpened[id] = (window.__wsOpened[id] || 0) + 1;
};
const closed = (id, code) => { (window.__wsCloses[id] = window.__wsCloses[id] || []).push(code); };
const received = (event) => {
  const id = event.target.id;
  window.__wsMessages[id] = (window.__wsMessages[id] || 0) + 1;
};
document.addEventListener("htmx:wsOpen", opened);
document.addEventListener("htmx:ws:after:connection", opened);
document.addEventListener("htmx:wsClose", (event) => {
  closed(event.target.id, event.detail.event.code);
});
document.addEventListener("htmx:ws:close", (event) => {
  if (event.detail.reason === "closed") { closed(event.target.id, event.detail.code); }
});
document.addEventListener("htmx:wsAfterMessage", received);
document.addEventListener("htmx:ws:after:message:incoming", received);
"""


def start_showcase(app: str, log_dir: Path, *, port: int | None = None) -> UvicornServer:
    """``app`` under uvicorn on loopback with the fixed key and the access log on."""
    log_dir.mkdir(parents=True, exist_ok=True)
    return start_uvicorn(app, log_dir, ACCESS_LOG, SERVER_ENV, port=port)


@contextmanager
def showcase_server(app: str, log_dir: Path, *, port: int | None = None) -> Iterator[UvicornServer]:
    """:func:`start_showcase`, always stopped on exit."""
    server = start_showcase(app, log_dir, port=port)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ShowcasePage:
    """One user's page on the showcase, and what went wrong in it."""

    page: Page
    errors: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    #: Stream runs the page asked the server to start, by component name, on any carrier: a
    #: stream's own request, a page connection's entry, or a page socket's ``stream`` message
    #: (resumes are not runs started).
    starts: list[str] = field(default_factory=list)

    def runs_started(self, name: str) -> int:
        return self.starts.count(name)

    def _request(self, request: Request) -> None:
        own = re.search(r"/components/([\w-]+)/stream/", request.url)
        if own:
            self.starts.append(own.group(1))
        elif request.url.endswith("/_page/") and request.post_data:
            entries = json.loads(request.post_data)["streams"]
            self.starts += [e["name"] for e in entries if "resume" not in e]

    def _socket(self, socket: WebSocket) -> None:
        self.sockets.append(socket.url)
        socket.on("framesent", self._frame_sent)

    def _frame_sent(self, payload: str | bytes) -> None:
        if isinstance(payload, str) and payload.startswith("{"):
            message = json.loads(payload)
            if message.get("type") == "stream" and "resume" not in message:
                self.starts.append(message["name"])

    def component(self, name: str) -> Locator:
        return self.page.locator(f"[data-component={name}]")

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations")
        return found

    def problems(self, tolerated: Sequence[re.Pattern[str]] = ()) -> list[str]:
        """Console errors, page errors and CSP violations, minus those matching ``tolerated``."""
        errors = [e for e in self.errors if not any(p.fullmatch(e) for p in tolerated)]
        return errors + [f"CSP violation: {v}" for v in self.violations()]

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"showcase-{name}.png"), full_page=True)

    def socket_messages(self, box: str) -> int:
        count: int = self.page.evaluate("(id) => window.__wsMessages[id] || 0", box)
        return count

    def wait_until_connected(self) -> None:
        """Every WebSocket element opened its socket and received its first render."""
        self.page.wait_for_function(
            "(ids) => ids.every((id) => (window.__wsMessages[id] || 0) >= 1)",
            arg=list(SOCKET_BOXES),
            timeout=UI_TIMEOUT_MS,
        )

    # -- actions, as a person does them ----------------------------------------------------------

    def ask(self, question: str) -> None:
        """Type a question into the chat and press Enter."""
        field_ = self.page.locator("#chat-box input[name=question]")
        field_.click()
        field_.press_sequentially(question)
        field_.press("Enter")

    def add_todo(self, text: str) -> None:
        """Type an item into the shared list and press Enter."""
        field_ = self.page.locator("#todo-box input[name=text]")
        field_.click()
        field_.press_sequentially(text)
        field_.press("Enter")

    def todo_item(self, text: str) -> Locator:
        return self.page.locator("#todo-box li.item").filter(
            has=self.page.locator(".text", has_text=re.compile(f"^{re.escape(text)}$"))
        )

    def ticks(self) -> int:
        """The ticker's "N updates received" (0 while it waits for the first prices)."""
        text = self.page.locator("#ticker-box .ticker").inner_text()
        found = re.search(r"(\d+) updates received", text)
        return int(found.group(1)) if found else 0

    def wait_for_ticks(self, at_least: int, timeout_ms: int = UI_TIMEOUT_MS) -> None:
        self.page.wait_for_function(
            """(least) => {
                const ticks = document.querySelector("#ticker-box .ticks");
                const found = ticks && /(\\d+) updates received/.exec(ticks.textContent);
                return found !== null && Number(found[1]) >= least;
            }""",
            arg=at_least,
            timeout=timeout_ms,
        )


@contextmanager
def open_showcase(browser: Browser, url: str) -> Iterator[ShowcasePage]:
    """A fresh browser context (one user) on the showcase, every socket connected; closed on
    exit. The caller asserts ``problems() == []`` while the page is open."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(WATCH_SCRIPT)
        page = context.new_page()
        opened = ShowcasePage(page)

        def record_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                opened.errors.append(message.text)

        page.on("console", record_console)
        page.on("pageerror", lambda error: opened.errors.append(f"page error: {error}"))
        page.on("websocket", opened._socket)
        page.on("request", opened._request)
        page.goto(url)
        expect(page.locator("[data-component]")).to_have_count(10)
        opened.wait_until_connected()
        yield opened
    finally:
        context.close()


# -- watchers installed with page.evaluate: what the page showed, as it happened ---------------

#: Every ``stream:text`` event in order: its text, the element's text right after it, and
#: whether the stream element was marked active.
CHAT_WATCH = """() => {
  window.__texts = [];
  document.addEventListener("stream:text", (event) => {
    window.__texts.push({
      stream: event.detail.stream,
      text: event.detail.text,
      shown: event.target.textContent,
      active: event.target.hasAttribute("data-stream-active"),
    });
  });
}"""

#: Every change of the report's visible state (number of sections, progress, active stream,
#: done note), with the time it was seen.
REPORT_WATCH = """() => {
  window.__report = [];
  let last = "";
  const look = () => {
    const root = document.querySelector("[data-component=report]");
    const sections = root && root.querySelector("[data-stream=sections]");
    if (!sections) { return; }
    const progress = root.querySelector("[data-stream=progress] progress");
    const state = {
      articles: sections.querySelectorAll("article").length,
      progress: progress ? Number(progress.value) : null,
      active: sections.hasAttribute("data-stream-active"),
      done: root.querySelector(".report-done") !== null,
    };
    const key = JSON.stringify(state);
    if (key !== last) {
      last = key;
      window.__report.push({ ...state, t: performance.now() });
    }
  };
  new MutationObserver(look).observe(document.body, {
    childList: true, subtree: true, attributes: true, characterData: true,
  });
}"""

#: Every time the sentiment component's root was marked loading.
LOADING_WATCH = """() => {
  window.__loading = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const root = record.target;
      if (root.matches("[data-component=sentiment]") && root.hasAttribute("data-loading")) {
        window.__loading.push({ busy: root.getAttribute("aria-busy") });
      }
    }
  }).observe(document.body, { attributes: true, attributeFilter: ["data-loading"], subtree: true });
}"""


def answer_locator(user: ShowcasePage, number: int) -> Locator:
    return user.page.locator(f'#chat-box li.answer[data-stream="reply-{number}"]')


def wait_for_final_answer(user: ShowcasePage, number: int, expected: str) -> str:
    """Wait until answer ``number`` is exactly ``expected`` and no longer streaming; returns its
    text two animation frames later (a late stream op would have changed it by then)."""
    user.page.wait_for_function(
        """([number, expected]) => {
            const li = document.querySelector(
              `#chat-box li.answer[data-stream="reply-${number}"]`);
            return li !== null && li.textContent === expected
              && !li.hasAttribute("data-stream-active");
        }""",
        arg=[number, expected],
        timeout=UI_TIMEOUT_MS,
    )
    settled: str = user.page.evaluate(
        """(number) => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(
            () => resolve(document.querySelector(
                `#chat-box li.answer[data-stream="reply-${number}"]`).textContent))))""",
        number,
    )
    return settled


def text_events(user: ShowcasePage) -> list[dict[str, object]]:
    events: list[dict[str, object]] = user.page.evaluate("window.__texts")
    return events


def report_states(user: ShowcasePage) -> list[dict[str, object]]:
    states: list[dict[str, object]] = user.page.evaluate("window.__report")
    return states
