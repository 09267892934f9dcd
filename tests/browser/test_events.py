"""Events between components in a real headless Chromium, on htmx 2 and htmx 4, on Starlette
and on Litestar (issue 14.3), also with Litestar's CSRF middleware on, with
``tests.browser.events_app`` under a real uvicorn.

What a person sees on ``/shop``: "Add to cart" on an item updates the cart badge and the
summary (siblings over HTTP) through one request to ``/_emit/`` for both, and the totals held
by a WebSocket and by a live SSE stream, which the server updates itself (they are never in
that request; the stream's next broadcast push keeps what the events added); a component that
does not list the event neither runs nor renders. The page id is 128 random bits even where
``crypto.randomUUID`` does not exist (plain http on a non-localhost name). No CSP violation, no
console error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.browser.harness import HOSTS, WatchedPage, server_on_each_host, watched_page
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]


# Litestar with its CSRF middleware too: the page's hx-headers token must ride every POST,
# the runtime's own (/_emit/ and the page connection) included.
server = server_on_each_host("tests.browser.events_app", hosts=(*HOSTS, "litestar_csrf_app"))


@dataclass
class Shop(WatchedPage):
    """The page, the batches it sent (their JSON bodies) and what went wrong."""

    batches: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    def batch_sent(self, body: dict[str, Any]) -> None:
        self.batches.append(body)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def batch_answered(self) -> None:
        self.in_flight -= 1

    def add(self, sku: str) -> None:
        self.page.locator(f"#item-{sku} button.add").click()

    def listeners_sent(self) -> list[list[str]]:
        return [[item["component"] for item in body["listeners"]] for body in self.batches]


@pytest.fixture
def shop(browser: Browser, server: ServerProcess) -> Iterator[Shop]:
    with watched_page(browser, server.base_url, Shop) as shop:
        page = shop.page
        page.on(
            "request",
            lambda r: shop.batch_sent(r.post_data_json) if r.url.endswith("/_emit/") else None,
        )
        page.on(
            "requestfinished",
            lambda r: shop.batch_answered() if r.url.endswith("/_emit/") else None,
        )
        shop.goto("/shop")
        # The socket's first render answers its join: from then on the server holds the
        # component in the page's topic (an event emitted before that does not reach it).
        shop.wait_for_messages(1)
        # The live stream's render replaced the page's: it said "listening" before it.
        expect(page.locator("#sse-box .live-sse")).to_contain_text("via stream")
        yield shop


def test_add_to_cart_updates_the_badge_and_summary_siblings_in_one_request(shop: Shop):
    shop.add("tea")
    expect(shop.page.locator("#badge .badge")).to_have_text("cart: 1")
    expect(shop.page.locator("#summary li")).to_have_text(["tea"])
    expect(shop.page.locator("#item-tea .added")).to_have_text("added 1")
    shop.add("cake")
    expect(shop.page.locator("#badge .badge")).to_have_text("cart: 2")
    expect(shop.page.locator("#summary li")).to_have_text(["tea", "cake"])
    # One batch per add, naming both HTTP listeners: never one request per listener.
    assert shop.listeners_sent() == [["badge", "summary"], ["badge", "summary"]]
    assert [body["events"] for body in shop.batches] == [
        [{"event": "added", "payload": {"sku": "tea"}}],
        [{"event": "added", "payload": {"sku": "cake"}}],
    ]


def test_a_listener_held_by_a_websocket_is_updated_by_the_server(shop: Shop):
    shop.add("tea")
    shop.add("cake")
    expect(shop.page.locator("#live-box .live-total")).to_have_text("live: 2")
    expect(shop.page.locator("#badge .badge")).to_have_text("cart: 2")
    assert all("live_total" not in sent for sent in shop.listeners_sent())


def test_a_component_that_does_not_list_the_event_neither_runs_nor_renders(shop: Shop):
    shop.add("tea")
    expect(shop.page.locator("#badge .badge")).to_have_text("cart: 1")
    expect(shop.page.locator("#clock .clock")).to_have_text("renders: 1")
    assert all("clock" not in sent for sent in shop.listeners_sent())


def test_listeners_keep_working_after_their_render_was_swapped_in(shop: Shop):
    for _ in range(3):
        shop.add("cake")
    expect(shop.page.locator("#badge .badge")).to_have_text("cart: 3")
    expect(shop.page.locator("#summary li")).to_have_count(3)
    expect(shop.page.locator("#live-box .live-total")).to_have_text("live: 3")


def test_quick_adds_send_one_batch_at_a_time_and_lose_no_update(shop: Shop):
    # Five clicks without waiting while each batch takes 0.3 s: a second batch in flight beside
    # the first would carry the badge's old snapshot and one "added" would be lost; batches go
    # one after the other, each with the snapshot the previous one's render left.
    def slow_batch(route: Route) -> None:
        time.sleep(0.3)
        route.continue_()

    shop.page.route("**/_emit/", slow_batch)
    for sku in ("tea", "cake", "tea", "cake", "tea"):
        shop.add(sku)
    expect(shop.page.locator("#badge .badge")).to_have_text("cart: 5")
    expect(shop.page.locator("#summary li")).to_have_count(5)
    assert shop.most_in_flight == 1, shop.most_in_flight


def test_a_listener_held_by_a_live_sse_stream_is_updated_by_the_server_and_keeps_it(
    shop: Shop, server: ServerProcess
):
    total = shop.page.locator("#sse-box .live-sse")
    shop.add("tea")
    shop.add("cake")
    expect(total).to_have_text("sse: 2 ticks 0 via stream")
    expect(shop.page.locator("#badge .badge")).to_have_text("cart: 2")
    assert all("live_sse_total" not in sent for sent in shop.listeners_sent())
    # A broadcast's push renders the state the stream holds: the two events are in it.
    assert shop.page.request.post(server.base_url + "/tick").status == 204
    expect(total).to_have_text("sse: 2 ticks 1 via stream")


def test_the_page_id_is_128_random_bits_without_crypto_random_uuid(
    browser: Browser, server: ServerProcess
):
    context = browser.new_context()
    context.add_init_script("delete Crypto.prototype.randomUUID;")
    try:
        ids = []
        for _ in range(2):
            page = context.new_page()
            page.goto(server.base_url + "/shop")
            assert page.evaluate("typeof crypto.randomUUID") == "undefined"
            ids.append(page.evaluate("window.componentFramework.page"))
            page.close()
    finally:
        context.close()
    assert all(re.fullmatch(r"[0-9a-f]{32}", page_id) for page_id in ids), ids
    assert ids[0] != ids[1]
