"""URL state under the client runtime, in a real headless Chromium on htmx 2 and htmx 4, on
Starlette and Litestar: a component held by a WebSocket (``tests/browser/url_state_app.py``)
changes the address bar through the runtime's effects (a page change pushes, a search
replaces, both built on the page URL the join carried), a reload keeps the state, and Back
shows the state the previous URL names (htmx reloads it from the server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.harness import server_on_each_host, watched_page
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]


server = server_on_each_host("tests.browser.url_state_app")


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    with watched_page(browser, server.base_url) as opened:
        yield opened.page


def open_finder(page: Page, base_url: str, query: str = "") -> None:
    page.goto(f"{base_url}/finder{query}")
    page.wait_for_function("() => window.__seen.opens >= 1")


def go_back_and_wait_for_the_socket(page: Page) -> None:
    """Back, then wait until the restored page's socket is open: htmx restores the earlier
    page in the same document (its socket is the next open counted there) or loads it anew
    (a fresh count). Going back again while that socket still connects closes a connecting
    socket, which htmx 2 logs as an error event."""
    page.evaluate("window.__opensBeforeBack = window.__seen.opens")
    page.go_back()
    page.wait_for_function(
        "() => window.__opensBeforeBack === undefined"
        " ? window.__seen.opens >= 1 : window.__seen.opens > window.__opensBeforeBack"
    )


def test_over_a_socket_the_runtime_keeps_the_url_and_back_shows_the_earlier_state(
    page: Page, server: ServerProcess
) -> None:
    open_finder(page, server.base_url, "?q=red")
    shown = page.locator(".finder .shown")
    expect(shown).to_have_text("red page 1")
    before = page.evaluate("history.length")

    page.locator("button.next").click()
    expect(page).to_have_url(f"{server.base_url}/finder?q=red&page=2")
    expect(shown).to_have_text("red page 2")
    assert page.evaluate("history.length") == before + 1

    page.locator("button.blue").click()
    # A search from page 2 also sets the page back to 1: a url_history key changed, so pushed.
    expect(page).to_have_url(f"{server.base_url}/finder?q=blue")
    expect(shown).to_have_text("blue page 1")
    assert page.evaluate("history.length") == before + 2

    page.reload()
    page.wait_for_function("() => window.__seen.opens >= 1")
    expect(shown).to_have_text("blue page 1")

    go_back_and_wait_for_the_socket(page)
    expect(page).to_have_url(f"{server.base_url}/finder?q=red&page=2")
    expect(shown).to_have_text("red page 2")
    go_back_and_wait_for_the_socket(page)
    expect(page).to_have_url(f"{server.base_url}/finder?q=red")
    expect(shown).to_have_text("red page 1")
    page.locator("button.next").click()
    expect(shown).to_have_text("red page 2")
    expect(page).to_have_url(f"{server.base_url}/finder?q=red&page=2")
