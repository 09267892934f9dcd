"""A server restart between two actions, in a real headless Chromium (issue 13.4).

The showcase (``examples.litestar_example:app``) runs under a real uvicorn on loopback; the test
acts on the page, stops the server (SIGTERM), acts again while it is down, and starts a new
server on the same port. No action may be lost silently:

- **Development** (``COMPONENT_FRAMEWORK_DEBUG=1``, no key): the development key file makes the
  new process accept the page's snapshots, so the item added while the server was down is sent
  after the socket rejoins and shows, and the counter's next click over HTTP just works.
- **No key, debug off** (a random key per process): the new process refuses the page's
  snapshots. The item added while the server was down is not applied, and the page says so in
  the shared list; the counter's next click over HTTP shows the server's message that its key
  changed. Neither is silent, and htmx logs no error of its own for the refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.showcase_pages import ACCESS_LOG, UI_TIMEOUT_MS, ShowcasePage, open_showcase
from tests.servers import UvicornServer, start_uvicorn

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

APP = "examples.litestar_example:app"
#: What a page may log while its server is away or refuses a snapshot: the browser's refused
#: connections and handshakes refused while the old server shuts down (503; a refused snapshot
#: is an error message on an open socket, never a 400 handshake), its network line for a
#: 4xx/5xx answer (a page script cannot silence it), and htmx's log of the ``htmx:wsError``
#: event (htmx 4: ``htmx:ws:error``). Nothing else: in particular no ``Response Status Error
#: Code`` line from htmx for the refused click.
EXPECTED_WHILE_RESTARTING = (
    re.compile(
        r"Failed to load resource: (net::ERR_CONNECTION_REFUSED|the server responded with a "
        r"status of (400 \(Bad Request\)|503 \(Service Unavailable\)))"
    ),
    re.compile(
        r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/components/(chat|ticker|todo)/ws/\?\S*' "
        r"failed: (Error in connection establishment: net::ERR_CONNECTION_REFUSED"
        r"|Error during WebSocket handshake: Unexpected response code: 503)"
    ),
    re.compile(r"\[object Event\]"),
    # htmx 4 logs the same event itself: hx-ws's htmx:ws:error with the element it belongs to.
    re.compile(r"htmx: htmx:ws:error: \[object Event\] \{elt: div#(chat|ticker|todo)-box, .*\}"),
)
#: The runtime's message for events queued for a component the server could not resume.
NOT_APPLIED = "Your last action was not applied"
#: The server's message for a snapshot signed by a key it does not have.
KEY_CHANGED = "invalid snapshot (unknown key)"


@contextmanager
def restartable(log_dir: Path, env: Mapping[str, str]) -> Iterator[list[UvicornServer]]:
    """The showcase under uvicorn with ``env``; the list holds every server started on its
    port (the test appends the restarted one), and all are stopped on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = [start_uvicorn(APP, log_dir, ACCESS_LOG, env)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def restart(servers: list[UvicornServer], log_dir: Path, env: Mapping[str, str]) -> None:
    servers.append(start_uvicorn(APP, log_dir, ACCESS_LOG, env, port=servers[0].port))


def stop_and_wait_for_the_drop(user: ShowcasePage, server: UvicornServer) -> None:
    """SIGTERM: every socket closes (1012) and its first retry is refused."""
    server.stop()
    user.page.wait_for_function(
        "() => ['chat-box', 'ticker-box', 'todo-box'].every((id) => "
        "(window.__wsCloses[id] || []).length >= 2)",
        timeout=UI_TIMEOUT_MS,
    )


def act_before_the_restart(user: ShowcasePage, item: str) -> None:
    user.add_todo(item)
    expect(user.todo_item(item)).to_have_count(1, timeout=UI_TIMEOUT_MS)
    counter = user.component("counter")
    counter.locator("button", has_text="+").click()
    expect(counter.locator(".count")).to_have_text("1")


def add_while_down(user: ShowcasePage, item: str) -> None:
    """Add an item while the socket is away: queued, and the shared list shows it pending."""
    user.add_todo(item)
    todo = user.page.locator("#todo-box [data-component=todo]")
    expect(todo).to_have_attribute("data-loading", "")
    expect(todo).to_have_attribute("aria-busy", "true")


def test_in_development_an_action_during_a_restart_is_applied_after_the_rejoin(
    browser: Browser, tmp_path: Path
) -> None:
    key_file = tmp_path / ".component-framework-dev-key"
    env = {"COMPONENT_FRAMEWORK_DEBUG": "1", "COMPONENT_FRAMEWORK_DEV_KEY_FILE": str(key_file)}
    with restartable(tmp_path / "logs", env) as servers:
        assert key_file.exists()
        assert str(key_file) in servers[0].log()  # the log line says where the key is
        with open_showcase(browser, servers[0].base_url) as user:
            act_before_the_restart(user, "before the restart")
            todo_id = user.page.locator("#todo-box [data-component]").get_attribute("id")
            stop_and_wait_for_the_drop(user, servers[0])

            add_while_down(user, "during the restart")
            user.shot("restart-dev-0-pending")
            restart(servers, tmp_path / "logs", env)

            # The socket resumes the same component, then sends the queued event.
            expect(user.todo_item("during the restart")).to_have_count(1, timeout=4 * UI_TIMEOUT_MS)
            todo = user.page.locator("#todo-box [data-component]")
            expect(todo).to_have_attribute("id", todo_id or "")
            expect(todo).not_to_have_attribute("data-loading", re.compile(".*"))
            # Resumed by a join message on the page's socket (the todo list shares it with the
            # page's other live components): no snapshot in any logged URL.
            log = servers[1].log()
            assert re.search(r'"WebSocket \S*/ws/\?\S*join=message', log)
            assert "snapshot=" not in log

            counter = user.component("counter")
            counter.locator("button", has_text="+").click()
            expect(counter.locator(".count")).to_have_text("2")  # the old snapshot is accepted
            expect(user.page.locator("[data-component-error]")).to_have_count(0)
            user.shot("restart-dev-1-applied")
            assert user.problems(tolerated=EXPECTED_WHILE_RESTARTING) == []
            assert not any("400" in error for error in user.errors), user.errors


def test_without_a_key_an_action_during_a_restart_is_reported_not_applied(
    browser: Browser, tmp_path: Path
) -> None:
    env = {"COMPONENT_FRAMEWORK_DEBUG": "0"}
    with (
        restartable(tmp_path / "logs", env) as servers,
        open_showcase(browser, servers[0].base_url) as user,
    ):
        act_before_the_restart(user, "before the restart")
        stop_and_wait_for_the_drop(user, servers[0])

        add_while_down(user, "lost in the restart")
        restart(servers, tmp_path / "logs", env)

        # The new key refuses the snapshot: a fresh component, and the page says that the
        # queued action was not applied (it is not sent to a component it was not meant for).
        todo_error = user.page.locator("#todo-box [data-component-error]")
        expect(todo_error).to_contain_text(NOT_APPLIED, timeout=4 * UI_TIMEOUT_MS)
        expect(user.todo_item("lost in the restart")).to_have_count(0)
        user.shot("restart-nokey-0-not-applied")

        # The list works again at once.
        field = user.page.locator("#todo-box input[name=text]")
        field.fill("after the restart")
        field.press("Enter")
        expect(user.todo_item("after the restart")).to_have_count(1, timeout=UI_TIMEOUT_MS)

        # HTTP: the counter's next click is refused, and the page shows why.
        counter = user.component("counter")
        counter.locator("button", has_text="+").click()
        shown = counter.locator("[data-component-error]")
        expect(shown).to_contain_text(KEY_CHANGED, timeout=UI_TIMEOUT_MS)
        expect(shown).to_contain_text("the server's key changed")
        expect(counter.locator(".count")).to_have_text("1")
        expect(counter).not_to_have_attribute("data-loading", re.compile(".*"))
        user.shot("restart-nokey-1-key-changed")
        assert user.problems(tolerated=EXPECTED_WHILE_RESTARTING) == []
        assert not any("Response Status Error Code" in e for e in user.errors), user.errors
