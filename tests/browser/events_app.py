"""The apps the events-between-components browser tests drive (``test_events.py``).

The same components and page on two hosts: ``starlette_app`` (``Mount("/components", ...)``)
and ``litestar_app`` (``create_component_routes``), and on ``litestar_csrf_app``: Litestar with
its CSRF middleware on the component routes and the token in the page's ``hx-headers`` (what
docs/security.md recommends), so every POST of the page, the runtime's own included, carries it.
``/shop`` (strict Content-Security-Policy, components rendered by the ``component()`` page
global) shows:

- two ``item`` components (``#item-tea``, ``#item-cake``) over HTTP, whose "Add to cart"
  button emits ``added`` with the item's ``sku``;
- ``badge`` (``#badge``) and ``summary`` (``#summary``), siblings over HTTP that list
  ``added``: the badge counts the items, the summary lists them;
- ``live_total`` inside a ``ws-connect`` box (``#live-box``): it lists ``added`` too and is
  held by its socket, so the server updates it;
- ``live_sse_total`` inside an ``sse-connect`` box (``#sse-box``): it lists ``added`` too and
  is held by its live SSE stream (``live_updates``), so the server updates it; ``POST /tick``
  broadcasts ``tick`` to it, whose push must keep what the events added (it shows ``via
  stream`` once the stream's render replaced the page's);
- ``clock`` (``#clock``), which has an ``on_added`` handler but does not list the event: it
  counts its renders, which must not move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import jinja2
from litestar import Litestar, get, post
from litestar import Request as LitestarRequest
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.adapters.litestar import create_component_routes
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Broadcast, Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["CSP", "litestar_app", "litestar_csrf_app", "starlette_app"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent.parent
NODE_MODULES: Final = REPO_ROOT / "node_modules"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src data:; form-action 'self'"
)
KEY: Final = "browser-events-key-0123456789abcdef"

TEMPLATES: Final = {
    "item.html": (
        '<div class="item"><span class="name">{{ sku }}</span> '
        '<span class="added">added {{ added }}</span> '
        '<button class="add" hx-post="/components/item/" hx-vals=\'{"event": "add"}\'>'
        "Add to cart</button></div>"
    ),
    "badge.html": '<span class="badge">cart: {{ count }}</span>',
    "summary.html": '<ul class="summary">{% for sku in skus %}<li>{{ sku }}</li>{% endfor %}</ul>',
    "live_total.html": '<p class="live-total">live: {{ count }}</p>',
    "clock.html": '<p class="clock">renders: {{ renders }}</p>',
    "live_sse_total.html": (
        '<p class="live-sse">sse: {{ count }} ticks {{ ticks }} via {{ via }}</p>'
    ),
}

PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shop</title>
<link rel="icon" href="data:,">
<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>
{{ component_scripts() }}
</head><body hx-ext="component-framework"
{%- if csrf %} hx-headers='{"X-CSRFToken": "{{ csrf_token() }}"}'
 hx-headers:inherited='{"X-CSRFToken": "{{ csrf_token() }}"}'{% endif %}>
<header><span id="badge">{{ component("badge") }}</span></header>
<section id="item-tea">{{ component("item", sku="tea") }}</section>
<section id="item-cake">{{ component("item", sku="cake") }}</section>
<section id="summary">{{ component("summary") }}</section>
<section id="clock">{{ component("clock") }}</section>
<section id="live-box" hx-ext="ws"
 ws-connect="/components/live_total/ws/?format=html&target=live-box">
{{ component("live_total") }}</section>
<section id="sse-box" hx-ext="sse" sse-swap="message"
 sse-connect="/components/live_sse_total/stream/?via=stream">
{{ component("live_sse_total") }}</section>
</body></html>
"""

registry = ComponentRegistry()


@registry.register("item")
class ItemComponent(Component):
    template_name = "item.html"

    def mount(self, sku: str) -> None:
        self.state.update({"sku": sku, "added": 0})

    def on_add(self) -> None:
        self.state["added"] += 1
        self.emit("added", sku=self.state["sku"])


@registry.register("badge")
class BadgeComponent(Component):
    template_name = "badge.html"
    listens = ("added",)

    def mount(self) -> None:
        self.state["count"] = 0

    def on_added(self, sku: str) -> None:
        self.state["count"] += 1


@registry.register("summary")
class SummaryComponent(Component):
    template_name = "summary.html"
    listens = ("added",)

    def mount(self) -> None:
        self.state["skus"] = []

    def on_added(self, sku: str) -> None:
        self.state["skus"].append(sku)


@registry.register("live_total")
class LiveTotalComponent(BadgeComponent):
    template_name = "live_total.html"


@registry.register("live_sse_total")
class LiveSseTotalComponent(BadgeComponent):
    template_name = "live_sse_total.html"
    live_updates = True

    def mount(self, via: str = "page") -> None:
        self.state.update({"count": 0, "ticks": 0, "via": via})

    def on_tick(self) -> None:
        self.state["ticks"] += 1


TICK: Final = Broadcast("tick", component_name="live_sse_total")


@registry.register("clock")
class ClockComponent(Component):
    """Counts its renders; has ``on_added`` but does not list it."""

    template_name = "clock.html"

    def mount(self) -> None:
        self.state["renders"] = 0

    def before_render(self) -> None:
        self.state["renders"] += 1

    def on_added(self, sku: str) -> None:
        self.state["renders"] += 100


renderer = Jinja2Renderer.from_strings(TEMPLATES)


def _components() -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(KEY,), vendor_directory=NODE_MODULES),
        hub=Hub(),
    )


starlette_components = _components()
starlette_environment = jinja2.Environment(autoescape=True)
register_component_global(starlette_environment, starlette_components)


async def _starlette_page(request: Request) -> HTMLResponse:
    page = starlette_environment.from_string(PAGE).render(request=request)
    return HTMLResponse(page, headers={"content-security-policy": CSP})


async def _starlette_tick(request: Request) -> Response:
    await starlette_components.hub.broadcast(TICK)
    return Response(status_code=204)


starlette_app = Starlette(
    routes=[
        Route("/shop", _starlette_page),
        Route("/tick", _starlette_tick, methods=["POST"]),
        Mount("/components", app=starlette_components),
    ]
)


@get("/shop", sync_to_thread=False)
def _litestar_page(request: LitestarRequest[Any, Any, Any]) -> Template:
    csrf = request.app.csrf_config is not None
    return Template(
        template_str=PAGE, headers={"content-security-policy": CSP}, context={"csrf": csrf}
    )


@post("/tick", status_code=204)
async def _litestar_tick(request: LitestarRequest[Any, Any, Any]) -> None:
    await request.app.state.components.hub.broadcast(TICK)


def _litestar(csrf: CSRFConfig | None = None) -> tuple[Litestar, ComponentASGI]:
    components = _components()
    host = Litestar(
        route_handlers=[_litestar_page, _litestar_tick],
        template_config=TemplateConfig(
            directory=REPO_ROOT / "tests" / "browser",
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: register_component_global(engine, components),
        ),
        csrf_config=csrf,
        state=State({"components": components}),
    )
    create_component_routes(host, components)
    return host, components


litestar_app, litestar_components = _litestar()
# The page sends Litestar's token in hx-headers; /tick is the tests' own control route.
litestar_csrf_app, _ = _litestar(CSRFConfig(secret="browser-events-csrf-secret", exclude=["/tick"]))
