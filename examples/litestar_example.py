"""The example app on Litestar: an index page rendering every showcase component server-side,
and the shop (``/shop``, ``examples.shop``) behind Litestar's cookie sessions (the session in
an encrypted cookie: ``cryptography``, which the ``litestar`` extra brings) and an
authentication middleware: ``POST /login`` (a ``name``) puts the name in the session, and the
components read the user as ``self.request.user``.

Run it with ``scripts/demo.sh`` (debug mode: edited templates show on the next render),
``python examples/litestar_example.py`` or ``uvicorn examples.litestar_example:app``. htmx is
served by the app itself (the copy shipped with the package): no CDN, no npm.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

from litestar import Litestar, Request, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import Body
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
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
from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from examples.shop import SESSION_SECRET, shop_page_context
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


@get("/shop")
async def shop(request: Request[Any, Any, Any]) -> Template:
    """The shop: Litestar puts the request in the template context, so the components mount
    with its user and query."""
    return Template(
        template_name="shop.html",
        context=shop_page_context(AccessContext("page", request.scope)),
        headers={"content-security-policy": CONTENT_SECURITY_POLICY},
    )


@post("/login")
async def login(
    request: Request[Any, Any, Any],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """Sign in as the ``name`` posted (a demo: no password), then back to the shop."""
    name = data.get("name", "").strip()[:40]
    if name:
        request.set_session({"user": name})
    return Redirect("/shop", status_code=303)


@post("/logout")
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/shop", status_code=303)


class SessionUser:
    """The user the session names."""

    def __init__(self, name: str) -> None:
        self.display_name = name
        self.is_authenticated = True


class SessionAuthentication(AbstractAuthenticationMiddleware):
    """``scope["user"]``: the user the session names (``None`` without one)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        name = connection.session.get("user") if connection.scope.get("session") else None
        return AuthenticationResult(user=SessionUser(name) if name else None, auth="session")


# Cookie sessions, not the server-side store: with that store, a response to a request that
# carried no session (a stranger's page, still loading while the visitor signs in) set a new,
# empty session's cookie over the signed-in one, and the visitor was signed out at random.
_sessions = CookieBackendConfig(secret=SESSION_SECRET, samesite="lax")
app = Litestar(
    route_handlers=[
        index,
        shop,
        login,
        logout,
        create_static_files_router(path="/static", directories=[STATIC]),
    ],
    middleware=[_sessions.middleware, DefineMiddleware(SessionAuthentication)],
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
