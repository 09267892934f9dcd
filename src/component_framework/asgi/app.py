"""``ComponentASGI``: the one ASGI application that serves components on any host.

Owns the entry point: scope types, the lifespan (its own, or the wrapped app's in middleware
mode), deciding whether a path is ours, and handing each matched route to its transport module.
Does not own any exchange itself: ``asgi.http`` serves ``/{name}/``, ``asgi.sse``
``/{name}/stream/``, ``asgi.websocket`` ``/{name}/ws/``, ``asgi.static`` ``/_static/...``,
``asgi.emit`` ``/_emit/`` (a batch of emitted events for a page's listeners),
``asgi.page_stream`` ``/_page/`` (every component stream of a page over one response).
Also owns the shutdown path of open streams and sockets: servers
wait for open responses before the lifespan shutdown (uvicorn forever, by default), so
``ComponentASGI`` ends its streams itself on the lifespan shutdown, on SIGTERM/SIGINT (chained
in front of the server's own handler, which runs once our final frames went out) or on
:meth:`ComponentASGI.shutdown`.
"""

from __future__ import annotations

import logging
import signal
import threading
import weakref
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, Final

from component_framework.asgi.emit import handle_emit
from component_framework.asgi.guard import ClientGuard
from component_framework.asgi.http import handle_http
from component_framework.asgi.incoming import RequestHeaders
from component_framework.asgi.page_stream import handle_page_stream
from component_framework.asgi.responses import error_response, send_response
from component_framework.asgi.resumable import handle_resumable
from component_framework.asgi.routing import NOT_OURS, Resolution, Route, RouteCache, RouteKind
from component_framework.asgi.services import AppServices, SocketRegistry, StreamGate
from component_framework.asgi.sse import handle_sse
from component_framework.asgi.static import StaticFiles, script_tags
from component_framework.asgi.websocket import deny_handshake, handle_websocket
from component_framework.core import aio
from component_framework.core.access import AccessHook
from component_framework.core.config import Settings
from component_framework.core.dispatch import Dispatcher
from component_framework.core.hub import Hub, default_hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.renderer import Renderer
from component_framework.core.resumable import ResumableUploads
from component_framework.core.state_store import StateStore
from component_framework.core.stream_run import StreamRegistry
from component_framework.errors import ComponentError, NotFound, shown

if TYPE_CHECKING:
    from asgiref.typing import (
        ASGI3Application,
        ASGIReceiveCallable,
        ASGISendCallable,
        HTTPScope,
        Scope,
        WebSocketScope,
    )

    #: What a route table maps a route kind to: one exchange, the shape every transport has.
    HTTPRouteHandler = Callable[
        [HTTPScope, ASGIReceiveCallable, ASGISendCallable, str, AppServices], Awaitable[None]
    ]
    WebSocketRouteHandler = Callable[
        [WebSocketScope, ASGIReceiveCallable, ASGISendCallable, str, AppServices],
        Awaitable[None],
    ]

__all__ = ["ComponentASGI"]

logger = logging.getLogger("component_framework")
_SHUTDOWN_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip()
    if not prefix or prefix == "/":
        return ""
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    return prefix.rstrip("/")


class _SignalHook:
    """One SIGTERM/SIGINT handler per process, in front of the server's own handler.

    It asks every live app that streamed to shut its streams down, on that app's loop, and
    hands the signal on to the handler it replaced once the apps have sent their final frames
    and close codes (at most :data:`_SIGNAL_CLOSE_GRACE` later): a server that closes every
    socket itself on shutdown (uvicorn writes a bare 1012) would otherwise race our close and
    its reason. The server then shuts down as it would have. A signal while one waits, a loop
    that is not running, or apps on several loops go straight to the replaced handler.
    Installed once, so handlers never pile up."""

    apps: ClassVar[weakref.WeakKeyDictionary[ComponentASGI, aio.Loop]] = weakref.WeakKeyDictionary()
    installed: ClassVar[bool] = False
    #: Set while a signal waits for the apps' final frames: another one meanwhile goes
    #: straight to the replaced handler (a second Ctrl-C forces the exit at once).
    relaying: ClassVar[bool] = False

    @classmethod
    def watch(cls, app: ComponentASGI, loop: aio.Loop) -> None:
        cls.apps[app] = loop
        if cls.installed or threading.current_thread() is not threading.main_thread():
            return
        cls.installed = True
        for signum in _SHUTDOWN_SIGNALS:
            previous = signal.getsignal(signum)
            if callable(previous):
                signal.signal(signum, cls._chain(previous))

    @classmethod
    def _chain(
        cls, previous: Callable[[int, FrameType | None], Any]
    ) -> Callable[[int, FrameType | None], Any]:
        def handle(signum: int, frame: FrameType | None) -> Any:
            watched = [(app, loop) for app, loop in list(cls.apps.items()) if not loop.is_closed()]
            loops = {loop for _, loop in watched}
            if cls.relaying or len(loops) != 1 or not next(iter(loops)).is_running():
                for app, loop in watched:
                    loop.call_soon_threadsafe(app.begin_shutdown)
                return previous(signum, frame)
            cls.relaying = True
            apps = [app for app, _ in watched]
            loops.pop().call_soon_threadsafe(cls._shut_then_relay, apps, previous, signum)
            return None

        return handle

    @staticmethod
    def _shut_then_relay(
        apps: list[ComponentASGI],
        previous: Callable[[int, FrameType | None], Any],
        signum: int,
    ) -> None:
        """On the loop: start every app's shutdown, then relay the signal once their final
        frames went out (or the grace ran out)."""
        shutdowns = [task for app in apps if (task := app.begin_shutdown()) is not None]

        async def relay() -> None:
            try:
                if shutdowns:
                    await aio.wait_all(shutdowns, within=_SIGNAL_CLOSE_GRACE)
            finally:
                _SignalHook.relaying = False
                previous(signum, None)

        _background.add(task := aio.running_loop().create_task(relay()))
        task.add_done_callback(_background.discard)


#: How long a signal waits for the apps' final frames before the server's own handler runs.
_SIGNAL_CLOSE_GRACE: Final = 1.0
#: How long :meth:`ComponentASGI.shutdown` waits for the sockets' close frames to go out.
_SHUTDOWN_CLOSE_GRACE: Final = 0.5
#: Tasks started from synchronous code that nobody awaits (shutdowns, signal relays): held
#: here, since a task nobody references may be collected before it finishes.
_background: set[aio.Task] = set()


class ComponentASGI:
    """Serves registered components over HTTP, SSE and WebSocket as raw ASGI.

    ``app``: an ASGI app to wrap; every path outside ``prefix`` and the lifespan go to it
    (middleware mode). ``registry``: components to serve (default: the default registry).
    ``renderer``: overrides ``Component.renderer`` for these components. ``prefix``: where the
    components live when this app sees full paths (standalone, middleware); ignored when a host
    mounts it (Starlette ``Mount`` tells through ``root_path``). ``settings``: keys and limits
    (default: :meth:`Settings.from_env`). ``shutdown_on_signals``: end open streams and
    sockets on SIGTERM/SIGINT (the server's own handler still runs after ours). ``hub``: where
    live components (WebSocket connections, live SSE streams) receive broadcasts from
    (default: the process-wide hub that a bare ``WebSocketManager()`` also uses).
    ``authorize``: an app-level check ``(context, component, event) -> bool`` run before each
    component's own permissions at every mount, event and stream start (see ``core.access``).
    ``state_store``: where components that keep their state on the server keep it (default:
    built on first use from ``Settings.state_store_location()``: the broker's Redis, else
    this process's memory; see ``docs/server-state.md``).
    """

    def __init__(
        self,
        app: ASGI3Application | Any | None = None,
        *,
        registry: ComponentRegistry | None = None,
        renderer: Renderer | None = None,
        prefix: str = "/components",
        settings: Settings | None = None,
        shutdown_on_signals: bool = True,
        hub: Hub | None = None,
        authorize: AccessHook | None = None,
        state_store: StateStore | None = None,
    ) -> None:
        self.app = app
        self.prefix = _normalise_prefix(prefix)
        dispatcher = Dispatcher(registry, settings, renderer, authorize, state_store)
        app_hub = default_hub() if hub is None else hub
        dispatcher.state.broker_url = lambda: getattr(app_hub.broker, "url", None)
        dispatcher.url_prefix = self.prefix
        #: What every transport is handed with each exchange.
        self.services = services = AppServices(
            dispatcher=dispatcher,
            guard=ClientGuard(dispatcher.settings),
            hub=app_hub,
            streams=StreamRegistry(lambda: app_hub.resume_store),
            stream_gate=StreamGate(),
            sockets=SocketRegistry(),
            static=StaticFiles(
                vendor_directory=dispatcher.settings.vendor_directory,
                debug=dispatcher.settings.debug,
            ),
            uploads=ResumableUploads(dispatcher.registry, dispatcher.settings),
        )
        dispatcher.presence = services.hub.presence
        # The same objects by name on the app, where pages, adapters and tests read them.
        self.dispatcher, self.guard, self.hub = dispatcher, services.guard, services.hub
        self.streams, self.stream_gate = services.streams, services.stream_gate
        self.sockets, self.static = services.sockets, services.static
        self.shutdown_on_signals = shutdown_on_signals
        self._signals_hooked = False
        self._routes = RouteCache(self.prefix)
        # The route tables: a matched route's kind -> the exchange that serves it.
        self._http_routes: dict[RouteKind, HTTPRouteHandler] = {
            RouteKind.COMPONENT: handle_http,
            RouteKind.STREAM: self._serve_stream,
            RouteKind.STATIC: _serve_static,
            RouteKind.WEBSOCKET: _websocket_over_http,
            RouteKind.UPLOADS: handle_resumable,
            RouteKind.EMIT: handle_emit,
            RouteKind.PAGE: self._serve_page_stream,
        }
        self._websocket_routes: dict[RouteKind, WebSocketRouteHandler] = dict.fromkeys(
            RouteKind, _no_websocket_here
        )
        self._websocket_routes[RouteKind.WEBSOCKET] = self._serve_socket

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self.dispatcher.settings

    def script_tags(
        self, *, sse: bool = True, ws: bool = True, url_prefix: str | None = None, htmx: int = 2
    ) -> str:
        """The ``<script>`` tags a page needs: htmx (``htmx=4`` for htmx 4), its ``sse``/``ws``
        extensions and the client runtime (see :func:`component_framework.asgi.static.script_tags`).
        ``url_prefix``: the public URL of this app when a host mounts it elsewhere (default:
        ``prefix``)."""
        prefix = self.prefix if url_prefix is None else url_prefix
        return script_tags(prefix, sse=sse, ws=ws, static=self.static, htmx=htmx)

    @property
    def registry(self) -> ComponentRegistry:
        """The components served."""
        return self.dispatcher.registry

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI entry point (a ``Scope`` with ``ASGIReceiveCallable``/``ASGISendCallable``).

        Annotated with ``Any`` on purpose: Starlette, Litestar and uvicorn each declare their own
        ASGI types, and every one of them must accept this app without a cast."""
        kind = scope["type"]
        if kind == "lifespan":
            if self.app is not None:
                await self.app(scope, self._watch_lifespan(receive), send)
            else:
                await self._lifespan(receive, send)
            return
        resolution = self._routes.resolve(scope)
        if type(resolution) is Route:  # the hot path (_serve, inlined): one table lookup
            routes = self._http_routes if kind == "http" else self._websocket_routes
            await routes[resolution.kind](scope, receive, send, resolution.name, self.services)
            return
        await self._unrouted(scope, receive, send, resolution)

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

    async def _serve(self, scope: Any, receive: Any, send: Any, resolution: Resolution) -> None:
        """Serve ``scope`` as ``resolution`` says: a route through its table, else
        :meth:`_unrouted` (``__call__`` does the same inline, saving an await a request)."""
        if type(resolution) is Route:
            routes = self._http_routes if scope["type"] == "http" else self._websocket_routes
            await routes[resolution.kind](scope, receive, send, resolution.name, self.services)
        else:
            await self._unrouted(scope, receive, send, resolution)

    async def _unrouted(
        self,
        scope: HTTPScope | WebSocketScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        resolution: Resolution,
    ) -> None:
        """A path outside the mount point (the wrapped app's, else 404) or inside it but
        naming no route (404)."""
        if resolution is NOT_OURS and self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            if resolution is None:
                message = f"nothing is served at {shown(scope['path'], 128)}"
            else:
                message = "no component is served here"
            await send_response(send, error_response(NotFound(message)))
        else:
            if resolution is None:
                message = "no WebSocket endpoint here"
            else:
                message = "nothing is served here"
            await _refuse_websocket(scope, receive, send, NotFound(message))

    async def _serve_stream(
        self,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        name: str,
        services: AppServices,
    ) -> None:
        self._hook_signals()
        await handle_sse(scope, receive, send, name, services)

    async def _serve_page_stream(
        self,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        name: str,
        services: AppServices,
    ) -> None:
        self._hook_signals()
        await handle_page_stream(scope, receive, send, name, services)

    def _serve_socket(
        self,
        scope: WebSocketScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        name: str,
        services: AppServices,
    ) -> Awaitable[None]:
        # A plain def handing back the exchange's coroutine: an open socket holds one
        # coroutine frame fewer for its whole life.
        self._hook_signals()
        return handle_websocket(scope, receive, send, name, services)

    async def _lifespan(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _watch_lifespan(self, receive: ASGIReceiveCallable) -> ASGIReceiveCallable:
        """The inner app's lifespan channel, ending our streams when shutdown arrives."""

        async def watched() -> Any:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.shutdown()
            return message

        return watched

    # -- shutdown of open streams -------------------------------------------------------------

    async def shutdown(self) -> None:
        """End every open stream with a final ``shutdown`` frame, close every WebSocket with
        1012 (service restart: clients reconnect to another worker), cancel every stream run
        and live component (their handlers' ``finally`` blocks run), publish the presence
        leaves that causes, and close the store of server-held state the app built. Safe to
        call more than once."""
        self.stream_gate.close()
        closing = self.sockets.close_all()
        # Let open streams and sockets send their final frame before their runs are cancelled
        # (each close is bounded by ws_send_timeout; shutdown waits for them only this long).
        await aio.checkpoint()
        if closing:
            await aio.wait_all(closing, within=_SHUTDOWN_CLOSE_GRACE)
        await self.streams.close_all()
        await self.hub.presence.flush()  # their members leave everywhere now, not at the lease
        await self.dispatcher.state.close()  # after the held components' last writes

    def begin_shutdown(self) -> aio.Task | None:
        """:meth:`shutdown` from synchronous code on the loop's thread (signal handlers); the
        task, or ``None`` when a shutdown had already begun."""
        if self.stream_gate.closing:
            return None
        task = aio.running_loop().create_task(self.shutdown())
        _background.add(task)
        task.add_done_callback(_background.discard)
        return task

    def _hook_signals(self) -> None:
        """On the first stream, make SIGTERM/SIGINT end this app's streams (see module doc)."""
        if self._signals_hooked or not self.shutdown_on_signals:
            return
        self._signals_hooked = True
        _SignalHook.watch(self, aio.running_loop())


# -- the routes served by no transport ---------------------------------------------------------


async def _serve_static(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    path: str,
    services: AppServices,
) -> None:
    """``/_static/{path}``: the browser files, for an allowed host."""
    try:
        services.guard.check_host(RequestHeaders.of(scope).host)
    except ComponentError as refused:
        await send_response(send, error_response(refused))
        return
    await services.static.serve(scope, send, path)


async def _websocket_over_http(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    name: str,
    services: AppServices,
) -> None:
    """``/{name}/ws/`` asked for over plain HTTP."""
    error = NotFound("this is a WebSocket endpoint: connect with a WebSocket client")
    await send_response(send, error_response(error))


async def _no_websocket_here(
    scope: WebSocketScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    name: str,
    services: AppServices,
) -> None:
    """A WebSocket handshake for a route that is no WebSocket endpoint."""
    await _refuse_websocket(scope, receive, send, NotFound("no WebSocket endpoint here"))


async def _refuse_websocket(
    scope: WebSocketScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    error: ComponentError,
) -> None:
    """Refuse a handshake before accepting it (an HTTP error where the server supports
    it, else a close that the server turns into 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await deny_handshake(scope, send, error)
