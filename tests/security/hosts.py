"""Hosts whose own authentication puts the user in the scope, serving the security
components: Starlette's ``AuthenticationMiddleware`` around ``Mount("/components", ...)`` and
Litestar's ``AbstractAuthenticationMiddleware`` with ``create_component_routes``. Both read the
user's name from the ``user`` cookie (a stand-in for a real session), so browsers' WebSocket
handshakes carry it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.adapters.litestar import ComponentPlugin, create_component_routes
from tests.security.components import User

__all__ = ["PAGE", "CookieAuthentication", "CookieBackend", "litestar_host", "starlette_host"]

HERE = Path(__file__).resolve().parent
#: The page both hosts serve at ``/page``: two components, one of them never allowed.
PAGE = '<main>{{ component("members") }}|{{ component("vault") }}</main>'


class CookieBackend(AuthenticationBackend):
    """Starlette: the ``user`` cookie names the user; without it, nobody (anonymous)."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.cookies.get("user")
        if not name:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(name)


def starlette_host(components: ComponentASGI) -> Starlette:
    """``Mount("/components", app=components)`` behind Starlette's authentication middleware,
    and a page rendering components through ``Jinja2Templates`` (which passes ``request``)."""
    environment = jinja2.Environment(loader=jinja2.DictLoader({"page.html": PAGE}), autoescape=True)
    register_component_global(environment, components)
    templates = Jinja2Templates(env=environment)

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html")

    return Starlette(
        routes=[Route("/page", page), Mount("/components", app=components)],
        middleware=[Middleware(AuthenticationMiddleware, backend=CookieBackend())],
    )


class CookieAuthentication(AbstractAuthenticationMiddleware):
    """Litestar: the ``user`` cookie names the user; without it, ``scope["user"]`` is None."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        name = connection.cookies.get("user")
        return AuthenticationResult(user=User(name) if name else None, auth=None)


def litestar_host(components: ComponentASGI, *, plugin: bool = False) -> Litestar:
    """A Litestar app with cookie authentication and the component routes
    (``create_component_routes``, or ``ComponentPlugin`` with a Jinja page at ``/page``)."""

    @get("/page", sync_to_thread=False)
    def page() -> Template:
        return Template(template_str=PAGE)

    if plugin:
        return Litestar(
            route_handlers=[page],
            middleware=[DefineMiddleware(CookieAuthentication)],
            template_config=TemplateConfig(engine=JinjaTemplateEngine, directory=HERE),
            plugins=[ComponentPlugin(components)],
        )
    app = Litestar(middleware=[DefineMiddleware(CookieAuthentication)])
    create_component_routes(app, components)
    return app
