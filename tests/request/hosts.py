"""Hosts with real session authentication in front of the request components: a login route
writes the user's name into the session, an authentication middleware reads it back into
``scope["user"]``. Starlette (``SessionMiddleware`` + ``AuthenticationMiddleware`` around a
``Mount``), FastAPI (the same middleware, ``app.mount``) and Litestar (its cookie session
middleware + an ``AbstractAuthenticationMiddleware``, ``create_component_routes`` or
``ComponentPlugin`` with a page). Each also serves ``/page``, a page rendering ``greeting``
through the ``component()`` page global (not the bare create_component_routes host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import jinja2
from fastapi import FastAPI
from litestar import Litestar, get, post
from litestar import Request as LitestarRequest
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
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
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.adapters.litestar import ComponentPlugin, create_component_routes

__all__ = [
    "PAGE",
    "SessionAuthentication",
    "SessionBackend",
    "SessionUser",
    "fastapi_host",
    "litestar_host",
    "starlette_host",
]

HERE = Path(__file__).resolve().parent
PAGE: Final = '<main>{{ component("greeting") }}</main>'
_SECRET: Final = "request-tests-session-secret-0123456789abcdef"


class SessionBackend(AuthenticationBackend):
    """Starlette: the user named in the session, else nobody."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.session.get("user")
        if not name:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(name)


async def _login(request: Request) -> Response:
    request.session["user"] = request.query_params["name"]
    return PlainTextResponse("signed in")


def _starlette_page(components: ComponentASGI) -> Any:
    environment = jinja2.Environment(loader=jinja2.DictLoader({"page.html": PAGE}), autoescape=True)
    register_component_global(environment, components)
    templates = Jinja2Templates(env=environment)

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html")

    return page


def _starlette_middleware() -> list[Middleware]:
    # Outermost first: the session is loaded before authentication reads it.
    return [
        Middleware(SessionMiddleware, secret_key=_SECRET),
        Middleware(AuthenticationMiddleware, backend=SessionBackend()),
    ]


def starlette_host(components: ComponentASGI) -> Starlette:
    """``Mount("/components", ...)`` behind Starlette's session and authentication middleware."""
    return Starlette(
        routes=[
            Route("/login", _login, methods=["POST"]),
            Route("/page", _starlette_page(components)),
            Mount("/components", app=components),
        ],
        middleware=_starlette_middleware(),
    )


def fastapi_host(components: ComponentASGI) -> FastAPI:
    """FastAPI with the same middleware and ``app.mount("/components", ...)``."""
    app = FastAPI(middleware=_starlette_middleware())
    app.add_route("/login", _login, methods=["POST"])
    app.add_route("/page", _starlette_page(components))
    app.mount("/components", components)
    return app


class SessionUser:
    """Litestar: the user object the authentication middleware builds from the session."""

    def __init__(self, name: str) -> None:
        self.display_name = name
        self.is_authenticated = True


class SessionAuthentication(AbstractAuthenticationMiddleware):
    """Litestar: ``scope["user"]`` is the user the session names (``None`` without one)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        name = connection.session.get("user") if connection.scope.get("session") else None
        return AuthenticationResult(user=SessionUser(name) if name else None, auth="session")


@post("/login", sync_to_thread=False)
def _litestar_login(request: LitestarRequest[Any, Any, Any]) -> str:
    request.set_session({"user": request.query_params["name"]})
    return "signed in"


@get("/page", sync_to_thread=False)
def _litestar_page() -> Template:
    return Template(template_str=PAGE)


def litestar_host(components: ComponentASGI, *, plugin: bool = False) -> Litestar:
    """Litestar's cookie sessions and an authentication middleware reading them, with
    ``create_component_routes`` (or ``ComponentPlugin`` and a page at ``/page``)."""
    session = CookieBackendConfig(secret=_SECRET.encode()[:32])
    middleware = [session.middleware, DefineMiddleware(SessionAuthentication)]
    if plugin:
        return Litestar(
            route_handlers=[_litestar_login, _litestar_page],
            middleware=middleware,
            template_config=TemplateConfig(engine=JinjaTemplateEngine, directory=HERE),
            plugins=[ComponentPlugin(components)],
        )
    app = Litestar(route_handlers=[_litestar_login], middleware=middleware)
    create_component_routes(app, components)
    return app
