"""The showcase (``examples.litestar_example:app``) in a real headless Chromium, used as a person
would: clicks, typing, Enter, two users at once, and a server restart under an open page.

Each test opens fresh browser contexts on a real uvicorn on loopback and ends by asserting that
the pages logged no console error, no page error and no Content-Security-Policy violation.
Screenshots of each step go to ``tests/artifacts/showcase-*.png``; with
``UPDATE_README_SCREENSHOT=1`` the tour at the end also refreshes
``docs/images/example-app.png``, the README's picture.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.fake_services import REPORT_SECTIONS, fake_reply
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.showcase_pages import (
    CHAT_WATCH,
    LOADING_WATCH,
    REPORT_WATCH,
    SOCKET_BOXES,
    UI_TIMEOUT_MS,
    answer_locator,
    open_showcase,
    report_states,
    showcase_server,
    start_showcase,
    text_events,
    wait_for_final_answer,
)
from tests.servers import REPO_ROOT, UvicornServer

pytestmark = pytest.mark.browser

APP = "examples.litestar_example:app"
README_IMAGE = REPO_ROOT / "docs" / "images" / "example-app.png"
#: Sections arrive ``SECTION_SECONDS`` (0.4 s) apart; anything above this gap is "one by one".
MIN_SECTION_GAP_MS = 150
#: How long a finished report is watched for a second run.
AFTER_DONE_MS = 1_500
#: What a page logs while its server restarts and htmx-ext-ws retries: the browser's refused
#: connection (nothing listens) or refused handshake (503: the old server is shutting down),
#: htmx's log of the ``htmx:wsError`` event (htmx 4: ``htmx:ws:error``), and the network line
#: of any HTTP request made while the server is away (refused, or 503).
REFUSED_WHILE_DOWN = (
    re.compile(
        r"Failed to load resource: (net::ERR_CONNECTION_REFUSED|the server responded "
        r"with a status of 503 \(Service Unavailable\))"
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    with showcase_server(APP, tmp_path_factory.mktemp("showcase")) as started:
        yield started


def unique(label: str) -> str:
    """An item text no other test (the todo store is process-wide) uses."""
    return f"{label} {uuid.uuid4().hex[:6]}"


def test_counter_plus_and_minus_change_the_number_and_keep_the_component_id(
    browser: Browser, server: UvicornServer
) -> None:
    with open_showcase(browser, server.base_url) as user:
        counter = user.component("counter")
        count = counter.locator(".count")
        expect(count).to_have_text("0")
        component_id = counter.get_attribute("id")
        user.shot("counter-0-initial")

        counter.locator("button", has_text="+").click()
        expect(count).to_have_text("1")
        counter.locator("button", has_text="+").click()
        expect(count).to_have_text("2")
        counter.locator("button", has_text="-").click()
        expect(count).to_have_text("1")
        user.shot("counter-1-after-clicks")

        expect(user.component("counter")).to_have_count(1)
        assert counter.get_attribute("id") == component_id
        assert user.problems() == []


def test_sentiment_shows_loading_while_scoring_then_the_mood(
    browser: Browser, server: UvicornServer
) -> None:
    with open_showcase(browser, server.base_url) as user:
        user.page.evaluate(LOADING_WATCH)
        sentiment = user.component("sentiment")
        field = sentiment.locator("input[name=text]")
        field.click()
        field.press_sequentially("I love this great and fast library")
        field.press("Enter")

        expect(sentiment.locator("p.positive")).to_contain_text("(positive)")
        loading = user.page.evaluate("window.__loading")
        assert loading, "the root was not marked data-loading while the async handler ran"
        assert {entry["busy"] for entry in loading} == {"true"}, loading
        expect(sentiment).not_to_have_attribute("data-loading", re.compile(".*"))
        expect(field).to_have_value("I love this great and fast library")
        user.shot("sentiment-1-positive")

        user.page.evaluate("window.__loading = []")
        field.fill("")
        field.press_sequentially("I hate slow and broken tools")
        sentiment.locator("button", has_text="Analyze").click()

        negative = sentiment.locator("p.negative")
        expect(negative).to_contain_text("(negative)")
        assert float(negative.locator("b").inner_text()) < 0
        expect(sentiment.locator("p.positive")).to_have_count(0)
        assert user.page.evaluate("window.__loading"), "no data-loading for the second request"
        user.shot("sentiment-2-negative")
        assert user.problems() == []


def test_report_sections_arrive_one_by_one_and_the_stream_runs_once(
    browser: Browser, server: UvicornServer
) -> None:
    with open_showcase(browser, server.base_url) as user:
        report = user.component("report")
        user.page.evaluate(REPORT_WATCH)
        report.locator("button", has_text="Generate report").click()

        sections = report.locator("[data-stream=sections]")
        user.page.wait_for_function(
            "() => document.querySelectorAll('[data-component=report] article').length >= 1",
            timeout=UI_TIMEOUT_MS,
        )
        user.shot("report-1-first-section")
        expect(report.locator(".report-done")).to_be_visible(timeout=UI_TIMEOUT_MS)
        user.shot("report-2-done")

        expect(sections.locator("article h3")).to_have_text(list(REPORT_SECTIONS))
        expect(sections).not_to_have_attribute("data-stream-active", re.compile(".*"))
        states = report_states(user)
        arrivals = {}
        for state in states:
            arrivals.setdefault(state["articles"], state)
        assert [n for n in arrivals if n] == [1, 2, 3], states
        times = [float(arrivals[n]["t"]) for n in (1, 2, 3)]  # type: ignore[arg-type]
        assert times[1] - times[0] > MIN_SECTION_GAP_MS, states
        assert times[2] - times[1] > MIN_SECTION_GAP_MS, states
        # The last section, the last progress and the end are sent together (often one frame).
        assert all(arrivals[n]["active"] for n in (1, 2)), (
            f"data-stream-active missing while sections arrived: {states}"
        )
        # Each section's progress line follows it before the next section (on a loaded machine
        # the two may land in consecutive animation frames rather than one).
        for n in (1, 2):
            assert any(s["articles"] == n and s["progress"] == n for s in states), states
        progress = [s["progress"] for s in states if s["progress"] is not None]
        assert progress == sorted(progress), states  # type: ignore[type-var]
        assert states[-1]["done"], states
        assert not states[-1]["active"], states

        # Finished is finished: no second run of the stream, no new sections.
        user.page.wait_for_timeout(AFTER_DONE_MS)
        expect(sections.locator("article")).to_have_count(3)
        expect(report.locator(".report-done")).to_be_visible()
        assert user.runs_started("report") == 1, (user.starts, server.log())
        assert user.problems() == []


def test_chat_reply_streams_token_by_token_and_ends_as_the_exact_reply(
    browser: Browser, server: UvicornServer
) -> None:
    question = "How do streamed answers reach the page?"
    reply = "".join(fake_reply(question))
    with open_showcase(browser, server.base_url) as user:
        user.page.evaluate(CHAT_WATCH)
        user.shot("chat-0-empty")
        user.ask(question)

        expect(user.page.locator("#chat-box li.question")).to_have_text([question])
        user.page.wait_for_function(
            """() => {
                const answer = document.querySelector("#chat-box li.answer[data-stream-active]");
                return answer !== null && answer.textContent.length > 0;
            }""",
            timeout=UI_TIMEOUT_MS,
        )
        user.shot("chat-1-streaming")
        final = wait_for_final_answer(user, 1, reply.strip())
        user.shot("chat-2-answered")

        events = text_events(user)
        assert "".join(str(event["text"]) for event in events) == reply
        assert len(events) > 1
        assert {event["stream"] for event in events} == {"reply-1"}
        partial = [e for e in events if e["active"] and len(str(e["shown"])) < len(reply.strip())]
        assert partial, f"the answer was never seen partial while streaming: {events}"
        assert all(reply.startswith(str(event["shown"])) for event in events), events
        assert final == reply.strip()
        expect(user.page.locator("#chat-box li.answer")).to_have_count(1)
        field = user.page.locator("#chat-box input[name=question]")
        expect(field).to_have_value("")
        expect(field).to_be_focused()
        assert user.problems() == []


def test_ticker_updates_reach_two_pages(browser: Browser, server: UvicornServer) -> None:
    with (
        open_showcase(browser, server.base_url) as first,
        open_showcase(browser, server.base_url) as second,
    ):
        for user in (first, second):
            rows = user.page.locator("#ticker-box tr.quote")
            expect(rows).to_have_count(3, timeout=UI_TIMEOUT_MS)
            expect(rows.locator(".price")).to_have_text([re.compile(r"^\d+\.\d\d$")] * 3)
        start = (first.ticks(), second.ticks())
        first.wait_for_ticks(start[0] + 2)
        second.wait_for_ticks(start[1] + 2)
        first.shot("ticker-1-first-page")
        second.shot("ticker-2-second-page")
        assert first.problems() == []
        assert second.problems() == []


def test_the_todo_list_shows_who_is_viewing_it(browser: Browser, server: UvicornServer) -> None:
    """Presence: each open list names every page viewing it (its own marked "you"); a page
    that closes leaves the other's list at once."""
    guest_you = re.compile(r"^Guest [0-9a-f]{4} \(you\)$")
    with open_showcase(browser, server.base_url) as first:
        first_viewers = first.page.locator("#todo-box .viewer")
        expect(first_viewers).to_have_text([guest_you], timeout=UI_TIMEOUT_MS)
        with open_showcase(browser, server.base_url) as second:
            second_viewers = second.page.locator("#todo-box .viewer")
            expect(first_viewers).to_have_count(2, timeout=UI_TIMEOUT_MS)
            expect(second_viewers).to_have_count(2, timeout=UI_TIMEOUT_MS)
            for page in (first, second):
                expect(page.page.locator("#todo-box .viewer.you")).to_have_text([guest_you])
            mine = first.page.locator("#todo-box .viewer.you").inner_text()
            theirs = second.page.locator("#todo-box .viewer.you").inner_text()
            assert mine != theirs
            expect(second_viewers.filter(has_text=mine.removesuffix(" (you)"))).to_have_count(1)
            second.shot("todo-0-two-viewers")
            assert second.problems() == []
        expect(first_viewers).to_have_text([guest_you], timeout=UI_TIMEOUT_MS)
        assert first.problems() == []


def test_todo_changes_in_one_page_appear_in_the_other(
    browser: Browser, server: UvicornServer
) -> None:
    text = unique("Buy oat milk")
    with (
        open_showcase(browser, server.base_url) as first,
        open_showcase(browser, server.base_url) as second,
    ):
        first.add_todo(text)
        expect(second.todo_item(text)).to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(first.todo_item(text)).to_have_count(1)
        expect(first.page.locator("#todo-box input[name=text]")).to_have_value("")
        second.shot("todo-1-added-elsewhere")

        second.todo_item(text).locator("input[type=checkbox]").click()
        expect(first.todo_item(text)).to_have_class(re.compile(r"\bdone\b"))
        expect(first.todo_item(text).locator("input[type=checkbox]")).to_be_checked()
        expect(second.todo_item(text)).to_have_class(re.compile(r"\bdone\b"))
        first.shot("todo-2-toggled-elsewhere")

        first.todo_item(text).locator("button.remove").click()
        expect(second.todo_item(text)).to_have_count(0, timeout=UI_TIMEOUT_MS)
        expect(first.todo_item(text)).to_have_count(0)
        second.shot("todo-3-removed-elsewhere")
        assert first.problems() == []
        assert second.problems() == []


def test_a_push_does_not_overwrite_what_the_user_is_typing(
    browser: Browser, server: UvicornServer
) -> None:
    draft = unique("Half-typed")
    pushed = unique("Pushed by the other tab")
    with (
        open_showcase(browser, server.base_url) as typist,
        open_showcase(browser, server.base_url) as other,
    ):
        field = typist.page.locator("#todo-box input[name=text]")
        field.click()
        field.press_sequentially(draft)

        other.add_todo(pushed)

        expect(typist.todo_item(pushed)).to_have_count(1, timeout=UI_TIMEOUT_MS)
        typist.shot("typing-1-after-push")
        expect(field).to_have_value(draft)
        expect(field).to_be_focused()
        assert field.evaluate("(input) => [input.selectionStart, input.selectionEnd]") == [
            len(draft),
            len(draft),
        ]
        # The kept field is the live one: finishing the item sends it.
        field.press("Enter")
        expect(other.todo_item(draft)).to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(field).to_have_value("")
        assert typist.problems() == []
        assert other.problems() == []


def test_profile_shows_every_error_at_once_and_checks_fields_as_they_are_typed(
    browser: Browser, server: UvicornServer
) -> None:
    with open_showcase(browser, server.base_url) as user:
        profile = user.component("profile")
        field = {name: profile.locator(f"[name={name}]") for name in ("name", "email", "age")}
        field["name"].fill("A")
        field["email"].fill("ann")
        field["age"].fill("12")

        profile.locator("button", has_text="Save profile").click()

        expect(profile.locator(".field-error")).to_have_text(
            [
                "Enter at least 2 characters.",
                "Enter a value in the expected format.",
                "Enter a number of at least 13.",
            ]
        )
        expect(profile.locator(".form-status")).to_have_text("3 fields need correcting.")
        for name, value in (("name", "A"), ("email", "ann"), ("age", "12")):
            expect(field[name]).to_have_value(value)
        expect(profile.locator("[data-component-error]")).to_have_count(0)

        # Finishing the email as a person types: its message goes, the others stay.
        field["email"].click()
        field["email"].press("End")
        field["email"].press_sequentially("@example.com")
        expect(profile.locator(".field-error")).to_have_count(2, timeout=UI_TIMEOUT_MS)
        expect(field["email"]).to_have_value("ann@example.com")
        expect(field["email"]).to_be_focused()

        field["name"].fill("admin")
        field["age"].fill("30")
        profile.locator("button", has_text="Save profile").click()
        expect(profile.locator(".field-error")).to_have_text(
            ["This name is taken: choose another."]
        )

        field["name"].fill("Ann")
        profile.locator("button", has_text="Save profile").click()
        expect(profile.locator(".form-status")).to_have_text("Saved.")
        expect(field["name"]).to_have_value("Ann")
        expect(profile.locator(".field-error")).to_have_count(0)
        user.page.screenshot(
            path=str(ARTIFACTS / "showcase-profile.png"), full_page=True, caret="initial"
        )
        assert user.problems() == []


def test_after_a_server_restart_the_page_resumes_its_components(
    browser: Browser, tmp_path: Path
) -> None:
    first_question = "What survives a restart?"
    second_question = "And after it?"
    first_reply = "".join(fake_reply(first_question)).strip()
    second_reply = "".join(fake_reply(second_question))
    item = unique("Before the restart")
    before = start_showcase(APP, tmp_path / "before")
    try:
        with open_showcase(browser, before.base_url) as user:
            user.ask(first_question)
            wait_for_final_answer(user, 1, first_reply)
            user.add_todo(item)
            expect(user.todo_item(item)).to_have_count(1, timeout=UI_TIMEOUT_MS)
            user.wait_for_ticks(1)
            ids = {box: user.page.locator(f"#{box} [data-component]").get_attribute("id")
                   for box in SOCKET_BOXES}  # fmt: skip
            user.shot("reconnect-0-before")

            # SIGTERM: the app closes every socket with 1012 and htmx-ext-ws retries. The page
            # stays down for at least one refused retry per socket, as in a real deploy.
            before.stop()
            user.page.wait_for_function(
                "(ids) => ids.every((id) => (window.__wsCloses[id] || []).length >= 2)",
                arg=list(SOCKET_BOXES),
                timeout=UI_TIMEOUT_MS,
            )
            closes = user.page.evaluate("window.__wsCloses")
            assert all(closes[box][0] == 1012 for box in SOCKET_BOXES), closes
            user.shot("reconnect-1-server-down")
            received = user.page.evaluate("window.__wsMessages")

            with showcase_server(APP, tmp_path / "after", port=before.port) as after:
                # Backoff with full jitter: retries within 1, 2, 4, 8 s of each other.
                user.page.wait_for_function(
                    """(received) => Object.keys(received).every((id) =>
                        window.__wsOpened[id] >= 2 && window.__wsMessages[id] > received[id])""",
                    arg=received,
                    timeout=3 * UI_TIMEOUT_MS,
                )
                ticks = user.ticks()
                user.shot("reconnect-2-resumed")

                # The page still shows the conversation: the same component, resumed.
                expect(user.page.locator("#chat-box li.question")).to_have_text([first_question])
                expect(answer_locator(user, 1)).to_have_text(first_reply)
                expect(user.todo_item(item)).to_have_count(1)
                for box, component_id in ids.items():
                    resumed = user.page.locator(f"#{box} [data-component]")
                    expect(resumed).to_have_attribute("id", component_id or "")
                # Resumed by join messages on the page's one socket (the first component's
                # URL; the others rejoin over it): no snapshot in any logged URL.
                log = after.log()
                assert re.search(r'"WebSocket \S*/(chat|ticker|todo)/ws/\?\S*join=message', log), (
                    f"the page's socket did not resume with a join message:\n{log}"
                )
                assert "snapshot=" not in log, "a snapshot reached the access log"

                user.page.evaluate(CHAT_WATCH)
                user.ask(second_question)
                wait_for_final_answer(user, 2, second_reply.strip())
                texts = text_events(user)
                assert "".join(str(event["text"]) for event in texts) == second_reply
                assert len(texts) > 1
                expect(user.page.locator("#chat-box li.question")).to_have_text(
                    [first_question, second_question]
                )
                expect(user.page.locator("#chat-box li.answer")).to_have_text(
                    [first_reply, second_reply.strip()]
                )
                user.wait_for_ticks(ticks + 2)
                user.shot("reconnect-3-after")
                assert user.problems(tolerated=REFUSED_WHILE_DOWN) == []
    finally:
        before.stop()


def test_tour_of_every_component_ends_in_the_readme_screenshot(
    browser: Browser, tmp_path: Path
) -> None:
    """One page with everything exercised (a fresh server, so the shared list holds only the
    tour's items): the picture in the README and the docs."""
    question = "What is a server-driven component?"
    with (
        showcase_server(APP, tmp_path) as fresh,
        open_showcase(browser, fresh.base_url) as user,
    ):
        counter = user.component("counter")
        for expected in ("1", "2", "3"):
            counter.locator("button", has_text="+").click()
            expect(counter.locator(".count")).to_have_text(expected)

        sentiment = user.component("sentiment")
        sentiment.locator("input[name=text]").fill("I love how fast and simple this is")
        sentiment.locator("button", has_text="Analyze").click()
        expect(sentiment.locator("p.positive")).to_be_visible()

        report = user.component("report")
        report.locator("button", has_text="Generate report").click()
        expect(report.locator(".report-done")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(report.locator(".sections article")).to_have_count(3)

        user.ask(question)
        wait_for_final_answer(user, 1, "".join(fake_reply(question)).strip())

        for text in ("Write the release notes", "Try the chat demo", "Open a second tab"):
            user.add_todo(text)
            expect(user.todo_item(text)).to_have_count(1)
        user.todo_item("Try the chat demo").locator("input[type=checkbox]").click()
        expect(user.todo_item("Try the chat demo")).to_have_class(re.compile(r"\bdone\b"))

        user.wait_for_ticks(2)
        user.page.locator("#todo-box input[name=text]").blur()
        ARTIFACTS.mkdir(exist_ok=True)
        user.page.screenshot(path=str(ARTIFACTS / "showcase-tour.png"), full_page=True)
        if os.environ.get("UPDATE_README_SCREENSHOT"):  # refreshing a tracked file is opt-in
            user.page.screenshot(path=str(README_IMAGE), full_page=True)
        assert user.problems() == []
