"""The page's streams on the page's socket in a real headless Chromium (issue 18), on htmx 2
and htmx 4: a page with ``ws-connect`` live components and several ``sse-connect`` streams of
this app (``tests/browser/socket_streams_app.py``) holds exactly one connection to the app,
the socket, which carries every stream to its end; after the socket drops mid-stream the page
reconnects once and every stream resumes with nothing lost or repeated (no run started twice,
no page connection opened); a stream swapped in joins the socket and a removed one stops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from tests.browser.harness import WatchedPage, http_json, polled_json, watched_page
from tests.browser.page_app import COUNTER_TEXTS, COUNTERS_FINISHED, COUNTERS_STREAMING
from tests.browser.socket_streams_app import STREAMS, expected_text
from tests.servers import ServerProcess, uvicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

FINISH_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log_dir = tmp_path_factory.mktemp("socket-streams")
    with uvicorn_server("tests.browser.socket_streams_app:app", log_dir) as running:
        yield running


@pytest.fixture
def opened(browser: Browser, server: ServerProcess) -> Iterator[WatchedPage]:
    http_json(f"{server.base_url}/stats/reset", "POST")
    with watched_page(browser, server.base_url) as watched:
        yield watched


def _open(page: Page, base_url: str) -> list[WebSocket]:
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.goto(base_url + "/")
    for box in ("a", "b"):
        expect(page.locator(f"#box-{box} .shown")).to_have_text(f"{box}: 0")
    page.wait_for_function(COUNTERS_STREAMING, arg=STREAMS, timeout=FINISH_TIMEOUT_MS)
    return sockets


def _finished(page: Page, count: int) -> None:
    try:
        page.wait_for_function(
            COUNTERS_FINISHED, arg=[count, expected_text()], timeout=FINISH_TIMEOUT_MS
        )
    except Exception as timeout:
        raise AssertionError(
            f"not every stream ended complete: {page.evaluate(COUNTER_TEXTS)}"
        ) from timeout


def test_live_components_and_streams_hold_one_connection_and_every_stream_completes(
    opened: WatchedPage, server: ServerProcess
) -> None:
    page = opened.page
    sockets = _open(page, server.base_url)
    streaming = http_json(f"{server.base_url}/stats")
    page.locator("#box-a button").click()
    expect(page.locator("#box-a .shown")).to_have_text("a: 1")
    _finished(page, STREAMS)
    stats = http_json(f"{server.base_url}/stats")
    assert (streaming["open_sockets"], streaming["open_streams"]) == (1, 0), streaming
    assert len(sockets) == 1, [socket.url for socket in sockets]
    assert stats["handshakes"] == 1, stats
    assert (stats["page_connections"], stats["stream_requests"]) == (0, 0), stats
    assert stats["starts"] == STREAMS, stats


def test_a_socket_drop_mid_stream_resumes_every_stream_with_nothing_lost_or_repeated(
    opened: WatchedPage, server: ServerProcess
) -> None:
    page = opened.page
    sockets = _open(page, server.base_url)
    assert http_json(f"{server.base_url}/drop", "POST") == {"dropped": 1}
    _finished(page, STREAMS)
    page.locator("#box-b button").click()
    expect(page.locator("#box-b .shown")).to_have_text("b: 1")
    stats = http_json(f"{server.base_url}/stats")
    assert len(sockets) == 2, [socket.url for socket in sockets]  # the first and one reconnect
    assert stats["starts"] == STREAMS, stats  # resumed, never started again
    assert stats["cancelled"] == 0, stats
    assert (stats["page_connections"], stats["stream_requests"]) == (0, 0), stats


def test_a_stream_swapped_in_joins_the_socket_and_a_removed_one_stops(
    opened: WatchedPage, server: ServerProcess
) -> None:
    page = opened.page
    _open(page, server.base_url)
    page.locator("#add").click()
    page.locator("#remove").click()
    expect(page.locator("#s-0-gone")).to_have_text("removed")
    _finished(page, STREAMS)  # two of the first three, and the one swapped in
    stats = polled_json(f"{server.base_url}/stats", lambda s: s["cancelled"] > 0, FINISH_TIMEOUT_MS)
    assert stats["cancelled"] == 1, stats  # the removed stream's run, after its grace
    assert stats["starts"] == STREAMS + 1, stats
    assert (stats["page_connections"], stats["stream_requests"]) == (0, 0), stats
    assert stats["handshakes"] == 1, stats
