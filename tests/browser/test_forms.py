"""Forms in a real headless Chromium, on htmx 2 and htmx 4 (issue 15.2 to 15.4).

Runs ``tests.browser.forms_app:app`` under a real uvicorn on loopback (strict CSP, htmx and its
extensions from ``node_modules``). What a person sees:

- an HTTP form saved with several wrong fields shows every field's message at once, keeps what
  was typed in every field, and is swapped like any render (no error box);
- a field checked as the person types shows its message and clears it, while the typing, the
  caret and the focus stay, even when the check answers after more was typed; fixing one
  field keeps the messages of the others;
- over a WebSocket the same errors, and a half-filled form survives a reconnect, a fresh mount
  (the server could not resume the component) and a real server restart.

Every test ends with no CSP violation and no console error (bar the browser's own lines for a
server that is away, in the restart test).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.forms_app import DEFAULT_KEY, TAKEN
from tests.browser.harness import UI_TIMEOUT_MS, WatchedPage, http_json, watched_page
from tests.servers import ServerProcess, start_uvicorn, uvicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

APP = "tests.browser.forms_app:app"
#: The app holds every HTTP validation request back this long in the typing test.
SLOW_CHECK_S = 0.8

#: Runs after the harness's watch script: records ``component:restored`` events too.
RESTORED_SCRIPT = """
(() => {
  const restored = window.__seen.restored = [];
  document.addEventListener("component:restored", (e) => { restored.push(e.detail.fields); });
})();
"""
#: What a page may log while its server is away (the restart test only).
WHILE_AWAY = (
    re.compile(r"Failed to load resource: net::ERR_CONNECTION_REFUSED"),
    re.compile(r"WebSocket connection to 'ws://\S+' failed: .*"),
    re.compile(r"\[object Event\]"),
    re.compile(r"htmx: htmx:ws:error: .*"),
)


@dataclass
class FormsPage(WatchedPage):
    """One browser context on the forms app, and what went wrong in it."""

    def post(self, path: str) -> Any:
        return http_json(self.base_url + path, "POST")

    def root(self, name: str) -> Locator:
        return self.page.locator(f"[data-component={name}]")

    def input(self, name: str) -> Locator:
        return self.page.locator(f"[name='{name}']")

    def message(self, name: str) -> Locator:
        return self.page.locator(f"p.error[data-for='{name}']")

    def caret(self, name: str) -> dict[str, Any]:
        """The field's value, caret, and whether it has the focus."""
        found: dict[str, Any] = self.page.evaluate(
            """(name) => {
                const field = document.querySelector(`[name='${name}']`);
                return { value: field.value, start: field.selectionStart,
                         end: field.selectionEnd, focused: document.activeElement === field };
            }""",
            name,
        )
        return found

    def mark(self, name: str) -> None:
        """Mark the field's element, so :meth:`wait_replaced` sees a swap replace it."""
        self.page.evaluate(
            "(name) => { document.querySelector(`[name='${name}']`).cfOld = 1; }", name
        )

    def wait_replaced(self, name: str) -> None:
        self.page.wait_for_function(
            "(name) => document.querySelector(`[name='${name}']`).cfOld === undefined",
            arg=name,
            timeout=UI_TIMEOUT_MS,
        )

    def wait_for_restored(self, timeout: int = UI_TIMEOUT_MS) -> None:
        """Until a ``component:restored`` event fired."""
        self.page.wait_for_function("() => window.__seen.restored.length >= 1", timeout=timeout)

    def shot(self, name: str) -> None:
        """A screenshot that leaves the page alone (Playwright hides the caret with a style
        attribute by default, which htmx would copy onto the next render: a CSP violation)."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = str(ARTIFACTS / f"forms-{name}.png")
        self.page.screenshot(path=path, full_page=True, caret="initial")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with uvicorn_server(APP, tmp_path_factory.mktemp("forms-app")) as started:
        yield started


def _open(browser: Browser, base_url: str) -> Iterator[FormsPage]:
    with watched_page(browser, base_url, FormsPage, scripts=[RESTORED_SCRIPT]) as opened:
        yield opened


@pytest.fixture
def user(browser: Browser, server: ServerProcess) -> Iterator[FormsPage]:
    http_json(server.base_url + "/test/slow-checks?seconds=0", "POST")
    yield from _open(browser, server.base_url)


# -- every field's error at once, over HTTP ------------------------------------------------------


def test_an_invalid_save_shows_every_fields_message_and_keeps_what_was_typed(
    user: FormsPage,
) -> None:
    user.goto("/http")
    account = user.root("account")
    component_id = account.get_attribute("id")
    typed = {"name": "A", "email": "not an address", "age": "12", "bio": "b" * 45}
    for name, value in typed.items():
        user.input(name).fill(value)

    account.locator("button[type=submit]").click()

    expect(user.message("name")).to_have_text("Enter at least 2 characters.")
    expect(user.message("email")).to_have_text("Enter a value in the expected format.")
    expect(user.message("age")).to_have_text("Enter a number of at least 18.")
    expect(user.message("bio")).to_have_text("Enter at most 40 characters.")
    expect(account.locator(".count")).to_have_text("4")
    for name, value in typed.items():
        expect(user.input(name)).to_have_value(value)
        expect(user.input(name)).to_have_attribute("aria-invalid", "true")
    expect(account.locator(".saves")).to_have_text("saves: 0")
    expect(account.locator("[data-component-error]")).to_have_count(0)
    assert account.get_attribute("id") == component_id  # swapped in place, like any render
    user.shot("every-error")

    user.input("name").fill("Ann")
    user.input("email").fill("ann@example.com")
    user.input("age").fill("33")
    user.input("bio").fill("Hello")
    account.locator("button[type=submit]").click()

    expect(account.locator(".saves")).to_have_text("saves: 1")
    expect(account.locator("p.error")).to_have_count(0)
    expect(user.input("name")).to_have_value("Ann")  # now from the saved state


# -- validation as the person types --------------------------------------------------------------


def test_a_field_is_checked_as_the_person_types_and_the_typing_and_caret_stay(
    user: FormsPage,
) -> None:
    user.goto("/http")
    user.post(f"/test/slow-checks?seconds={SLOW_CHECK_S}")
    name = user.input("name")
    name.click()
    user.mark("name")

    with user.page.expect_request(lambda request: "validate=name" in (request.post_data or "")):
        name.press_sequentially("A")
    # The check of "A" is held back by the server: the person goes on typing meanwhile.
    name.press_sequentially("nn", delay=60)

    expect(user.message("name")).to_have_text("Enter at least 2 characters.")  # for "A"
    user.wait_replaced("name")
    assert user.caret("name") == {"value": "Ann", "start": 3, "end": 3, "focused": True}
    expect(user.message("name")).to_have_count(0, timeout=UI_TIMEOUT_MS)  # the check of "Ann"
    assert user.caret("name") == {"value": "Ann", "start": 3, "end": 3, "focused": True}
    expect(user.root("account")).not_to_have_attribute("data-loading", re.compile(".*"))

    # Typing in the middle: the caret stays where the person put it.
    user.post("/test/slow-checks?seconds=0")
    user.mark("name")
    name.press("Home")
    name.press("ArrowRight")
    with user.page.expect_response(lambda answer: answer.request.method == "POST"):
        name.press_sequentially("x")
    user.wait_replaced("name")
    assert user.caret("name") == {"value": "Axnn", "start": 2, "end": 2, "focused": True}
    expect(user.root("account").locator(".saves")).to_have_text("saves: 0")  # never saved
    user.shot("typing-checked")


def test_fixing_one_field_keeps_the_messages_of_the_others(user: FormsPage) -> None:
    user.goto("/http")
    user.input("name").fill("A")
    user.input("email").fill("ann@example.com")
    user.input("age").fill("12")
    user.root("account").locator("button[type=submit]").click()
    expect(user.message("age")).to_have_text("Enter a number of at least 18.")
    expect(user.message("name")).to_have_count(1)

    name = user.input("name")
    name.click()
    name.press("End")
    with user.page.expect_request(
        lambda request: "validate=name" in (request.post_data or "")
    ) as checked:
        name.press_sequentially("nn")

    assert "validate=age" in (checked.value.post_data or "")  # the field showing an error
    expect(user.message("name")).to_have_count(0)
    expect(user.message("age")).to_have_text("Enter a number of at least 18.")
    expect(user.message("email")).to_have_count(0)
    assert user.caret("name")["focused"]


# -- over a WebSocket ------------------------------------------------------------------------------


def _open_ws(user: FormsPage) -> str:
    user.goto("/ws")
    user.wait_for_messages(1)
    component_id: str = user.root("note").get_attribute("id") or ""
    return component_id


def _fill_note(user: FormsPage) -> None:
    """Half a note, typed and chosen but never sent."""
    user.input("body").fill("typed, never sent")
    user.input("kind").select_option("bug")
    user.input("urgent").check()
    title = user.input("title")
    title.click()
    title.press_sequentially("Half")


def _assert_note_kept(user: FormsPage) -> None:
    expect(user.input("title")).to_have_value("Half")
    expect(user.input("body")).to_have_value("typed, never sent")
    expect(user.input("kind")).to_have_value("bug")
    expect(user.input("urgent")).to_be_checked()


def test_an_invalid_note_over_the_socket_shows_its_error_and_keeps_the_typing(
    user: FormsPage,
) -> None:
    _open_ws(user)
    user.input("body").fill("the body")
    user.input("title").fill("ab")

    user.root("note").locator("button[type=submit]").click()

    expect(user.message("title")).to_have_text("Enter at least 3 characters.")
    expect(user.input("title")).to_have_value("ab")
    expect(user.input("body")).to_have_value("the body")
    user.input("title").fill("abc")
    expect(user.message("title")).to_have_count(0)  # checked as the person types, over the socket
    user.root("note").locator("button[type=submit]").click()
    expect(user.page.locator(".saved-note")).to_have_text(["abc / the body / idea / calm"])
    expect(user.input("title")).to_have_value("")

    user.input("title").fill("abc")
    user.root("note").locator("button[type=submit]").click()
    expect(user.message("title")).to_have_text(TAKEN)  # the handler's own error
    expect(user.input("title")).to_have_value("abc")


def test_a_half_filled_form_is_restored_after_the_socket_reconnects(user: FormsPage) -> None:
    component_id = _open_ws(user)
    _fill_note(user)
    opens = user.seen()["opens"]

    assert user.post("/test/close-sockets")["closed"] == 1

    user.wait_for_opens(opens + 1)
    user.wait_for_restored()
    _assert_note_kept(user)
    assert user.root("note").get_attribute("id") == component_id  # resumed, not mounted
    # The title has the focus and unsent typing: the typing rule may have put it back first.
    assert {"body", "kind", "urgent"} <= set(user.seen()["restored"][0])
    user.shot("ws-restored")

    user.root("note").locator("button[type=submit]").click()
    expect(user.page.locator(".saved-note")).to_have_text(
        ["Half / typed, never sent / bug / urgent"]
    )


def test_a_half_filled_form_is_restored_into_a_fresh_mount(user: FormsPage) -> None:
    old_id = _open_ws(user)
    _fill_note(user)
    user.page.evaluate(
        """() => document.querySelector("[data-component=note]")
            .setAttribute("hx-vals", JSON.stringify({ snapshot: "v2.unknown.token.mac" }))"""
    )
    opens = user.seen()["opens"]

    user.post("/test/close-sockets")

    user.wait_for_opens(opens + 2)  # the refused resume, then the fresh mount
    user.wait_for_restored()
    new_id = user.root("note").get_attribute("id")
    assert new_id
    assert new_id != old_id
    _assert_note_kept(user)
    user.root("note").locator("button[type=submit]").click()
    expect(user.page.locator(".saved-note")).to_have_text(
        ["Half / typed, never sent / bug / urgent"]
    )


@pytest.mark.parametrize("key", ["same", "new"])
def test_a_half_filled_form_survives_a_server_restart(
    browser: Browser, tmp_path: Path, key: str
) -> None:
    """A real restart: SIGTERM, the socket closes, the retries are refused while the server is
    down, then a new process on the same port. With the same key the page resumes its
    component; with a new one it is mounted afresh. Either way the typing is back."""
    first = start_uvicorn(APP, tmp_path, env={"FORMS_APP_KEY": DEFAULT_KEY})
    servers = [first]
    try:
        for user in _open(browser, first.base_url):
            user.tolerated = WHILE_AWAY
            old_id = _open_ws(user)
            _fill_note(user)
            opens = user.seen()["opens"]

            first.stop()
            new_key = DEFAULT_KEY if key == "same" else DEFAULT_KEY[::-1]
            servers.append(
                start_uvicorn(APP, tmp_path, env={"FORMS_APP_KEY": new_key}, port=first.port)
            )

            user.wait_for_opens(opens + 1, timeout=3 * UI_TIMEOUT_MS)
            user.wait_for_restored(timeout=3 * UI_TIMEOUT_MS)
            _assert_note_kept(user)
            resumed = user.root("note").get_attribute("id") == old_id
            assert resumed == (key == "same")
            user.root("note").locator("button[type=submit]").click()
            expect(user.page.locator(".saved-note")).to_have_text(
                ["Half / typed, never sent / bug / urgent"], timeout=UI_TIMEOUT_MS
            )
            user.shot(f"restart-{key}-key")
    finally:
        for server in servers:
            server.stop()
