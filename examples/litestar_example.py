"""The example app on Litestar: an index page rendering every showcase component server-side.

Run it with ``scripts/demo.sh`` (debug mode: edited templates show on the next render),
``python examples/litestar_example.py`` or ``uvicorn examples.litestar_example:app``. htmx is
served by the app itself (the copy shipped with the package): no CDN, no npm.
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

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # ``python examples/...``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.adapters.litestar import (
    configure_components,
    create_component_routes,
)
from component_framework.core.component import Component
from examples.showcase import (  # importing it registers the components
    CONTENT_SECURITY_POLICY,
    STATIC,
    TEMPLATES,
    example_settings,
    ticker_feed,
)

Component.renderer = Jinja2Renderer(TEMPLATES)
components = configure_components(settings=example_settings())


@get("/")
async def index() -> Template:
    """The page: every component rendered server-side with ``{{ component(...) }}``."""
    return Template(
        template_name="index.html", headers={"content-security-policy": CONTENT_SECURITY_POLICY}
    )


app = Litestar(
    route_handlers=[index, create_static_files_router(path="/static", directories=[STATIC])],
    template_config=TemplateConfig(
        directory=TEMPLATES,
        engine=JinjaTemplateEngine,
        engine_callback=lambda engine: register_component_global(engine, components),
    ),
    on_startup=[ticker_feed.start],
    on_shutdown=[ticker_feed.stop],
)
create_component_routes(app, components)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
