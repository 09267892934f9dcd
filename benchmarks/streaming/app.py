"""The app under test of the streaming benchmark: a token-streaming component on ``ComponentASGI``.

``GET /components/tokens/stream/?event=run&tokens=N&rate=R&stamp=1&hold=S`` runs
:meth:`TokenStream.on_run`: ``stream_start("out")``, then ``N`` calls of ``stream_text("out", ...)``
paced at ``R`` tokens per second against an absolute schedule (token ``i`` is due ``i / R``
seconds after the first; ``R = 0`` means no pacing at all), then ``stream_done("out")``. With
``hold`` the handler first waits that many seconds after ``stream_start`` (an idle open stream).

Token ``i`` is the text ``t<i> `` or, with ``stamp=1``, ``<i>@<send time> `` where the send time is
``time.time()`` (µs resolution) read just before ``stream_text``: the client subtracts it from the
token's arrival time (same machine, same clock) to get the delivery latency. The in-process
benchmark's virtual clock stamps with its own time instead (:data:`stamp_clock`).

:func:`build_stream_app` is the uvicorn factory; it raises the open-file limit of the server
process and adds ``GET /_bench/stats``: the garbage collector's pauses since the last call (the
client reads it before and after a load). :func:`build_profiled_stream_app` also profiles the
server's thread with cProfile from the factory call to the lifespan shutdown and dumps the stats
to ``$STREAM_BENCH_PROFILE``. ``$STREAM_BENCH_FRAME_INTERVAL`` (seconds) overrides
``Settings.stream_frame_interval``. ``$STREAM_BENCH_GC`` sets the worker's garbage collector,
the same for every contender (:data:`GC_SETTINGS`): ``default``, ``thresholds``
(``gc.set_threshold(7000, 10, 10)`` when the factory runs) or ``freeze`` (``gc.collect()`` and
``gc.freeze()`` when the app reports its lifespan startup complete: the imports and the startup
go to the permanent generation). ``GET /_bench/objects`` answers the tracked objects per
generation and the frozen ones, without resetting anything.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final
from urllib.parse import parse_qsl

from benchmarks.common.asgi import one_client_load, profiled
from benchmarks.common.probes import raise_open_files
from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry

__all__ = [
    "COMPONENT",
    "GC_ENV",
    "GC_SETTINGS",
    "GC_THRESHOLDS",
    "INTERVAL_ENV",
    "OBJECTS_PATH",
    "PROFILE_ENV",
    "STATS_PATH",
    "STREAM",
    "GcPauses",
    "StatsApp",
    "TokenLoopFloor",
    "TokenStream",
    "apply_gc_setting",
    "build_floor_app",
    "build_profiled_stream_app",
    "build_served_token_loop_app",
    "build_stream_app",
    "build_token_loop_app",
    "paced_tokens",
    "stamp_clock",
    "stream_path",
    "token_text",
]

COMPONENT: Final = "tokens"
STREAM: Final = "out"
PROFILE_ENV: Final = "STREAM_BENCH_PROFILE"
STATS_PATH: Final = "/_bench/stats"
OBJECTS_PATH: Final = "/_bench/objects"
GC_ENV: Final = "STREAM_BENCH_GC"
#: The collector settings ``$STREAM_BENCH_GC`` takes (the default first).
GC_SETTINGS: Final = ("default", "thresholds", "freeze")
#: ``thresholds``: the seventh pass's in-process setting (young collections 10x rarer).
GC_THRESHOLDS: Final = (7000, 10, 10)
INTERVAL_ENV: Final = "STREAM_BENCH_FRAME_INTERVAL"
TEMPLATE_NAME: Final = "tokens.html"
TEMPLATE: Final = '<div id="{{ component_id }}"><p data-stream="out"></p></div>'
SECRET_KEY: Final = "streaming-benchmark-key-0123456789abcdef"
REGISTRY: Final = ComponentRegistry()
#: The clock of the tokens' send stamps: the wall clock, which a client in another process
#: reads too; ``benchmarks.streaming.inprocess --virtual-clock`` sets its loop's (plus a
#: fixed epoch, so a stamp has as many digits) and puts this back after the run.
stamp_clock: Callable[[], float] = time.time
FLOOR_REGISTRY: Final = ComponentRegistry()


@REGISTRY.register(COMPONENT)
class TokenStream(StreamingComponent):
    """Streams ``tokens`` text tokens at ``rate`` per second (0: as fast as possible)."""

    template_name = TEMPLATE_NAME
    #: Cancel a run as soon as its client leaves: no run outlives its measurement.
    stream_resume_grace = 0.0
    stream_event = "run"  # a plain async handler that streams: GET may start it

    async def on_run(self, tokens: int, rate: float, stamp: bool = False, hold: float = 0) -> None:
        await self.stream_start(STREAM)
        async for text in paced_tokens(tokens, rate, stamp=stamp, hold=hold):
            await self.stream_text(STREAM, text)
        await self.stream_done(STREAM)
        self.state["sent"] = tokens


@FLOOR_REGISTRY.register(COMPONENT)
class TokenLoopFloor(StreamingComponent):
    """:class:`TokenStream` without its tokens: the same run, ``stream_start``, paced token
    loop (each token's text made on its schedule) and ``stream_done``, but no
    ``stream_text``. What it costs is the part of a paced token that is not the library's
    stream path (the benchmark's loop, the handler's coroutine chain, the event loop)."""

    template_name = TEMPLATE_NAME
    stream_resume_grace = 0.0
    stream_event = "run"

    async def on_run(self, tokens: int, rate: float, stamp: bool = False, hold: float = 0) -> None:
        await self.stream_start(STREAM)
        async for _text in paced_tokens(tokens, rate, stamp=stamp, hold=hold):
            pass  # the token is made on time and dropped
        await self.stream_done(STREAM)
        self.state["sent"] = tokens


async def paced_tokens(
    tokens: int, rate: float, *, stamp: bool, hold: float = 0
) -> AsyncIterator[str]:
    """The token texts of one stream on its schedule, the one every contender serves: after
    ``hold`` seconds, token ``i`` when ``i / rate`` seconds have passed since the first (an
    absolute schedule; ``rate`` 0: as fast as the consumer takes them), each stamped as it is
    produced."""
    if hold > 0:
        await asyncio.sleep(hold)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(tokens):
        if rate > 0:
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield token_text(index, stamp=stamp)


def token_text(index: int, *, stamp: bool) -> str:
    """Token ``index``: ``t<i> `` or, stamped, ``<i>@<stamp_clock() now> `` (µs resolution)."""
    return f"{index}@{stamp_clock():.6f} " if stamp else f"t{index} "


def stream_path(tokens: int, rate: float, *, stamp: bool, hold: float = 0) -> str:
    """The request target of one stream."""
    query = f"event=run&tokens={tokens}&rate={rate:g}&stamp={int(stamp)}"
    if hold > 0:
        query += f"&hold={hold:g}"
    return f"/components/{COMPONENT}/stream/?{query}"


def _app(registry: ComponentRegistry = REGISTRY) -> ComponentASGI:
    overrides: dict[str, Any] = {}
    interval = os.environ.get(INTERVAL_ENV)
    if interval:
        overrides["stream_frame_interval"] = float(interval)
    return ComponentASGI(
        registry=registry,
        renderer=Jinja2Renderer.from_strings({TEMPLATE_NAME: TEMPLATE}),
        settings=one_client_load(Settings(secret_keys=(SECRET_KEY,), **overrides)),
    )


class GcPauses:
    """Garbage collector pauses of this process, per generation, since the last :meth:`take`."""

    def __init__(self) -> None:
        self._started = 0.0
        self._reset()

    def _reset(self) -> None:
        self.count = [0, 0, 0]
        self.total = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]

    def callback(self, phase: str, info: dict[str, int]) -> None:
        """A ``gc.callbacks`` entry."""
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        self.count[generation] += 1
        self.total[generation] += pause
        self.longest[generation] = max(self.longest[generation], pause)

    def take(self) -> dict[str, Any]:
        """The pauses so far (ms) and the tracked object count; starts counting afresh."""
        document = {
            f"gen{generation}": {
                "collections": self.count[generation],
                "total_ms": round(self.total[generation] * 1000, 1),
                "max_ms": round(self.longest[generation] * 1000, 1),
            }
            for generation in range(3)
        }
        self._reset()
        return document


def apply_gc_setting() -> str:
    """Apply ``$STREAM_BENCH_GC``'s setting that takes effect at once (``thresholds``) and
    return the setting; ``freeze`` is done by :class:`StatsApp` at the lifespan startup."""
    setting = os.environ.get(GC_ENV) or "default"
    if setting not in GC_SETTINGS:
        raise ValueError(f"${GC_ENV}: {setting!r} is not one of {', '.join(GC_SETTINGS)}")
    if setting == "thresholds":
        gc.set_threshold(*GC_THRESHOLDS)
    return setting


def tracked_objects() -> dict[str, int]:
    """The objects the collector tracks, per generation, and the frozen ones."""
    counts = {f"gen{generation}": len(gc.get_objects(generation)) for generation in range(3)}
    return {**counts, "frozen": gc.get_freeze_count()}


class StatsApp:
    """An app under test (ours or the contender), plus ``GET /_bench/stats`` (GC pauses since
    the last call) and ``GET /_bench/objects`` (:func:`tracked_objects`); with the ``freeze``
    setting it freezes the collector's objects once the app's lifespan startup is complete."""

    def __init__(self, app: Any, pauses: GcPauses) -> None:
        self.app = app
        self.pauses = pauses
        self.freeze = apply_gc_setting() == "freeze"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in (STATS_PATH, OBJECTS_PATH):
            found = {"gc": self.pauses.take()} if scope["path"] == STATS_PATH else tracked_objects()
            body = json.dumps(found).encode()
            headers = [(b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode())]  # fmt: skip
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "lifespan" and self.freeze:
            await self.app(scope, receive, _freezing(send))
            return
        await self.app(scope, receive, send)


def _freezing(send: Any) -> Any:
    """``send`` that freezes the collector's objects as the lifespan startup completes."""

    async def freezing(message: Any) -> None:
        if message["type"] == "lifespan.startup.complete":
            gc.collect()
            gc.freeze()
        await send(message)

    return freezing


def build_stream_app() -> Any:
    """uvicorn factory: ``ComponentASGI`` serving :class:`TokenStream` at ``/components``,
    plus ``GET /_bench/stats``."""
    raise_open_files(65536)
    pauses = GcPauses()
    gc.callbacks.append(pauses.callback)
    return StatsApp(_app(), pauses)


def build_floor_app() -> Any:
    """:func:`build_stream_app` serving :class:`TokenLoopFloor` in place of
    :class:`TokenStream` (the in-process benchmark's floor)."""
    pauses = GcPauses()
    gc.callbacks.append(pauses.callback)
    return StatsApp(_app(FLOOR_REGISTRY), pauses)


class TokenLoopApp:
    """The paced token loop of a stream request and nothing else: no framework, no frames
    (``200``, then one plain ``done`` frame after the last token, which sse-starlette's
    reader takes). Against :func:`build_floor_app` it counts what the library adds to the
    floor (the run's task, its coroutine layers, its timers)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # a server's startup and shutdown, nothing else
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        query = dict(parse_qsl(scope["query_string"].decode()))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})  # fmt: skip
        tokens, rate, stamp = int(query["tokens"]), float(query["rate"]), query["stamp"] == "1"
        async for _text in paced_tokens(tokens, rate, stamp=stamp):
            pass  # made on time and dropped, as the floor's
        await send({"type": "http.response.body", "body": b"event: done\ndata: done\n\n"})


def build_token_loop_app() -> Any:
    """:class:`TokenLoopApp`, the in-process benchmark's bare token loop."""
    return TokenLoopApp()


def build_served_token_loop_app() -> Any:
    """uvicorn factory: :class:`TokenLoopApp` plus ``GET /_bench/stats`` (the token loop
    alone through a real server)."""
    raise_open_files(65536)
    pauses = GcPauses()
    gc.callbacks.append(pauses.callback)
    return StatsApp(TokenLoopApp(), pauses)


def build_profiled_stream_app() -> Any:
    """uvicorn factory: :func:`build_stream_app` under cProfile, dumped to the file named by
    ``$STREAM_BENCH_PROFILE`` at the lifespan shutdown."""
    return profiled(build_stream_app(), os.environ[PROFILE_ENV])
