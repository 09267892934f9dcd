"""The example app: an index page rendering components server-side, served by Litestar.

Run it with ``python examples/litestar_example.py`` or ``uvicorn examples.litestar_example:app``.
htmx comes from the npm package installed by ``scripts/demo.sh`` (no CDN needed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from litestar import Litestar, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # allow ``python examples/litestar_example.py``
    sys.path.insert(0, str(ROOT.parent))

import examples.litestar_components  # noqa: E402, F401 - registers the components
from component_framework.adapters.jinjax_renderer import (  # noqa: E402
    Jinja2Renderer,
    register_component_global,
)
from component_framework.adapters.litestar import (  # noqa: E402
    component_endpoint,
    component_stream_endpoint,
    component_websocket_endpoint,
)
from component_framework.core.component import Component  # noqa: E402

TEMPLATES = ROOT / "litestar_templates"
NODE_MODULES = ROOT.parent / "node_modules"
HTMX_DIST = NODE_MODULES / "htmx.org" / "dist"
HTMX_SSE_DIST = NODE_MODULES / "htmx-ext-sse" / "dist"

Component.renderer = Jinja2Renderer(TEMPLATES)


@get("/")
async def index() -> Template:
    """The page: every component rendered server-side with ``{{ component(...) }}``."""
    return Template(template_name="index.html", context={"htmx_local": HTMX_DIST.is_dir()})


app = Litestar(
    route_handlers=[
        index,
        component_endpoint,
        component_stream_endpoint,
        component_websocket_endpoint,
        create_static_files_router(path="/static/htmx", directories=[HTMX_DIST]),
        create_static_files_router(path="/static/htmx-sse", directories=[HTMX_SSE_DIST]),
    ],
    template_config=TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=register_component_global
    ),
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
