"""Uploads in Chromium, on htmx 2 and htmx 4: a file posted by an htmx form reaches the
component, the runtime shows its progress on the component while it is sent, and a refused
file leaves the component working with its progress reset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.harness import watched_page
from tests.browser.upload_page_app import CHUNKED_OVER, THUMB_MAX_BYTES
from tests.servers import uvicorn_server

UI_TIMEOUT_MS = 20_000
#: Every progress report on the page: the percentage, the bar's value, the root's attribute.
INIT_SCRIPT = """
window.__uploads = [];
document.addEventListener("component:upload-progress", (event) => {
  const root = event.target;
  const bar = root.querySelector("progress[data-upload-progress]");
  window.__uploads.push({
    percent: event.detail.percent,
    loaded: event.detail.loaded,
    total: event.detail.total,
    bar: bar ? bar.value : null,
    attribute: root.getAttribute("data-upload-progress"),
  });
});
"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("upload-app")
    with uvicorn_server("tests.browser.upload_page_app:app", log_dir) as server:
        yield server.base_url


#: The statuses of refusals a test provokes on purpose (the browser logs each as an error).
EXPECTED_STATUSES: list[int] = []
#: Other console errors a test provokes on purpose (a request it makes fail).
EXPECTED_TEXTS: list[str] = []


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """The avatar page; its refusals' component-error events are the tests' to check."""
    EXPECTED_STATUSES.clear()
    EXPECTED_TEXTS.clear()
    with watched_page(browser, base_url, scripts=[INIT_SCRIPT], timeout_ms=UI_TIMEOUT_MS) as opened:
        opened.expected_component_errors = None
        opened.goto("/avatar")
        yield opened.page
        expected = (*(f"status of {status} " for status in EXPECTED_STATUSES), *EXPECTED_TEXTS)
        opened.tolerated = tuple(re.compile(f".*{re.escape(t)}.*", re.DOTALL) for t in expected)


#: Larger than what the loopback socket buffers take at once, so progress is seen midway.
LARGE = 24 * 1024 * 1024


def choose(
    page: Page, size: int, name: str = "me.png", mime: str = "image/png", form: str = "image"
) -> None:
    """Put a file of ``size`` bytes, made in the page, into the file input of ``form``."""
    page.evaluate(
        """([selector, size, name, mime]) => {
          const input = document.querySelector(selector);
          const files = new DataTransfer();
          files.items.add(new File([new Uint8Array(size).fill(7)], name, { type: mime }));
          input.files = files.files;
        }""",
        [f"[data-component=avatar] form.{form} input[type=file]", size, name, mime],
    )


def reports(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.__uploads")
    return found


def test_an_upload_shows_its_progress_and_then_the_answer(page: Page) -> None:
    root = page.locator("[data-component=avatar]")
    choose(page, LARGE)

    root.locator("form.image button").click()

    expect(root.locator(".result")).to_have_text(f"me.png: {LARGE} bytes", timeout=UI_TIMEOUT_MS)
    seen = reports(page)
    percents = [report["percent"] for report in seen]
    assert percents[0] == 0
    assert percents[-1] == 100
    assert percents == sorted(percents)
    assert any(0 < percent < 100 for percent in percents), percents  # seen along the way
    for report in seen:
        assert report["bar"] == report["percent"]
        assert report["attribute"] == str(report["percent"])
    assert max(report["total"] for report in seen) >= LARGE
    expect(root).not_to_have_attribute("data-upload-progress", "100")  # the answer swapped in
    assert root.get_attribute("data-upload-progress") is None


def test_a_refused_file_resets_the_progress_and_the_component_keeps_working(
    page: Page,
) -> None:
    EXPECTED_STATUSES.append(415)
    root = page.locator("[data-component=avatar]")
    choose(page, 4096, "notes.txt", "text/plain")

    root.locator("form.image button").click()

    expect(root.locator(".component-error, [data-component-error]").first).to_contain_text(
        "accepts image/*", timeout=UI_TIMEOUT_MS
    )
    page.wait_for_function(
        "() => !document.querySelector('[data-component=avatar]')"
        ".hasAttribute('data-upload-progress')"
    )
    assert root.locator("progress").evaluate("bar => bar.value") == 0
    choose(page, 10_000)
    root.locator("form.image button").click()
    expect(root.locator(".result")).to_have_text("me.png: 10000 bytes", timeout=UI_TIMEOUT_MS)


def test_a_file_over_the_limit_is_refused_while_it_streams(page: Page) -> None:
    EXPECTED_STATUSES.append(413)
    root = page.locator("[data-component=avatar]")
    choose(page, 8 * THUMB_MAX_BYTES, "big.bin", "", form="thumb")

    root.locator("form.thumb button").click()

    expect(root.locator(".component-error, [data-component-error]").first).to_contain_text(
        "larger than 1 MiB", timeout=UI_TIMEOUT_MS
    )
    assert root.get_attribute("data-upload-progress") is None


def test_a_large_file_goes_in_chunks_and_resumes_after_a_network_error(page: Page) -> None:
    EXPECTED_TEXTS.append("net::ERR_FAILED")
    root = page.locator("[data-component=avatar]")
    size = 5 * CHUNKED_OVER + 1000
    choose(page, size, "big.png", form="chunked")
    protocol: list[str] = []
    dropped: list[str] = []

    def flaky(route: Route) -> None:
        request = route.request
        protocol.append(f"{request.method} {request.headers.get('upload-offset', '')}".strip())
        if (
            request.method == "PATCH"
            and not dropped
            and request.headers.get("upload-offset") == str(2 * CHUNKED_OVER)
        ):
            dropped.append(request.url)
            route.abort()  # the network fails in the middle of the upload
            return
        route.continue_()

    page.route("**/_uploads/**", flaky)

    root.locator("form.chunked button").click()

    expect(root.locator(".result")).to_have_text(f"big.png: {size} bytes", timeout=UI_TIMEOUT_MS)
    offsets = [str(n * CHUNKED_OVER) for n in range(6)]
    assert (
        protocol
        == [
            "POST",
            *(f"PATCH {offset}" for offset in offsets[:3]),
            "HEAD",  # where does the server stand? then on from there
            *(f"PATCH {offset}" for offset in offsets[2:]),
        ]
    )
    percents = [report["percent"] for report in reports(page)]
    assert percents[0] == 0
    assert percents[-1] == 100
    assert percents == sorted(percents)
    assert len({p for p in percents if 0 < p < 100}) >= 4, percents
    assert root.get_attribute("data-upload-progress") is None
