"""The WebSocket chat in a real headless Chromium, on htmx 2 (htmx-ext-ws) and htmx 4 (hx-ws).

Runs ``tests.browser.ws_chat_app:app`` under a real uvicorn on loopback; htmx and its ws
extension come from ``node_modules`` (``scripts/setup.sh``), and the page holds no script of
ours. Two pages in two browser contexts (two users) open the chat; what one types appears in
both, through the room's broadcast, with no console errors. Screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.harness import WatchedPage, watched_page
from tests.servers import uvicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

#: Longest wait for a page to connect, or for a message to show (milliseconds).
UI_TIMEOUT_MS = 10_000


@dataclass
class ChatPage(WatchedPage):
    """An open chat page and what it reported: console errors and the sockets it opened."""

    sockets: list[str] = field(default_factory=list)

    @property
    def messages(self) -> Locator:
        return self.page.locator("#chat-box .messages li")

    def say(self, text: str) -> None:
        self.page.locator("#chat-box input[name=text]").fill(text)
        self.page.locator("#chat-box button", has_text="Send").click()


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("ws-chat-app")
    with uvicorn_server("tests.browser.ws_chat_app:app", log_dir) as server:
        yield f"{server.base_url}/"


@contextmanager
def open_chat(browser: Browser, url: str) -> Iterator[ChatPage]:
    """A fresh browser context (a separate user) on the chat page, connected; checked and
    closed on exit."""
    with watched_page(browser, url, ChatPage) as opened:
        opened.page.on("websocket", lambda socket: opened.sockets.append(socket.url))
        opened.page.goto(url)
        # Connected: the initial render replaced "Connecting..." with the chat's form.
        expect(opened.page.locator("#chat-box form")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(opened.page.locator("#chat-box .connecting")).to_have_count(0)
        yield opened


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_message_sent_on_one_page_appears_on_every_page_of_the_room(
    browser: Browser, chat_url: str
) -> None:
    with open_chat(browser, chat_url) as first, open_chat(browser, chat_url) as second:
        assert len(first.sockets) == len(second.sockets) == 1
        assert first.sockets[0].endswith("/components/chat/ws/?format=html&target=chat-box")
        shot(first.page, "ws-chat-0-connected")

        first.say("Hello from page one")

        expect(second.messages).to_have_text(["Hello from page one"], timeout=UI_TIMEOUT_MS)
        expect(first.messages).to_have_text(["Hello from page one"], timeout=UI_TIMEOUT_MS)
        expect(first.page.locator("#chat-box input[name=text]")).to_have_value("")
        shot(first.page, "ws-chat-1-sender")
        shot(second.page, "ws-chat-2-receiver")

        second.say("Hi, page two here")

        expected = ["Hello from page one", "Hi, page two here"]
        expect(first.messages).to_have_text(expected, timeout=UI_TIMEOUT_MS)
        expect(second.messages).to_have_text(expected, timeout=UI_TIMEOUT_MS)
        shot(first.page, "ws-chat-3-reply")
        assert first.console_errors == [], f"console errors on page 1: {first.console_errors}"
        assert second.console_errors == [], f"console errors on page 2: {second.console_errors}"


def test_a_message_is_shown_as_text_not_html(browser: Browser, chat_url: str) -> None:
    with open_chat(browser, chat_url) as sender, open_chat(browser, chat_url) as reader:
        sender.say("<b>not bold</b>")

        expect(reader.messages.last).to_have_text("<b>not bold</b>", timeout=UI_TIMEOUT_MS)
        assert reader.page.locator("#chat-box .messages b").count() == 0
        assert reader.console_errors == [], f"console errors: {reader.console_errors}"
        assert sender.console_errors == [], f"console errors: {sender.console_errors}"
