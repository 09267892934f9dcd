"""The apps the nesting browser tests drive (``tests/browser/test_nesting.py``): the same
components and pages on Starlette (``Mount``) and Litestar (``create_component_routes``), with
components rendered by the ``component()`` page global. ``shelf``, ``item``, ``note`` and
``feed`` are the classes of ``tests/nesting/components.py`` (``feed`` with a slow mount),
registered here with the pages' own templates.

Pages (each loads ``component_scripts()`` under a strict Content-Security-Policy):

- ``/shelf/http`` and ``/shelf/ws``: the ``shelf`` component (over HTTP, or held by a socket
  in ``#shelf-box``), which renders a keyed ``item`` per product (1, 2, 3) and one keyless
  ``note``; its buttons re-render it (``bump``), remove its first product, add one and rename
  it (``label`` is a prop of ``item``); each child has its own ``+1`` button;
- ``/live``: the ``dock`` component (over HTTP) holding a ``clock`` child with a socket of its
  own (``#clock-box``), a ``+1`` button sent over that socket and a button that hides the
  clock; ``/connections`` answers how many sockets hold a ``clock`` now;
- ``/lazy``: a lazy ``feed`` at page level (``#page-feed``) and a ``corner`` component holding
  a lazy ``feed`` of its own, with a button that re-renders the corner. ``feed``'s mount waits
  a moment, so its placeholder shows first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Final

import jinja2
from litestar import Litestar, get
from litestar import Request as LitestarRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Mount, Route

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer, register_component_global
from component_framework.adapters.litestar import create_component_routes
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager
from tests.nesting.components import Feed, Item, Note, Shelf

__all__ = ["litestar_app", "starlette_app"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent.parent
NODE_MODULES: Final = REPO_ROOT / "node_modules"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:"
)
KEY: Final = "browser-nesting-key-0123456789abcdef"
#: How long a feed's mount takes: long enough to see its placeholder.
FEED_DELAY: Final = 0.6

BUTTON: Final = (
    '{%- macro button(name, event, label, vals="") -%}'
    "{% if via == 'ws' %}"
    '<button class="{{ event }}" ws-send hx-vals=\'{"event": "{{ event }}"{{ vals }}}\'>'
    "{{ label }}</button>"
    "{% else %}"
    '<button class="{{ event }}" hx-post="/components/{{ name }}/" '
    'hx-vals=\'{"event": "{{ event }}"{{ vals }}}\'>{{ label }}</button>'
    "{% endif %}"
    "{%- endmacro -%}"
)
COMPONENT_TEMPLATES: Final = {
    "shelf.html": BUTTON
    + '<section class="shelf"><h2 class="title">{{ label }} ({{ renders }})</h2>'
    '{{ button("shelf", "bump", "Re-render") }}'
    "{% if products %}"
    '{{ button("shelf", "remove", "Remove first", \', "product": \' ~ products[0]) }}'
    "{% endif %}"
    '{{ button("shelf", "add", "Add") }}'
    '{{ button("shelf", "rename", "Rename", \', "label": "Sale"\') }}'
    '<ul class="items">{% for product in products %}'
    '{{ component("item", key=product, product_id=product, label=label, via=via) }}'
    "{% endfor %}</ul>"
    '{{ component("note", via=via) }}'
    "</section>",
    "item.html": BUTTON + '<li class="item" data-product="{{ product_id }}">'
    '<span class="text">{{ label }} #{{ product_id }}: {{ count }}</span>'
    '{{ button("item", "inc", "+1") }}</li>',
    "note.html": BUTTON + '<div class="note"><span class="text">note {{ count }}</span>'
    '{{ button("note", "inc", "+1") }}</div>',
    "feed.html": BUTTON + '<div class="feed"><span class="text">{{ topic }} {{ count }}</span>'
    '{{ button("feed", "inc", "+1") }}</div>',
    "dock.html": '<div class="dock">'
    '<button class="toggle" hx-post="/components/dock/" hx-vals=\'{"event": "toggle"}\'>'
    "Toggle</button>"
    "{% if shown %}"
    '<section id="clock-box" hx-ext="ws" '
    'ws-connect="/components/clock/ws/?format=html&target=clock-box">'
    '{{ component("clock", key="clock") }}</section>'
    "{% endif %}</div>",
    "clock.html": '<p class="clock"><span class="ticks">ticks {{ ticks }}</span>'
    '<button class="tick" ws-send hx-vals=\'{"event": "tick"}\'>+1</button></p>',
    "corner.html": BUTTON + '<div class="corner"><span class="renders">corner {{ renders }}</span>'
    '{{ button("corner", "bump", "Re-render corner") }}'
    '{{ component("feed", key="inner", lazy=True, topic="inner", via=via) }}</div>',
}

PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nesting</title>
<link rel="icon" href="data:,">
<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>
{{ component_scripts() }}
</head><body hx-ext="component-framework">
{{ body }}
</body></html>
"""
BODIES: Final = {
    "/shelf/http": (
        '<section id="shelf-box">{{ component("shelf", products=[1, 2, 3], via="http") }}</section>'
    ),
    "/shelf/ws": (
        '<section id="shelf-box" hx-ext="ws" '
        'ws-connect="/components/shelf/ws/?format=html&target=shelf-box">'
        '{{ component("shelf", products=[1, 2, 3], via="ws") }}</section>'
    ),
    "/live": '<section id="dock-box">{{ component("dock") }}</section>',
    "/lazy": (
        '<section id="page-feed">{{ component("feed", lazy=True, topic="news") }}</section>'
        '<section id="corner-box">{{ component("corner") }}</section>'
    ),
}

registry = ComponentRegistry()
for name, component in {"shelf": Shelf, "item": Item, "note": Note}.items():
    registry.register(name)(component)


@registry.register("feed")
class SlowFeed(Feed):
    """``feed`` whose mount takes :data:`FEED_DELAY`, so its placeholder shows first."""

    @classmethod
    def placeholder(cls) -> str:
        return '<p class="feed-loading">Loading the feed</p>'

    async def mount(self, topic: str, via: str | None = "http") -> None:  # type: ignore[override]
        await asyncio.sleep(FEED_DELAY)
        super().mount(topic, via)


@registry.register("dock")
class Dock(Component):
    template_name = "dock.html"

    def mount(self) -> None:
        self.state["shown"] = True

    def on_toggle(self) -> None:
        self.state["shown"] = not self.state["shown"]


@registry.register("clock")
class Clock(Component):
    template_name = "clock.html"

    def mount(self) -> None:
        self.state["ticks"] = 0

    def on_tick(self) -> None:
        self.state["ticks"] += 1


@registry.register("corner")
class Corner(Component):
    template_name = "corner.html"

    def mount(self) -> None:
        self.state.update(renders=0, via="http")

    def on_bump(self) -> None:
        self.state["renders"] += 1


renderer = Jinja2Renderer.from_strings(COMPONENT_TEMPLATES)


def _components() -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(KEY,), vendor_directory=NODE_MODULES),
        hub=Hub(),
    )


def _template(path: str) -> str:
    return "{% set body %}" + BODIES[path] + "{% endset %}" + PAGE


starlette_components = _components()
starlette_environment = jinja2.Environment(autoescape=True)
register_component_global(starlette_environment, starlette_components)


async def _starlette_page(request: Request) -> HTMLResponse:
    template = starlette_environment.from_string(_template(request.url.path))
    page = template.render(request=request)
    return HTMLResponse(page, headers={"content-security-policy": CSP})


async def _starlette_connections(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        str(WebSocketManager(hub=starlette_components.hub).connections("clock"))
    )


starlette_app = Starlette(
    routes=[
        *(Route(path, _starlette_page) for path in BODIES),
        Route("/connections", _starlette_connections),
        Mount("/components", app=starlette_components),
    ]
)


@get(list(BODIES), sync_to_thread=False)
def _litestar_page(request: LitestarRequest[Any, Any, Any]) -> Template:
    return Template(
        template_str=_template(request.url.path), headers={"content-security-policy": CSP}
    )


litestar_components = _components()


@get("/connections", sync_to_thread=False)
def _litestar_connections() -> str:
    return str(WebSocketManager(hub=litestar_components.hub).connections("clock"))


litestar_app = Litestar(
    route_handlers=[_litestar_page, _litestar_connections],
    template_config=TemplateConfig(
        directory=REPO_ROOT / "tests" / "browser",
        engine=JinjaTemplateEngine,
        engine_callback=lambda engine: register_component_global(engine, litestar_components),
    ),
)
create_component_routes(litestar_app, litestar_components)
