"""The app's own CPU per paced token, with no server: ``python -m benchmarks.streaming.inprocess``.

``python -m benchmarks.streaming.inprocess [--streams 100,300,600] [--seconds 3] [--rounds 2]
[--only NAME,NAME] [--rate 100] [--virtual-clock] [--no-check] [--gc SETTING] [--smoke]``

Each contender's app (``ComponentASGI`` of :mod:`benchmarks.streaming.app`, sse-starlette of
:mod:`benchmarks.streaming.contender`, ``ComponentASGI`` with each stream opened over a page
connection of its own, with compact frames as the client runtime asks, and without; and
``ComponentASGI floor``, the same run and token loop without ``stream_text``:
:class:`benchmarks.streaming.app.TokenLoopFloor`; ``token loop alone``, that token loop with no
framework at all: :class:`benchmarks.streaming.app.TokenLoopApp`) is called directly on uvloop, one
in-memory ``receive``/``send`` pair per stream: ``--streams`` paced streams of ``--rate`` (100)
stamped tokens/s for ``--seconds``, opened evenly over one second, exactly as part 2 of the
benchmark requests them. ``send`` only keeps the bytes; no uvicorn, no sockets, so the process CPU
time per token holds only what the app and its token loop spend (through uvicorn, the server's
``send`` and the kernel's loopback ``write`` per frame add to it, and the machine's noise hides
changes of a few µs). Contenders alternate from round to round. Every stream is decoded and checked
after the run (:class:`benchmarks.streaming.decode.ResponseReader`: every token once, in order, and
the final frame; exit status 1 otherwise; ``--no-check`` skips it, so that an instruction count can
tell the decoder's share), and each token's latency is the time of the ``send`` that carried it less
its stamp (p50 and p99 in ms; under ``--virtual-clock`` both are the loop's virtual time, so the
latency is what the frame clock's batching adds, with no CPU time in it). Diagnostic only: never
fails on timing. Pin it to one CPU (``taskset -c 0``) and alternate the trees compared
(``PYTHONPATH``), as in docs/benchmarks.md.
``--virtual-clock`` runs asyncio's own loop on a virtual clock instead of uvloop
(:class:`VirtualClockLoop`): the loop is never late, so every run of a tree makes the same
frames (on a busy machine the frames per token, and with them the CPU per token, move with the
load), and an A/B compares CPU time alone; asyncio's loop costs more per wakeup than uvloop, so
compare its figures only with each other.
``--gc thresholds|freeze`` sets the garbage collector for every contender alike, as
``$STREAM_BENCH_GC`` does in the server (:mod:`benchmarks.streaming.app`): ``thresholds`` before
the app is built, ``freeze`` (``gc.collect()``, ``gc.freeze()``) after its warm-up stream, where a
server's lifespan startup would be; both undone after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import uvloop

from benchmarks.common.probes import percentile
from benchmarks.streaming import app as streaming_app
from benchmarks.streaming.app import (
    GC_SETTINGS,
    GC_THRESHOLDS,
    build_floor_app,
    build_stream_app,
    build_token_loop_app,
    stream_path,
)
from benchmarks.streaming.contender import build_contender_app
from benchmarks.streaming.decode import ResponseReader, WrongStream

__all__ = ["main"]

RATE = 100.0  # tokens per second per stream, as in part 2 of the benchmark
HOST = (b"host", b"127.0.0.1:8000")
STAMP_EPOCH = 1_700_000_000.0


class _Stream:
    """One stream request's ASGI exchange in memory: the body kept, the end awaited."""

    def __init__(self, request: bytes | None = None) -> None:
        self.request = request  # a page connection's body, received once
        self.page = request is not None
        self.status = 0
        self.content_type = ""
        self.body: list[bytes] = []
        self.at: list[float] = []  # per body part: when it was sent, on the stamps' clock
        self.sends = 0
        self.ended = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if self.request is not None:
            body, self.request = self.request, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.ended.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = dict(message.get("headers", []))
            self.content_type = headers.get(b"content-type", b"").decode("latin-1")
            return
        self.sends += 1
        self.body.append(message.get("body", b""))
        self.at.append(streaming_app.stamp_clock())
        if not message.get("more_body", False):
            self.ended.set()

    def check(self, tokens: int, plain: bool) -> list[float]:
        """Decode and check the body; each token's latency (s)."""
        reader = ResponseReader(expected_tokens=tokens, stamped=True, plain=plain, page=self.page)
        head = f"HTTP/1.1 {self.status} OK\r\ncontent-type: {self.content_type}\r\n\r\n"
        reader.feed(0.0, head.encode("latin-1"))
        for at, part in zip(self.at, self.body, strict=True):
            reader.feed(at, part)
        reader.check_complete()
        return [arrived - sent for sent, arrived in zip(reader.sent, reader.arrived, strict=True)]


def _scope(target: str) -> dict[str, Any]:
    path, _, query = target.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "headers": [HOST], "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip


def _page_body(target: str, frames: str) -> bytes:
    """The page connection's request naming the one stream ``target``."""
    path, _, query = target.partition("?")
    entry = {"key": "1", "name": path.split("/")[2], "query": query}
    return json.dumps({"streams": [entry], "frames": frames}).encode()


def _page_scope(body: bytes) -> dict[str, Any]:
    scope = _scope("/components/_page/")
    scope["method"] = "POST"
    length = str(len(body)).encode()
    scope["headers"] = [HOST, (b"content-type", b"application/json"), (b"content-length", length)]
    return scope


async def _load(
    app: Any,
    streams: int,
    seconds: float,
    contender: tuple[Any, bool, str | None, bool],
    check: bool = True,
    rate: float = RATE,
    gc_setting: str = "default",
) -> dict[str, Any]:
    """``contender``: see :data:`CONTENDERS`; ``check``: decode and check every stream;
    ``gc_setting``: ``freeze`` freezes the collector's objects after the warm-up."""
    _factory, plain, frames, carries_tokens = contender
    tokens = round(rate * seconds)
    target = stream_path(tokens, rate, stamp=True)
    scope = _scope(target)
    body = None
    if frames is not None:
        body = _page_body(target, frames)
        scope = _page_scope(body)
    warm = _Stream()
    await app(_scope(stream_path(20, 0, stamp=True)), warm.receive, warm.send)
    exchanges = [_Stream(body) for _ in range(streams)]
    gc.collect()
    if gc_setting == "freeze":
        gc.freeze()
    loop = asyncio.get_running_loop()  # its time: the virtual one under --virtual-clock
    if isinstance(loop, VirtualClockLoop):
        streaming_app.stamp_clock = loop.stamp_time
    cpu, wall = time.process_time(), loop.time()
    tasks = []
    for exchange in exchanges:
        tasks.append(asyncio.create_task(app(dict(scope), exchange.receive, exchange.send)))
        await asyncio.sleep(1 / streams)
    await asyncio.gather(*tasks)
    cpu, wall = time.process_time() - cpu, loop.time() - wall
    streaming_app.stamp_clock = time.time
    latencies = [
        latency
        for exchange in (exchanges if check else ())
        for latency in exchange.check(tokens if carries_tokens else 0, plain)
    ]
    latencies.sort()
    sent = streams * tokens
    return {
        "streams": streams,
        "cpu_us_per_token": round(cpu * 1e6 / sent, 2),
        "sends_per_token": round(sum(e.sends for e in exchanges) / sent, 3),
        "body_bytes_per_token": round(
            sum(map(len, (b for e in exchanges for b in e.body))) / sent, 1
        ),
        "late_s": round(wall - seconds - 1, 2),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2) if latencies else "-",
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else "-",
    }


def _figures(row: dict[str, Any]) -> list[Any]:
    return [
        row["cpu_us_per_token"],
        row["sends_per_token"],
        row["body_bytes_per_token"],
        row["late_s"],
        row["p50_ms"],
        row["p99_ms"],
    ]


class _VirtualSelector:
    """A selector that never sleeps: with nothing ready it moves its loop's clock on by the
    timeout instead (to the next timer), so a paced run takes no wall time to speak of and
    the loop is never late, however busy the machine."""

    def __init__(self, selector: Any, loop: VirtualClockLoop) -> None:
        self._selector = selector
        self._loop = loop

    def select(self, timeout: float | None = None) -> Any:
        events = self._selector.select(0)
        if not events and timeout is not None and timeout > 0:
            self._loop.now += timeout
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """asyncio's own loop on a virtual clock (:class:`_VirtualSelector`): every run of the
    same tree makes the same frames, so an A/B compares CPU time alone."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._selector = _VirtualSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return self.now

    def stamp_time(self) -> float:
        """The tokens' send stamps on this clock, from a fixed epoch (``time.time()``'s
        digits, so the tokens are as long as on the wall clock)."""
        return STAMP_EPOCH + self.now


def _run(load: Any, virtual: bool) -> dict[str, Any]:
    if not virtual:
        return uvloop.run(load)
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        result: dict[str, Any] = runner.run(load)
        return result


#: Per contender: its app's factory, whether its frames are sse-starlette's plain ones, the
#: page connection's frames (``None``: a stream of its own), and whether it sends the tokens
#: (the floor makes them and drops them).
CONTENDERS: dict[str, tuple[Any, bool, str | None, bool]] = {
    "ComponentASGI": (build_stream_app, False, None, True),
    "sse-starlette": (build_contender_app, True, None, True),
    "ComponentASGI page compact": (build_stream_app, False, "compact", True),
    "ComponentASGI page full": (build_stream_app, False, "full", True),
    "ComponentASGI floor": (build_floor_app, False, None, False),
    "token loop alone": (build_token_loop_app, True, None, False),
}


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming.inprocess")
    parser.add_argument("--streams", default="100,300,600", help="counts, comma separated")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=RATE, help="tokens per second per stream")
    parser.add_argument(
        "--virtual-clock",
        action="store_true",
        help="asyncio's loop on a virtual clock instead of uvloop: the same frames every run",
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="do not decode and check the streams (to count the decoder's instructions apart)",
    )
    parser.add_argument(
        "--gc",
        choices=GC_SETTINGS,
        default="default",
        help="the garbage collector's setting, for every contender alike (default: default)",
    )
    parser.add_argument("--smoke", action="store_true", help="20 streams for 0.5 s, once")
    parser.add_argument(
        "--only", default="", help="contenders to run, comma separated (default: all)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every count through each contender, alternating; print one line per run."""
    arguments = _arguments(argv)
    counts = [int(count) for count in arguments.streams.split(",")]
    seconds, rounds = arguments.seconds, arguments.rounds
    if arguments.smoke:
        counts, seconds, rounds = [20], 0.5, 1
    names = [name for name in CONTENDERS if not arguments.only or name in arguments.only.split(",")]
    print(
        "contender | streams | CPU µs/token | sends/token | body bytes/token | late s"
        " | p50 ms | p99 ms"
    )
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for count in counts:
            for name in order:
                contender = CONTENDERS[name]
                callbacks = list(gc.callbacks)  # the factories add a GC pause counter
                thresholds = gc.get_threshold()
                if arguments.gc == "thresholds":
                    gc.set_threshold(*GC_THRESHOLDS)
                try:
                    check = not arguments.no_check
                    app = contender[0]()
                    load = _load(
                        app, count, seconds, contender, check, arguments.rate, arguments.gc
                    )
                    row = _run(load, arguments.virtual_clock)
                except WrongStream as error:
                    print(f"{name} {count}: wrong stream: {error}", file=sys.stderr)
                    return 1
                finally:
                    gc.callbacks[:] = callbacks
                    gc.set_threshold(*thresholds)
                    gc.unfreeze()
                cells = [name, count, *_figures(row)]
                print(" | ".join(map(str, cells)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
