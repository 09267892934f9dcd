"""The page's socket in a real headless Chromium (issue 18): the ``ws-connect`` components of a
page share one WebSocket under the client runtime (``tests/browser/page_socket_app.py``),
each gets its own renders and broadcasts, a box marked ``data-page-connection="off"`` keeps a
socket of its own, and after the socket drops the page reconnects once and every component
goes on with its state; swapped-in components join the socket and removed ones leave it.
Across a restart a joined component behaves as a socket of its own: an action queued while
the server is away is applied once after an accepted rejoin, and after a refused one (a new
key) the component is mounted afresh and says the action was not applied. On htmx 2
(htmx-ext-ws) and htmx 4 (hx-ws)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from tests.browser.harness import UI_TIMEOUT_MS, WatchedPage, watched_page
from tests.servers import ServerProcess, uvicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with uvicorn_server("tests.browser.page_socket_app:app", tmp_path_factory.mktemp("ps")) as s:
        yield s


def _open(page: Page, base_url: str) -> list[WebSocket]:
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.goto(base_url + "/")
    for box, text in (("a", "a: 0"), ("b", "b: 0"), ("m", "meter: 0"), ("own", "own: 0")):
        expect(page.locator(f"#box-{box} .shown")).to_have_text(text)
    return sockets


def test_the_pages_components_share_one_socket_and_each_gets_its_own_renders(
    browser: Browser, server: ServerProcess
) -> None:
    with watched_page(browser, server.base_url) as opened:
        page = opened.page
        sockets = _open(page, server.base_url)
        page.locator("#box-b button").click()
        page.locator("#box-b button").click()
        page.locator("#box-a button").click()
        expect(page.locator("#box-b .shown")).to_have_text("b: 2")
        expect(page.locator("#box-a .shown")).to_have_text("a: 1")
        assert httpx.post(server.base_url + "/bump").text == "1"
        expect(page.locator("#box-m .shown")).to_have_text("meter: 1")
        page.locator("#box-own button").click()
        expect(page.locator("#box-own .shown")).to_have_text("own: 1")
        expect(page.locator("#box-a .shown")).to_have_text("a: 1")
    shared = [s for s in sockets if "target=box-own" not in s.url]
    assert len(shared) == 1, "\n".join(s.url for s in sockets)
    assert len(sockets) == 2  # the shared one and the one marked off


def test_after_a_drop_the_page_reconnects_once_and_every_component_goes_on(
    browser: Browser, server: ServerProcess
) -> None:
    with watched_page(browser, server.base_url) as opened:
        page = opened.page
        sockets = _open(page, server.base_url)
        page.locator("#box-a button").click()
        page.locator("#box-b button").click()
        expect(page.locator("#box-b .shown")).to_have_text("b: 1")
        assert httpx.post(server.base_url + "/drop").text == "2"
        page.wait_for_function("() => window.__seen.opens >= 8", timeout=UI_TIMEOUT_MS)
        page.locator("#box-a button").click()
        page.locator("#box-b button").click()
        expect(page.locator("#box-a .shown")).to_have_text("a: 2")
        expect(page.locator("#box-b .shown")).to_have_text("b: 2")
        assert httpx.post(server.base_url + "/bump").text == "1"
        expect(page.locator("#box-m .shown")).to_have_text("meter: 1")
    shared = [s for s in sockets if "target=box-own" not in s.url]
    assert len(shared) == 2, "\n".join(s.url for s in sockets)  # the first and one reconnect


#: ``htmx.swap`` on htmx 2 (target, text, options) and on htmx 4 (one object).
SWAP = """([target, html, style]) => htmx.registerExtension
  ? htmx.swap({target: document.querySelector(target), text: html, swap: style})
  : htmx.swap(target, html, {swapStyle: style})"""
SWAPPED_IN = (
    '<section id="box-c" hx-ext="ws" '
    'ws-connect="/components/tally/ws/?format=html&target=box-c&label=c"></section>'
)


def test_a_swapped_in_component_joins_the_socket_and_a_removed_one_leaves(
    browser: Browser, server: ServerProcess
) -> None:
    with watched_page(browser, server.base_url) as opened:
        page = opened.page
        sockets = _open(page, server.base_url)
        assert httpx.post(server.base_url + "/reach").text == "3"  # a, b and own
        page.evaluate(SWAP, ["#slot", SWAPPED_IN, "innerHTML"])
        expect(page.locator("#box-c .shown")).to_have_text("c: 0")
        page.locator("#box-c button").click()
        expect(page.locator("#box-c .shown")).to_have_text("c: 1")
        assert httpx.post(server.base_url + "/reach").text == "4"
        page.evaluate(SWAP, ["#box-b", "", "outerHTML"])
        page.wait_for_function("() => !document.getElementById('box-b')")
        for _ in range(50):
            if httpx.post(server.base_url + "/reach").text == "3":
                break
            page.wait_for_timeout(100)
        assert httpx.post(server.base_url + "/reach").text == "3"  # b left
        page.locator("#box-a button").click()
        expect(page.locator("#box-a .shown")).to_have_text("a: 1")
    shared = [s for s in sockets if "target=box-own" not in s.url]
    assert len(shared) == 1, "\n".join(s.url for s in sockets)


#: What a page logs while its server is "down": the refused handshakes, and htmx's log of its
#: socket error event (htmx 2: the bare event; htmx 4: hx-ws's ``htmx:ws:error``).
WHILE_DOWN = (
    re.compile(
        r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/components/tally/ws/\?\S*' failed: "
        r"Error during WebSocket handshake: Unexpected response code: 403"
    ),
    re.compile(r"\[object Event\]"),
    re.compile(r"htmx: htmx:ws:error: \[object Event\] \{elt: section#box-\w+, .*\}"),
)
#: Counts every socket close a ws-connect element sees (htmx 2's and htmx 4's event).
CLOSES = """
window.__closes = 0;
document.addEventListener("htmx:wsClose", () => { window.__closes += 1; });
document.addEventListener("htmx:ws:close", (e) => {
  if (e.detail.reason === "closed") { window.__closes += 1; }
});
"""
NOT_APPLIED = "Your last action was not applied"
QUEUED = ("a", "b", "own")  # the socket's own component, a joined one, a socket of its own


def _queue_while_down(opened: WatchedPage, base_url: str) -> None:
    """A restart's first half, then one click in each box of ``QUEUED`` (held, pending)."""
    page = opened.page
    page.locator("#box-b button").click()
    expect(page.locator("#box-b .shown")).to_have_text("b: 1")
    assert httpx.post(base_url + "/down").text == "2"
    page.wait_for_function("() => window.__closes >= 4", timeout=UI_TIMEOUT_MS)  # a, b, m, own
    for box in QUEUED:
        page.locator(f"#box-{box} button").click()
        expect(page.locator(f"#box-{box} [data-component]")).to_have_attribute("data-loading", "")


def test_after_a_restart_with_the_same_key_a_queued_action_is_applied_once_on_each_component(
    browser: Browser, server: ServerProcess
) -> None:
    with watched_page(browser, server.base_url, scripts=[CLOSES]) as opened:
        opened.tolerated = WHILE_DOWN
        page = opened.page
        _open(page, server.base_url)
        _queue_while_down(opened, server.base_url)
        assert httpx.post(server.base_url + "/up").text == "up"
        expect(page.locator("#box-b .shown")).to_have_text("b: 2", timeout=4 * UI_TIMEOUT_MS)
        expect(page.locator("#box-a .shown")).to_have_text("a: 1", timeout=UI_TIMEOUT_MS)
        expect(page.locator("#box-own .shown")).to_have_text("own: 1", timeout=UI_TIMEOUT_MS)
        for box in QUEUED:
            root = page.locator(f"#box-{box} [data-component]")
            expect(root).not_to_have_attribute("data-loading", re.compile(".*"))
        page.locator("#box-b button").click()
        expect(page.locator("#box-b .shown")).to_have_text("b: 3")
        expect(page.locator("[data-component-error]")).to_have_count(0)


def test_after_a_restart_with_a_new_key_each_component_is_fresh_and_says_its_action_was_lost(
    browser: Browser, server: ServerProcess
) -> None:
    with watched_page(browser, server.base_url, scripts=[CLOSES]) as opened:
        opened.tolerated = WHILE_DOWN
        opened.expected_component_errors = ("not_applied",)
        page = opened.page
        _open(page, server.base_url)
        meter = page.locator("#box-m [data-component]")
        meter_id = meter.get_attribute("id") or ""
        _queue_while_down(opened, server.base_url)
        assert httpx.post(server.base_url + "/up?rekey=1").text == "up"
        expect(meter).not_to_have_attribute("id", meter_id, timeout=4 * UI_TIMEOUT_MS)  # fresh
        for box in QUEUED:  # a joined component as a socket of its own: fresh, and told
            shown = page.locator(f"#box-{box} [data-component-error]")
            expect(shown).to_contain_text(NOT_APPLIED, timeout=4 * UI_TIMEOUT_MS)
            expect(page.locator(f"#box-{box} .shown")).to_have_text(f"{box}: 0")
        expect(page.locator("#box-m [data-component-error]")).to_have_count(0)  # nothing lost
        expect(page.locator("[data-component-error]")).to_have_count(len(QUEUED))
        page.locator("#box-b button").click()  # the fresh components work at once
        page.locator("#box-a button").click()
        expect(page.locator("#box-b .shown")).to_have_text("b: 1")
        expect(page.locator("#box-a .shown")).to_have_text("a: 1")
        assert httpx.post(server.base_url + "/bump").text == "1"
        expect(page.locator("#box-m .shown")).to_have_text("meter: 1")
