"""The showcase's account corner (``examples.account``) in a real headless Chromium, on htmx 2
and htmx 4, on Litestar and Starlette: the greeting reads ``self.request.user`` (nobody signs in
on the demo), and the checkout's redirect ends on the order's page while a redirect to another
site is refused in the component, which keeps its cart."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.showcase_pages import open_showcase, showcase_server
from tests.servers import UvicornServer

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

HOSTS = ("examples.litestar_example:app", "examples.starlette_app:app")
#: Chromium's own console line for the refused redirect's 400 answer.
BAD_REQUEST = re.compile(r"Failed to load resource: the server responded with a status of 400.*")


@pytest.fixture(scope="module", params=HOSTS, ids=("litestar", "starlette"))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UvicornServer]:
    with showcase_server(request.param, tmp_path_factory.mktemp("showcase-account")) as started:
        yield started


def test_the_greeting_greets_a_stranger_and_says_who_waved(
    browser: Browser, server: UvicornServer
) -> None:
    with open_showcase(browser, server.base_url) as user:
        greeting = user.component("greeting")
        expect(greeting.locator(".hello")).to_have_text("Hello, stranger!")

        greeting.locator("button", has_text="Wave").click()

        expect(greeting.locator(".asker")).to_have_text(
            "Wave 1 came from someone not signed in, over http."
        )
        assert user.problems() == []


def test_checkout_sends_the_browser_to_the_order_and_refuses_another_site(
    browser: Browser, server: UvicornServer
) -> None:
    with open_showcase(browser, server.base_url) as user:
        cart = user.component("checkout")
        cart.locator("button.add").click()
        expect(cart.locator(".cart")).to_have_text("1 item in the cart")

        cart.locator("button.pay-elsewhere").click()

        expect(cart.locator("[data-component-error]")).to_contain_text("redirect refused")
        expect(cart.locator(".cart")).to_have_text("1 item in the cart")
        cart.locator("button.add").click()
        expect(cart.locator(".cart")).to_have_text("2 items in the cart")

        cart.locator("button.checkout-now").click()

        user.page.wait_for_url(server.base_url + "/?ordered=2#checkout-demo")
        expect(user.component("checkout").locator(".cart")).to_have_text("0 items in the cart")
        assert user.problems([BAD_REQUEST]) == []
