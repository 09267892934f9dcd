"""The apps under test of the WebSocket benchmark, each a uvicorn factory.

Every contender serves the counter over WebSocket at ``/components/counter/ws/`` with the
framework's JSON protocol: at connect the initial render (count 0, ``ref`` null); then for each
``{"type": "event", "event": "increment", "payload": {}, "ref": N}`` one answer
``{"type": "render", "html", "state", "snapshot", "component_id", "ref": N}``:

(a) ``floor``: :class:`WsFloorApp`, a bare ASGI WebSocket app around :class:`WsCounterWork`
    (``json.loads``, the handler, the same compiled Jinja2 template with the context a
    ``Component`` gets, ``SnapshotSigner.sign``, the compact JSON answer): the least a server
    answering the same messages can do.
(b) ``components``: ``ComponentASGI`` serving a registered ``counter`` component (and the
    ``ticker`` of the broadcast runs), plus the benchmark routes below.
(c) ``litestar``: a Litestar ``@websocket`` handler running :class:`WsCounterWork`.
(d) ``starlette``: a Starlette ``WebSocketEndpoint`` running :class:`WsCounterWork`.

The ``ComponentASGI`` app also answers, outside ``/components``:

- ``POST /_bench/broadcast`` (JSON ``{"price": P}``): reads ``time.time()``, then runs
  ``WebSocketManager().broadcast(component_name="ticker", event="price_update",
  payload={"price": P})`` on the process's default hub (so with
  ``COMPONENT_FRAMEWORK_BROKER_URL`` it also reaches the other workers through the broker);
  answers ``{"stamp", "returned", "reached", "pid"}``;
- ``GET /_bench/memory?mark=NAME``: the process's ``VmRSS``, live ``ticker`` members, and with
  ``$WS_BENCH_TRACEMALLOC=1`` (tracemalloc started in the factory) the Python allocations still
  alive, grouped by package, against the snapshot marked ``before``;
- ``GET /_bench/gc``: how many full collections of the garbage collector the process ran so
  far and their wall time in ms (``{"full_collections", "full_collection_ms"}``), counted by
  a ``gc.callbacks`` hook from the factory on (the memory route's own ``gc.collect()`` counts
  too: read it around the broadcasts only).

With ``$WS_BENCH_SLICE`` set (seconds) the factory makes the hub's fan-out slices that long
(:mod:`benchmarks.websocket.perfcount`: under valgrind a 2 ms slice would hold a member or two).

The ``ComponentASGI`` settings raise ``ws_rate``/``ws_burst`` (50/s and 100 by default) so the
closed-loop client, which sends the next event as soon as it has the answer, is never rate
limited; the token bucket still runs on every message.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import time
import tracemalloc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

import jinja2
from litestar import Litestar, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect as LitestarDisconnect
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket

from benchmarks.common.asgi import one_client_load, profiled, serve_lifespan
from benchmarks.common.counter import SECRET_KEY, TEMPLATE, TEMPLATE_NAME
from benchmarks.common.probes import raise_open_files, read_rss_kib
from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager
from component_framework.protocol.snapshot import SnapshotSigner

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope

__all__ = [
    "BROADCAST_PATH",
    "COUNTER",
    "COUNTER_PATH",
    "GC_PATH",
    "MEMORY_PATH",
    "PROFILE_ENV",
    "SLICE_ENV",
    "TICKER",
    "TICKER_PATH",
    "TRACE_ENV",
    "WsCounterWork",
    "WsFloorApp",
    "build_profiled_ws_components",
    "build_ws_components",
    "build_ws_floor",
    "build_ws_litestar",
    "build_ws_starlette",
]

COUNTER: Final = "counter"
TICKER: Final = "ticker"
COUNTER_PATH: Final = f"/components/{COUNTER}/ws/"
TICKER_PATH: Final = f"/components/{TICKER}/ws/"
BROADCAST_PATH: Final = "/_bench/broadcast"
MEMORY_PATH: Final = "/_bench/memory"
GC_PATH: Final = "/_bench/gc"
TRACE_ENV: Final = "WS_BENCH_TRACEMALLOC"
PROFILE_ENV: Final = "WS_BENCH_PROFILE"
SLICE_ENV: Final = "WS_BENCH_SLICE"
TICKER_TEMPLATE_NAME: Final = "ticker.html"
TICKER_TEMPLATE: Final = (
    '<div id="{{ component_id }}" class="ticker"><span class="price">{{ price }}</span></div>'
)
OPEN_FILES: Final = 65536
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
REGISTRY: Final = ComponentRegistry()


@REGISTRY.register(COUNTER)
class WsCounter(Component):
    """The guide's counter, held by the connection."""

    template_name = TEMPLATE_NAME

    def mount(self) -> None:
        self.state["count"] = 0

    def on_increment(self) -> None:
        self.state["count"] += 1


@REGISTRY.register(TICKER)
class Ticker(Component):
    """A price ticker updated by broadcasts."""

    template_name = TICKER_TEMPLATE_NAME

    def mount(self) -> None:
        self.state["price"] = 0.0

    def on_price_update(self, price: float) -> None:
        self.state["price"] = price


# -- the work every non-framework contender does ----------------------------------------------


def _increment(state: dict[str, Any]) -> None:
    state["count"] += 1


_HANDLERS: Final[dict[str, Callable[[dict[str, Any]], None]]] = {"increment": _increment}


class WsCounterWork:
    """The counter over WebSocket with no framework: one instance per app."""

    def __init__(self) -> None:
        self.signer = SnapshotSigner([SECRET_KEY])
        self.template = jinja2.Environment(autoescape=True).from_string(TEMPLATE)

    def start(self) -> WsCounterState:
        """A new connection's counter (mounted: count 0)."""
        return WsCounterState(self, f"{COUNTER}-{secrets.token_urlsafe(9)}")


class WsCounterState:
    """One connection's counter: the initial render and the answer to each message."""

    __slots__ = ("component_id", "state", "work")

    def __init__(self, work: WsCounterWork, component_id: str) -> None:
        self.work = work
        self.component_id = component_id
        self.state: dict[str, Any] = {"count": 0}

    def render(self, ref: object) -> str:
        """The render message of the current state."""
        state = self.state
        context = dict(state)
        context["state"] = state
        context["component_id"] = self.component_id
        context["component_name"] = COUNTER
        answer = {
            "type": "render",
            "html": self.work.template.render(context),
            "state": state,
            "snapshot": self.work.signer.sign(COUNTER, self.component_id, state),
            "component_id": self.component_id,
            "ref": ref,
        }
        return _COMPACT.encode(answer)

    def handle(self, text: str) -> str:
        """Parse one client message, run its handler, answer the new render (or an error)."""
        try:
            document = json.loads(text)
        except ValueError:
            return _error("malformed_request", "not JSON", None)
        if not isinstance(document, dict):
            return _error("malformed_request", "expected an object", None)
        ref = document.get("ref")
        handler = _HANDLERS.get(document.get("event"))  # type: ignore[arg-type]
        if document.get("type") != "event" or handler is None:
            return _error("event_not_found", "unknown event", ref)
        handler(self.state)
        return self.render(ref)


def _error(code: str, message: str, ref: object) -> str:
    return _COMPACT.encode({"type": "error", "code": code, "message": message, "ref": ref})


# -- (a) the floor ---------------------------------------------------------------------------


class WsFloorApp:
    """A bare ASGI app serving only the counter socket through :class:`WsCounterWork`."""

    def __init__(self) -> None:
        self.work = WsCounterWork()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "websocket":
            return
        if (await receive())["type"] != "websocket.connect":
            return
        if scope["path"] != COUNTER_PATH:
            await send({"type": "websocket.close", "code": 1008, "reason": "not found"})
            return
        await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
        counter = self.work.start()
        await send({"type": "websocket.send", "bytes": None, "text": counter.render(None)})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text")
            if text is not None:
                answer = counter.handle(text)
                await send({"type": "websocket.send", "bytes": None, "text": answer})


def build_ws_floor() -> Any:
    """(a) The hand-written bare ASGI WebSocket app."""
    raise_open_files(OPEN_FILES)
    return WsFloorApp()


# -- (c) Litestar, (d) Starlette -------------------------------------------------------------


def build_ws_litestar() -> Any:
    """(c) A Litestar ``@websocket`` handler doing the floor's work."""
    raise_open_files(OPEN_FILES)
    work = WsCounterWork()

    @websocket(COUNTER_PATH)
    async def counter(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        held = work.start()
        await socket.send_text(held.render(None))
        try:
            while True:
                await socket.send_text(held.handle(await socket.receive_text()))
        except LitestarDisconnect:
            return

    return Litestar(route_handlers=[counter])


class _StarletteCounter(WebSocketEndpoint):
    """(d) One connection's counter as a Starlette endpoint (instantiated per connection)."""

    encoding = "text"
    work: WsCounterWork
    held: WsCounterState

    async def on_connect(self, websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        self.held = self.work.start()
        await websocket.send_text(self.held.render(None))

    async def on_receive(self, websocket: StarletteWebSocket, data: Any) -> None:
        await websocket.send_text(self.held.handle(data))


def build_ws_starlette() -> Any:
    """(d) A Starlette ``WebSocketEndpoint`` doing the floor's work."""
    raise_open_files(OPEN_FILES)
    endpoint = type("CounterEndpoint", (_StarletteCounter,), {"work": WsCounterWork()})
    return Starlette(routes=[WebSocketRoute(COUNTER_PATH, endpoint)])


# -- (b) ComponentASGI, with the benchmark routes ---------------------------------------------


async def _json(send: ASGISendCallable, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers,
                "trailers": False})  # fmt: skip
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _body(receive: ASGIReceiveCallable) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


def _package(filename: str) -> str:
    for name in ("component_framework", "uvicorn", "websockets", "wsproto", "jinja2",
                 "asyncio", "uvloop"):  # fmt: skip
        if f"/{name}/" in filename or f"/{name}." in filename:
            return name
    return "other"


class _FullCollections:
    """Counts the process's full collections (generation 2) and their wall time."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._started

    def document(self) -> dict[str, Any]:
        return {"full_collections": self.count,
                "full_collection_ms": round(self.seconds * 1000, 3)}  # fmt: skip


class _BenchRoutes:
    """``/_bench/broadcast``, ``/_bench/memory`` and ``/_bench/gc`` (everything outside
    ``/components``)."""

    def __init__(self, manager: WebSocketManager) -> None:
        self.manager = manager
        self.before: tracemalloc.Snapshot | None = None
        self.collections = _FullCollections()
        gc.callbacks.append(self.collections)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == BROADCAST_PATH and scope["method"] == "POST":
            price = float(json.loads(await _body(receive))["price"])
            stamp = time.time()
            reached = await self.manager.broadcast(
                component_name=TICKER, event="price_update", payload={"price": price}
            )
            returned = time.time()
            await _json(send, 200, {"stamp": stamp, "returned": returned, "reached": reached,
                                    "pid": os.getpid()})  # fmt: skip
        elif path == GC_PATH:
            await _json(send, 200, self.collections.document())
        elif path == MEMORY_PATH:
            query = parse_qs(scope["query_string"].decode())
            await _json(send, 200, self._memory(query.get("mark", [""])[0]))
        else:
            await _json(send, 404, {"error": "not found"})

    def _memory(self, mark: str) -> dict[str, Any]:
        gc.collect()
        document: dict[str, Any] = {
            "pid": os.getpid(),
            "rss_kib": read_rss_kib(os.getpid()),
            "members": self.manager.connections(TICKER),
        }
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot()
            document["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
            if mark == "before":
                self.before = snapshot
            elif self.before is not None:
                by_package: dict[str, int] = {}
                for stat in snapshot.compare_to(self.before, "filename"):
                    name = _package(stat.traceback[0].filename)
                    by_package[name] = by_package.get(name, 0) + stat.size_diff
                document["traced_diff_bytes"] = by_package
        return document


def build_ws_components() -> Any:
    """(b) ``ComponentASGI`` serving ``counter`` and ``ticker``, plus the benchmark routes."""
    raise_open_files(OPEN_FILES)
    if os.environ.get(TRACE_ENV) == "1":
        tracemalloc.start()
    manager = WebSocketManager()  # the process's default hub, as ComponentASGI's
    if SLICE_ENV in os.environ:
        manager.hub.turns.slice_seconds = float(os.environ[SLICE_ENV])
    renderer = Jinja2Renderer.from_strings(
        {TEMPLATE_NAME: TEMPLATE, TICKER_TEMPLATE_NAME: TICKER_TEMPLATE}
    )
    settings = one_client_load(Settings(secret_keys=(SECRET_KEY,), ws_rate=1e6, ws_burst=1_000_000))
    return ComponentASGI(
        app=_BenchRoutes(manager), registry=REGISTRY, renderer=renderer, settings=settings
    )


def build_profiled_ws_components() -> Any:
    """:func:`build_ws_components` under cProfile, dumped to ``$WS_BENCH_PROFILE`` at the
    lifespan shutdown (diagnostic: :mod:`benchmarks.websocket.profile`)."""
    return profiled(build_ws_components(), os.environ[PROFILE_ENV])
