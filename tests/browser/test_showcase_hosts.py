"""The same showcase on the other hosts: Starlette (``Mount``) and ``ComponentASGI`` alone.

A shorter scenario than ``test_showcase.py`` (which drives the Litestar app in depth): a counter
click, a report streamed to its end, one chat question answered in full, a shared-list item
seen from a second page, a profile saved with wrong fields; in a real headless Chromium, with
no console error, page error or Content-Security-Policy violation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from examples.fake_services import fake_reply
from playwright.sync_api import Browser, expect

from tests.browser.showcase_pages import (
    CHAT_WATCH,
    UI_TIMEOUT_MS,
    open_showcase,
    showcase_server,
    text_events,
    wait_for_final_answer,
)
from tests.servers import UvicornServer

pytestmark = pytest.mark.browser

HOSTS = {
    "starlette": "examples.starlette_app:app",
    "standalone": "examples.standalone:app",
}


@pytest.fixture(scope="module", params=sorted(HOSTS))
def host(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def server(host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    with showcase_server(HOSTS[host], tmp_path_factory.mktemp(f"showcase-{host}")) as started:
        yield started


def test_counter_click_changes_the_number(
    browser: Browser, server: UvicornServer, host: str
) -> None:
    with open_showcase(browser, server.base_url) as user:
        counter = user.component("counter")
        component_id = counter.get_attribute("id")
        counter.locator("button", has_text="+").click()
        expect(counter.locator(".count")).to_have_text("1")
        assert counter.get_attribute("id") == component_id
        user.shot(f"{host}-counter")
        assert user.problems() == []


def test_report_streams_to_its_end_once(browser: Browser, server: UvicornServer, host: str) -> None:
    with open_showcase(browser, server.base_url) as user:
        report = user.component("report")
        report.locator("button", has_text="Generate report").click()
        expect(report.locator(".report-done")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(report.locator(".sections article")).to_have_count(3)
        expect(report.locator("[data-stream=sections]")).not_to_have_attribute(
            "data-stream-active", re.compile(".*")
        )
        assert user.runs_started("report") == 1, (user.starts, server.log())
        user.shot(f"{host}-report")
        assert user.problems() == []


def test_chat_question_gets_the_full_reply(
    browser: Browser, server: UvicornServer, host: str
) -> None:
    question = "Does this run on my host too?"
    reply = "".join(fake_reply(question))
    with open_showcase(browser, server.base_url) as user:
        user.page.evaluate(CHAT_WATCH)
        user.ask(question)
        final = wait_for_final_answer(user, 1, reply.strip())
        events = text_events(user)
        assert "".join(str(event["text"]) for event in events) == reply
        assert len(events) > 1
        assert final == reply.strip()
        expect(user.page.locator("#chat-box input[name=question]")).to_have_value("")
        user.shot(f"{host}-chat")
        assert user.problems() == []


def test_todo_item_added_in_one_page_appears_in_another(
    browser: Browser, server: UvicornServer, host: str
) -> None:
    text = f"Shared across pages {uuid.uuid4().hex[:6]}"
    with (
        open_showcase(browser, server.base_url) as first,
        open_showcase(browser, server.base_url) as second,
    ):
        first.add_todo(text)
        expect(second.todo_item(text)).to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(first.todo_item(text)).to_have_count(1)
        second.shot(f"{host}-todo")
        assert first.problems() == []
        assert second.problems() == []


def test_profile_shows_every_error_at_once_and_keeps_the_typing(
    browser: Browser, server: UvicornServer, host: str
) -> None:
    with open_showcase(browser, server.base_url) as user:
        profile = user.component("profile")
        profile.locator("[name=name]").fill("A")
        profile.locator("[name=age]").fill("12")
        profile.locator("button", has_text="Save profile").click()
        expect(profile.locator(".field-error")).to_have_text(
            [
                "Enter at least 2 characters.",
                "Enter a value in the expected format.",
                "Enter a number of at least 13.",
            ]
        )
        expect(profile.locator("[name=name]")).to_have_value("A")
        expect(profile.locator("[name=age]")).to_have_value("12")
        assert user.problems() == []
