"""The app of the page-connection browser tests: a page of twelve streaming components.

``app`` is ``ComponentASGI(app=inner)`` (middleware mode) behind a recorder that counts the
page connections and stream requests and can cut every open page connection (the server side
of a dropped network: the response stops mid-body and the connection closes). ``inner`` serves:

- ``/``: twelve ``sse-connect`` counters (htmx 2 and htmx-ext-sse from ``node_modules``, our
  runtime); ``/?own=1``: the same page with ``data-page-connection="off"`` on ``<body>``;
- ``/post``: one counter and a form whose ``hx-post`` names the ``asker``'s stream URL (a POST
  stream: on htmx 4 it joins the page connection with its form body), a button whose
  ``hx-get`` names it with a query, and a form naming the
  ``slow-asker``'s (whose mount takes a second, ``mounting`` in the stats meanwhile);
- ``/ping``: a plain answer (the request that must not queue behind the streams);
- ``/late``: a thirteenth counter (the page's ``#add`` swaps it in), ``/gone``: what replaces
  counter 3 (``#remove``);
- ``/stats``: JSON ``{"starts", "page_connections", "stream_requests", "cancelled",
  "questions", "mounting", "compact_asked", "compact_text", "long_text"}``
  (``stream_requests``: any component's own stream request; ``questions``: what the askers'
  handlers received; ``compact_asked``: page connections whose request asked for compact
  frames; ``compact_text`` / ``long_text``: text frames the page connections sent compact,
  ``t:<n>.<seq>``, or in the long form, ``event:t`` and the run id);
  ``POST /stats/reset``;
- ``POST /cut``: end every open page connection now.

A counter streams `` 1 2 ... UPTO`` as ``stream_text`` appends, ``EVERY`` seconds apart, so a
lost frame leaves a gap and a repeated one a double in the component's final text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry

__all__ = [
    "COMPONENTS",
    "COUNTER",
    "COUNTERS_FINISHED",
    "COUNTERS_STREAMING",
    "COUNTER_TEXTS",
    "EVERY",
    "UPTO",
    "app",
    "counter_stream",
    "expected_text",
]

NODE_MODULES: Final = Path(__file__).resolve().parent.parent.parent / "node_modules"
HTMX_DIST: Final = NODE_MODULES / "htmx.org" / "dist"
HTMX_SSE_DIST: Final = NODE_MODULES / "htmx-ext-sse" / "dist"
COMPONENTS: Final = 12
#: A run lasts ``UPTO * EVERY`` = 6 s: a stream removed within 4 s of its start is still
#: running when its resume grace (2 s) ends, so it is cancelled however slowly a busy
#: machine gets the browser to remove it.
UPTO: Final = 60
EVERY: Final = 0.1
PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>page connection</title>
<link rel="icon" href="data:,">
<script src="/static/htmx/htmx.min.js"></script>
<script src="/static/htmx-sse/sse.min.js"></script>
<script src="/components/_static/component-framework.min.js"></script>
</head>
<body hx-ext="component-framework"{own}>
<button id="add" hx-get="/late" hx-target="#late" hx-swap="innerHTML">add</button>
<button id="remove" hx-get="/gone" hx-target="#box-3" hx-swap="outerHTML">remove</button>
<div id="late"></div>
{markup}
</body>
</html>
"""
MARKUP: Final = (
    '<div id="box-{n}" class="counter-box" hx-ext="sse" '
    'sse-connect="/components/counter/stream?label=c{n}" '
    'sse-swap="message" hx-swap="innerHTML"><p>waiting</p></div>'
)
POST_MARKUP: Final = (
    '<form id="ask" hx-post="/components/asker/stream/" hx-target="#answer" '
    'hx-swap="innerHTML"><input name="question" value="why"><button>ask</button></form>'
    '<div id="answer"></div>'
    '<button id="ask-get" hx-get="/components/asker/stream/?question=got" hx-target="#got" '
    'hx-swap="innerHTML">get</button><div id="got"></div>'
    '<form id="ask-slow" hx-post="/components/slow-asker/stream/" hx-target="#slow-answer" '
    'hx-swap="innerHTML"><input name="question" value="slow"><button>ask</button></form>'
    '<div id="slow-answer"></div>'
)
COUNTER: Final = '<div class="counter"><b>{{ label }}</b><span data-stream="out"></span></div>'
#: Page scripts over ``count`` counters (``COUNTER``) for ``wait_for_function`` / ``evaluate``:
#: every one has streamed past `` 2``; every one ended with exactly ``text``; each one's
#: label and text.
COUNTERS_STREAMING: Final = """(count) => {
    const outs = document.querySelectorAll('.counter [data-stream="out"]');
    return outs.length === count && Array.from(outs).every(out => out.textContent.includes(' 2'));
}"""
COUNTERS_FINISHED: Final = """([count, text]) => {
    const outs = document.querySelectorAll('.counter [data-stream="out"]');
    return outs.length === count && Array.from(outs).every(out => out.textContent === text);
}"""
COUNTER_TEXTS: Final = """() => Array.from(document.querySelectorAll('.counter'),
    c => [c.querySelector('b').textContent, c.querySelector('[data-stream="out"]').textContent])"""
TEMPLATES: Final = {
    "counter.html": COUNTER,
    "asker.html": '<p class="asked">{{ answer }}</p>',
}


def expected_text() -> str:
    return "".join(f" {n}" for n in range(1, UPTO + 1))


class _Stats:
    def __init__(self) -> None:
        self.starts = self.page_connections = self.stream_requests = self.cancelled = 0
        self.compact_asked = self.compact_text = self.long_text = 0
        self.questions: list[str] = []
        self.mounting = False
        self.cuts: set[asyncio.Event] = set()

    def reset(self) -> None:
        self.starts = self.page_connections = self.stream_requests = self.cancelled = 0
        self.compact_asked = self.compact_text = self.long_text = 0
        self.questions = []

    def count_frames(self, body: bytes) -> None:
        """Count the text frames of a page connection's body chunk, by form."""
        self.compact_text += body.startswith(b"t:") + body.count(b"\n\nt:")
        self.long_text += body.count(b"event:t\n")


STATS: Final = _Stats()
registry = ComponentRegistry()


class RunCounts(Protocol):
    """Where a counter stream counts its runs."""

    starts: int
    cancelled: int


def counter_stream(stats: RunCounts) -> type[StreamingComponent]:
    """The counter stream of the page tests (template ``counter.html``, ``COUNTER``): renders
    its label once, then appends `` n`` for n = 1..UPTO, counting its runs in ``stats``."""

    class CounterStream(StreamingComponent):
        template_name = "counter.html"
        stream_resume_grace = 2.0  # a stream that left is cancelled soon

        def mount(self) -> None:
            self.state["label"] = ""

        async def on_count(self, label: str) -> AsyncIterator[None]:
            stats.starts += 1
            self.state["label"] = label
            yield
            await self.stream_start("out")
            try:
                for n in range(1, UPTO + 1):
                    await asyncio.sleep(EVERY)
                    await self.stream_text("out", f" {n}")
            except asyncio.CancelledError:
                stats.cancelled += 1
                raise
            await self.stream_done("out")

    return CounterStream


registry.register("counter")(counter_stream(STATS))


@registry.register("asker")
class AskerStream(StreamingComponent):
    """A POST stream: answers the form's ``question`` in three renders."""

    template_name = "asker.html"

    def mount(self) -> None:
        self.state["answer"] = ""

    async def on_ask(self, question: str) -> AsyncIterator[None]:
        STATS.questions.append(question)
        for word in ("answer", "to", question):
            await asyncio.sleep(EVERY)
            self.state["answer"] = f"{self.state['answer']} {word}".strip()
            yield


async def index(request: Request) -> HTMLResponse:
    own = ' data-page-connection="off"' if request.query_params.get("own") else ""
    markup = "\n".join(MARKUP.format(n=n) for n in range(COMPONENTS))
    return HTMLResponse(PAGE.format(own=own, markup=markup))


@registry.register("slow-asker")
class SlowAskerStream(AskerStream):
    """The asker, whose mount takes a second (a page connection can be cut meanwhile)."""

    async def mount(self) -> None:  # type: ignore[override]
        STATS.mounting = True
        await asyncio.sleep(1.0)
        STATS.mounting = False
        self.state["answer"] = ""


async def post_page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.format(own="", markup=MARKUP.format(n=0) + POST_MARKUP))


async def late(request: Request) -> HTMLResponse:
    return HTMLResponse(MARKUP.format(n=COMPONENTS))


async def gone(request: Request) -> HTMLResponse:
    return HTMLResponse("<p>removed</p>")


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "starts": STATS.starts,
            "page_connections": STATS.page_connections,
            "stream_requests": STATS.stream_requests,
            "cancelled": STATS.cancelled,
            "questions": STATS.questions,
            "mounting": STATS.mounting,
            "compact_asked": STATS.compact_asked,
            "compact_text": STATS.compact_text,
            "long_text": STATS.long_text,
        }
    )


async def reset(request: Request) -> JSONResponse:
    STATS.reset()
    return JSONResponse({})


async def cut(request: Request) -> JSONResponse:
    cuts = list(STATS.cuts)
    for event in cuts:
        event.set()
    return JSONResponse({"cut": len(cuts)})


inner = Starlette(
    routes=[
        Route("/", index),
        Route("/post", post_page),
        Route("/ping", ping),
        Route("/late", late),
        Route("/gone", gone),
        Route("/stats", stats),
        Route("/stats/reset", reset, methods=["POST"]),
        Route("/cut", cut, methods=["POST"]),
        Mount("/static/htmx", app=StaticFiles(directory=HTMX_DIST)),
        Mount("/static/htmx-sse", app=StaticFiles(directory=HTMX_SSE_DIST)),
    ]
)
components = ComponentASGI(
    app=inner,
    registry=registry,
    renderer=Jinja2Renderer.from_strings(TEMPLATES),
    settings=Settings(secret_keys=("browser-page-test-key-0123456789abcdef",)),
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    """``components``, counting stream requests; a page connection can be cut by ``/cut``:
    from then on its sends fail, so the exchange ends without finishing the body and the
    server closes the connection (what the browser sees of a dropped network)."""
    path = scope.get("path", "") if scope["type"] == "http" else ""
    if path.startswith("/components/") and "/stream" in path:
        STATS.stream_requests += 1
    if not path.startswith("/components/_page"):
        await components(scope, receive, send)
        return
    STATS.page_connections += 1
    cut_now = asyncio.Event()
    STATS.cuts.add(cut_now)

    async def cuttable_send(message: Any) -> None:
        if cut_now.is_set():
            raise OSError("the test cut this connection")
        if message["type"] == "http.response.body":
            STATS.count_frames(message.get("body", b""))
        await send(message)

    async def cuttable_receive() -> Any:
        waiting = asyncio.ensure_future(receive())
        cutting = asyncio.ensure_future(cut_now.wait())
        done, _ = await asyncio.wait({waiting, cutting}, return_when=asyncio.FIRST_COMPLETED)
        if waiting in done:
            cutting.cancel()
            message = waiting.result()
            if b'"frames":"compact"' in message.get("body", b""):
                STATS.compact_asked += 1
            return message
        waiting.cancel()
        return {"type": "http.disconnect"}

    try:
        await components(scope, cuttable_receive, cuttable_send)
    finally:
        STATS.cuts.discard(cut_now)
