"""The example app in a real headless Chromium: clicks swap whole components, nothing else wired.

Runs ``examples.litestar_example:app`` under a real uvicorn on loopback and drives Debian's
Chromium with Playwright. Screenshots of each step go to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.servers import uvicorn_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def example_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"COMPONENT_FRAMEWORK_SECRET_KEY": "browser-test-key-0123456789abcdef"}
    log_dir = tmp_path_factory.mktemp("example-app")
    with uvicorn_server("examples.litestar_example:app", log_dir, env=env) as server:
        yield server.base_url


@pytest.fixture
def page(browser: Browser, example_url: str) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    opened.on("console", record)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(example_url)
    yield opened
    context.close()
    assert errors == [], f"console errors: {errors}"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_counter_buttons_swap_the_whole_component(page: Page) -> None:
    counter = page.locator("[data-component=counter]")
    expect(counter.locator(".count")).to_have_text("0")
    original_id = counter.get_attribute("id")
    shot(page, "counter-0-initial")
    plus = counter.locator("button", has_text="+")
    plus.click()
    expect(page.locator("[data-component=counter] .count")).to_have_text("1")
    page.locator("[data-component=counter] button", has_text="+").click()
    expect(page.locator("[data-component=counter] .count")).to_have_text("2")
    page.locator("[data-component=counter] button", has_text="-").click()
    expect(page.locator("[data-component=counter] .count")).to_have_text("1")
    shot(page, "counter-1-after-clicks")
    # The swap replaced the component: still exactly one, with the same stable id.
    assert page.locator("[data-component=counter]").count() == 1
    assert page.locator(".counter").count() == 1
    assert page.locator("[data-component=counter]").get_attribute("id") == original_id


def test_async_handler_result_replaces_the_form(page: Page) -> None:
    sentiment = page.locator("[data-component=sentiment]")
    sentiment.locator("input[name=text]").fill("I love fast Python")
    sentiment.locator("button[type=submit]").click()
    result = page.locator("[data-component=sentiment] p.positive")
    expect(result).to_contain_text("Score")
    shot(page, "sentiment-1-scored")
    assert page.locator("[data-component=sentiment]").count() == 1
    expect(page.locator("[data-component=sentiment] input[name=text]")).to_have_value(
        "I love fast Python"
    )
