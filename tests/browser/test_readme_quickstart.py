"""The README's quick start, done exactly as written, in a real uvicorn and a real Chromium.

The files are the README's own code blocks, saved under the names its text gives them; the
server is started with the README's own command (plus a free loopback port); the page is opened
in headless Chromium with every request to another origin refused (a machine without internet),
and the button is clicked as a person would. Nothing is installed: the quick start's ``pip``
line installs this repository, which the test environment already has in editable mode, and its
``mkdir ... && cd ...`` is done in a temporary directory. If the README changes, this test runs
the new version; if the new version does not work, it fails.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Route, expect

from tests.servers import LOOPBACK, REPO_ROOT, UvicornServer, free_port, port_answers

pytestmark = [pytest.mark.browser, pytest.mark.uvicorn]

README = REPO_ROOT / "README.md"
READY_TIMEOUT = 15.0
UI_TIMEOUT_MS = 5_000
#: The set-up lines the test does not run: they build the environment the suite already has.
INSTALL_LINES = ("python3 -m venv .venv && . .venv/bin/activate", 'pip install -e ".[litestar]"')

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_FILE_NAME = re.compile(r"`([\w./-]+\.(?:py|html))`")


@dataclass(frozen=True)
class QuickStart:
    """What the README's quick start section says to do."""

    setup: list[str]  # the lines of its first bash block
    files: dict[str, str]  # file name -> content, from the python and html blocks
    command: str  # the run command, from the bash block after the files


def read_quick_start(text: str) -> QuickStart:
    """Take the ``## Quick start`` section of ``text`` apart: each python or html block is a
    file named by the last ```name.py`` / ``name.html``` in the prose just before it."""
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    files: dict[str, str] = {}
    bash: list[str] = []
    prose_start = 0
    for block in _FENCE.finditer(section):
        language, body = block.group(1), block.group(2)
        prose = section[prose_start : block.start()]
        prose_start = block.end()
        if language == "bash":
            bash.append(body)
            continue
        assert language in ("python", "html"), f"unexpected {language!r} block in the quick start"
        names = _FILE_NAME.findall(prose)
        assert names, f"no file name before the {language} block starting {body[:40]!r}"
        assert names[-1] not in files, f"{names[-1]} is given twice"
        files[names[-1]] = body
    assert len(bash) == 2, "expected a set-up block and a run block"
    setup = [line.strip() for line in bash[0].splitlines() if line.strip()]
    run = [line.strip() for line in bash[1].splitlines() if line.strip()]
    assert len(run) == 1, f"expected one run command, got {run}"
    return QuickStart(setup, files, run[0])


def test_the_quick_start_is_read_as_three_files_and_two_commands() -> None:
    quick_start = read_quick_start(README.read_text(encoding="utf-8"))
    assert sorted(quick_start.files) == ["app.py", "templates/counter.html", "templates/index.html"]
    assert quick_start.setup[: len(INSTALL_LINES)] == list(INSTALL_LINES)
    assert quick_start.command.split()[0] == "uvicorn"
    page = quick_start.files["templates/index.html"]
    assert "{{ component_scripts() }}" in page
    assert '{{ component("counter") }}' in page


def _working_directory(setup: list[str], root: Path) -> Path:
    """Where the files go: ``root``, after the set-up's ``mkdir NAME && cd NAME`` lines."""
    here = root
    for line in setup[len(INSTALL_LINES) :]:
        made = re.fullmatch(r"mkdir ([\w.-]+) && cd \1", line)
        assert made, f"a set-up line this test does not know how to do: {line!r}"
        here = here / made.group(1)
        here.mkdir()
    return here


@pytest.fixture
def quick_start_server(tmp_path: Path) -> Iterator[UvicornServer]:
    """The README's files in a temporary directory, served by the README's command."""
    quick_start = read_quick_start(README.read_text(encoding="utf-8"))
    assert quick_start.setup[: len(INSTALL_LINES)] == list(INSTALL_LINES)
    clone = tmp_path / "clone"  # where the README's set-up starts
    clone.mkdir()
    directory = _working_directory(quick_start.setup, clone)
    for name, content in quick_start.files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(content, encoding="utf-8")
    # The environment a reader has after the install line: this venv first on PATH, and none of
    # the suite's COMPONENT_FRAMEWORK_* variables.
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("COMPONENT_FRAMEWORK_") and key != "PYTHONPATH"
    }
    venv_bin = str(Path(sys.executable).parent)
    environment["PATH"] = venv_bin + os.pathsep + environment.get("PATH", "")
    environment["VIRTUAL_ENV"] = str(Path(venv_bin).parent)
    port = free_port()
    command = [*shlex.split(quick_start.command), "--host", LOOPBACK, "--port", str(port)]
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=directory, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    server = UvicornServer(process, port, log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not port_answers(port):
            assert process.poll() is None, f"{quick_start.command} exited:\n{server.log()}"
            assert time.monotonic() < deadline, f"no answer on port {port}:\n{server.log()}"
            time.sleep(0.05)
        yield server
    finally:
        server.stop()


def test_the_readme_quick_start_works_in_a_browser_offline(
    quick_start_server: UvicornServer, browser: Browser
) -> None:
    origin = quick_start_server.base_url
    elsewhere: list[str] = []
    problems: list[str] = []

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:  # no internet on this machine, as far as the page can tell
            elsewhere.append(route.request.url)
            route.abort()

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon.ico" not in (message.location or {}).get("url", ""):
            problems.append(f"console: {message.text}")

    context = browser.new_context()
    try:
        context.route("**/*", only_this_server)
        page = context.new_page()
        page.on("console", record)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.goto(origin + "/")

        count = page.locator('[data-component="counter"] span')
        expect(count).to_have_text("0", timeout=UI_TIMEOUT_MS)
        assert page.evaluate("typeof window.htmx") == "object", "htmx did not load"
        page.get_by_role("button", name="+").click()
        expect(count).to_have_text("1", timeout=UI_TIMEOUT_MS)
        page.get_by_role("button", name="+").click()
        expect(count).to_have_text("2", timeout=UI_TIMEOUT_MS)
    finally:
        context.close()
    assert elsewhere == [], "the page asked another origin for something"
    assert problems == [], problems
