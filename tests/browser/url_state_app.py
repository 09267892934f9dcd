"""The app of the URL state browser tests over WebSocket (``test_url_state_socket.py``): the
``finder`` component (``url_state = ("q", "page")``, a page change is a history entry) rendered
by the ``component()`` page global at ``/finder`` inside a ``ws-connect`` box, so every event
goes over the socket and the client runtime applies the history changes. The same page on
Starlette (``starlette_app``) and Litestar (``litestar_app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import Litestar, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.adapters.litestar import create_component_routes
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["CSP", "litestar_app", "starlette_app"]

NODE_MODULES: Final = Path(__file__).resolve().parent.parent.parent / "node_modules"
KEY: Final = "browser-url-state-key-0123456789abcdef"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:"
)
PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>finder</title>
<link rel="icon" href="data:,">
<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>
{{ component_scripts() }}
</head><body hx-ext="component-framework">
<section id="finder-box" hx-ext="ws"
 ws-connect="/components/finder/ws/?format=html&target=finder-box">
{{ component("finder") }}</section>
</body></html>
"""
FINDER: Final = (
    '<div class="finder"><p class="shown">{{ q or "-" }} page {{ page }}</p>'
    '<button class="blue" ws-send hx-vals=\'{"event": "search", "q": "blue"}\'>blue</button>'
    '<button class="next" ws-send hx-vals=\'{"event": "page", "page": {{ page + 1 }}}\'>next'
    "</button></div>"
)

registry = ComponentRegistry()


@registry.register("finder")
class Finder(Component):
    template_name = "finder.html"
    url_state = ("q", "page")
    url_history = ("page",)

    def mount(self) -> None:
        self.state.update({"q": "", "page": 1})

    def on_search(self, q: str) -> None:
        self.state.update({"q": q, "page": 1})

    def on_page(self, page: int) -> None:
        self.state["page"] = page


renderer = Jinja2Renderer.from_strings({"finder.html": FINDER, "page.html": PAGE})


def _components() -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(KEY,), vendor_directory=NODE_MODULES),
        hub=Hub(),
    )


starlette_components = _components()
register_component_global(renderer.environment, starlette_components)


async def _finder(request: Request) -> HTMLResponse:
    page = renderer.environment.get_template("page.html").render(request=request)
    return HTMLResponse(page, headers={"content-security-policy": CSP})


starlette_app = Starlette(
    routes=[Route("/finder", _finder), Mount("/components", app=starlette_components)]
)

litestar_components = _components()


@get("/finder", sync_to_thread=False)
def _litestar_finder() -> Template:
    return Template(template_str=PAGE, headers={"content-security-policy": CSP})


litestar_app = Litestar(
    route_handlers=[_litestar_finder],
    template_config=TemplateConfig(
        directory=Path(__file__).resolve().parent,
        engine=JinjaTemplateEngine,
        engine_callback=lambda engine: register_component_global(engine, litestar_components),
    ),
)
create_component_routes(litestar_app, litestar_components)
