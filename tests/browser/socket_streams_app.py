"""The app of the streams-on-the-socket browser test (``test_socket_streams.py``): a page with
two ``ws-connect`` live components (``tally``, the page socket app's) and three ``sse-connect``
streams (``counter``, the page-connection app's) of this app, which the client runtime puts on
one socket; ``#add`` swaps in a fourth stream and ``#remove`` swaps out the first. A recorder
in front of the components counts page connections (``POST /_page/``), stream requests and
socket handshakes; ``/stats`` answers those counts, the runs started and cancelled, and the
sockets and streams open now; ``POST /stats/reset`` zeroes them; ``POST /drop`` closes every
open socket with ``1012`` (as a restart would), so the page reconnects, and answers
``{"dropped": n}``. A counter streams
`` 1 2 ... UPTO`` as ``stream_text`` appends, ``EVERY`` seconds apart, so a lost frame leaves a
gap and a repeated one a double in its final text. Starlette, under a real uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from tests.browser.page_app import COUNTER, EVERY, UPTO, counter_stream, expected_text
from tests.browser.page_socket_app import TALLY, TALLY_BOXES, Tally

__all__ = ["EVERY", "STREAMS", "UPTO", "app", "expected_text"]

NODE_MODULES: Final = Path(__file__).resolve().parent.parent.parent / "node_modules"
KEY: Final = "browser-socket-streams-key-0123456789abcdef"
STREAMS: Final = 3
STREAM: Final = (
    '<div id="s-{n}" class="counter-box" hx-ext="sse" '
    'sse-connect="/components/counter/stream?label=c{n}" '
    'sse-swap="message" hx-swap="innerHTML"><p>waiting</p></div>'
)
PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streams on the socket</title>
<link rel="icon" href="data:,">
<meta name="htmx-config" content='{{"includeIndicatorStyles": false, "allowEval": false}}'>
{scripts}
</head><body hx-ext="component-framework">
{tallies}
<button id="add" hx-get="/late" hx-target="#late" hx-swap="innerHTML">add</button>
<button id="remove" hx-get="/gone" hx-target="#s-0" hx-swap="outerHTML">remove</button>
<div id="late"></div>
{streams}
</body></html>
"""


class _Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.starts = self.cancelled = 0
        self.page_connections = self.stream_requests = self.handshakes = 0


STATS: Final = _Stats()
registry = ComponentRegistry()


registry.register("tally")(Tally)
registry.register("counter")(counter_stream(STATS))


renderer = Jinja2Renderer.from_strings({"tally.html": TALLY, "counter.html": COUNTER})
components = ComponentASGI(
    registry=registry,
    renderer=renderer,
    settings=Settings(secret_keys=(KEY,), vendor_directory=NODE_MODULES),
    hub=Hub(),
)


async def _page(request: Request) -> HTMLResponse:
    scripts = components.script_tags()
    streams = "\n".join(STREAM.format(n=n) for n in range(STREAMS))
    return HTMLResponse(PAGE.format(scripts=scripts, tallies=TALLY_BOXES, streams=streams))


async def _late(request: Request) -> HTMLResponse:
    return HTMLResponse(STREAM.format(n=STREAMS))


async def _gone(request: Request) -> HTMLResponse:
    return HTMLResponse('<p id="s-0-gone">removed</p>')


async def _stats(request: Request) -> JSONResponse:
    guard = components.guard
    return JSONResponse(
        {
            "starts": STATS.starts,
            "cancelled": STATS.cancelled,
            "page_connections": STATS.page_connections,
            "stream_requests": STATS.stream_requests,
            "handshakes": STATS.handshakes,
            "open_sockets": guard.open_count("socket"),
            "open_streams": guard.open_count("stream"),
        }
    )


async def _reset(request: Request) -> JSONResponse:
    STATS.reset()
    return JSONResponse({})


async def _drop(request: Request) -> JSONResponse:
    connections = list(components.sockets.connections)
    for connection in connections:
        connection.close(None, 1012)  # as a restart does: the page reconnects
    return JSONResponse({"dropped": len(connections)})


async def _recorded(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope.get("path", "")
    if scope["type"] == "websocket":
        STATS.handshakes += 1
    elif path.endswith("/_page/"):
        STATS.page_connections += 1
    elif "/stream" in path:
        STATS.stream_requests += 1
    await components(scope, receive, send)


app = Starlette(
    routes=[
        Route("/", _page),
        Route("/late", _late),
        Route("/gone", _gone),
        Route("/stats", _stats),
        Route("/stats/reset", _reset, methods=["POST"]),
        Route("/drop", _drop, methods=["POST"]),
        Mount("/components", app=_recorded),
    ]
)
