"""``self.request`` and the navigation and client effects in a real headless Chromium, on htmx 2
and htmx 4, on Starlette and on Litestar, each behind real session authentication (issue 14.1
and 14.4).

Runs ``tests.browser.request_app`` (``starlette_app`` and ``litestar_app``) under a real
uvicorn on loopback. What a person sees:

- the greeting says "stranger" before signing in and the user's name after signing in through
  the page's own form (a real session cookie), over HTTP and over WebSocket; signed out in
  another tab, the next HTTP event comes from nobody while the socket keeps its handshake's user;
- over HTTP and over WebSocket: ``trigger`` reaches a listener of the page, fired on the
  component's root with its detail; ``push_url`` changes the location and adds a history entry
  that the back button leaves; ``replace_url`` changes the location and adds none; ``redirect``
  ends on the new same-origin page; a redirect to another site is refused and shown in the
  component, which keeps its state and keeps working.

Every test ends with no CSP violation and no console error (the refused redirect over HTTP bar
Chromium's own line for the 400 answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.browser.harness import WatchedPage, server_on_each_host, watched_page
from tests.browser.request_app import FOREIGN
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

TRANSPORTS = ("http", "ws")
#: After the back button: htmx swaps the restored (or reloaded) page in, and a socket rejoins.
RESTORE_SETTLE_MS = 800
#: Chromium's own console line for an answer with an error status (the refused redirect).
BAD_REQUEST = re.compile(r"Failed to load resource: the server responded with a status of 400.*")


server = server_on_each_host("tests.browser.request_app")


@dataclass
class Visitor(WatchedPage):
    """One browser context (one person, one cookie jar) on the app, and what went wrong."""

    def wait_for_socket(self) -> None:
        self.wait_for_opens(1)

    def open_shop(self, transport: str) -> Locator:
        self.goto(f"/shop/{transport}")
        if transport == "ws":
            self.wait_for_socket()
        return self.page.locator("[data-component=shop]")

    def path(self) -> str:
        found: str = self.page.evaluate("location.pathname + location.search")
        return found

    def history_length(self) -> int:
        found: int = self.page.evaluate("history.length")
        return found


@pytest.fixture
def visitor(browser: Browser, server: ServerProcess) -> Iterator[Visitor]:
    with watched_page(browser, server.base_url, Visitor) as opened:
        yield opened


# -- self.request.user behind real session authentication ---------------------------------------


def _greetings(visitor: Visitor) -> tuple[Locator, Locator]:
    return (
        visitor.page.locator("#greeting-http [data-component=greeting]"),
        visitor.page.locator("#greeting-ws [data-component=greeting]"),
    )


def _visit(greeting: Locator, visits: int) -> None:
    greeting.locator("button.visit").click()
    expect(greeting.locator(".visits")).to_have_text(f"visits: {visits}")


def test_a_signed_out_visitor_is_greeted_as_a_stranger_over_http_and_websocket(
    visitor: Visitor,
) -> None:
    visitor.goto("/greeting")
    visitor.wait_for_socket()
    over_http, over_ws = _greetings(visitor)

    _visit(over_http, 1)
    _visit(over_ws, 1)

    for greeting in (over_http, over_ws):
        expect(greeting.locator(".hello")).to_have_text("Hello stranger")
    expect(over_http.locator(".asker")).to_have_text("this event: nobody over http")
    expect(over_ws.locator(".asker")).to_have_text("this event: nobody over websocket")


def test_signing_in_through_the_pages_form_greets_the_user_over_http_and_websocket(
    visitor: Visitor,
) -> None:
    visitor.goto("/greeting")
    visitor.page.locator("#login input[name=name]").fill("ada")

    visitor.page.locator("#login button").click()

    visitor.page.wait_for_url(visitor.base_url + "/greeting")
    visitor.wait_for_socket()
    assert [c["name"] for c in visitor.page.context.cookies()] == ["session"]
    over_http, over_ws = _greetings(visitor)
    for greeting in (over_http, over_ws):
        expect(greeting.locator(".hello")).to_have_text("Hello ada")
    expect(over_http.locator(".asker")).to_have_text("this event: ada over page")
    # The socket's join re-renders the component with the handshake's request.
    expect(over_ws.locator(".asker")).to_have_text("this event: ada over websocket")
    _visit(over_http, 1)
    _visit(over_ws, 1)
    expect(over_http.locator(".asker")).to_have_text("this event: ada over http")
    expect(over_ws.locator(".asker")).to_have_text("this event: ada over websocket")


def test_after_signing_out_elsewhere_http_events_come_from_nobody_and_the_socket_keeps_its_user(
    visitor: Visitor,
) -> None:
    visitor.goto("/greeting")
    visitor.page.locator("#login input[name=name]").fill("grace")
    visitor.page.locator("#login button").click()
    visitor.page.wait_for_url(visitor.base_url + "/greeting")
    visitor.wait_for_socket()
    over_http, over_ws = _greetings(visitor)
    expect(over_http.locator(".hello")).to_have_text("Hello grace")

    other_tab = visitor.page.context.new_page()  # same cookie jar: signs this person out
    other_tab.goto(visitor.base_url + "/greeting")
    other_tab.locator("#logout button").click()
    expect(other_tab.locator("#greeting-http .hello")).to_have_text("Hello stranger")
    other_tab.close()

    _visit(over_http, 1)
    _visit(over_ws, 1)
    expect(over_http.locator(".hello")).to_have_text("Hello grace")  # mounted while signed in
    expect(over_http.locator(".asker")).to_have_text("this event: nobody over http")
    expect(over_ws.locator(".asker")).to_have_text("this event: grace over websocket")


# -- navigation and client effects ----------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_trigger_reaches_a_page_listener_on_the_component_root_with_its_detail(
    visitor: Visitor, transport: str
) -> None:
    shop = visitor.open_shop(transport)
    root_id = shop.get_attribute("id")

    shop.locator("button.add").click()
    expect(visitor.page.locator("#heard")).to_have_text("heard 1")
    shop.locator("button.add").click()
    expect(visitor.page.locator("#heard")).to_have_text("heard 2")

    heard = visitor.page.evaluate("window.__heard")
    assert [event["target"] for event in heard] == [root_id, root_id]
    assert [event["detail"]["items"] for event in heard] == [1, 2]
    expect(shop.locator(".item-count")).to_have_text("items: 2")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_push_url_changes_the_location_adds_a_history_entry_and_back_returns(
    visitor: Visitor, transport: str
) -> None:
    shop = visitor.open_shop(transport)
    before = visitor.history_length()

    shop.locator("button.page").click()

    expect(shop.locator(".page-number")).to_have_text("page: 2")
    visitor.page.wait_for_url(f"{visitor.base_url}/shop/{transport}?page=2")
    assert visitor.history_length() == before + 1

    visitor.page.go_back()

    visitor.page.wait_for_url(f"{visitor.base_url}/shop/{transport}")
    assert visitor.path() == f"/shop/{transport}"
    # What the page shows now is htmx's history restore (docs/request.md): the component there
    # keeps working either way.
    visitor.page.wait_for_timeout(RESTORE_SETTLE_MS)
    if transport == "ws":
        visitor.wait_for_socket()
    items = int(shop.locator(".item-count").inner_text().removeprefix("items: "))
    shop.locator("button.add").click()
    expect(shop.locator(".item-count")).to_have_text(f"items: {items + 1}")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_replace_url_changes_the_location_and_adds_no_history_entry(
    visitor: Visitor, transport: str
) -> None:
    shop = visitor.open_shop(transport)
    before = visitor.history_length()

    shop.locator("button.sort").click()

    visitor.page.wait_for_url(f"{visitor.base_url}/shop/{transport}?sort=price")
    assert visitor.history_length() == before


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_redirect_ends_on_the_new_same_origin_page(visitor: Visitor, transport: str) -> None:
    shop = visitor.open_shop(transport)

    shop.locator("button.checkout").click()

    visitor.page.wait_for_url(visitor.base_url + "/done")
    expect(visitor.page.locator("#done")).to_have_text("Thank you for your order")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_redirect_to_another_site_is_shown_in_the_component_which_keeps_its_state_and_works(
    visitor: Visitor, transport: str
) -> None:
    visitor.tolerated = (BAD_REQUEST,)
    visitor.expected_component_errors = ("url_not_allowed",)
    shop = visitor.open_shop(transport)
    shop.locator("button.add").click()
    expect(shop.locator(".item-count")).to_have_text("items: 1")

    shop.locator("button.pay_elsewhere").click()

    error = shop.locator("[data-component-error]")
    expect(error).to_contain_text("redirect refused")
    expect(error).to_contain_text(FOREIGN)
    expect(shop.locator(".item-count")).to_have_text("items: 1")
    assert visitor.path() == f"/shop/{transport}"
    assert visitor.seen()["errors"] == ["url_not_allowed"]

    shop.locator("button.add").click()

    expect(shop.locator(".item-count")).to_have_text("items: 2")
    expect(visitor.page.locator("#heard")).to_have_text("heard 2")
    assert visitor.path() == f"/shop/{transport}"
