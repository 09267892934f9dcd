"""``ComponentASGI``: the one ASGI application that serves components on any host.

Owns the entry point: scope types, the lifespan (its own, or the wrapped app's in middleware
mode), deciding whether a path is ours, and handing each matched route to its transport module.
Does not own any exchange itself: ``asgi.http`` serves ``/{name}/``; the SSE and WebSocket
transports plug in at :meth:`ComponentASGI._route_http` and :meth:`ComponentASGI._route_websocket`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from component_framework.asgi.http import handle_http
from component_framework.asgi.responses import error_response, send_response
from component_framework.asgi.routing import NOT_OURS, Resolution, Route, RouteCache, RouteKind
from component_framework.core.config import Settings
from component_framework.core.dispatch import Dispatcher
from component_framework.core.registry import ComponentRegistry
from component_framework.core.renderer import Renderer
from component_framework.errors import ComponentError, NotFound, TransportUnavailable

if TYPE_CHECKING:
    from asgiref.typing import (
        ASGI3Application,
        ASGIReceiveCallable,
        ASGISendCallable,
        HTTPScope,
        Scope,
        WebSocketScope,
    )

__all__ = ["ComponentASGI"]

logger = logging.getLogger("component_framework")


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip()
    if not prefix or prefix == "/":
        return ""
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    return prefix.rstrip("/")


class ComponentASGI:
    """Serves registered components over HTTP (and, later, SSE and WebSocket) as raw ASGI.

    ``app``: an ASGI app to wrap; every path outside ``prefix`` and the lifespan go to it
    (middleware mode). ``registry``: components to serve (default: the default registry).
    ``renderer``: overrides ``Component.renderer`` for these components. ``prefix``: where the
    components live when this app sees full paths (standalone, middleware); ignored when a host
    mounts it (Starlette ``Mount`` tells through ``root_path``). ``settings``: keys and limits
    (default: :meth:`Settings.from_env`).
    """

    def __init__(
        self,
        app: ASGI3Application | Any | None = None,
        *,
        registry: ComponentRegistry | None = None,
        renderer: Renderer | None = None,
        prefix: str = "/components",
        settings: Settings | None = None,
    ) -> None:
        self.app = app
        self.prefix = _normalise_prefix(prefix)
        self.dispatcher = Dispatcher(registry, settings, renderer)
        self._routes = RouteCache(self.prefix)

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self.dispatcher.settings

    @property
    def registry(self) -> ComponentRegistry:
        """The components served."""
        return self.dispatcher.registry

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            if self.app is not None:
                await self.app(scope, receive, send)
            else:
                await self._lifespan(receive, send)
            return
        resolution = self._routes.resolve(scope)
        if (
            scope["type"] == "http"
            and type(resolution) is Route
            and resolution.kind is RouteKind.COMPONENT
        ):  # the hot path, without the general dispatch below
            await handle_http(scope, receive, send, resolution.name, self.dispatcher)
            return
        await self._serve(scope, receive, send, resolution)

    async def serve_mounted(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Entry point for hosts whose mounts strip the mount path themselves (Litestar's
        ``asgi(is_mount=True)``): ``scope["path"]`` is taken as relative and ``prefix`` ignored.
        A path that does not start with ``/`` (Litestar hands ``/componentsXYZ`` over as
        ``XYZ/``) is not ours."""
        if scope["type"] == "lifespan":
            return
        await self._serve(scope, receive, send, self._routes.resolve_relative(scope["path"]))

    async def _serve(
        self,
        scope: HTTPScope | WebSocketScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        resolution: Resolution,
    ) -> None:
        kind = scope["type"]
        if resolution is NOT_OURS:
            if self.app is not None:
                await self.app(scope, receive, send)
            elif kind == "http":
                await send_response(send, error_response(NotFound("no component is served here")))
            else:
                await self._refuse_websocket(receive, send, NotFound("nothing is served here"))
            return
        route = resolution if type(resolution) is Route else None
        if scope["type"] == "http":
            await self._route_http(scope, receive, send, route)
        else:
            await self._route_websocket(scope, receive, send, route)

    async def _route_http(
        self,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        route: Route | None,
    ) -> None:
        if route is not None and route.kind is RouteKind.COMPONENT:
            await handle_http(scope, receive, send, route.name, self.dispatcher)
            return
        error: ComponentError
        if route is None or route.kind is RouteKind.STATIC:
            error = NotFound(f"nothing is served at {scope['path']!r}")
        elif route.kind is RouteKind.WEBSOCKET:
            error = NotFound("this is a WebSocket endpoint: connect with a WebSocket client")
        else:
            error = TransportUnavailable("the SSE transport is not available in this version")
        await send_response(send, error_response(error))

    async def _route_websocket(
        self,
        scope: WebSocketScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        route: Route | None,
    ) -> None:
        if route is None or route.kind is not RouteKind.WEBSOCKET:
            error: ComponentError = NotFound("no WebSocket endpoint here")
        else:
            error = TransportUnavailable("the WebSocket transport is not available in this version")
        await self._refuse_websocket(receive, send, error)

    @staticmethod
    async def _refuse_websocket(
        receive: ASGIReceiveCallable, send: ASGISendCallable, error: ComponentError
    ) -> None:
        """Close a handshake before accepting it; servers answer the client with 403."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.close", "code": error.close_code, "reason": error.message})

    @staticmethod
    async def _lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
