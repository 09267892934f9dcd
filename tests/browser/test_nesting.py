"""Nested and lazy components in a real headless Chromium, on htmx 2 and htmx 4, on Starlette
and on Litestar (issue 14.2 and 14.6).

Runs ``tests.browser.nesting_app`` under a real uvicorn on loopback. What a person sees:

- a parent with keyed children (and a keyless one), over HTTP and inside a WebSocket-held
  parent: a child's button changes that child only; the parent's button re-renders the parent
  and every child keeps its count; removing a product removes its child (the others keep
  theirs), adding one adds a fresh child; renaming reaches every child (a prop) while their
  counts stay;
- a child with a socket of its own: its session ends once the parent's re-render leaves it out;
- a lazy component shows its placeholder first, then its content, at page level and nested in
  a parent, whose re-render keeps the loaded child as it is.

Every test ends with no CSP violation and no console error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.harness import UI_TIMEOUT_MS, server_on_each_host, watched_page
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

TRANSPORTS = ("http", "ws")


server = server_on_each_host("tests.browser.nesting_app")


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    with watched_page(browser, server.base_url) as opened:
        yield opened.page


def open_shelf(page: Page, transport: str) -> Locator:
    page.goto(f"/shelf/{transport}")
    if transport == "ws":
        page.wait_for_function("() => window.__seen.opens >= 1", timeout=UI_TIMEOUT_MS)
    return page.locator("[data-component=shelf]")


def texts(shelf: Locator) -> list[str]:
    return shelf.locator("[data-component=item] .text").all_inner_texts()


def click_child(shelf: Locator, product: int, expected: str) -> None:
    child = shelf.locator(f"li[data-product='{product}']")
    child.locator("button.inc").click()
    expect(child.locator(".text")).to_have_text(expected)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_child_click_changes_that_child_and_a_parent_re_render_keeps_every_child(
    page: Page, transport: str
) -> None:
    shelf = open_shelf(page, transport)
    ids = shelf.locator("[data-component=item]").evaluate_all("els => els.map(e => e.id)")
    click_child(shelf, 1, "Shelf #1: 1")
    click_child(shelf, 1, "Shelf #1: 2")
    click_child(shelf, 3, "Shelf #3: 1")
    shelf.locator(".note button.inc").click()
    expect(shelf.locator(".note .text")).to_have_text("note 1")
    assert texts(shelf) == ["Shelf #1: 2", "Shelf #2: 0", "Shelf #3: 1"]

    shelf.locator("button.bump").first.click()

    expect(shelf.locator(".title")).to_have_text("Shelf (1)")
    assert texts(shelf) == ["Shelf #1: 2", "Shelf #2: 0", "Shelf #3: 1"]
    expect(shelf.locator(".note .text")).to_have_text("note 1")
    after = shelf.locator("[data-component=item]").evaluate_all("els => els.map(e => e.id)")
    assert after == ids
    click_child(shelf, 1, "Shelf #1: 3")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_removing_adding_and_renaming_children(page: Page, transport: str) -> None:
    shelf = open_shelf(page, transport)
    click_child(shelf, 2, "Shelf #2: 1")

    shelf.locator("button.remove").first.click()

    expect(shelf.locator("li[data-product='1']")).to_have_count(0)
    assert texts(shelf) == ["Shelf #2: 1", "Shelf #3: 0"]
    shelf.locator("button.add").first.click()
    expect(shelf.locator("li[data-product='4'] .text")).to_have_text("Shelf #4: 0")
    assert texts(shelf) == ["Shelf #2: 1", "Shelf #3: 0", "Shelf #4: 0"]

    shelf.locator("button.rename").first.click()

    expect(shelf.locator(".title")).to_have_text("Sale (0)")
    expect(shelf.locator("li[data-product='2'] .text")).to_have_text("Sale #2: 1")
    assert texts(shelf) == ["Sale #2: 1", "Sale #3: 0", "Sale #4: 0"]
    click_child(shelf, 4, "Sale #4: 1")


def test_a_child_with_a_socket_of_its_own_ends_its_session_when_it_leaves_the_parent(
    page: Page,
) -> None:
    page.goto("/live")
    page.wait_for_function("() => window.__seen.opens >= 1", timeout=UI_TIMEOUT_MS)
    clock = page.locator("[data-component=clock]")
    clock.locator("button.tick").click()
    expect(clock.locator(".ticks")).to_have_text("ticks 1")
    assert connections(page) == "1"

    page.locator("button.toggle").click()

    expect(page.locator("[data-component=clock]")).to_have_count(0)
    wait_for_connections(page, "0")


def connections(page: Page) -> str:
    answer = page.request.get("/connections")
    return answer.text()


def wait_for_connections(page: Page, expected: str) -> None:
    for _ in range(100):
        if connections(page) == expected:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the clock's sockets: {connections(page)}, expected {expected}")


def test_a_lazy_component_shows_its_placeholder_then_loads_at_page_level_and_nested(
    page: Page,
) -> None:
    page.goto("/lazy", wait_until="domcontentloaded")
    expect(page.locator("#page-feed .feed-loading")).to_have_text("Loading the feed")
    expect(page.locator("#corner-box .feed-loading")).to_have_text("Loading the feed")

    expect(page.locator("#page-feed .feed .text")).to_have_text("news 0")
    inner = page.locator("#corner-box [data-component=feed]")
    expect(inner.locator(".text")).to_have_text("inner 0")
    expect(page.locator(".feed-loading")).to_have_count(0)

    inner.locator("button.inc").click()
    expect(inner.locator(".text")).to_have_text("inner 1")
    page.locator("#corner-box button.bump").click()
    expect(page.locator(".corner .renders")).to_have_text("corner 1")
    expect(inner.locator(".text")).to_have_text("inner 1")
    page.locator("#page-feed button.inc").click()
    expect(page.locator("#page-feed .feed .text")).to_have_text("news 1")
