"""The one browser-page harness of the browser tests: a fresh context, console-error collection
and the Content-Security-Policy watch, checked when the page closes.

:func:`watched_page` opens a browser context (one person, one cookie jar) and a page on it, and
from before the page's first script records

- console lines of type ``error`` and uncaught page errors (:attr:`WatchedPage.console_errors`),
- every CSP violation, reported to Python as it happens, so that violations on a page the test
  has since navigated away from still count (:attr:`WatchedPage.csp_violations`),
- in ``window.__seen``: the same violations, the codes of ``component-error`` events, and how
  many WebSocket opens and incoming messages htmx reported (htmx 2's and htmx 4's event names).

When the ``with`` block ends normally it asserts that there was no CSP violation, no console
error bar the patterns a test tolerates (:attr:`WatchedPage.tolerated`) and, unless the caller
opted out, no ``component-error`` event bar the codes it expects. A fixture written as
``with watched_page(...) as opened: yield opened`` runs those checks after every test, failed or
not. Extra init scripts (a test's own recorders) run after the watch script.

:func:`server_on_each_host` makes the module-scoped ``server`` fixture of a test module whose
app module serves the same pages on Starlette and on Litestar (``starlette_app`` and
``litestar_app``), each under a real uvicorn.

:func:`http_json` is a test's own request to its app's controls and records (``/stats``,
``/stats/reset``, ``/cut``, ...): a ``GET`` or an empty ``POST``, answered with JSON.

What this module does not own: how servers start (``tests/servers.py``), the browser and the
htmx round (``conftest.py``), and what a test's page object knows of its app (subclass
:class:`WatchedPage` and pass the subclass as ``kind``).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.servers import ServerProcess, uvicorn_server

__all__ = [
    "HOSTS",
    "HTTP_TIMEOUT",
    "UI_TIMEOUT_MS",
    "WATCH_SCRIPT",
    "WatchedPage",
    "http_json",
    "polled_json",
    "server_on_each_host",
    "watched_page",
]

#: The app names an app module of the per-host browser tests defines.
HOSTS = ("starlette_app", "litestar_app")

#: Longest wait for anything a page should show (milliseconds).
UI_TIMEOUT_MS = 10_000

#: Longest wait for a test's own HTTP request to its app (seconds).
HTTP_TIMEOUT = 5.0

#: Installed before any script of the page runs; reports CSP violations to Python as well.
WATCH_SCRIPT = """
(() => {
  const seen = window.__seen = { csp: [], errors: [], opens: 0, messages: 0 };
  document.addEventListener("securitypolicyviolation", (e) => {
    const violation = e.violatedDirective + " " + (e.blockedURI || "");
    seen.csp.push(violation);
    if (window.__cspViolation) { window.__cspViolation(violation); }
  });
  document.addEventListener("component-error", (e) => { seen.errors.push(e.detail.code); });
  const opened = () => { seen.opens += 1; };
  const received = () => { seen.messages += 1; };
  document.addEventListener("htmx:wsOpen", opened);
  document.addEventListener("htmx:ws:after:connection", opened);
  document.addEventListener("htmx:wsAfterMessage", received);
  document.addEventListener("htmx:ws:after:message:incoming", received);
})();
"""


@dataclass
class WatchedPage:
    """One browser context's page on an app, and what went wrong in it."""

    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    #: Console lines a test provokes on purpose (each pattern must match a whole line).
    tolerated: tuple[re.Pattern[str], ...] = ()
    #: ``component-error`` codes a test provokes on purpose; ``None``: the test checks them.
    expected_component_errors: tuple[str, ...] | None = ()

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def seen(self) -> dict[str, Any]:
        """What the watch script recorded on the current document."""
        found: dict[str, Any] = self.page.evaluate("window.__seen")
        return found

    def wait_for_opens(self, count: int = 1, timeout: int = UI_TIMEOUT_MS) -> None:
        """Until htmx reported ``count`` WebSocket opens on the current document."""
        self.page.wait_for_function(
            "(count) => window.__seen.opens >= count", arg=count, timeout=timeout
        )

    def wait_for_messages(self, count: int = 1, timeout: int = UI_TIMEOUT_MS) -> None:
        """Until htmx reported ``count`` incoming WebSocket messages on the current document."""
        self.page.wait_for_function(
            "(count) => window.__seen.messages >= count", arg=count, timeout=timeout
        )

    def unexpected_console_errors(self) -> list[str]:
        return [
            line
            for line in self.console_errors
            if not any(pattern.fullmatch(line) for pattern in self.tolerated)
        ]

    def check(self) -> None:
        """Fail on a CSP violation, an untolerated console error or an unexpected
        ``component-error`` event (the last on the current document only)."""
        seen = self.seen() if not self.page.is_closed() else {"csp": [], "errors": []}
        violations = self.csp_violations or seen["csp"]
        assert violations == [], f"CSP violations: {violations}"
        unexpected = self.unexpected_console_errors()
        assert unexpected == [], f"console errors: {unexpected}"
        if self.expected_component_errors is not None:
            stray = [code for code in seen["errors"] if code not in self.expected_component_errors]
            assert stray == [], f"component-error events: {stray}"


P = TypeVar("P", bound=WatchedPage)


@overload
def watched_page(
    browser: Browser,
    base_url: str,
    *,
    scripts: Sequence[str] = (),
    timeout_ms: int = UI_TIMEOUT_MS,
    **context_options: Any,
) -> AbstractContextManager[WatchedPage]: ...


@overload
def watched_page(
    browser: Browser,
    base_url: str,
    kind: type[P],
    *,
    scripts: Sequence[str] = (),
    timeout_ms: int = UI_TIMEOUT_MS,
    **context_options: Any,
) -> AbstractContextManager[P]: ...


def watched_page(
    browser: Browser,
    base_url: str,
    kind: type[WatchedPage] = WatchedPage,
    *,
    scripts: Sequence[str] = (),
    timeout_ms: int = UI_TIMEOUT_MS,
    **context_options: Any,
) -> AbstractContextManager[WatchedPage]:
    """A fresh context (whose relative URLs resolve against ``base_url``) and page, watched
    from its first script; checked with :meth:`WatchedPage.check` when the block ends normally,
    closed however it ends. ``kind`` is the page object to build (a :class:`WatchedPage`)."""
    return _watched(browser, base_url, kind, scripts, timeout_ms, context_options)


@contextmanager
def _watched(
    browser: Browser,
    base_url: str,
    kind: type[WatchedPage],
    scripts: Sequence[str],
    timeout_ms: int,
    context_options: dict[str, Any],
) -> Iterator[WatchedPage]:
    context = browser.new_context(base_url=base_url, **context_options)
    try:
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        opened = kind(page, base_url)

        def record_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                opened.console_errors.append(message.text)

        page.on("console", record_console)
        page.on("pageerror", lambda error: opened.console_errors.append(f"page error: {error}"))

        def record_violation(violation: str) -> None:
            opened.csp_violations.append(violation)

        page.expose_function("__cspViolation", record_violation)
        for script in (WATCH_SCRIPT, *scripts):
            page.add_init_script(script)
        yield opened
        opened.check()
    finally:
        context.close()


def http_json(url: str, method: str = "GET") -> Any:
    """The JSON answer to a ``GET`` (or, with ``method="POST"``, an empty ``POST``) of ``url``."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
        return json.loads(answer.read())


def polled_json(url: str, done: Callable[[Any], bool], timeout_ms: int) -> Any:
    """:func:`http_json` of ``url``, asked again until ``done`` holds for the answer or
    ``timeout_ms`` passed; the last answer. (``page.wait_for_function`` cannot wait for a
    ``fetch``: the promise it returns is truthy at once.)"""
    deadline = time.monotonic() + timeout_ms / 1000
    while not done(answer := http_json(url)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return answer


def server_on_each_host(module: str, hosts: Sequence[str] = HOSTS) -> Any:
    """A module-scoped ``server`` fixture: ``module``'s ``starlette_app``, then its
    ``litestar_app`` (or each app named in ``hosts``), each under a real uvicorn (assign it to
    ``server`` in the test module)."""

    @pytest.fixture(scope="module", params=hosts)
    def server(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ServerProcess]:
        log_dir = tmp_path_factory.mktemp(request.param)
        with uvicorn_server(f"{module}:{request.param}", log_dir) as started:
            yield started

    return server
