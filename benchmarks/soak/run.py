"""Soak run: ``python -m benchmarks.soak [--smoke] [--json] [--ws IMPL]``.

A bounded run, loopback only, that stops by itself and checks that nothing grows. One real
uvicorn (httptools, uvloop, ``--ws websockets`` by default, one worker, 127.0.0.1, a free port)
serves :mod:`benchmarks.soak.app` (``ComponentASGI`` in middleware mode, per-client limits raised
by ``one_client_load`` so the single load address is never refused; tracemalloc on in the
server). The load comes from this process (asyncio on uvloop, raw sockets), in phases:

1. **warm-up**: a few of each kind below, so caches and pools are filled before the reference;
2. **HTTP**: ``--http`` events from concurrent keep-alive clients (each mounts the counter with a
   ``GET``, then chains ``increment`` POSTs through the returned snapshot, checking every count;
   one event in 100 carries a snapshot signed with another key and must get 400
   ``invalid_snapshot``; each client reconnects every 500 requests);
3. **WebSocket**: connect/join/event/disconnect cycles on the ``room`` component (the connect
   render, a ``join`` to another room, a ``say`` event, each answer checked; one cycle in 10
   drops the TCP connection instead of closing);
4. **SSE**: token streams with random disconnects (seeded): some read to the end, some leave
   after a random number of frames (TCP reset or FIN), some leave and reconnect with
   ``Last-Event-ID`` and must get exactly the missing frames; every stream's tokens are checked
   across its connections.

The server is measured through its test-only endpoint (``GET /_soak/memory``, a full garbage
collection first): tracemalloc's traced memory, ``VmRSS``, the top growth by file and line, and
the counters (stream runs, hub members, open sockets, the guard's open counts, tasks) at
``start``, at ``baseline`` (after the warm-up, once every counter drained), after each phase,
and at ``final`` (after the streams' resume grace, once every counter drained).

Bounds (checked, final against baseline): traced memory growth and ``VmRSS`` growth below the
profile's bounds, every counter back to zero, no more tasks than at the baseline, every answer
right, and no error in the server's log. Prints a Markdown report (``--json``: the JSON
document instead) and writes both to ``benchmarks/results/``. ``--smoke`` runs tiny counts in
well under a minute with looser memory bounds. Exit status 0 when every bound held, 1 when one
broke or an answer was wrong, 2 when the server failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from contextlib import aclosing, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import uvloop

from benchmarks.common.machine import machine_info
from benchmarks.common.probes import percentile, raise_open_files, read_cpu_seconds
from benchmarks.common.processes import HOST, ROOT, ServerProcess, free_port, serve, uvicorn_command
from benchmarks.common.report import FAILURES, RESULTS, log, write_results
from benchmarks.common.wsclient import WrongAnswer, WsProtocol
from benchmarks.soak.app import (
    BASELINE,
    COUNTER_NAME,
    COUNTERS_PATH,
    DRAINED,
    MEMORY_PATH,
    ROOM_NAME,
    STREAM_GRACE,
    TOKENS_NAME,
)
from component_framework.protocol.snapshot import SnapshotSigner
from component_framework.protocol.sse import SSEDecoder, SSEEvent, stream_ops

__all__ = ["FULL", "SMOKE", "Counts", "SoakProfile", "main"]

WS_IMPLEMENTATIONS: Final = ("websockets", "websockets-sansio", "wsproto")
COUNTER_PATH: Final = f"/components/{COUNTER_NAME}/"
ROOM_PATH: Final = f"/components/{ROOM_NAME}/ws/"
STREAM_PATH: Final = f"/components/{TOKENS_NAME}/stream/"
MIB: Final = 1024 * 1024
_TIMEOUT: Final = 30.0
_MEMORY_TIMEOUT: Final = 300.0
_RECONNECT_EVERY: Final = 500
_FORGED_EVERY: Final = 100
_ABORT_EVERY: Final = 10
_ROOMS: Final = 8
_KEPT_ERRORS: Final = 20
_FORGER: Final = SnapshotSigner(["not-the-server-key-0123456789abcdef"])


@dataclass(frozen=True, slots=True)
class Counts:
    """How many HTTP events, WebSocket cycles and SSE streams."""

    http: int
    ws: int
    sse: int


@dataclass(frozen=True, slots=True)
class SoakProfile:
    """How long the run is and what it must hold to."""

    name: str
    warmup: Counts
    load: Counts
    http_clients: int
    ws_clients: int
    sse_clients: int
    sse_tokens: int
    sse_rate: float
    #: Bounds, final against baseline.
    traced_growth_bytes: int
    rss_growth_kib: int
    drain_seconds: float


FULL: Final = SoakProfile(
    "full", warmup=Counts(5_000, 500, 100), load=Counts(100_000, 10_000, 1_000),
    http_clients=32, ws_clients=16, sse_clients=25, sse_tokens=20, sse_rate=50.0,
    traced_growth_bytes=2 * MIB, rss_growth_kib=20 * 1024, drain_seconds=STREAM_GRACE + 30,
)  # fmt: skip
SMOKE: Final = SoakProfile(
    "smoke", warmup=Counts(200, 20, 10), load=Counts(2_000, 200, 50),
    http_clients=8, ws_clients=8, sse_clients=10, sse_tokens=20, sse_rate=100.0,
    traced_growth_bytes=16 * MIB, rss_growth_kib=64 * 1024, drain_seconds=STREAM_GRACE + 30,
)  # fmt: skip


class _Errors:
    """Wrong answers: how many, and the first few."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def add(self, where: str, error: BaseException) -> None:
        self.count += 1
        if len(self.first) < _KEPT_ERRORS:
            self.first.append(f"{where}: {type(error).__name__}: {error}")
            log(f"  ERROR {self.first[-1]}")


@dataclass
class _Phase:
    """One phase's figures."""

    name: str
    count: int
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    errors: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


# -- HTTP ---------------------------------------------------------------------------------------


class _HttpConnection:
    """One keep-alive HTTP/1.1 connection (Content-Length bodies only)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Sequence[str] = ()
    ) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}", *headers]
        if body or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head[:-4].split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, close = 0, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        answer = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, answer

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()


async def _get_json(port: int, path: str, within: float = _TIMEOUT) -> dict[str, Any]:
    connection = _HttpConnection(port)
    try:
        async with asyncio.timeout(within):
            status, body = await connection.request("GET", path, headers=["Connection: close"])
    finally:
        await connection.close()
    if status != 200:
        raise RuntimeError(f"GET {path}: status {status}: {body[:200]!r}")
    document: dict[str, Any] = json.loads(body)
    return document


def _counter_answer(status: int, body: bytes, count: int) -> str:
    """Check an answer of the counter; return its new snapshot."""
    if status != 200:
        raise WrongAnswer(f"expected 200, got {status}: {body[:200]!r}")
    document = json.loads(body)
    if document.get("state") != {"count": count}:
        raise WrongAnswer(f"expected count {count}, got {document.get('state')!r}")
    if f'<span class="count">{count}</span>' not in document.get("html", ""):
        raise WrongAnswer(f"html does not show {count}")
    snapshot = document.get("snapshot")
    if not isinstance(snapshot, str):
        raise WrongAnswer("no snapshot in the answer")
    return snapshot


class _Quota:
    """Hands out the indexes ``0..total-1`` to the workers of a phase."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.next = 0

    def take(self) -> int | None:
        if self.next >= self.total:
            return None
        self.next += 1
        return self.next - 1


async def _http_worker(port: int, quota: _Quota, errors: _Errors, latencies: list[float]) -> None:
    """One client: mount, then chained increments (and forged snapshots) until the quota ends."""
    connection = _HttpConnection(port)
    snapshot: str | None = None
    count = served = 0
    json_accept = "Accept: application/json"
    try:
        while (index := quota.take()) is not None:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(_TIMEOUT):
                    if snapshot is None or served >= _RECONNECT_EVERY:
                        await connection.close()
                        status, body = await connection.request("GET", COUNTER_PATH,
                                                                 headers=[json_accept])  # fmt: skip
                        snapshot, count, served = _counter_answer(status, body, 0), 0, 0
                    served += 1
                    if index % _FORGED_EVERY == _FORGED_EVERY - 1:
                        forged = _FORGER.sign(COUNTER_NAME, "counter-forged", {"count": 10**6})
                        payload = json.dumps({"event": "increment", "snapshot": forged})
                        status, body = await connection.request("POST", COUNTER_PATH,
                                                                payload.encode())  # fmt: skip
                        code = json.loads(body).get("error", {}).get("code") if body else None
                        if status != 400 or code != "invalid_snapshot":
                            raise WrongAnswer(f"forged snapshot: {status} {body[:200]!r}")
                    else:
                        payload = json.dumps({"event": "increment", "snapshot": snapshot})
                        status, body = await connection.request("POST", COUNTER_PATH,
                                                                payload.encode())  # fmt: skip
                        snapshot = _counter_answer(status, body, count + 1)
                        count += 1
            except (WrongAnswer, OSError, TimeoutError, ValueError,
                    asyncio.IncompleteReadError) as exc:  # fmt: skip
                errors.add(f"http event {index}", exc)
                await connection.close()
                snapshot = None
                continue
            latencies.append(time.perf_counter() - started)
    finally:
        await connection.close()


# -- WebSocket ----------------------------------------------------------------------------------


def _room_answer(data: bytes, ref: object, room: str, said: int) -> None:
    message = json.loads(data)
    if message.get("type") != "render" or message.get("ref") != ref:
        raise WrongAnswer(f"expected the render of ref {ref!r}, got {data[:200]!r}")
    state = message.get("state", {})
    if state.get("room") != room or state.get("said") != said:
        raise WrongAnswer(f"expected room {room!r} said {said}, got {state!r}")
    if f"<h2>{room}</h2>" not in message.get("html", ""):
        raise WrongAnswer(f"html does not show room {room!r}")


async def _ws_cycle(port: int, index: int) -> None:
    """Connect (render), join another room, say something, disconnect (close or drop)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(_TIMEOUT):
        _, ws = await loop.create_connection(lambda: WsProtocol(ROOM_PATH, port), HOST, port)
    try:
        async with asyncio.timeout(_TIMEOUT):
            await ws.opened
            _room_answer((await ws.receive())[1], None, "lobby", 0)
            room = f"room-{index % _ROOMS}"
            ws.send_text(json.dumps({"type": "join", "params": {"room": room}, "ref": "join"}))
            _room_answer((await ws.receive())[1], "join", room, 0)
            event = {"type": "event", "event": "say", "payload": {"text": f"hi {index}"}, "ref": 1}
            ws.send_text(json.dumps(event))
            _room_answer((await ws.receive())[1], 1, room, 1)
    finally:
        if index % _ABORT_EVERY == _ABORT_EVERY - 1:
            ws.abort()
        else:
            ws.close(1000)
            try:
                async with asyncio.timeout(_TIMEOUT):
                    await ws.closed
            except TimeoutError:
                ws.abort()
                raise


async def _ws_worker(port: int, quota: _Quota, errors: _Errors) -> None:
    while (index := quota.take()) is not None:
        try:
            await _ws_cycle(port, index)
        except (WrongAnswer, OSError, TimeoutError, ValueError) as exc:
            errors.add(f"websocket cycle {index}", exc)


# -- SSE ----------------------------------------------------------------------------------------


class _TokenCheck:
    """One stream's frames across all its connections: ``start``, tokens ``t0..tN-1`` each once
    and in order, ``done``, then the ``done`` frame; frame ids strictly increasing."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.next = 0
        self.started = False
        self.stream_done = False
        self.finished = False
        self.last_id = ""
        self.last_seq = 0

    def on_event(self, event: SSEEvent) -> None:
        if self.finished:
            raise WrongAnswer(f"a {event.event!r} frame after the done frame")
        if event.id:
            self._on_id(event.id)
        try:
            ops = stream_ops(event)
        except ValueError as exc:
            raise WrongAnswer(str(exc)) from None
        if ops is not None:
            for op in ops:
                self._on_op(op)
        elif event.event == "done":
            if not self.stream_done or self.next != self.tokens:
                raise WrongAnswer(f"done frame after {self.next} of {self.tokens} tokens")
            self.finished = True
        elif event.event != "message":
            raise WrongAnswer(f"unexpected {event.event!r} frame: {event.data[:200]!r}")

    def _on_id(self, frame_id: str) -> None:
        run, _, seq_text = frame_id.rpartition(".")
        seq = int(seq_text)
        if self.last_id and (run != self.last_id.rpartition(".")[0] or seq <= self.last_seq):
            raise WrongAnswer(f"frame {frame_id!r} after {self.last_id!r}")
        self.last_id, self.last_seq = frame_id, seq

    def _on_op(self, op: Any) -> None:
        kind = op.get("op") if isinstance(op, dict) else None
        if kind == "start" and not self.started:
            self.started = True
        elif kind == "text" and self.started and not self.stream_done:
            for token in op["text"].split():
                if token != f"t{self.next}":
                    raise WrongAnswer(f"expected token t{self.next}, got {token[:40]!r}")
                self.next += 1
        elif kind == "done" and self.next == self.tokens:
            self.stream_done = True
        else:
            raise WrongAnswer(f"unexpected op {op!r:.200} after {self.next} tokens")


async def _body(reader: asyncio.StreamReader, chunked: bool) -> AsyncGenerator[bytes, None]:
    """The response body as it comes (chunked transfer coding or read to the end)."""
    while True:
        if not chunked:
            data = await reader.read(65536)
            if not data:
                return
            yield data
            continue
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return
        yield data[:-2]


async def _sse_connection(
    port: int, path: str, check: _TokenCheck, leave_after: int | None, reset: bool
) -> str:
    """One stream connection, fed to ``check``; ``"ended"``, ``"left"`` (after
    ``leave_after`` frames, by TCP reset or FIN) or ``"no_content"`` (204)."""
    headers = f"Host: {HOST}:{port}\r\nAccept: text/event-stream\r\nConnection: close\r\n"
    if check.last_id:
        headers += f"Last-Event-ID: {check.last_id}\r\n"
    reader, writer = await asyncio.open_connection(HOST, port)
    left = False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode("latin-1"))
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        if status == 204:
            return "no_content"
        if status != 200 or "text/event-stream" not in head:
            raise WrongAnswer(f"stream answered {head.splitlines()[0]!r}")
        decoder, frames = SSEDecoder(), 0
        async with aclosing(_body(reader, "transfer-encoding: chunked" in head)) as body:
            async for data in body:
                for event in decoder.feed(data):
                    check.on_event(event)
                    frames += 1
                    if leave_after is not None and frames >= leave_after:
                        left = True
                        return "left"
        return "ended"
    finally:
        if left and reset:
            writer.transport.abort()
        else:
            writer.close()
        with suppress(OSError):
            await writer.wait_closed()


@dataclass(frozen=True, slots=True)
class _StreamPlan:
    """What one stream's client does (drawn from the seeded generator)."""

    mode: str  # "full", "drop" or "resume"
    leave_after: int
    reset: bool


async def _sse_stream(
    port: int, path: str, tokens: int, plan: _StreamPlan, outcomes: Counter[str]
) -> None:
    check = _TokenCheck(tokens)
    leave = None if plan.mode == "full" else plan.leave_after
    async with asyncio.timeout(_TIMEOUT + tokens):
        first = await _sse_connection(port, path, check, leave, plan.reset)
        if first == "ended":
            if not check.finished:
                raise WrongAnswer(f"stream ended after {check.next} of {tokens} tokens")
            outcomes["read to the end" if plan.mode == "full" else "ended before leaving"] += 1
            return
        if first != "left":
            raise WrongAnswer(f"a new stream answered {first}")
        if plan.mode == "drop":
            outcomes["dropped"] += 1
            return
        second = await _sse_connection(port, path, check, None, False)
        if check.finished and second == "no_content":  # it had left after the last frame
            outcomes["resumed after the end (204)"] += 1
            return
        if second != "ended" or not check.finished:
            raise WrongAnswer(f"resume from {check.last_id}: {second} after {check.next} tokens")
        outcomes["resumed"] += 1


async def _sse_worker(
    port: int, quota: _Quota, plans: Sequence[_StreamPlan], profile: SoakProfile,
    errors: _Errors, outcomes: Counter[str],
) -> None:  # fmt: skip
    query = urlencode({"event": "run", "tokens": profile.sse_tokens, "rate": profile.sse_rate})
    path = f"{STREAM_PATH}?{query}"
    while (index := quota.take()) is not None:
        try:
            await _sse_stream(port, path, profile.sse_tokens, plans[index], outcomes)
        except (WrongAnswer, OSError, TimeoutError, ValueError,
                asyncio.IncompleteReadError) as exc:  # fmt: skip
            errors.add(f"sse stream {index} ({plans[index].mode})", exc)


def _stream_plans(count: int, tokens: int, rng: random.Random) -> list[_StreamPlan]:
    modes = rng.choices(("full", "drop", "resume"), weights=(4, 3, 3), k=count)
    return [
        _StreamPlan(mode, rng.randint(1, tokens), rng.random() < 0.5) for mode in modes
    ]  # fmt: skip


# -- the run ------------------------------------------------------------------------------------


class _Soak:
    """One soak run against one server."""

    def __init__(self, server: ServerProcess, profile: SoakProfile, seed: int) -> None:
        self.server = server
        self.port = server.port
        self.profile = profile
        self.rng = random.Random(seed)
        self.errors = _Errors()
        self.phases: list[_Phase] = []
        self.marks: list[dict[str, Any]] = []
        self.drains: dict[str, float] = {}

    async def _phase(
        self, name: str, count: int, clients: int, worker: Callable[[_Quota], Awaitable[None]]
    ) -> _Phase:
        phase = _Phase(name, count)
        before_errors = self.errors.count
        quota = _Quota(count)
        cpu = read_cpu_seconds(self.server.pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker(quota) for _ in range(min(clients, count))))
        phase.seconds = time.perf_counter() - started
        phase.server_cpu_s = read_cpu_seconds(self.server.pid) - cpu
        phase.errors = self.errors.count - before_errors
        self.server.check_alive()
        return phase

    async def http(self, name: str, count: int) -> _Phase:
        latencies: list[float] = []
        phase = await self._phase(
            name, count, self.profile.http_clients,
            lambda quota: _http_worker(self.port, quota, self.errors, latencies),
        )  # fmt: skip
        ordered = sorted(latencies)
        phase.detail = {
            "clients": self.profile.http_clients,
            "p50_ms": round(percentile(ordered, 0.5) * 1000, 2),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
            "forged": count // _FORGED_EVERY,
        }
        return phase

    async def websocket(self, name: str, count: int) -> _Phase:
        phase = await self._phase(
            name, count, self.profile.ws_clients,
            lambda quota: _ws_worker(self.port, quota, self.errors),
        )  # fmt: skip
        phase.detail = {"clients": self.profile.ws_clients, "dropped": count // _ABORT_EVERY}
        return phase

    async def sse(self, name: str, count: int) -> _Phase:
        profile = self.profile
        plans = _stream_plans(count, profile.sse_tokens, self.rng)
        outcomes: Counter[str] = Counter()
        phase = await self._phase(
            name, count, profile.sse_clients,
            lambda quota: _sse_worker(self.port, quota, plans, profile, self.errors, outcomes),
        )  # fmt: skip
        resets = sum(1 for plan in plans if plan.mode != "full" and plan.reset)
        phase.detail = {"clients": profile.sse_clients, "tokens": profile.sse_tokens,
                        "rate": profile.sse_rate, "outcomes": dict(sorted(outcomes.items())),
                        "resets": resets}  # fmt: skip
        return phase

    async def mark(self, name: str) -> dict[str, Any]:
        path = f"{MEMORY_PATH}?{urlencode({'mark': name})}"
        document = await _get_json(self.port, path, _MEMORY_TIMEOUT)
        self.marks.append(document)
        traced = document.get("traced_bytes")
        log(f"  [{name}] traced {(traced or 0) / MIB:.2f} MiB, RSS "
             f"{document['rss_kib'] / 1024:.1f} MiB, runs {document['stream_runs']}, hub "
             f"{document['hub_members']}, sockets {document['sockets']}, tasks "
             f"{document['tasks']}")  # fmt: skip
        return document

    async def drain(self, name: str, tasks: int | None = None) -> None:
        """Wait until every counter of :data:`DRAINED` is zero and, with ``tasks``, the loop
        runs no more tasks than that (or until the profile's limit)."""
        started = time.perf_counter()
        deadline = started + self.profile.drain_seconds
        while True:
            counters = await _get_json(self.port, COUNTERS_PATH)
            drained = all(counters[key] == 0 for key in DRAINED)
            if drained and (tasks is None or counters["tasks"] <= tasks):
                break
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.1)
        self.drains[name] = round(time.perf_counter() - started, 2)

    async def run(self) -> None:
        profile = self.profile
        await self.mark("start")
        log(f"[warm-up] {profile.warmup.http:,} HTTP events, {profile.warmup.ws:,} WebSocket "
             f"cycles, {profile.warmup.sse:,} SSE streams")  # fmt: skip
        warm = [await self.http("warm-up HTTP", profile.warmup.http),
                await self.websocket("warm-up WebSocket", profile.warmup.ws),
                await self.sse("warm-up SSE", profile.warmup.sse)]  # fmt: skip
        self.phases.append(_Phase("warm-up", sum(p.count for p in warm),
                                  sum(p.seconds for p in warm), sum(p.server_cpu_s for p in warm),
                                  sum(p.errors for p in warm)))  # fmt: skip
        await self.drain(BASELINE)
        await self.mark(BASELINE)
        for label, runner, count, mark in (
            ("HTTP", self.http, profile.load.http, "after HTTP"),
            ("WebSocket", self.websocket, profile.load.ws, "after WebSocket"),
            ("SSE", self.sse, profile.load.sse, "after SSE"),
        ):
            log(f"[{label}] {count:,}")
            phase = await runner(label, count)
            self.phases.append(phase)
            log(f"  {phase.count:,} in {phase.seconds:.1f} s ({phase.rate:,.0f}/s), "
                 f"server CPU {phase.server_cpu_s:.1f} s, {phase.errors} wrong, "
                 f"{phase.detail}")  # fmt: skip
            await self.mark(mark)
        await self.drain("final", _mark(self.marks, BASELINE)["tasks"])
        await self.mark("final")


# -- bounds and report ----------------------------------------------------------------------------


def _mark(marks: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(mark for mark in marks if mark["mark"] == name)


def _bounds(soak: _Soak, log_errors: Sequence[str]) -> list[dict[str, Any]]:
    profile = soak.profile
    baseline, final = _mark(soak.marks, BASELINE), _mark(soak.marks, "final")
    traced = (final["traced_bytes"] or 0) - (baseline["traced_bytes"] or 0)
    rss = final["rss_kib"] - baseline["rss_kib"]
    left = {key: final[key] for key in DRAINED if final[key]}
    return [
        {"check": "tracemalloc growth (final - baseline)",
         "bound": f"< {profile.traced_growth_bytes / MIB:g} MiB",
         "measured": f"{traced / 1024:+,.0f} KiB", "held": traced < profile.traced_growth_bytes},
        {"check": "RSS growth (final - baseline)",
         "bound": f"< {profile.rss_growth_kib / 1024:g} MiB",
         "measured": f"{rss:+,} KiB", "held": rss < profile.rss_growth_kib},
        {"check": "counters drained at the end", "bound": "all 0",
         "measured": ", ".join(f"{k} {v}" for k, v in left.items()) or "all 0",
         "held": not left},
        {"check": "event-loop tasks (final vs baseline)",
         "bound": f"<= {baseline['tasks']}",
         "measured": str(final["tasks"]), "held": final["tasks"] <= baseline["tasks"]},
        {"check": "wrong or missing answers", "bound": "0", "measured": str(soak.errors.count),
         "held": soak.errors.count == 0},
        {"check": "errors in the server log", "bound": "0", "measured": str(len(log_errors)),
         "held": not log_errors},
    ]  # fmt: skip


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:,.2f}"


def _markdown(document: dict[str, Any]) -> str:
    machine = document["machine"]
    out = [f"## Soak run ({document['mode']})", "",
           f"`{document['command']}`; {document['setup']}; commit {machine['commit']} (changes "
           f"in src: {machine['src_changes']}); total {document['runtime_s']:.0f} s.",
           "", "| phase | count | seconds | per second | server CPU s | wrong | detail |",
           "|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for phase in document["phases"]:
        detail = ", ".join(f"{k} {v}" for k, v in phase["detail"].items())
        out.append(f"| {phase['name']} | {phase['count']:,} | {phase['seconds']:.1f} | "
                   f"{phase['rate']:,.0f} | {phase['server_cpu_s']:.1f} | {phase['errors']} | "
                   f"{detail} |")  # fmt: skip
    marks = document["marks"]
    base = _mark(marks, BASELINE)
    out += ["", "Server process, each mark after a full garbage collection:", "",
            "| mark | traced MiB | traced vs baseline KiB | RSS MiB | RSS vs baseline KiB | "
            "gc objects | tasks | stream runs | hub members | sockets | guard streams/sockets |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for mark in marks:
        traced = mark["traced_bytes"]
        delta = ""
        if traced is not None and mark is not base:
            delta = f"{(traced - base['traced_bytes']) / 1024:+,.0f}"
        rss_delta = "" if mark is base else f"{mark['rss_kib'] - base['rss_kib']:+,}"
        out.append(f"| {mark['mark']} | {_mib(traced)} | {delta} | "
                   f"{mark['rss_kib'] / 1024:,.1f} | {rss_delta} | {mark['gc_objects']:,} | "
                   f"{mark['tasks']} | {mark['stream_runs']} | {mark['hub_members']} | "
                   f"{mark['sockets']} | {mark['guard_open_streams']}/"
                   f"{mark['guard_open_sockets']} |")  # fmt: skip
    out += ["", "| bound | limit | measured | held |", "|---|---|---|---|"]
    for bound in document["bounds"]:
        held = "yes" if bound["held"] else "**NO**"
        out.append(f"| {bound['check']} | {bound['bound']} | {bound['measured']} | {held} |")
    growth = _mark(marks, "final").get("top_growth") or []
    if growth:
        out += ["", "Top tracemalloc growth, final against baseline:", "",
                "| file:line | bytes |", "|---|---:|"]  # fmt: skip
        out += [f"| `{line['where']}` | {line['bytes']:+,} |" for line in growth]
    if document["errors"]:
        out += ["", "Wrong answers (first ones):", ""]
        out += [f"- {error}" for error in document["errors"]]
    if document["log_errors"]:
        out += ["", "Server log errors (first ones):", ""]
        out += [f"- `{line}`" for line in document["log_errors"][:_KEPT_ERRORS]]
    return "\n".join(out) + "\n"


def _log_errors(server: ServerProcess) -> list[str]:
    server.log.seek(0)
    text = server.log.read().decode("utf-8", "replace")
    return [line for line in text.splitlines()
            if "Traceback" in line or "ERROR" in line or "Exception" in line]  # fmt: skip


@contextmanager
def _server(ws: str) -> Iterator[ServerProcess]:
    """The uvicorn under test, ready when entered, stopped on exit."""
    port = free_port()
    command = uvicorn_command("benchmarks.soak.app:build_soak_app", port, ws=ws)
    with serve(command, port) as server:
        yield server


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--smoke", action="store_true", help="tiny counts (well under a minute)")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead")
    parser.add_argument("--ws", default="websockets", choices=WS_IMPLEMENTATIONS,
                        help="uvicorn's WebSocket implementation")  # fmt: skip
    parser.add_argument("--seed", type=int, default=6, help="seed of the SSE disconnect plan")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    return parser.parse_args(argv)


def _git(*arguments: str) -> str:
    completed = subprocess.run(["git", *arguments], cwd=ROOT, text=True, capture_output=True,
                               timeout=10, check=False)  # fmt: skip
    return completed.stdout


def _source_state() -> dict[str, str]:
    """The commit measured, and which files of ``src/`` differ from it (if any)."""
    try:
        commit = _git("rev-parse", "--short", "HEAD").strip()
        changed = [line[3:] for line in _git("status", "--porcelain", "--", "src").splitlines()]
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "src_changes": "unknown"}
    return {"commit": commit or "unknown", "src_changes": ", ".join(changed) or "none"}


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("websockets", "wsproto"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; return the process exit status."""
    arguments = _arguments(argv)
    profile = SMOKE if arguments.smoke else FULL
    raise_open_files(65536)
    started = time.monotonic()
    load_before = _load_average()
    source = _source_state()  # read before the server imports src/
    command = "python -m benchmarks.soak" + (" --smoke" if arguments.smoke else "")
    if arguments.ws != "websockets":
        command += f" --ws {arguments.ws}"
    log(f"[soak {profile.name}] {profile.load.http:,} HTTP events, {profile.load.ws:,} "
         f"WebSocket cycles, {profile.load.sse:,} SSE streams; --ws {arguments.ws}")  # fmt: skip
    try:
        with _server(arguments.ws) as server:
            soak = _Soak(server, profile, arguments.seed)
            uvloop.run(soak.run())
            server.check_alive()
            log_errors = _log_errors(server)
    except (*FAILURES, TimeoutError) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 2
    bounds = _bounds(soak, log_errors)
    document = {
        "mode": profile.name,
        "command": command,
        "setup": (
            f"uvicorn --http httptools --ws {arguments.ws} --loop uvloop, one worker, "
            "tracemalloc on in the server; client in this process (uvloop), unpinned"
        ),
        "machine": {
            **machine_info(),
            **_versions(),
            **source,
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
        "settings": {
            **asdict(profile),
            "ws": arguments.ws,
            "seed": arguments.seed,
            "stream_grace_s": STREAM_GRACE,
        },
        "phases": [{**asdict(phase), "rate": round(phase.rate, 1)} for phase in soak.phases],
        "marks": soak.marks,
        "drain_s": soak.drains,
        "bounds": bounds,
        "errors": soak.errors.first,
        "error_count": soak.errors.count,
        "log_errors": log_errors,
        "runtime_s": round(time.monotonic() - started, 1),
    }
    report = _markdown(document)
    print(json.dumps(document, indent=2) if arguments.json else report, flush=True)
    target = write_results(arguments.results, f"soak-{profile.name}", document, report)
    held = all(bound["held"] for bound in bounds)
    log(f"[soak {profile.name}] {'every bound held' if held else 'A BOUND BROKE'}; wrote "
         f"{target}; {document['runtime_s']:.0f} s")  # fmt: skip
    return 0 if held else 1


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "unknown"
