"""The showcase on Starlette (FastAPI works the same way): ``ComponentASGI`` under a ``Mount``.

Run it with ``python examples/starlette_app.py`` or ``uvicorn examples.starlette_app:app``.
The pages are rendered by plain Starlette routes with a Jinja environment that has the
``component()`` and ``component_scripts()`` globals; the ticker's feed runs in the lifespan.
``/shop`` (``examples.shop``) is rendered with its request, behind Starlette's
``SessionMiddleware`` and ``AuthenticationMiddleware``: ``POST /login`` (a ``name``) puts the
name in the session, and the components read the user as ``self.request.user``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # ``python examples/...``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.core.access import AccessContext
from examples.shop import SESSION_SECRET, shop_page_context
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


async def shop(request: Request) -> HTMLResponse:
    """The shop, rendered with its request: the components mount with its user and query."""
    context = shop_page_context(AccessContext("page", request.scope))
    page = renderer.environment.get_template("shop.html").render(request=request, **context)
    return HTMLResponse(page, headers={"content-security-policy": CONTENT_SECURITY_POLICY})


async def login(request: Request) -> Response:
    """Sign in as the ``name`` posted (a demo: no password), then back to the shop."""
    name = str((await request.form()).get("name", "")).strip()[:40]
    if name:
        request.session["user"] = name
    return RedirectResponse("/shop", status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/shop", status_code=303)


class SessionBackend(AuthenticationBackend):
    """The user the session names, else nobody."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.session.get("user")
        return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None


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
        Route("/shop", shop),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC)),
        Mount("/components", app=components),
    ],
    middleware=[
        # Outermost first: the session is loaded before authentication reads it.
        Middleware(SessionMiddleware, secret_key=SESSION_SECRET.hex(), same_site="lax"),
        Middleware(AuthenticationMiddleware, backend=SessionBackend()),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
