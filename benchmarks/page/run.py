"""Page-connection benchmark: ``python -m benchmarks.page [--smoke]``.

One uvicorn (httptools, uvloop, one worker, pinned to the first CPU when ``taskset`` exists)
serves :mod:`benchmarks.page.app`; this process is the client (asyncio sockets on loopback,
pinned to the second CPU). The same ``pages x components`` streams are read three ways, in
interleaved rounds: **separate** (one ``GET /components/ticks/stream/`` connection per
component, what ``sse-connect`` does without the runtime), **page** (one ``POST
/components/_page/`` connection per page carrying all its components) and **over-socket** (one
WebSocket per page, ``/components/ticks/ws/``, carrying the same entries as ``stream``
messages: what the runtime does on a page that has a socket). Measured:

- server CPU per frame (user + system time of the server process over the load, divided by
  the render and done frames the client received);
- wire bytes per frame (everything the client read: HTTP heads, chunk framing, frames, and
  the page connection's control frames; for the socket, every message's payload and frame
  header, its own component's first render included, the handshake left out);
- server memory per open page (RSS growth of a fresh server, after one small page, while
  every page's streams are open and idle after their first frame, divided by the pages).

Every stream is checked (each component gets its first render, every tick once and in order,
then ``done``): a wrong stream fails the run. The page socket part
(:mod:`benchmarks.page.socket`) does the same for WebSocket components: one socket per
component against one socket per page (joins). ``--parts`` picks ``sse``, ``socket`` or both
(the default). ``--smoke`` is a short correctness run of both; its figures mean nothing.
The report is printed as Markdown and written with the JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from websockets.asyncio.client import connect

from benchmarks.common.machine import machine_info
from benchmarks.common.probes import read_cpu_seconds, read_rss_kib
from benchmarks.common.processes import HOST, cpu_plan, free_port, serve, uvicorn_command
from benchmarks.common.report import RESULTS, write_results
from benchmarks.common.wsclient import WrongAnswer
from benchmarks.page.socket import (
    SOCKET_FULL,
    SOCKET_MODES,
    SOCKET_SMOKE,
    WS,
    SocketProfile,
    measure_sockets,
)
from component_framework.protocol.sse import SSEDecoder, SSEEvent

__all__ = ["Profile", "main"]

STREAM_PATH: Final = "/components/ticks/stream/"
PAGE_PATH: Final = "/components/_page/"
SOCKET_PATH: Final = "/components/ticks/ws/"
MODES: Final = ("separate", "page", "over-socket")
PARTS: Final = ("sse", "socket")


@dataclass(frozen=True)
class Profile:
    """The sizes of one run."""

    name: str
    pages: int
    components: int
    frames: int
    every: float
    rounds: int
    memory_pages: int
    hold: float
    memory_rounds: int


FULL: Final = Profile("full", pages=8, components=12, frames=100, every=0.01, rounds=5,
                      memory_pages=40, hold=3.0, memory_rounds=3)  # fmt: skip
SMOKE: Final = Profile("smoke", pages=2, components=12, frames=5, every=0.01, rounds=1,
                       memory_pages=2, hold=0.5, memory_rounds=1)  # fmt: skip


class WrongStream(AssertionError):
    """A stream lost, repeated or reordered a frame."""


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, int]:
    """Status, de-chunked body and wire bytes of one chunked HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    wire, body = len(head), bytearray()
    status = int(head.split(b" ", 2)[1])
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";")[0], 16)
        wire += len(line)
        if size == 0:
            wire += len(await reader.readuntil(b"\r\n"))
            return status, bytes(body), wire
        chunk = await reader.readexactly(size + 2)
        wire += len(chunk)
        body += chunk[:-2]


async def _exchange(port: int, request: bytes, opened: asyncio.Event | None) -> tuple[bytes, int]:
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 22)
    try:
        writer.write(request)
        await writer.drain()
        if opened is not None:
            opened.set()
        status, body, wire = await _response(reader)
        if status != 200:
            raise WrongStream(f"expected 200, got {status}: {body[:200]!r}")
        return body, wire + len(request)
    finally:
        writer.close()


def _query(profile: Profile, label: str, hold: float, frames: int) -> str:
    return f"frames={frames}&every={profile.every}&hold={hold}&label={label}"


def _get(port: int, query: str) -> bytes:
    return (f"GET {STREAM_PATH}?{query} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n").encode()  # fmt: skip


def _post(port: int, queries: list[str]) -> bytes:
    entries = [{"key": str(n), "name": "ticks", "query": q} for n, q in enumerate(queries)]
    body = json.dumps({"streams": entries}).encode()
    head = (f"POST {PAGE_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
    return head.encode() + body


def _check_run(events: list[SSEEvent], frames: int) -> int:
    """The run's frames (first render, ``frames`` ticks, done) in order; returns their count."""
    kinds = [event.event or "message" for event in events]
    if kinds != ["message"] * (frames + 1) + ["done"]:
        raise WrongStream(f"expected {frames + 1} renders and done, got {kinds}")
    ticks = [event.data.rpartition("tick ")[2].partition("<")[0] for event in events[:-1]]
    if ticks != [str(n) for n in range(frames + 1)]:
        raise WrongStream(f"ticks out of order or repeated: {ticks}")
    return len(events)


def _check_page(body: bytes, components: int, frames: int) -> int:
    events = SSEDecoder().feed(body)
    runs: dict[str, list[SSEEvent]] = {}
    keys = 0
    for event in events:
        if event.event == "page":
            control = json.loads(event.data)
            if "run" not in control:
                raise WrongStream(f"a stream did not join: {control}")
            runs[control["run"]] = []
            keys += 1
        elif event.id:
            runs[event.id.rpartition(".")[0]].append(event)
    if keys != components:
        raise WrongStream(f"expected {components} joins, got {keys}")
    return sum(_check_run(run, frames) for run in runs.values())


def _frame_header(size: int) -> int:
    """Bytes of a server-to-client WebSocket frame header (unmasked) for ``size`` bytes."""
    return 2 if size < 126 else 4 if size < 65_536 else 10


async def _socket_page(port: int, queries: list[str], ticks: int) -> tuple[int, int]:
    """One page over one socket: its own component's render, then every entry to its end."""
    url = f"ws://{HOST}:{port}{SOCKET_PATH}"
    async with connect(url, max_size=1 << 22, compression=None) as socket:
        first = str(await socket.recv())
        wire = len(first.encode()) + _frame_header(len(first.encode()))
        for key, query in enumerate(queries):
            entry = {"type": "stream", "key": str(key), "name": "ticks", "query": query}
            await socket.send(json.dumps(entry))
        frames, ended = bytearray(), 0
        while ended < len(queries):
            text = str(await socket.recv())
            size = len(text.encode())
            wire += size + _frame_header(size)
            if text.startswith("{"):
                raise WrongStream(f"unexpected message {text[:200]}")
            frames += text.encode()
            ended += text.startswith("event: done") or '"end"' in text
    return _check_page(bytes(frames), len(queries), ticks), wire


async def _load(
    port: int, mode: str, profile: Profile, pages: int, frames: int, hold: float,
    opened: asyncio.Event | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Every page's streams, read to their end: (frames received, wire bytes)."""
    queries = [
        [_query(profile, f"p{p}c{c}", hold, frames) for c in range(profile.components)]
        for p in range(pages)
    ]
    if mode == "page":
        answers = await asyncio.gather(*(_exchange(port, _post(port, q), None) for q in queries))
        count = sum(_check_page(body, profile.components, frames) for body, _ in answers)
    elif mode == "over-socket":
        counted = await asyncio.gather(*(_socket_page(port, q, frames) for q in queries))
        answers = [(b"", wire) for _, wire in counted]
        count = sum(n for n, _ in counted)
    else:
        flat = [query for page in queries for query in page]
        answers = await asyncio.gather(*(_exchange(port, _get(port, q), None) for q in flat))
        count = sum(_check_run(SSEDecoder().feed(body), frames) for body, _ in answers)
    if opened is not None:
        opened.set()
    return count, sum(wire for _, wire in answers)


async def _cpu_round(port: int, pid: int, mode: str, profile: Profile) -> dict[str, float]:
    before = read_cpu_seconds(pid)
    began = time.perf_counter()
    frames, wire = await _load(port, mode, profile, profile.pages, profile.frames, 0.0)
    cpu = read_cpu_seconds(pid) - before
    return {
        "cpu_us_per_frame": cpu / frames * 1e6,
        "bytes_per_frame": wire / frames,
        "seconds": time.perf_counter() - began,
        "frames": frames,
    }


async def _memory_round(port: int, pid: int, mode: str, profile: Profile) -> float:
    """KiB of server RSS per page while every page's streams are open and idle."""
    baseline = read_rss_kib(pid)
    load = asyncio.ensure_future(_load(port, mode, profile, profile.memory_pages, 1, profile.hold))
    await asyncio.sleep(profile.hold * 0.7)  # every stream open, its first render sent
    held = read_rss_kib(pid)
    await load
    return (held - baseline) / profile.memory_pages


async def _measure_cpu(port: int, pid: int, profile: Profile) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    for mode in MODES:  # warm-up: imports, template compilation, first connections
        await _cpu_round(port, pid, mode, profile)
    for _ in range(profile.rounds):
        for mode in MODES:  # interleaved: the machine's noise hits both alike
            for key, value in (await _cpu_round(port, pid, mode, profile)).items():
                results[mode].setdefault(key, []).append(value)
    return results


async def _measure_memory(port: int, pid: int, mode: str, profile: Profile) -> float:
    """On a fresh server: one small page first (imports, templates), then the idle pages."""
    await _load(port, mode, profile, 1, 1, 0.0)
    return await _memory_round(port, pid, mode, profile)


def _measure(command: list[str], port: int, profile: Profile) -> dict[str, Any]:
    with serve(command, port) as server:
        results = asyncio.run(_measure_cpu(port, server.pid, profile))
    for _ in range(profile.memory_rounds):
        for mode in MODES:  # a fresh server each time: RSS never shrinks after a peak
            with serve(command, port) as server:
                memory = asyncio.run(_measure_memory(port, server.pid, mode, profile))
            results[mode].setdefault("kib_per_page", []).append(memory)
    return {mode: {k: statistics.median(v) for k, v in r.items()} for mode, r in results.items()}


def _report(profile: Profile, figures: dict[str, Any]) -> str:
    machine = machine_info()
    if not figures:
        return ""
    lines = [
        f"## Page connection, page socket and one connection per component ({profile.name})",
        "",
        f"{profile.pages} pages x {profile.components} components x {profile.frames} ticks "
        f"({profile.every * 1000:g} ms apart), medians of {profile.rounds} interleaved rounds; "
        f"memory: {profile.memory_pages} pages open and idle on a fresh server (median of "
        f"{profile.memory_rounds}). "
        f"Machine: {machine.get('cpu', '?')}; rough figures from a shared machine.",
        "",
        "| connection | server CPU µs/frame | wire bytes/frame | server KiB/open page |",
        "|------------|--------------------:|-----------------:|---------------------:|",
    ]
    for mode in MODES:
        row = figures[mode]
        lines.append(
            f"| {mode} | {row['cpu_us_per_frame']:.1f} | {row['bytes_per_frame']:.1f} "
            f"| {row['kib_per_page']:.0f} |"
        )
    return "\n".join(lines)


def _ratio(figures: dict[str, dict[str, float]], key: str) -> str:
    separate = figures["separate"][key]
    return f"{figures['shared'][key] / separate:.2f}" if separate else "-"


_SOCKET_ROWS: Final = (
    ("server CPU to open a page (ms)", "open_cpu_ms", "{:.2f}"),
    ("wire bytes to open a page", "open_bytes", "{:,.0f}"),
    ("server CPU per round trip (µs)", "rtt_cpu_us", "{:.1f}"),
    ("wire bytes per round trip", "rtt_bytes", "{:.1f}"),
    ("server CPU per push render (µs)", "push_cpu_us", "{:.1f}"),
    ("wire bytes per push render", "push_bytes", "{:.1f}"),
    ("server KiB per open page", "kib_per_page", "{:.0f}"),
    ("sockets per page", "sockets_per_page", "{:.0f}"),
)


def _socket_report(name: str, profile: SocketProfile, figures: dict[str, Any]) -> str:
    if not figures:
        return ""
    lines = [
        f"## Page socket vs one socket per component ({name})",
        "",
        f"{profile.pages} pages x {profile.components} components; round trips: every "
        f"component sends an event at once, {profile.steps} times; pushes: {profile.pushes} "
        f"broadcasts to pages of tickers; medians of {profile.rounds} interleaved rounds; "
        f"memory: {profile.memory_pages} pages open and idle on a fresh server (median of "
        f"{profile.memory_rounds}). uvicorn --ws {WS}. Rough figures from a shared machine.",
        "",
        "| per page of components | separate sockets | one shared socket | shared / separate |",
        "|------------------------|-----------------:|------------------:|------------------:|",
    ]
    for label, key, shape in _SOCKET_ROWS:
        row = [shape.format(figures[mode][key]) for mode in SOCKET_MODES]
        lines.append(f"| {label} | {row[0]} | {row[1]} | {_ratio(figures, key)} |")
    return "\n".join(lines)


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in text.split(","))
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parts {unknown}; choose from {PARTS}")
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.page", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="short correctness run (< 40 s)")
    parser.add_argument(
        "--parts", type=_parts, default=PARTS, help="sse, socket or both (default: sse,socket)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    arguments = parser.parse_args(argv)
    profile = SMOKE if arguments.smoke else FULL
    plan = cpu_plan()
    port = free_port()
    command = [*plan.server, *uvicorn_command("benchmarks.page.app:build_page_app", port)]
    if plan.wrk:  # the client on the other CPU
        os.sched_setaffinity(0, {int(plan.wrk[-1])})
    figures = _measure(command, port, profile) if "sse" in arguments.parts else {}
    sockets = SOCKET_SMOKE if arguments.smoke else SOCKET_FULL
    try:
        socket_figures = (
            measure_sockets(sockets, plan.server) if "socket" in arguments.parts else {}
        )
    except WrongAnswer as exc:
        print(f"page socket: wrong answer: {exc}", file=sys.stderr)
        return 1
    parts = (_report(profile, figures), _socket_report(profile.name, sockets, socket_figures))
    report = "\n\n".join(part for part in parts if part)
    document = {"profile": profile.name, "machine": machine_info(), "figures": figures,
                "socket": socket_figures}  # fmt: skip
    write_results(arguments.results, f"page-{profile.name}", document, report)
    print(report)
    return 0
