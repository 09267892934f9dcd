"""The app the streaming browser tests drive: the guide's report page, served by uvicorn.

``app`` is ``ComponentASGI(app=inner)`` (middleware mode) behind a small recorder of stream
requests. ``inner`` is a Starlette app serving:

- ``/``: a page with the guide's markup (:data:`GUIDE_MARKUP`, unchanged), htmx 2 and
  htmx-ext-sse (both from ``node_modules``) and our runtime script
  ``/components/_static/component-framework.min.js`` (the minified build pages load by default;
  active through ``hx-ext`` on ``<body>``);
- ``/no-runtime``: the same page without our runtime script (the control case);
- ``/sse-close``: no runtime script, the guide's markup plus ``sse-close="done"``;
- ``/runs``: JSON ``{"runs": n, "requests": [...]}``: how many report runs started, and every
  request to the report stream or the runtime's page connection (time since the last reset,
  ``Last-Event-ID``, status, ``page``);
- ``POST /runs/reset``: start counting again (each test resets first);
- ``/static/htmx/`` and ``/static/htmx-sse/``: the npm packages' ``dist`` folders.

The report is the guide's ``StreamingComponent``: three sections about ``SECTION_DELAY`` apart,
then ``done``. Every run start is counted in this process, so a re-run of a finished report is
visible from outside.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry

__all__ = ["GUIDE_MARKUP", "SECTION_DELAY", "SECTION_TITLES", "SSE_CLOSE_MARKUP", "app"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent.parent
NODE_MODULES: Final = REPO_ROOT / "node_modules"
HTMX_DIST: Final = NODE_MODULES / "htmx.org" / "dist"
HTMX_SSE_DIST: Final = NODE_MODULES / "htmx-ext-sse" / "dist"
STREAM_PATH: Final = "/components/report/stream"
PAGE_PATH: Final = "/components/_page/"
SECTION_DELAY: Final = 0.4
SECTION_TITLES: Final = ("Executive Summary", "Revenue Analysis", "Forecast")

#: The guide's markup, character for character.
GUIDE_MARKUP: Final = (
    '<div hx-ext="sse" sse-connect="/components/report/stream" sse-swap="message" '
    'hx-swap="innerHTML"><p>Generating report&hellip;</p></div>'
)
#: The guide's markup plus ``sse-close="done"``: the markup-only way to stop the re-run.
SSE_CLOSE_MARKUP: Final = GUIDE_MARKUP.replace(
    'sse-swap="message"', 'sse-swap="message" sse-close="done"'
)
RUNTIME_SCRIPT: Final = '<script src="/components/_static/component-framework.min.js"></script>'
PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>report</title>
<link rel="icon" href="data:,">
<script src="/static/htmx/htmx.min.js"></script>
<script src="/static/htmx-sse/sse.min.js"></script>
{runtime}
</head>
<body{extension}>
<h1>Report</h1>
{markup}
</body>
</html>
"""
TEMPLATES: Final = {
    "report.html": (
        '<section class="report" data-run="{{ run }}">'
        "{% for section in sections %}"
        '<article class="report-section"><h3>{{ section.title }}</h3>'
        "<p>{{ section.content }}</p></article>"
        "{% endfor %}"
        '{% if done %}<p class="report-done">Report complete.</p>'
        '{% else %}<p class="progress">'
        "Generating section {{ sections | length + 1 }} of 3&hellip;</p>"
        "{% endif %}"
        '<p class="run-number"><small>run {{ run }}</small></p></section>'
    ),
}


class _Record:
    """What the tests read back through ``/runs``; reset by ``POST /runs/reset``."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.runs = 0
        self.requests: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.started_at = time.monotonic()
        self.runs = 0
        self.requests = []

    def since_reset(self) -> float:
        return round(time.monotonic() - self.started_at, 3)


RECORD: Final = _Record()
registry = ComponentRegistry()


@registry.register("report")
class ReportComponent(StreamingComponent):
    """The guide's report, counting its runs."""

    template_name = "report.html"

    def mount(self) -> None:
        self.state.update({"sections": [], "done": False, "run": 0})

    async def on_generate(self, report_id: int = 1) -> AsyncIterator[None]:
        RECORD.runs += 1
        self.state["run"] = RECORD.runs
        for title in SECTION_TITLES:
            await asyncio.sleep(SECTION_DELAY)
            content = f"Content for {title} (report #{report_id})"
            self.state["sections"].append({"title": title, "content": content})
            yield
        self.state["done"] = True
        yield


def _page(*, runtime: bool, markup: str = GUIDE_MARKUP) -> HTMLResponse:
    extension = ' hx-ext="component-framework"' if runtime else ""
    page = PAGE.format(
        runtime=RUNTIME_SCRIPT if runtime else "", extension=extension, markup=markup
    )
    return HTMLResponse(page)


async def index(request: Request) -> HTMLResponse:
    return _page(runtime=True)


async def no_runtime(request: Request) -> HTMLResponse:
    return _page(runtime=False)


async def sse_close(request: Request) -> HTMLResponse:
    return _page(runtime=False, markup=SSE_CLOSE_MARKUP)


async def runs(request: Request) -> JSONResponse:
    return JSONResponse({"runs": RECORD.runs, "requests": RECORD.requests})


async def reset(request: Request) -> JSONResponse:
    RECORD.reset()
    return JSONResponse({"runs": RECORD.runs})


inner = Starlette(
    routes=[
        Route("/", index),
        Route("/no-runtime", no_runtime),
        Route("/sse-close", sse_close),
        Route("/runs", runs),
        Route("/runs/reset", reset, methods=["POST"]),
        Mount("/static/htmx", app=StaticFiles(directory=HTMX_DIST, check_dir=False)),
        Mount("/static/htmx-sse", app=StaticFiles(directory=HTMX_SSE_DIST, check_dir=False)),
    ]
)
components = ComponentASGI(
    app=inner,
    registry=registry,
    renderer=Jinja2Renderer.from_strings(TEMPLATES),
    settings=Settings(secret_keys=("browser-sse-test-key-0123456789abcdef",)),
)


class _StreamRequestRecorder:
    """Notes each request to the report stream (its ``Last-Event-ID`` and answer status), and
    each page connection of the runtime (``page``: true; it carries the report's stream)."""

    def __init__(self, app: ComponentASGI) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        page = scope["type"] == "http" and scope["path"].startswith(PAGE_PATH)
        if scope["type"] != "http" or not (page or scope["path"].startswith(STREAM_PATH)):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        last_event_id = headers.get(b"last-event-id")
        entry: dict[str, Any] = {
            "at": RECORD.since_reset(),
            "last_event_id": None if last_event_id is None else last_event_id.decode("latin-1"),
            "status": None,
            "page": page,  # the runtime's page connection, which carries the report's stream
        }
        RECORD.requests.append(entry)

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)


app = _StreamRequestRecorder(components)
