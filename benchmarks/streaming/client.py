"""The streaming benchmark's client: ``python -m benchmarks.streaming.client SCENARIO ...``.

Runs one scenario against a uvicorn serving :mod:`benchmarks.streaming.app` on 127.0.0.1 and prints
one JSON line with what it measured. Connections are raw asyncio sockets (an
:class:`asyncio.Protocol` per stream, uvloop) sending an HTTP/1.1 ``GET`` with
``Connection: close``; while streams run, each connection only stores ``(time.time(), bytes)``
per read, and decoding and checking (:class:`benchmarks.streaming.decode.ResponseReader`) happen
afterwards, so a busy decoder never delays a read and the arrival times stay honest.

Scenarios: ``burst`` (one stream, no pacing, ``--tokens`` tokens, ``--rounds`` times), ``load``
(``--streams`` streams at ``--rate`` tokens/s, stamped, started evenly over ``--ramp`` seconds)
and ``idle`` (``--streams`` streams that start and then wait; the server's RSS from
``/proc/<pid>/status`` before and after). ``--plain`` reads the sse-starlette contender's
format (:mod:`benchmarks.streaming.contender`; ``burst`` and ``load`` only). ``--page`` opens
each stream as the client runtime would: ``POST /components/_page/`` naming that one stream,
with the runtime's opt-in to compact frames (one page connection per stream; ``burst`` and
``load`` only). What is read
about the server (CPU time, RSS, and with ``--server-core`` how busy that CPU was and how much
of it went to the kernel's softirq work for loopback networking) comes from
:mod:`benchmarks.common.probes`.
Exit status 0 with the JSON line; 1 when a stream lost tokens or carried wrong data (the JSON
line then holds ``"error"``); timing never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, Final, cast

import uvloop

from benchmarks.common.control import control_request
from benchmarks.common.probes import (
    CpuMeter,
    RssSampler,
    percentile,
    raise_open_files,
    read_rss_kib,
    summary_ms,
)
from benchmarks.streaming.app import STATS_PATH, stream_path
from benchmarks.streaming.decode import ResponseReader, WrongStream

__all__ = ["load_timeout", "main", "server_stats"]

HOST: Final = "127.0.0.1"
PAGE_PATH: Final = "/components/_page/"
_CONNECT_LIMIT: Final = 64
_POLL: Final = 0.05


class _Connection(asyncio.Protocol):
    """One stream request; records every read with its time."""

    def __init__(self, request: bytes, closed: asyncio.Future[None]) -> None:
        self.request = request
        self.closed = closed
        self.chunks: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None
        self.error: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.chunks.append((time.time(), data))

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.error = f"{type(exc).__name__}: {exc}"
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _request(path: str, port: int, *, page: bool = False) -> bytes:
    """The request of one stream: ``GET path``, or (``page``) the page connection of the
    client runtime asking for that one stream, compact frames included."""
    if page:
        target, _, query = path.partition("?")
        name = target.removeprefix("/components/").partition("/")[0]
        entry = {"key": "1", "name": name, "query": query}
        body = json.dumps({"streams": [entry], "frames": "compact"}, separators=(",", ":"))
        return (
            f"POST {PAGE_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
        ).encode("ascii")
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")


class _Streams:
    """Opens and tracks many streams to one server (``page``: each over a page connection)."""

    def __init__(self, port: int, *, page: bool = False) -> None:
        self.port = port
        self.page = page
        self.connections: list[_Connection] = []
        self.failed: list[str] = []
        self._gate = asyncio.Semaphore(_CONNECT_LIMIT)

    async def open(self, path: str, at: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        if at is not None:
            await asyncio.sleep(max(0.0, at - loop.time()))
        request = _request(path, self.port, page=self.page)
        connection = _Connection(request, loop.create_future())
        try:
            async with self._gate:
                await loop.create_connection(lambda: connection, HOST, self.port)
        except OSError as exc:
            self.failed.append(f"connect: {type(exc).__name__}: {exc}")
            return
        self.connections.append(connection)

    async def open_many(self, path: str, count: int, ramp: float) -> None:
        start = asyncio.get_running_loop().time()
        steps = [start + ramp * index / count for index in range(count)] if ramp > 0 else None
        await asyncio.gather(
            *(self.open(path, steps[index] if steps else None) for index in range(count))
        )

    async def wait_closed(self, within: float) -> bool:
        """Wait until every connection closed; False when ``within`` seconds ran out first."""
        pending = [c.closed for c in self.connections if not c.closed.done()]
        if not pending:
            return True
        _, still = await asyncio.wait(pending, timeout=within)
        return not still

    def close_all(self) -> None:
        for connection in self.connections:
            connection.close()


async def server_stats(port: int) -> dict[str, Any]:
    """``GET /_bench/stats`` of the server: its GC pauses since the last call."""
    return await control_request(port, "GET", STATS_PATH, within=10)


def _decode(connection: _Connection, reader: ResponseReader, start: int = 0) -> int:
    for at, data in connection.chunks[start:]:
        reader.feed(at, data)
    return len(connection.chunks)


def _token_frames(reader: ResponseReader) -> int:
    """Frames that carried tokens: ``stream`` frames, or the contender's messages."""
    return reader.events["message" if reader.plain else "stream"]


def _check(streams: _Streams, readers: list[ResponseReader]) -> None:
    """Decode every stream; raise :class:`WrongStream` naming how many were wrong and the
    first problem (each reader keeps what it decoded before its own problem)."""
    problems = [f"connection failed: {failure}" for failure in streams.failed]
    for connection, reader in zip(streams.connections, readers, strict=True):
        try:
            _decode(connection, reader)
            reader.check_complete()
        except WrongStream as exc:
            problems.append(f"{exc} (connection: {connection.error or 'closed'})")
    if problems:
        total = len(streams.connections) + len(streams.failed)
        raise WrongStream(f"{len(problems)} of {total} streams wrong; first: {problems[0]}")


# -- scenarios ------------------------------------------------------------------------------------


async def _burst_round(
    meter: CpuMeter, port: int, tokens: int, within: float, *, plain: bool, page: bool
) -> dict[str, Any]:
    streams = _Streams(port, page=page)
    meter.start()
    started = time.time()
    await streams.open(stream_path(tokens, 0, stamp=False))
    complete = await streams.wait_closed(within)
    ended = time.time()
    cpu = meter.stop()
    if not complete:
        streams.close_all()
        raise WrongStream(f"burst of {tokens} tokens did not finish within {within:g} s")
    reader = ResponseReader(expected_tokens=tokens, stamped=False, plain=plain, page=page)
    _check(streams, [reader])
    first, last = reader.arrived[0], reader.arrived[-1]
    return {
        "tokens": tokens,
        "seconds": round(last - started, 6),
        "tokens_per_second": round(tokens / (last - started), 1),
        "first_token_ms": round((first - started) * 1000, 3),
        "stream_frames": _token_frames(reader),
        "frames": sum(reader.events.values()),
        "wire_bytes": reader.wire_bytes,
        "body_bytes": reader.body_bytes,
        "wall_s": round(ended - started, 6),
        **cpu,
    }


async def burst(
    meter: CpuMeter,
    port: int,
    tokens: int,
    rounds: int,
    *,
    plain: bool = False,
    page: bool = False,
) -> dict[str, Any]:
    """One stream as fast as possible, ``rounds`` times."""
    runs = [
        await _burst_round(meter, port, tokens, 60.0, plain=plain, page=page) for _ in range(rounds)
    ]
    return {"scenario": "burst", "runs": runs}


def load_timeout(count: int, rate: float, tokens: int, ramp: float) -> float:
    """How long a load run may take: generous for an overloaded server (at least 2,000 tokens/s
    of progress), but bounded."""
    return max(4 * (ramp + tokens / rate) + 60, count * tokens / 2000 + 60)


def _latencies(readers: Sequence[ResponseReader], rate: float) -> tuple[list[float], list[float]]:
    delivery: list[float] = []
    schedule: list[float] = []
    for reader in readers:
        sent, arrived = reader.sent, reader.arrived
        delivery.extend(a - s for a, s in zip(arrived, sent, strict=True))
        if sent:
            first = sent[0]
            schedule.extend(a - (first + i / rate) for i, a in enumerate(arrived))
    delivery.sort()
    schedule.sort()
    return delivery, schedule


def _fairness(readers: Sequence[ResponseReader], rate: float) -> dict[str, float]:
    """How evenly the streams were served: each stream's median latency against the schedule,
    summarised over the streams (ms); a wide spread means some streams waited for others."""
    medians = []
    for reader in readers:
        if reader.sent:
            first = reader.sent[0]
            lateness = sorted(a - (first + i / rate) for i, a in enumerate(reader.arrived))
            medians.append(percentile(lateness, 0.5))
    medians.sort()
    return {
        "min_ms": round(medians[0] * 1000, 3) if medians else float("nan"),
        "p50_ms": round(percentile(medians, 0.5) * 1000, 3),
        "max_ms": round(medians[-1] * 1000, 3) if medians else float("nan"),
    }


async def load(
    meter: CpuMeter,
    port: int,
    count: int,
    rate: float,
    tokens: int,
    ramp: float,
    *,
    plain: bool = False,
    page: bool = False,
    window: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """``count`` stamped streams at ``rate`` tokens/s, opened evenly over ``ramp`` seconds;
    ``window`` (wall clock, from, to): count the tokens the server stamped in it too."""
    streams = _Streams(port, page=page)
    await server_stats(port)  # resets the server's GC counters
    sampler = RssSampler(meter.pid)
    sampler.start()
    meter.start()
    started = time.time()
    await streams.open_many(stream_path(tokens, rate, stamp=True), count, ramp)
    timeout = load_timeout(count, rate, tokens, ramp)
    complete = await streams.wait_closed(timeout)
    ended = time.time()
    cpu = meter.stop()
    rss_peak = await sampler.stop()
    if not complete:
        streams.close_all()
        await streams.wait_closed(5.0)
    gc_pauses = (await server_stats(port))["gc"]
    readers = [
        ResponseReader(expected_tokens=tokens, stamped=True, plain=plain, page=page)
        for _ in streams.connections
    ]
    result: dict[str, Any] = {"scenario": "load", "streams": count, "rate": rate,
                              "tokens_per_stream": tokens, "ramp_s": ramp}  # fmt: skip
    error = None
    try:
        _check(streams, readers)
    except WrongStream as exc:
        error = str(exc)
    delivered = sum(reader.tokens for reader in readers)
    delivery, schedule = _latencies(readers, rate)
    wall = ended - started
    frames = sum(sum(reader.events.values()) for reader in readers)
    stream_frames = sum(_token_frames(reader) for reader in readers)
    wire = sum(reader.wire_bytes for reader in readers)
    arrivals = [reader.arrived[-1] for reader in readers if reader.arrived]
    result.update(
        sent=count * tokens,
        delivered=delivered,
        complete=error is None and delivered == count * tokens,
        error=error,
        wall_s=round(wall, 3),
        last_token_after_s=round(max(arrivals) - started, 3) if arrivals else None,
        delivery_latency=summary_ms(delivery),
        schedule_latency=summary_ms(schedule),
        stream_median_latency=_fairness(readers, rate),
        frames=frames,
        stream_frames=stream_frames,
        wire_bytes=wire,
        frames_per_second=round(frames / wall, 1),
        wire_bytes_per_second=round(wire / wall, 1),
        tokens_per_second=round(delivered / wall, 1),
        **cpu,
        server_rss_start_kib=sampler.start_kib,
        server_rss_peak_kib=rss_peak,
        server_gc=gc_pauses,
        heartbeats=sum(reader.heartbeats for reader in readers),
    )
    if window is not None:
        start, end = window
        result["tokens_in_window"] = sum(
            1 for reader in readers for stamp in reader.sent if start <= stamp < end
        )
    return result


async def _wait_started(
    streams: _Streams, readers: list[ResponseReader], positions: list[int], deadline: float
) -> int:
    """Decode what arrived until every stream has its ``start`` op; returns how many did."""
    loop = asyncio.get_running_loop()
    while True:
        for index, connection in enumerate(streams.connections):
            if not readers[index].started:
                positions[index] = _decode(connection, readers[index], positions[index])
        started = sum(reader.started for reader in readers)
        if started == len(readers) or loop.time() > deadline:
            return started
        await asyncio.sleep(_POLL)


async def idle(port: int, pid: int, count: int, steps: int, hold: float) -> dict[str, Any]:
    """RSS of the server with 0 open streams, then with ``count`` open idle streams
    (opened in ``steps`` equal steps, RSS read after each)."""
    loop = asyncio.get_running_loop()
    streams = _Streams(port)
    readers: list[ResponseReader] = []
    positions: list[int] = []
    path = stream_path(1, 0, stamp=False, hold=hold)
    await asyncio.sleep(0.5)
    points = [{"open_streams": 0, "rss_kib": read_rss_kib(pid)}]
    try:
        for step in range(1, steps + 1):
            wanted = count * step // steps - len(streams.connections)
            await streams.open_many(path, wanted, 0.0)
            readers += [ResponseReader(expected_tokens=1, stamped=False) for _ in range(wanted)]
            positions += [0] * wanted
            started = await _wait_started(streams, readers, positions, loop.time() + 30)
            if streams.failed or started != len(readers):
                raise WrongStream(
                    f"only {started} of {len(readers)} idle streams started "
                    f"({len(streams.failed)} connections failed)"
                )
            await asyncio.sleep(0.5)  # let the server settle
            points.append({"open_streams": started, "rss_kib": read_rss_kib(pid)})
    finally:
        streams.close_all()
        await streams.wait_closed(10.0)
    await asyncio.sleep(1.0)  # grace 0: the runs are cancelled on disconnect
    after = read_rss_kib(pid)
    first, last = points[0], points[-1]
    per_stream = (last["rss_kib"] - first["rss_kib"]) * 1024 / max(1, last["open_streams"])
    return {
        "scenario": "idle",
        "streams": count,
        "points": points,
        "rss_after_close_kib": after,
        "bytes_per_stream": round(per_stream),
    }


# -- entry point ----------------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming.client")
    parser.add_argument("scenario", choices=("burst", "load", "idle"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--server-core", type=int, default=None, help="CPU the server runs on")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ramp", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--hold", type=float, default=120.0)
    parser.add_argument(
        "--plain", action="store_true", help="the contender's format: one message per token"
    )
    parser.add_argument(
        "--page",
        action="store_true",
        help="each stream over a page connection of its own, with compact frames",
    )
    parser.add_argument(
        "--count-window",
        type=_window,
        default=None,
        metavar="FROM:TO",
        help="load: also count the tokens stamped from FROM to TO (wall clock, epoch seconds)",
    )
    return parser.parse_args(argv)


def _window(text: str) -> tuple[float, float]:
    start, _, end = text.partition(":")
    try:
        window = float(start), float(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not FROM:TO: {text!r}") from None
    if not window[0] < window[1]:
        raise argparse.ArgumentTypeError(f"not FROM < TO: {text!r}")
    return window


async def _run(arguments: argparse.Namespace) -> dict[str, Any]:
    port, pid = arguments.port, arguments.server_pid
    meter = CpuMeter(pid, arguments.server_core)
    if arguments.scenario == "burst":
        return await burst(
            meter,
            port,
            arguments.tokens,
            arguments.rounds,
            plain=arguments.plain,
            page=arguments.page,
        )
    if arguments.scenario == "load":
        return await load(
            meter,
            port,
            arguments.streams,
            arguments.rate,
            arguments.tokens,
            arguments.ramp,
            plain=arguments.plain,
            page=arguments.page,
            window=arguments.count_window,
        )
    return await idle(port, pid, arguments.streams, arguments.steps, arguments.hold)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one scenario, print its JSON line; 1 on a lost or wrong token."""
    arguments = _arguments(argv)
    raise_open_files(arguments.streams + 256)
    try:
        result = uvloop.run(_run(arguments))
    except WrongStream as exc:
        print(json.dumps({"scenario": arguments.scenario, "error": str(exc)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    if result.get("error"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
