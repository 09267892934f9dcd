"""A POST stream rides the page connection, in a real headless Chromium on htmx 4.

Runs ``tests.browser.page_app:app`` under a real uvicorn on loopback. On ``/post`` a counter
streams over the page connection; submitting the form (``hx-post`` to the ``asker``'s stream
URL: on htmx 4 an ordinary request whose answer is a stream) joins that same connection with
the form's body: the field reaches the handler, the renders are swapped into the target, no
stream request of its own is made (an ``hx-get`` to a stream URL joins too, as a GET stream),
and the counter streams on to its end with nothing lost. A POST whose page connection drops
before its run is named is never sent again (it would start twice): it ends as
``stream:lost``, while the counter resumes. htmx 2 has no POST streams (its requests are
``XMLHttpRequest`` answered whole), so this runs on htmx 4 only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.browser.harness import http_json, watched_page
from tests.browser.page_app import expected_text
from tests.servers import uvicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.htmx_only(4)]

FINISH_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("page-post-app")
    with uvicorn_server("tests.browser.page_app:app", log_dir) as running:
        yield running.base_url


def test_a_post_streams_form_fields_reach_its_handler_over_the_page_connection(
    base_url: str, browser: Browser
) -> None:
    http_json(f"{base_url}/stats/reset", "POST")
    with watched_page(browser, base_url) as opened:
        page = opened.page
        opened.goto("/post")
        page.wait_for_function(
            "() => (document.querySelector('.counter [data-stream=\"out\"]') || {})"
            ".textContent?.includes(' 2')"
        )
        page.fill("#ask input[name=question]", "what now")
        page.click("#ask button")
        page.wait_for_selector("#answer .asked:text-is('answer to what now')")
        page.click("#ask-get")  # an hx-get to a stream URL joins as a GET stream
        page.wait_for_selector("#got .asked:text-is('answer to got')")
        page.wait_for_function(
            "(text) => document.querySelector('.counter [data-stream=\"out\"]')"
            ".textContent === text",
            arg=expected_text(),
            timeout=FINISH_TIMEOUT_MS,
        )
        stats = http_json(f"{base_url}/stats")
    assert stats["questions"] == ["what now", "got"], stats  # the fields, in the handler, once
    assert stats["stream_requests"] == 0, stats  # no connection of its own, for any stream
    assert stats["page_connections"] == 3, stats  # the counter's, re-opened for each join
    assert stats["starts"] == 1, stats  # the counter resumed across the re-open, not restarted


def test_a_post_whose_page_connection_dropped_before_it_started_is_lost_not_sent_again(
    base_url: str, browser: Browser
) -> None:
    http_json(f"{base_url}/stats/reset", "POST")
    with watched_page(browser, base_url) as opened:
        opened.tolerated = (re.compile(r"Failed to load resource.*"),)  # the cut connection
        page = opened.page
        opened.goto("/post")
        page.evaluate(
            "() => { window.__lost = [];"
            " document.addEventListener('stream:lost', e => window.__lost.push(e.detail.error)); }"
        )
        page.click("#ask-slow button")
        for _ in range(100):  # its entry is being started: its mount takes a second
            if http_json(f"{base_url}/stats")["mounting"]:
                break
            page.wait_for_timeout(20)
        assert http_json(f"{base_url}/cut", "POST")["cut"] == 1
        page.wait_for_function("() => window.__lost.length === 1")
        page.wait_for_function(
            "(text) => document.querySelector('.counter [data-stream=\"out\"]')"
            ".textContent === text",
            arg=expected_text(),
            timeout=FINISH_TIMEOUT_MS,
        )
        lost = page.evaluate("window.__lost")
        stats = http_json(f"{base_url}/stats")
    assert lost[0]["code"] == "stream_lost"
    assert stats["questions"] == ["slow"], stats  # started by the first connection only
    assert stats["starts"] == 1, stats  # the counter resumed after the drop
    assert stats["stream_requests"] == 0, stats
