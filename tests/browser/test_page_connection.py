"""One connection per page, in a real headless Chromium over HTTP/1.1 (htmx 2 and htmx 4).

Runs ``tests.browser.page_app:app`` under a real uvicorn on loopback: a page of twelve
streaming components, opened in three tabs of one browser (which share its six connections
per origin). With the runtime loaded, each tab streams all twelve over one page connection, a
plain request on the same origin still answers within a second, and after the server cuts
every page connection mid-stream each tab reconnects once and every component ends with
exactly `` 1 2 ... 30``: nothing lost, nothing repeated, no stream started twice.
``data-page-connection="off"`` keeps the streams on their own connections. The runtime asks
for compact frames: every text frame comes as ``t:<n>.<seq>``, none in the long form, and a
drop mid-stream still resumes every component exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.harness import http_json, polled_json
from tests.browser.page_app import (
    COMPONENTS,
    COUNTER_TEXTS,
    COUNTERS_FINISHED,
    COUNTERS_STREAMING,
    expected_text,
)
from tests.servers import uvicorn_server

pytestmark = pytest.mark.browser

TABS = 3
STREAMING_TIMEOUT_MS = 15_000
FINISH_TIMEOUT_MS = 30_000
_PING = """async () => {
    const began = performance.now();
    const answer = await fetch('/ping', {cache: 'no-store'});
    await answer.text();
    return performance.now() - began;
}"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("page-app")
    with uvicorn_server("tests.browser.page_app:app", log_dir) as running:
        yield running.base_url


@contextmanager
def _fresh_context(base_url: str, browser: Browser) -> Iterator[BrowserContext]:
    """A new browser context (its own connections), the server's counts reset first."""
    http_json(f"{base_url}/stats/reset", "POST")
    context = browser.new_context()
    try:
        yield context
    finally:
        context.close()


def _opened(context: BrowserContext, url: str, errors: list[str] | None = None) -> Page:
    """A new tab of ``context`` at ``url``; its script errors go to ``errors``."""
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page


def _finished(page: Page, count: int = COMPONENTS) -> None:
    try:
        page.wait_for_function(
            COUNTERS_FINISHED, arg=[count, expected_text()], timeout=FINISH_TIMEOUT_MS
        )
    except Exception as timeout:
        texts = page.evaluate(COUNTER_TEXTS)
        raise AssertionError(f"not every component ended complete: {texts}") from timeout


def test_three_tabs_of_twelve_streams_stay_responsive_and_resume_every_component_after_a_drop(
    base_url: str, browser: Browser
) -> None:
    errors: list[str] = []
    with _fresh_context(base_url, browser) as context:
        pages = [_opened(context, f"{base_url}/", errors) for _ in range(TABS)]
        for page in pages:
            page.wait_for_function(COUNTERS_STREAMING, arg=COMPONENTS, timeout=STREAMING_TIMEOUT_MS)
        elapsed_ms = pages[0].evaluate(_PING)  # every stream of the three tabs is open now
        assert elapsed_ms < 1000, f"a plain request took {elapsed_ms:.0f} ms"
        cut = http_json(f"{base_url}/cut", "POST")
        assert cut["cut"] == TABS  # one page connection per tab, dropped mid-stream
        for page in pages:
            _finished(page)
        stats = http_json(f"{base_url}/stats")
        assert stats["starts"] == TABS * COMPONENTS, stats  # no stream ran twice
        assert stats["stream_requests"] == 0, stats
        assert TABS * 2 <= stats["page_connections"] <= TABS * 3, stats
    assert errors == []


def test_data_page_connection_off_keeps_each_stream_on_its_own(
    base_url: str, browser: Browser
) -> None:
    with _fresh_context(base_url, browser) as context:
        page = _opened(context, f"{base_url}/?own=1")
        _finished(page)
        stats = http_json(f"{base_url}/stats")
        assert stats["page_connections"] == 0, stats
        assert stats["stream_requests"] >= COMPONENTS, stats
        assert stats["starts"] == COMPONENTS, stats


def test_a_stream_swapped_in_joins_and_a_removed_one_leaves_without_loss_elsewhere(
    base_url: str, browser: Browser
) -> None:
    with _fresh_context(base_url, browser) as context:
        page = _opened(context, f"{base_url}/")
        page.wait_for_function(COUNTERS_STREAMING, arg=COMPONENTS, timeout=STREAMING_TIMEOUT_MS)
        page.click("#add")  # a thirteenth stream joins: the connection re-opens with it
        page.wait_for_function(COUNTERS_STREAMING, arg=COMPONENTS + 1, timeout=STREAMING_TIMEOUT_MS)
        page.click("#remove")  # counter 3 leaves mid-stream: re-opened without it
        page.wait_for_selector("text=removed")
        _finished(page, COMPONENTS)  # the twelve left, each complete
        # the removed stream's run, cancelled once its grace (2 s) is over
        stats = polled_json(f"{base_url}/stats", lambda s: s["cancelled"] > 0, STREAMING_TIMEOUT_MS)
        assert stats["starts"] == COMPONENTS + 1, stats  # nothing restarted by the re-opens
        assert stats["cancelled"] == 1, stats  # and no other run cancelled
        assert stats["stream_requests"] == 0, stats
        assert stats["page_connections"] == 3, stats


def test_the_runtime_gets_compact_text_frames_and_resumes_exactly_after_a_drop(
    base_url: str, browser: Browser
) -> None:
    errors: list[str] = []
    with _fresh_context(base_url, browser) as context:
        page = _opened(context, f"{base_url}/", errors)
        page.wait_for_function(COUNTERS_STREAMING, arg=COMPONENTS, timeout=STREAMING_TIMEOUT_MS)
        before = http_json(f"{base_url}/stats")
        assert http_json(f"{base_url}/cut", "POST")["cut"] == 1  # dropped mid-stream
        _finished(page)  # each ends with exactly " 1 2 ... 30"
        stats = http_json(f"{base_url}/stats")
    assert before["compact_text"] >= COMPONENTS, before  # before the drop, compact already
    assert stats["compact_text"] > before["compact_text"], stats  # and after the resume
    assert stats["long_text"] == 0, stats
    assert stats["compact_asked"] == stats["page_connections"] >= 2, stats
    assert stats["starts"] == COMPONENTS, stats  # resumed, never started again
    assert errors == []
