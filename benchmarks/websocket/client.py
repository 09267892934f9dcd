"""The WebSocket benchmark's client: ``python -m benchmarks.websocket.client SCENARIO ...``.

Runs one scenario against uvicorn(s) on 127.0.0.1 and prints one JSON line. Connections are
our own minimal RFC 6455 client (:class:`WsProtocol`: an :class:`asyncio.Protocol` on uvloop
doing the HTTP upgrade, parsing server frames, masking its own, answering pings): an idle
connection costs the client a few KiB, so one process opens 10,000 of them and still reads
fast enough not to be the bottleneck. Every message is stamped in ``data_received``, when its
last byte was read.

Scenarios:

- ``rtt``: ``--clients`` connections to the counter; each runs a closed loop (send an
  ``increment`` event, wait for its render, send the next; with ``--rate`` each client instead
  sends on its own schedule of ``rate`` events/s) for ``--warmup`` then ``--seconds`` seconds.
  Every answer is checked (a render with the event's ``ref``, the expected count, in the HTML
  too); latencies of the measured window are reported.
- ``fanout``: ``--connections`` idle connections to the ticker, spread round robin over
  ``--ports``; the server RSS before and after opening them; then ``--rounds`` times one
  ``POST /_bench/broadcast`` to the first port, and the time from the server's stamp (read just
  before ``WebSocketManager.broadcast``) until each connection has the new render, checked
  (a render with the new price).

Exit status 0 with the JSON line; 1 when an answer was wrong or missing (the JSON line then
holds ``"error"``); timing never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import uvloop

from benchmarks.common.control import control_request
from benchmarks.common.probes import (
    CpuMeter,
    raise_open_files,
    read_cpu_seconds,
    read_rss_kib,
    summary_ms,
)
from benchmarks.common.wsclient import HOST, Arrivals, WrongAnswer, WsProtocol
from benchmarks.websocket.app import (
    BROADCAST_PATH,
    COUNTER_PATH,
    GC_PATH,
    MEMORY_PATH,
    TICKER_PATH,
)

__all__ = ["ConnectionPool", "check_render", "check_ticker", "main"]

_CONNECT_LIMIT: Final = 64
_CONNECT_TIMEOUT: Final = 30.0


class ConnectionPool:
    """Opens many connections, at most :data:`_CONNECT_LIMIT` handshakes at a time."""

    def __init__(self) -> None:
        self.connections: list[WsProtocol] = []
        self.failed: list[str] = []
        self._gate = asyncio.Semaphore(_CONNECT_LIMIT)

    async def open(self, factory: Callable[[], WsProtocol], port: int) -> WsProtocol | None:
        loop = asyncio.get_running_loop()
        async with self._gate:
            try:
                async with asyncio.timeout(_CONNECT_TIMEOUT):
                    _, protocol = await loop.create_connection(factory, HOST, port)
                    await protocol.opened
            except (OSError, TimeoutError, WrongAnswer) as exc:
                self.failed.append(f"{type(exc).__name__}: {exc}")
                return None
        self.connections.append(protocol)
        return protocol

    async def close_all(self, within: float = 15.0) -> None:
        for connection in self.connections:
            connection.close()
        pending = [c.closed for c in self.connections if not c.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=within)
            for connection in self.connections:
                if not connection.closed.done():
                    connection.abort()


# -- rtt ------------------------------------------------------------------------------------------


def check_render(data: bytes, ref: object, count: int) -> None:
    try:
        message = json.loads(data)
    except ValueError:
        raise WrongAnswer(f"not JSON: {data[:120]!r}") from None
    if message.get("type") != "render" or message.get("ref") != ref:
        raise WrongAnswer(f"expected the render of ref {ref}, got {data[:200]!r}")
    if message.get("state") != {"count": count}:
        raise WrongAnswer(f"expected count {count}, got {message.get('state')!r}")
    if f'<span class="count">{count}</span>' not in message.get("html", ""):
        raise WrongAnswer(f"html does not show {count}: {message.get('html')!r}")
    if not isinstance(message.get("snapshot"), str) or not message.get("component_id"):
        raise WrongAnswer(f"render without snapshot or component_id: {data[:200]!r}")


class _Window:
    """The measured window: latencies recorded between ``start`` and ``end``."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end
        self.latencies: list[float] = []


async def _client_loop(connection: WsProtocol, window: _Window, rate: float) -> int:
    """One client: events until the window ends; returns how many round trips it made."""
    _, first = await connection.receive()
    check_render(first, None, 0)
    ref = 0
    phase = (os.getpid() + id(connection)) % 1000 / 1000 / rate if rate > 0 else 0.0
    began = time.perf_counter()
    while True:
        if rate > 0:
            due = began + phase + ref / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent = time.perf_counter()
        if sent >= window.end:
            return ref
        ref += 1
        connection.send_text(f'{{"type":"event","event":"increment","payload":{{}},"ref":{ref}}}')
        arrived, data = await connection.receive()
        check_render(data, ref, ref)
        if sent >= window.start:
            window.latencies.append(arrived - sent)


async def _meter(meter: CpuMeter, window: _Window) -> dict[str, float | None]:
    """The server's CPU over the measured window."""
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    meter.start()
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    return meter.stop()


async def rtt(
    meter: CpuMeter, port: int, clients: int, seconds: float, warmup: float, rate: float
) -> dict[str, Any]:
    """``clients`` connections to the counter, each a closed loop (or paced at ``rate``)."""
    pool = ConnectionPool()
    await asyncio.gather(
        *(pool.open(lambda: WsProtocol(COUNTER_PATH, port), port) for _ in range(clients))
    )
    result: dict[str, Any] = {"scenario": "rtt", "clients": clients, "rate": rate,
                              "seconds": seconds, "warmup_s": warmup}  # fmt: skip
    if pool.failed:
        await pool.close_all()
        raise WrongAnswer(f"{len(pool.failed)} of {clients} connections failed: {pool.failed[0]}")
    start = time.perf_counter() + warmup
    window = _Window(start, start + seconds)
    loop = asyncio.get_running_loop()
    metering = loop.create_task(_meter(meter, window))
    tasks = [loop.create_task(_client_loop(c, window, rate)) for c in pool.connections]
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    cpu = await metering
    await pool.close_all()
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        first = errors[0]
        result["error"] = f"{len(errors)} of {clients} clients failed; first: " + (
            f"{type(first).__name__}: {first}"
        )
    latencies = window.latencies
    result.update(
        round_trips=len(latencies),
        round_trips_per_second=round(len(latencies) / seconds, 1),
        latency=summary_ms(latencies),
        **cpu,
    )
    return result


# -- fanout ---------------------------------------------------------------------------------------


def check_ticker(data: bytes, price: float) -> None:
    try:
        message = json.loads(data)
    except ValueError:
        raise WrongAnswer(f"not JSON: {data[:120]!r}") from None
    if message.get("type") != "render" or message.get("ref") is not None:
        raise WrongAnswer(f"expected a push render, got {data[:200]!r}")
    if message.get("state") != {"price": price}:
        raise WrongAnswer(f"expected price {price}, got {message.get('state')!r}")
    if f'<span class="price">{price}</span>' not in message.get("html", ""):
        raise WrongAnswer(f"html does not show {price}: {message.get('html')!r}")


def _rss(pids: Sequence[int]) -> list[int]:
    return [read_rss_kib(pid) for pid in pids]


async def _memory(ports: Sequence[int], mark: str) -> list[dict[str, Any]]:
    return [await control_request(port, "GET", f"{MEMORY_PATH}?mark={mark}") for port in ports]


async def _collections(ports: Sequence[int]) -> tuple[int, float]:
    """The full collections the servers ran so far, and their ms, summed over ``ports``."""
    documents = [await control_request(port, "GET", GC_PATH) for port in ports]
    return (sum(d["full_collections"] for d in documents),
            sum(d["full_collection_ms"] for d in documents))  # fmt: skip


async def _broadcast_round(
    pool: ConnectionPool, arrivals: Arrivals, ports: Sequence[int], index: int, within: float
) -> dict[str, Any]:
    price = 100.0 + index + 0.25
    target = arrivals.total + len(pool.connections)
    collections, collection_ms = await _collections(ports)
    posted = time.time()
    body = json.dumps({"price": price}).encode()
    answer = await control_request(ports[0], "POST", BROADCAST_PATH, body)
    complete = await arrivals.wait(target, within)
    collections_after, collection_ms_after = await _collections(ports)
    stamp = answer["stamp"]
    times: list[float] = []
    problems: list[str] = []
    for connection in pool.connections:
        if len(connection.messages) < index + 2:
            problems.append("no render")
            continue
        at, data = connection.messages[index + 1]
        try:
            check_ticker(data, price)
        except WrongAnswer as exc:
            problems.append(str(exc))
        times.append(at - stamp)
    extra = sum(len(c.messages) - (index + 2) for c in pool.connections)
    return {
        "price": price,
        "reached_on_trigger_worker": answer["reached"],
        "broadcast_returned_ms": round((answer["returned"] - stamp) * 1000, 3),
        "post_to_stamp_ms": round((stamp - posted) * 1000, 3),
        "delivered": len(times),
        "complete": complete and not problems and extra == 0,
        "unexpected_messages": extra,
        "problems": len(problems),
        "first_problem": problems[0] if problems else None,
        "latency": summary_ms(times),
        "last_ms": round(max(times) * 1000, 3) if times else None,
        "full_collections": collections_after - collections,
        "full_collection_ms": round(collection_ms_after - collection_ms, 3),
    }


async def fanout(
    ports: Sequence[int], pids: Sequence[int], count: int, rounds: int, detail: bool
) -> dict[str, Any]:
    """``count`` idle ticker connections over ``ports``; RSS before/after; ``rounds``
    broadcasts, each timed until every connection has its render."""
    pool, arrivals = ConnectionPool(), Arrivals()
    await asyncio.sleep(0.5)
    traced_before = await _memory(ports, "before") if detail else None
    rss_before = _rss(pids)
    cpu_before = [read_cpu_seconds(pid) for pid in pids]
    opened = time.perf_counter()

    def factory(port: int) -> Callable[[], WsProtocol]:
        return lambda: WsProtocol(TICKER_PATH, port, clock=time.time,
                                  on_message=arrivals.on_message)  # fmt: skip

    await asyncio.gather(
        *(pool.open(factory(ports[i % len(ports)]), ports[i % len(ports)]) for i in range(count))
    )
    open_seconds = time.perf_counter() - opened
    open_cpu = [read_cpu_seconds(p) - c for p, c in zip(pids, cpu_before, strict=True)]
    result: dict[str, Any] = {"scenario": "fanout", "connections": count, "ports": len(ports),
                              "open_s": round(open_seconds, 3),
                              "open_cpu_s": [round(cpu, 3) for cpu in open_cpu]}  # fmt: skip
    try:
        if pool.failed:
            raise WrongAnswer(f"{len(pool.failed)} of {count} connections failed: "
                              f"{pool.failed[0]}")  # fmt: skip
        if not await arrivals.wait(count, 60):
            raise WrongAnswer(f"only {arrivals.total} of {count} initial renders arrived")
        for connection in pool.connections:
            check_ticker(connection.messages[0][1], 0.0)
        await asyncio.sleep(1.0)  # let the servers settle
        rss_after = _rss(pids)
        result.update(
            rss_before_kib=rss_before,
            rss_after_kib=rss_after,
            bytes_per_connection=round((sum(rss_after) - sum(rss_before)) * 1024 / count),
            client_rss_kib=read_rss_kib(os.getpid()),
        )
        if detail:
            after = await _memory(ports, "after")
            result["traced"] = {"before": traced_before, "after": after}
        members = [m["members"] for m in await _memory(ports, "")]
        result["members_per_worker"] = members
        runs = []
        for index in range(rounds):
            cpu = [read_cpu_seconds(pid) for pid in pids]
            run = await _broadcast_round(pool, arrivals, ports, index, 60 + count / 200)
            run["server_cpu_s"] = [round(read_cpu_seconds(p) - c, 3)
                                   for p, c in zip(pids, cpu, strict=True)]  # fmt: skip
            runs.append(run)
            if not run["complete"]:
                raise WrongAnswer(
                    f"broadcast {index + 1}: {run['delivered']} of {count} renders, "
                    f"{run['problems']} wrong ({run['first_problem']}), "
                    f"{run['unexpected_messages']} unexpected messages"
                )
            await asyncio.sleep(0.5)
        result["rounds"] = runs
    except WrongAnswer as exc:
        result["error"] = str(exc)
    finally:
        await pool.close_all()
    return result


# -- entry point ----------------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket.client")
    parser.add_argument("scenario", choices=("rtt", "fanout"))
    parser.add_argument("--ports", required=True, help="comma-separated; the first is triggered")
    parser.add_argument("--server-pids", required=True, help="comma-separated, as --ports")
    parser.add_argument("--server-core", type=int, default=None)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s per client (0: loop)")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--detail", action="store_true", help="tracemalloc figures (fanout)")
    return parser.parse_args(argv)


async def _run(arguments: argparse.Namespace) -> dict[str, Any]:
    ports = [int(port) for port in arguments.ports.split(",")]
    pids = [int(pid) for pid in arguments.server_pids.split(",")]
    if arguments.scenario == "rtt":
        meter = CpuMeter(pids[0], arguments.server_core)
        return await rtt(meter, ports[0], arguments.clients, arguments.seconds,
                         arguments.warmup, arguments.rate)  # fmt: skip
    return await fanout(ports, pids, arguments.connections, arguments.rounds, arguments.detail)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one scenario; print its JSON line."""
    arguments = _arguments(argv)
    raise_open_files(65536)
    try:
        result = uvloop.run(_run(arguments))
    except WrongAnswer as exc:
        result = {"scenario": arguments.scenario, "error": str(exc)}
    print(json.dumps(result), flush=True)
    return 1 if result.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
