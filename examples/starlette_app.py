"""The showcase on Starlette (FastAPI works the same way): ``ComponentASGI`` under a ``Mount``.

Run it with ``python examples/starlette_app.py`` or ``uvicorn examples.starlette_app:app``.
The page is rendered by a plain Starlette route with a Jinja environment that has the
``component()`` and ``component_scripts()`` globals; the ticker's feed runs in the lifespan.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # ``python examples/...``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from examples.showcase import (  # importing it registers the components
    CONTENT_SECURITY_POLICY,
    STATIC,
    TEMPLATES,
    example_settings,
    ticker_feed,
)

renderer = Jinja2Renderer(TEMPLATES)
components = ComponentASGI(renderer=renderer, settings=example_settings())
register_component_global(renderer.environment, components)


async def index(request: Request) -> HTMLResponse:
    """The page: every component rendered server-side with ``{{ component(...) }}``."""
    page = renderer.environment.get_template("index.html").render()
    return HTMLResponse(page, headers={"content-security-policy": CONTENT_SECURITY_POLICY})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await ticker_feed.start()
    try:
        yield
    finally:
        await ticker_feed.stop()
        await components.shutdown()  # a mounted app gets no lifespan of its own


app = Starlette(
    routes=[
        Route("/", index),
        Mount("/static", app=StaticFiles(directory=STATIC)),
        Mount("/components", app=components),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
