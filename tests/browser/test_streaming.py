"""The guide's streaming report in a real headless Chromium, on htmx 2 (htmx-ext-sse) and htmx 4
(hx-sse).

Runs ``tests.browser.sse_app:app`` (``ComponentASGI(app=inner)``) under a real uvicorn on
loopback; htmx and its SSE extension come from ``node_modules`` (``scripts/setup.sh``). The page
holds the guide's markup unchanged. What is checked: the report appears section by section;
once it is done it is not run again (our runtime script closes the source on ``done``); without
the runtime script htmx-ext-sse does run it again and hx-sse asks for it forever (why the script
exists); ``sse-close="done"``
in the markup is the other way out; the page logs no console errors. Screenshots and the
observed timings and stream requests go to ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.harness import HTTP_TIMEOUT, http_json
from tests.browser.sse_app import GUIDE_MARKUP, SECTION_DELAY, SECTION_TITLES
from tests.servers import uvicorn_server

pytestmark = pytest.mark.browser

#: Longest wait for the report to finish (it takes about 3 x SECTION_DELAY).
REPORT_TIMEOUT = 10.0
#: How long a finished page is watched for a re-run: the browser's own reconnect comes after the
#: ``retry:`` hint (2 s), then htmx-ext-sse re-creates a closed source after 0.5 s, 1 s, 2 s...
#: 6 s covers the reconnect and three backoff steps.
AFTER_DONE_WATCH = 6.0
#: How long the htmx 4 control page is watched after done: hx-sse retries about every 0.5 s
#: (its own delay), or every 2 s once it applies the stream's ``retry:`` hint.
HTMX4_LOOP_WATCH = 5.0
#: Longest wait for the control page to start a second run (observed: about 2.6 s after done).
RERUN_TIMEOUT = 12.0
POLL_INTERVAL = 0.02

_DOM_STATE = """() => ({
    sections: Array.from(document.querySelectorAll('.report-section h3'), h => h.textContent),
    done: document.querySelector('.report-done') !== null,
    generating: document.body.textContent.includes('Generating report'),
    run: document.querySelector('[data-run]')?.dataset.run ?? null,
})"""


@dataclass
class Server:
    """The test app's base URL and its ``/runs`` record."""

    base_url: str

    def reset(self) -> None:
        http_json(f"{self.base_url}/runs/reset", "POST")

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = http_json(f"{self.base_url}/runs")
        return record

    def runs(self) -> int:
        return int(self.record()["runs"])


@dataclass
class Opened:
    """A page and what it reported: console errors and HTTP answers of 400 and above."""

    page: Page
    errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log_dir = tmp_path_factory.mktemp("sse-app")
    with uvicorn_server("tests.browser.sse_app:app", log_dir) as running:
        yield Server(running.base_url)


@contextmanager
def open_page(browser: Browser, url: str) -> Iterator[Opened]:
    """A fresh browser context on ``url``, recording console errors; closed on exit."""
    context = browser.new_context()
    try:
        page = context.new_page()
        opened = Opened(page)

        def record_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                opened.errors.append(message.text)

        def record_response(response: Response) -> None:
            if response.status >= 400:
                opened.bad_responses.append(f"{response.status} {response.url}")

        page.on("console", record_console)
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        page.on("response", record_response)
        page.goto(url)
        yield opened
    finally:
        context.close()


@pytest.fixture
def report_page(server: Server, browser: Browser) -> Iterator[Opened]:
    """The guide's page with our runtime script, on a fresh run count; no console errors."""
    server.reset()
    with open_page(browser, f"{server.base_url}/") as opened:
        yield opened
    assert opened.errors == [], f"console errors: {opened.errors}"


def dom_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(_DOM_STATE)
    return state


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def save_observation(name: str, observed: dict[str, Any]) -> None:
    """Keep what a test saw (timings, stream requests) beside its screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "streaming-observations.json"
    try:
        everything = json.loads(path.read_text())
    except (OSError, ValueError):
        everything = {}
    everything[name] = observed
    path.write_text(json.dumps(everything, indent=2, sort_keys=True) + "\n")


def wait_until_done(page: Page) -> None:
    expect(page.locator(".report-done")).to_have_text(
        "Report complete.", timeout=REPORT_TIMEOUT * 1000
    )


def test_page_holds_the_guides_markup_unchanged(server: Server) -> None:
    with urllib.request.urlopen(f"{server.base_url}/", timeout=HTTP_TIMEOUT) as answer:
        page = answer.read().decode("utf-8")
    assert GUIDE_MARKUP in page
    assert '<script src="/components/_static/component-framework.min.js"></script>' in page


def test_report_appears_section_by_section(report_page: Opened) -> None:
    page = report_page.page
    started = time.monotonic()
    first_seen: dict[int, float] = {}
    sections_at: dict[int, list[str]] = {}
    done_at: float | None = None
    shot(page, "streaming-0-generating")
    deadline = started + REPORT_TIMEOUT
    while done_at is None and time.monotonic() < deadline:
        state = dom_state(page)
        now = round(time.monotonic() - started, 3)
        count = len(state["sections"])
        if count and count not in first_seen:
            first_seen[count] = now
            sections_at[count] = state["sections"]
            shot(page, f"streaming-{count}-sections")
        if state["done"]:
            done_at = now
        else:
            time.sleep(POLL_INTERVAL)
    save_observation(
        "section_by_section",
        {"first_seen_s": first_seen, "sections_at": sections_at, "done_s": done_at},
    )
    assert done_at is not None, f"no done content within {REPORT_TIMEOUT} s: {first_seen}"
    # Every stage was seen on its own, in order: not all at once.
    assert sorted(first_seen) == [1, 2, 3], first_seen
    assert first_seen[1] < first_seen[2] < first_seen[3] <= done_at, first_seen
    assert sections_at[1] == list(SECTION_TITLES[:1])  # first visible, third not yet
    assert sections_at[2] == list(SECTION_TITLES[:2])
    assert first_seen[3] - first_seen[1] >= SECTION_DELAY, first_seen
    final = dom_state(page)
    assert final["sections"] == list(SECTION_TITLES)
    assert final["done"]
    assert not final["generating"]
    expect(page.locator(".progress")).to_have_count(0)
    shot(page, "streaming-4-done")


def test_finished_report_is_not_run_again(report_page: Opened, server: Server) -> None:
    page = report_page.page
    wait_until_done(page)
    page.wait_for_timeout(AFTER_DONE_WATCH * 1000)
    record = server.record()
    save_observation("not_run_again", record)
    assert record["runs"] == 1, record
    # One request, the runtime's page connection: the stream was closed on "done" and the
    # page connection ended with its last stream; nobody reconnected.
    requests = [(r["page"], r["last_event_id"], r["status"]) for r in record["requests"]]
    assert requests == [(True, None, 200)]
    state = dom_state(page)
    assert state == {
        "sections": list(SECTION_TITLES),
        "done": True,
        "generating": False,
        "run": "1",
    }
    shot(page, "streaming-5-still-done")


@pytest.mark.htmx_only(2)
def test_without_the_runtime_script_htmx_2_runs_the_report_again(
    server: Server, browser: Browser
) -> None:
    """The control case on htmx 2: this is why the runtime script exists (see HOST-FACTS,
    htmx). htmx-2-specific by nature: it observes htmx-ext-sse 2 re-creating a closed source
    without ``Last-Event-ID``; htmx 4 fails differently (the next test)."""
    server.reset()
    with open_page(browser, f"{server.base_url}/no-runtime") as opened:
        wait_until_done(opened.page)
        deadline = time.monotonic() + RERUN_TIMEOUT
        while server.runs() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        expect(opened.page.locator("[data-run='2']")).to_have_count(1, timeout=5000)
        shot(opened.page, "streaming-6-no-runtime-rerun")
        record = server.record()
        save_observation("no_runtime", {**record, "console_errors": opened.errors})
    assert record["runs"] >= 2, record
    requests = [(r["last_event_id"], r["status"]) for r in record["requests"]]
    # The browser's own reconnect names the finished stream and gets 204 (the server side
    # holds); htmx-ext-sse then re-creates the closed source without Last-Event-ID: a new run.
    first_run, (reconnect_id, reconnect_status), rerun = requests[:3]
    assert first_run == (None, 200), requests
    assert reconnect_id is not None, requests
    assert reconnect_id.rpartition(".")[2] == "5", requests  # 4 renders + done: the last frame
    assert reconnect_status == 204, requests
    assert rerun == (None, 200), requests


@pytest.mark.htmx_only(4)
def test_without_the_runtime_script_htmx_4_asks_for_the_finished_stream_forever(
    server: Server, browser: Browser
) -> None:
    """The control case on htmx 4, htmx-4-specific by nature: hx-sse reconnects with
    ``Last-Event-ID`` (so nothing runs again), reads the ``204`` as a success, fails on its
    empty body and tries again about every 0.5 s for as long as the page is open. The runtime
    stops it (``test_finished_report_is_not_run_again``)."""
    server.reset()
    with open_page(browser, f"{server.base_url}/no-runtime") as opened:
        wait_until_done(opened.page)
        opened.page.wait_for_timeout(HTMX4_LOOP_WATCH * 1000)
        record = server.record()
        save_observation("no_runtime_htmx4", {**record, "console_errors": opened.errors})
    assert record["runs"] == 1, record
    requests = [(r["last_event_id"], r["status"]) for r in record["requests"]]
    assert requests[0] == (None, 200), requests
    reconnects = requests[1:]
    assert len(reconnects) >= 2, requests  # one per 0.5 s (or 2 s), +-30 % jitter
    # Within the resume grace (5 s) the finished run is known: 204. A reconnect after it finds
    # the run forgotten and is told so once (a `lost` frame, 200), whose id (`<run>.lost`) the
    # next reconnects send and get 204 for: still never a new run, and still forever.
    after_done = [status for last_id, status in reconnects if str(last_id).endswith(".5")]
    after_lost = [status for last_id, status in reconnects if str(last_id).endswith(".lost")]
    assert len(after_done) + len(after_lost) == len(reconnects), requests
    finished = [204] * len(after_done)
    assert after_done in (finished, [*finished[:-1], 200]), requests  # the 200: told lost
    assert all(status == 204 for status in after_lost), requests
    assert not after_lost or after_done[-1] == 200, requests


def test_sse_close_done_in_the_markup_also_stops_the_rerun(
    server: Server, browser: Browser
) -> None:
    server.reset()
    with open_page(browser, f"{server.base_url}/sse-close") as opened:
        assert opened.page.locator('[sse-close="done"]').count() == 1
        wait_until_done(opened.page)
        opened.page.wait_for_timeout(AFTER_DONE_WATCH * 1000)
        record = server.record()
        save_observation("sse_close", record)
        assert opened.errors == [], f"console errors: {opened.errors}"
    assert record["runs"] == 1, record
    assert [(r["last_event_id"], r["status"]) for r in record["requests"]] == [(None, 200)]


def test_runtime_page_logs_no_console_errors(server: Server, browser: Browser) -> None:
    server.reset()
    with open_page(browser, f"{server.base_url}/") as opened:
        wait_until_done(opened.page)
        opened.page.wait_for_timeout(3000)  # past the browser's reconnect delay (retry: 2 s)
        errors, bad = list(opened.errors), list(opened.bad_responses)
    assert errors == [], f"console errors: {errors}"
    assert bad == [], f"failed requests: {bad}"
