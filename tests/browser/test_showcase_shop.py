"""The showcase's shop page (``/shop``, ``examples.shop``) in a real headless Chromium, on htmx 2
and htmx 4, on Litestar and Starlette: the product search lives in the address bar (typing
replaces the history entry, a page change adds one), a reload and an opened link keep it, Back
shows the previous results; a user signed in through the host's session authentication is
greeted by name, and only the shop's owner gets (and may use) the Feature action; each
product is a nested component (a search keeps the state of those still shown), its "Add to
cart" emits ``added``, which the cart badge and the cart hear, and the checkout redirects; the
reviews are a lazy component that replaces its placeholder once the page has painted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from tests.browser.showcase_pages import UI_TIMEOUT_MS, VIEWPORT, WATCH_SCRIPT, showcase_server
from tests.servers import UvicornServer

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

HOSTS = ("examples.litestar_example:app", "examples.starlette_app:app")


@pytest.fixture(scope="module", params=HOSTS, ids=("litestar", "starlette"))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UvicornServer]:
    with showcase_server(request.param, tmp_path_factory.mktemp("showcase-shop")) as started:
        yield started


@dataclass
class Shopper:
    """One person's tab on the shop, and the console errors it logged."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)

    @property
    def products(self) -> Locator:
        return self.page.locator("[data-component=shop_products]")

    def names(self) -> Locator:
        return self.products.locator(".product .name")

    def search(self, text: str) -> None:
        self.products.locator("input[name=q]").press_sequentially(text, delay=40)

    def history_length(self) -> int:
        length: int = self.page.evaluate("history.length")
        return length

    def expect_url(self, path_and_query: str) -> None:
        expect(self.page).to_have_url(self.base_url + path_and_query, timeout=UI_TIMEOUT_MS)

    def sign_in(self, name: str) -> None:
        self.page.locator("form.sign-in input[name=name]").fill(name)
        self.page.locator("form.sign-in button").click()
        expect(self.page.locator("form.sign-out")).to_be_visible()


@contextmanager
def shopping(browser: Browser, server: UvicornServer, path: str = "/shop") -> Iterator[Shopper]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(WATCH_SCRIPT)
        page = context.new_page()
        shopper = Shopper(page, server.base_url)

        def record(message: ConsoleMessage) -> None:
            if message.type == "error":
                shopper.errors.append(message.text)

        page.on("console", record)
        page.on("pageerror", lambda error: shopper.errors.append(f"page error: {error}"))
        page.goto(server.base_url + path)
        expect(shopper.products).to_have_count(1)
        yield shopper
    finally:
        context.close()


def violations(shopper: Shopper) -> list[str]:
    found: list[str] = shopper.page.evaluate("window.__violations")
    return found


def test_typing_a_search_shows_it_in_the_url_without_a_history_entry_per_key(
    browser: Browser, server: UvicornServer
) -> None:
    with shopping(browser, server) as shopper:
        before = shopper.history_length()

        shopper.search("red")

        shopper.expect_url("/shop?q=red")
        expect(shopper.products.locator(".found")).to_have_text("4 products for “red”")
        expect(shopper.names()).to_have_text(["Red shoes", "Red hat", "Red socks", "Red scarf"])
        assert shopper.history_length() == before
        assert shopper.errors == []
        assert violations(shopper) == []


def test_paging_adds_history_entries_and_back_shows_the_previous_results(
    browser: Browser, server: UvicornServer
) -> None:
    with shopping(browser, server, "/shop?q=s") as shopper:
        first_page = shopper.names().all_inner_texts()
        expect(shopper.products.locator(".page-number")).to_have_text("Page 1 of 3")

        shopper.products.locator("button.next").click()
        shopper.expect_url("/shop?q=s&page=2")
        expect(shopper.products.locator(".page-number")).to_have_text("Page 2 of 3")
        shopper.products.locator("button.next").click()
        shopper.expect_url("/shop?q=s&page=3")
        expect(shopper.products.locator(".page-number")).to_have_text("Page 3 of 3")

        shopper.page.go_back()
        shopper.expect_url("/shop?q=s&page=2")
        expect(shopper.products.locator(".page-number")).to_have_text("Page 2 of 3")
        shopper.page.go_back()
        shopper.expect_url("/shop?q=s")
        expect(shopper.products.locator(".page-number")).to_have_text("Page 1 of 3")
        expect(shopper.names()).to_have_text(first_page)

        # The restored component keeps working: its next event continues from what it shows.
        shopper.products.locator("button.next").click()
        shopper.expect_url("/shop?q=s&page=2")
        expect(shopper.products.locator(".page-number")).to_have_text("Page 2 of 3")
        assert shopper.errors == []


def test_a_reload_and_an_opened_link_keep_the_search(
    browser: Browser, server: UvicornServer
) -> None:
    with shopping(browser, server) as shopper:
        shopper.search("blue")
        shopper.expect_url("/shop?q=blue")
        expect(shopper.products.locator(".found")).to_have_text("3 products for “blue”")

        shopper.page.reload()

        expect(shopper.products.locator("input[name=q]")).to_have_value("blue")
        expect(shopper.products.locator(".found")).to_have_text("3 products for “blue”")
        assert shopper.errors == []

    with shopping(browser, server, "/shop?q=hat&page=1") as bookmarked:
        expect(bookmarked.names()).to_have_text(["Red hat", "Blue hat"])
        expect(bookmarked.products.locator("input[name=q]")).to_have_value("hat")
        assert bookmarked.errors == []


def test_a_signed_in_owner_is_greeted_and_may_feature_a_product_others_may_not(
    browser: Browser, server: UvicornServer
) -> None:
    with shopping(browser, server) as guest:
        guest.sign_in("bob")
        expect(guest.page.locator(".greeting .hello")).to_have_text("Hello, bob!")
        expect(guest.products.locator("button.feature")).to_have_count(0)

    with shopping(browser, server, "/shop?q=boots") as owner:
        expect(owner.page.locator(".greeting .hello")).to_have_text("Hello, stranger!")
        owner.sign_in("ada")
        owner.expect_url("/shop")  # the sign-in form sends the browser back to /shop
        expect(owner.page.locator(".greeting .hello")).to_have_text("Hello, ada!")

        owner.search("boots")
        expect(owner.names()).to_have_text(["Black boots"])
        owner.products.locator("button.feature").click()

        expect(owner.products.locator(".featured")).to_have_text("Featured: Black boots")
        owner.page.locator(".greeting button").click()
        expect(owner.page.locator(".greeting .asker")).to_have_text(
            re.compile(r"Wave 1 came from ada, over http\.")
        )
        assert owner.errors == []


def test_add_to_cart_updates_the_badge_and_the_cart_and_checkout_redirects(
    browser: Browser, server: UvicornServer
) -> None:
    with shopping(browser, server, "/shop?q=hat") as shopper:
        badge = shopper.page.locator("[data-component=cart_badge]")
        cart = shopper.page.locator("[data-component=checkout]")
        expect(badge).to_have_text("Cart: 0")

        shopper.products.locator(".product", has_text="Red hat").locator(".add-to-cart").click()
        expect(badge).to_have_text("Cart: 1")
        shopper.products.locator(".product", has_text="Blue hat").locator(".add-to-cart").click()

        expect(badge).to_have_text("Cart: 2")
        expect(cart.locator(".cart")).to_have_text("2 items in the cart")
        shopper.expect_url("/shop?q=hat")  # an emitted event changes no address

        # Each product is a nested component: the list's re-render keeps the ones it shows.
        red_hat = shopper.products.locator(".product", has_text="Red hat")
        expect(red_hat.locator(".added")).to_have_text("1 added")
        shopper.products.locator("input[name=q]").fill("red")
        shopper.expect_url("/shop?q=red")
        expect(shopper.names()).to_have_text(["Red shoes", "Red hat", "Red socks", "Red scarf"])
        expect(red_hat.locator(".added")).to_have_text("1 added")
        expect(badge).to_have_text("Cart: 2")
        cart.locator("button.checkout-now").click()
        shopper.page.wait_for_url(server.base_url + "/?ordered=2#checkout-demo")
        assert shopper.errors == []
        assert violations(shopper) == []


def test_the_lazy_reviews_replace_their_placeholder_once_the_page_has_painted(
    browser: Browser, server: UvicornServer
) -> None:
    with shopping(browser, server) as shopper:
        section = shopper.page.locator("#reviews-demo")
        # The page arrives with the placeholder (tests/test_examples.py checks the markup); the
        # browser then loads the component by itself, and it takes the placeholder's place.
        reviews = section.locator("ul.reviews[data-component=shop_reviews] li")
        expect(reviews).to_have_count(3, timeout=UI_TIMEOUT_MS)
        expect(reviews.first).to_contain_text("Grace")
        expect(section.locator(".reviews-loading")).to_have_count(0)
        assert shopper.errors == []
        assert violations(shopper) == []
