"""The app under test of the soak run (:mod:`benchmarks.soak`): one ``ComponentASGI`` in
middleware mode serving three components, plus a test-only memory endpoint.

Components, at ``/components``:

- ``counter`` (HTTP): the guide's counter (``increment``), chained through its snapshot;
- ``room`` (WebSocket): ``mount(room="lobby")``, listens to the topic ``room:<room>`` while live,
  ``say(text)`` counts what was said;
- ``tokens`` (SSE): ``run(tokens, rate)`` streams ``t0 t1 ...`` through ``stream_text`` at
  ``rate`` tokens per second, then ``stream_done``; a run keeps going for
  :data:`STREAM_GRACE` seconds after its last reader left (so a client can resume it with
  ``Last-Event-ID``), then it is cancelled.

The inner app (everything outside ``/components``) answers, to 127.0.0.1 only (403 otherwise):

- ``GET /_soak/counters``: what must drain back to zero: stream runs, hub members, open
  sockets, the guard's open streams and sockets, stream wake-ups, body reads in progress, and
  the event loop's tasks (the framework's own ``component-*`` tasks apart);
- ``GET /_soak/memory?mark=NAME``: a full garbage collection, then the counters, ``VmRSS``
  from ``/proc/self/status``, tracemalloc's current traced memory, the number of objects the
  collector tracks and, against the mark named ``baseline``, the top growth by file and line
  (the mark ``baseline`` records the reference).

:func:`build_soak_app` is the uvicorn factory: it starts tracemalloc
(``$SOAK_TRACEMALLOC_FRAMES`` frames per trace, default 1) and raises the open-file limit.
:func:`soak_app` builds the same app without tracing (for in-process tests).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import tracemalloc
from collections import Counter
from typing import Any, Final
from urllib.parse import parse_qs

from benchmarks.common.asgi import one_client_load, serve_lifespan
from benchmarks.common.counter import TEMPLATE, TEMPLATE_NAME
from benchmarks.common.probes import raise_open_files, read_rss_kib
from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry

__all__ = [
    "BASELINE",
    "COUNTERS_PATH",
    "COUNTER_NAME",
    "DRAINED",
    "MEMORY_PATH",
    "ROOM_NAME",
    "SECRET_KEY",
    "STREAM_GRACE",
    "TOKENS_NAME",
    "build_soak_app",
    "soak_app",
]

COUNTER_NAME: Final = "counter"
ROOM_NAME: Final = "room"
TOKENS_NAME: Final = "tokens"
COUNTERS_PATH: Final = "/_soak/counters"
MEMORY_PATH: Final = "/_soak/memory"
BASELINE: Final = "baseline"
SECRET_KEY: Final = "soak-run-secret-key-0123456789abcdef"
FRAMES_ENV: Final = "SOAK_TRACEMALLOC_FRAMES"
#: Seconds a stream run outlives its last reader (room for a ``Last-Event-ID`` resume).
STREAM_GRACE: Final = 2.0
#: The counters that must be back to zero once every client has gone.
DRAINED: Final = (
    "stream_runs", "hub_members", "sockets", "guard_open_streams", "guard_open_sockets",
    "stream_wakeups", "body_reads", "component_tasks",
)  # fmt: skip
_LOOPBACK: Final = "127.0.0.1"
_TOP_LINES: Final = 10
_ROOM_TEMPLATE: Final = (
    '<div id="{{ component_id }}" class="room"><h2>{{ room }}</h2>'
    "<p>{{ said }} said, last: {{ last }}</p></div>"
)
_TOKENS_TEMPLATE: Final = '<div id="{{ component_id }}"><p data-stream="out"></p></div>'
_SHORT: Final = re.compile(r"^.*/(site-packages|src|lib/python3\.\d+)/")
_TASK_ID: Final = re.compile(r"-[A-Za-z0-9_-]{6,}$|-\d+$")
REGISTRY: Final = ComponentRegistry()


@REGISTRY.register(COUNTER_NAME)
class SoakCounter(Component):
    """The guide's counter (HTTP)."""

    template_name = TEMPLATE_NAME

    def mount(self) -> None:
        self.state["count"] = 0

    def on_increment(self) -> None:
        self.state["count"] += 1


@REGISTRY.register(ROOM_NAME)
class Room(Component):
    """A chat-room-like component held by a WebSocket connection."""

    template_name = "room.html"

    def mount(self, room: str = "lobby") -> None:
        self.state.update(room=room, said=0, last="")

    def topics(self) -> list[str]:
        return [f"room:{self.state['room']}"]

    def on_say(self, text: str) -> None:
        self.state["said"] += 1
        self.state["last"] = text[:64]


@REGISTRY.register(TOKENS_NAME)
class Tokens(StreamingComponent):
    """Streams ``tokens`` text tokens at ``rate`` per second (SSE)."""

    template_name = "tokens.html"
    stream_resume_grace = STREAM_GRACE
    stream_event = "run"  # a plain async handler that streams: GET may start it

    async def on_run(self, tokens: int, rate: float) -> None:
        await self.stream_start("out")
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(tokens):
            delay = start + index / rate - loop.time() if rate > 0 else 0.0
            if delay > 0:
                await asyncio.sleep(delay)
            await self.stream_text("out", f"t{index} ")
        await self.stream_done("out")
        self.state["sent"] = tokens


class _SoakRoutes:
    """The inner app: ``/_soak/counters`` and ``/_soak/memory`` (see the module docstring)."""

    def __init__(self) -> None:
        self.app: ComponentASGI | None = None
        self.baseline: dict[tuple[str, int], int] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008, "reason": "not found"})
            return
        client = scope.get("client")
        if not client or client[0] != _LOOPBACK:
            await _json(send, 403, {"error": "loopback only"})
        elif scope["path"] == COUNTERS_PATH:
            await _json(send, 200, self.counters())
        elif scope["path"] == MEMORY_PATH:
            mark = parse_qs(scope["query_string"].decode("latin-1")).get("mark", [""])[0]
            await _json(send, 200, self.memory(mark))
        else:
            await _json(send, 404, {"error": "not found"})

    def counters(self) -> dict[str, Any]:
        """What must drain: the app's registries and the event loop's tasks (but this one)."""
        app = self.app
        assert app is not None
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        names = Counter(_TASK_ID.sub("", task.get_name()) for task in tasks)
        return {
            "stream_runs": len(app.streams.runs),
            "hub_members": len(app.hub),
            "sockets": len(app.sockets.connections),
            "guard_open_streams": app.guard.open_count("stream"),
            "guard_open_sockets": app.guard.open_count("socket"),
            "stream_wakeups": len(app.stream_gate.wakeups),
            "body_reads": len(app.guard.body_deadlines.reading),
            "component_tasks": sum(1 for t in tasks if t.get_name().startswith("component-")),
            "tasks": len(tasks),
            "task_names": dict(sorted(names.items())),
        }

    def memory(self, mark: str) -> dict[str, Any]:
        """A full collection, then the counters, RSS, traced memory and the top growth."""
        gc.collect()
        gc.collect()
        tracing = tracemalloc.is_tracing()
        if tracing and mark == BASELINE:  # kept from now on: part of every later figure too
            self.baseline = _sizes_by_line()
            gc.collect()
        document: dict[str, Any] = {"mark": mark, **self.counters()}
        document["gc_objects"] = len(gc.get_objects())
        document["traced_bytes"] = tracemalloc.get_traced_memory()[0] if tracing else None
        document["rss_kib"] = read_rss_kib(os.getpid())
        if not tracing:
            return document
        document["tracemalloc_overhead_bytes"] = tracemalloc.get_tracemalloc_memory()
        if mark != BASELINE and self.baseline is not None:
            document["top_growth"] = _top_growth(self.baseline, _sizes_by_line())
        return document


def _sizes_by_line() -> dict[tuple[str, int], int]:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, __file__),  # the baseline kept here
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
            tracemalloc.Filter(False, "<unknown>"),
        )
    )
    sizes: dict[tuple[str, int], int] = {}
    for stat in snapshot.statistics("lineno"):
        frame = stat.traceback[0]
        sizes[(frame.filename, frame.lineno)] = stat.size
    return sizes


def _short(filename: str) -> str:
    """``filename`` from its package (or the standard library) down."""
    return _SHORT.sub("", filename)


def _top_growth(
    before: dict[tuple[str, int], int], after: dict[tuple[str, int], int]
) -> list[dict[str, Any]]:
    growth = {key: after.get(key, 0) - before.get(key, 0) for key in before.keys() | after.keys()}
    top = sorted(growth.items(), key=lambda item: item[1], reverse=True)[:_TOP_LINES]
    return [
        {"where": f"{_short(filename)}:{lineno}", "bytes": size}
        for (filename, lineno), size in top
        if size > 0
    ]


async def _json(send: Any, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def soak_app() -> ComponentASGI:
    """The soak app, without tracemalloc: ``ComponentASGI`` in middleware mode around the
    ``/_soak`` routes, with the per-client limits raised for one load address."""
    routes = _SoakRoutes()
    renderer = Jinja2Renderer.from_strings(
        {TEMPLATE_NAME: TEMPLATE, "room.html": _ROOM_TEMPLATE, "tokens.html": _TOKENS_TEMPLATE}
    )
    settings = one_client_load(Settings(secret_keys=(SECRET_KEY,), ws_rate=1e6, ws_burst=10**6))
    app = ComponentASGI(routes, registry=REGISTRY, renderer=renderer, settings=settings)
    routes.app = app
    return app


def build_soak_app() -> Any:
    """uvicorn factory: tracemalloc on from here, then :func:`soak_app`."""
    raise_open_files(65536)
    if not tracemalloc.is_tracing():
        tracemalloc.start(int(os.environ.get(FRAMES_ENV, "1")))
    return soak_app()
