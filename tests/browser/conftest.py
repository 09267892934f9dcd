"""Shared browser fixtures: Debian's Chromium driven by Playwright, headless, offline-safe, and
the htmx every page runs on.

The whole browser suite runs twice, on htmx 2 and on htmx 4 (``htmx_version``, a module-scoped
parameter, so each module's server starts once and serves both rounds). Pages load htmx 2's
files by their usual URLs (``/components/_static/htmx.min.js`` from ``component_scripts()``,
``/static/htmx/htmx.min.js`` and the sse/ws extensions in the hand-written test pages); in the
htmx 4 round every browser context answers those URLs with htmx 4's own files (``htmx.min.js``,
``ext/hx-sse.min.js``, ``ext/hx-ws.min.js`` of the ``htmx4`` npm alias), so every page, app and
example runs unchanged on htmx 4. ``tests/asgi/test_static.py`` checks the server side of the
choice (``component_scripts(htmx=4)``), and one browser test loads a page built that way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
NODE_MODULES = Path(__file__).resolve().parent.parent.parent / "node_modules"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HTMX_VERSIONS = (2, 4)
#: In the htmx 4 round: the URL (path) of an htmx 2 file a page loads -> htmx 4's file instead.
HTMX4_FOR: dict[re.Pattern[str], Path] = {
    re.compile(r"https?://[^/]+/.*/htmx(\.min)?\.js(\?.*)?"): NODE_MODULES
    / "htmx4/dist/htmx.min.js",
    re.compile(r"https?://[^/]+/.*/sse(\.min)?\.js(\?.*)?"): NODE_MODULES
    / "htmx4/dist/ext/hx-sse.min.js",
    re.compile(r"https?://[^/]+/.*/ws(\.min)?\.js(\?.*)?"): NODE_MODULES
    / "htmx4/dist/ext/hx-ws.min.js",
}


def _answer_with(path: Path) -> Callable[[Route], None]:
    body = path.read_bytes()

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, body=body, content_type="text/javascript; charset=utf-8")

    return fulfil


def serve_htmx4(context: BrowserContext) -> None:
    """Make every page of ``context`` load htmx 4 and its extensions where it asks for htmx 2's."""
    for pattern, path in HTMX4_FOR.items():
        context.route(pattern, _answer_with(path))


class HtmxBrowser:
    """A :class:`Browser` whose new contexts run pages on htmx ``version`` (2: as served)."""

    def __init__(self, browser: Browser, version: int) -> None:
        self.browser = browser
        self.htmx_version = version

    def new_context(self, **options: Any) -> BrowserContext:
        context = self.browser.new_context(**options)
        if self.htmx_version == 4:
            serve_htmx4(context)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self.browser, name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``htmx_only(version)`` is not collected for the other htmx version: it
    observes one version's own behaviour, so there is nothing to run (nor skip) on the other."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("htmx_only")
        callspec = getattr(item, "callspec", None)
        version = callspec.params.get("htmx_version") if callspec is not None else None
        if marker is not None and version is not None and version != marker.args[0]:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="module", params=HTMX_VERSIONS, ids=lambda version: f"htmx{version}")
def htmx_version(request: pytest.FixtureRequest) -> int:
    """The htmx major version this round of the module's tests runs on."""
    version: int = request.param
    return version


@pytest.fixture(scope="module")
def browser(htmx_version: int) -> Iterator[Browser]:
    """A headless Chromium for the module's tests (the probe's flags: no network chatter), whose
    pages run on ``htmx_version``."""
    assert CHROMIUM.exists(), "Debian's chromium is required (scripts/test.sh installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield HtmxBrowser(launched, htmx_version)  # type: ignore[misc]
        launched.close()
