"""The app of the page socket browser test (``test_page_socket.py``): three ``ws-connect``
boxes of this app on one page (two ``tally`` components, one ``meter``), which the client
runtime puts on one socket, and one box marked ``data-page-connection="off"`` that keeps its
own. ``/bump`` broadcasts to every ``meter``; ``/reach`` counts the live ``tally``
components; ``/drop`` closes every open socket with ``1012`` (as a restart would), so the
page reconnects. ``/down`` is a restart's first half (every socket closed with ``1012``, new
handshakes refused) and ``/up`` its second (handshakes accepted again; with ``?rekey=1`` under
a new signing key, as a process started without a configured key: the page's snapshots are
refused). Starlette, under a real uvicorn."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer, register_component_global
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager

__all__ = ["TALLY", "TALLY_BOXES", "Tally", "app"]

NODE_MODULES: Final = Path(__file__).resolve().parent.parent.parent / "node_modules"
KEY: Final = "browser-page-socket-key-0123456789abcdef"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:"
)
#: The page's two ``tally`` boxes (labels ``a`` and ``b``), each its own ``ws-connect``.
TALLY_BOXES: Final = """\
<section id="box-a" hx-ext="ws" ws-connect="/components/tally/ws/?format=html&target=box-a&label=a">
</section>
<section id="box-b" hx-ext="ws" ws-connect="/components/tally/ws/?format=html&target=box-b&label=b">
</section>
"""
PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>page socket</title>
<link rel="icon" href="data:,">
<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>
{{ component_scripts() }}
</head><body hx-ext="component-framework">
{% include "tally_boxes.html" %}
<section id="box-m" hx-ext="ws" ws-connect="/components/meter/ws/?format=html&target=box-m">
</section>
<div id="slot"></div>
<section id="box-own" hx-ext="ws" data-page-connection="off"
 ws-connect="/components/tally/ws/?format=html&target=box-own&label=own"></section>
</body></html>
"""
#: The ``tally`` template: its label and count, and a button that sends ``add`` on the socket.
TALLY: Final = (
    '<div class="tally"><p class="shown">{{ label }}: {{ count }}</p>'
    '<button ws-send hx-vals=\'{"event": "add"}\'>add</button></div>'
)
METER: Final = '<div class="meter"><p class="shown">meter: {{ level }}</p></div>'

registry = ComponentRegistry()


@registry.register("tally")
class Tally(Component):
    """A live count (template ``tally.html``, ``TALLY``) that ``add`` raises by one."""

    template_name = "tally.html"

    def mount(self, label: str) -> None:
        self.state.update({"label": label, "count": 0})

    def on_add(self) -> None:
        self.state["count"] += 1


@registry.register("meter")
class Meter(Component):
    template_name = "meter.html"

    def mount(self) -> None:
        self.state["level"] = 0

    def on_bump(self) -> None:
        self.state["level"] += 1


renderer = Jinja2Renderer.from_strings(
    {"tally.html": TALLY, "tally_boxes.html": TALLY_BOXES, "meter.html": METER, "page.html": PAGE}
)
hub = Hub()
manager = WebSocketManager(hub=hub)
components = ComponentASGI(
    registry=registry,
    renderer=renderer,
    settings=Settings(secret_keys=(KEY,), vendor_directory=NODE_MODULES),
    hub=hub,
)
register_component_global(renderer.environment, components)


async def _page(request: Request) -> HTMLResponse:
    page = renderer.environment.get_template("page.html").render(request=request)
    return HTMLResponse(page, headers={"content-security-policy": CSP})


async def _bump(request: Request) -> PlainTextResponse:
    reached = await manager.broadcast(component_name="meter", event="bump")
    return PlainTextResponse(str(reached))


async def _reach(request: Request) -> PlainTextResponse:
    """How many live ``tally`` components the app holds (a broadcast nobody handles)."""
    return PlainTextResponse(str(await manager.broadcast(component_name="tally", event="ping")))


async def _drop(request: Request) -> PlainTextResponse:
    connections = list(components.sockets.connections)
    for connection in connections:
        connection.close(None, 1012)  # as a restart does: the page reconnects
    return PlainTextResponse(str(len(connections)))


class Restart:
    """Whether the app is "down" between ``/down`` and ``/up``: its handshakes are refused."""

    down = False


async def _down(request: Request) -> PlainTextResponse:
    Restart.down = True
    return await _drop(request)


async def _up(request: Request) -> PlainTextResponse:
    if request.query_params.get("rekey") == "1":  # a new process without a configured key
        key = secrets.token_urlsafe(32)
        components.dispatcher.signer = Settings(secret_keys=(key,)).build_signer()
    Restart.down = False
    return PlainTextResponse("up")


async def _components(scope: Scope, receive: Receive, send: Send) -> None:
    """The components, whose handshakes are refused while the app is "down"."""
    if scope["type"] == "websocket" and Restart.down:
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1013, "reason": ""})
        return
    await components(scope, receive, send)


app = Starlette(
    routes=[
        Route("/", _page),
        Route("/bump", _bump, methods=["POST"]),
        Route("/drop", _drop, methods=["POST"]),
        Route("/down", _down, methods=["POST"]),
        Route("/up", _up, methods=["POST"]),
        Route("/reach", _reach, methods=["POST"]),
        Mount("/components", app=_components),
    ]
)
