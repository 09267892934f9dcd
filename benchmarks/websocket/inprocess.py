"""The library's own CPU per WebSocket event and per broadcast member, with no server.

``python -m benchmarks.websocket.inprocess [--parts rtt,fanout] [--smoke]``

``ComponentASGI`` (the factory of :mod:`benchmarks.websocket.app`) is called directly, one
in-memory ``receive``/``send`` pair per connection, on uvloop: no uvicorn, no sockets, so the
figures hold only what the library spends (the server's WebSocket stack is most of the cost
measured through uvicorn, and its noise hides changes of a few µs).

- ``rtt``: ``--clients`` connections to the counter (one by default), ``--events``
  ``increment`` events in all, each connection in a closed loop (after 2,000 of warm-up
  shared the same way); process CPU time per event. ``--contenders`` runs the same loop on
  the round-trip part's other apps too (``floor``, ``litestar``, ``starlette``), one after the
  other in one process, for a comparison without servers (the order rotates with ``--rounds``).
- ``fanout``: ``--connections`` idle ticker connections, ``--broadcasts`` broadcasts of
  ``price_update``, each until every connection has its push render; process CPU time per
  member of each broadcast (the first two are warm-up), and how many full collections of the
  garbage collector ran during the measured ones. ``--slice`` sets the hub's slices (the
  library's 2 ms by default; the cache simulator, which runs the code about a hundred
  times slower, passes one as long at its pace).

Every answer is checked (exit status 1 when one is wrong). Diagnostic only: never fails on
timing. Pin it to one CPU and alternate the trees compared (``PYTHONPATH``), as in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

import uvloop

from benchmarks.websocket.app import (
    COUNTER_PATH,
    TICKER,
    TICKER_PATH,
    build_ws_components,
    build_ws_floor,
    build_ws_litestar,
    build_ws_starlette,
)
from component_framework.core.turns import SLICE_SECONDS
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import websocket_scope

__all__ = ["CONTENDERS", "contender_names", "main"]

WARMUP_EVENTS = 2_000
#: The apps of the round-trip part, by the name ``--contenders`` takes.
CONTENDERS: Final[dict[str, Callable[[], Any]]] = {
    "components": build_ws_components,
    "floor": build_ws_floor,
    "litestar": build_ws_litestar,
    "starlette": build_ws_starlette,
}
WARMUP_BROADCASTS = 2


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Arrivals:
    """Counts the messages of every connection; wakes the waiter at a target count."""

    def __init__(self) -> None:
        self.total = 0
        self._target = -1
        self._waiter: asyncio.Future[None] | None = None

    def arrived(self) -> None:
        self.total += 1
        if self.total == self._target and self._waiter is not None:
            self._waiter.set_result(None)

    def until(self, target: int) -> asyncio.Future[None]:
        self._target = target
        self._waiter = asyncio.get_running_loop().create_future()
        if self.total >= target:
            self._waiter.set_result(None)
        return self._waiter


class _Connection:
    """One WebSocket exchange with the app over in-memory ASGI messages."""

    def __init__(self, app: Any, path: str, arrivals: _Arrivals) -> None:
        self._app, self._arrivals = app, arrivals
        self._scope = websocket_scope(path)
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.last = ""
        self.task: asyncio.Task[None] | None = None
        self._answered: asyncio.Future[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        return await self._inbox.get()

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            self.last = message["text"]
            self._arrivals.arrived()
            answered = self._answered
            if answered is not None and not answered.done():
                answered.set_result(None)

    def expect(self) -> asyncio.Future[None]:
        """A future done by this connection's next message."""
        self._answered = asyncio.get_running_loop().create_future()
        return self._answered

    def open(self) -> None:
        self._inbox.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.ensure_future(self._app(self._scope, self._receive, self._send))

    def put(self, text: str) -> None:
        self._inbox.put_nowait({"type": "websocket.receive", "text": text})

    def leave(self) -> None:
        self._inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})


async def _round_trips(app: Any, events: int, clients: int = 1) -> float:
    arrivals = _Arrivals()
    connections = [_Connection(app, COUNTER_PATH, arrivals) for _ in range(clients)]
    for connection in connections:
        connection.open()
    await arrivals.until(clients)

    async def run(connection: _Connection, first: int, count: int) -> None:
        for ref in range(first, first + count):
            message = {"type": "event", "event": "increment", "payload": {}, "ref": ref}
            answered = connection.expect()
            connection.put(json.dumps(message))
            await answered
            # The answer's ref here (cheap, inside the timing); its count after the run.
            if not connection.last.endswith(f',"ref":{ref}}}'):
                raise ValueError(f"event {ref}: wrong answer {connection.last[:200]}")
        answer = json.loads(connection.last)
        if answer["type"] != "render" or answer["state"] != {"count": first + count}:
            raise ValueError(f"after event {first + count - 1}: {connection.last[:200]}")

    warmup, each = max(1, WARMUP_EVENTS // clients), events // clients
    await asyncio.gather(*(run(connection, 0, warmup) for connection in connections))
    started = _cpu_seconds()
    await asyncio.gather(*(run(connection, warmup, each) for connection in connections))
    seconds = _cpu_seconds() - started
    for connection in connections:
        connection.leave()
    await asyncio.gather(*(c.task for c in connections if c.task is not None))
    return seconds / (each * clients) * 1e6


async def _fan_out(
    app: Any, count: int, broadcasts: int, slice_seconds: float = SLICE_SECONDS
) -> tuple[list[float], int]:
    arrivals = _Arrivals()
    connections = [_Connection(app, TICKER_PATH, arrivals) for _ in range(count)]
    for connection in connections:
        connection.open()
    await arrivals.until(count)
    manager, per_member, collections = WebSocketManager(), [], [0]
    manager.hub.turns.slice_seconds = slice_seconds

    def count_full(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            collections[0] += 1

    gc.callbacks.append(count_full)
    try:
        for index in range(broadcasts):
            if index == WARMUP_BROADCASTS:
                collections[0] = 0
            price = 100.0 + index
            done = arrivals.until(arrivals.total + count)
            started = _cpu_seconds()
            await manager.broadcast(component_name=TICKER, event="price_update",
                                    payload={"price": price})  # fmt: skip
            await done
            per_member.append((_cpu_seconds() - started) / count * 1e6)
            wrong = [c.last for c in connections if json.loads(c.last)["state"]["price"] != price]
            if wrong:
                raise ValueError(f"broadcast {index}: {len(wrong)} wrong renders: {wrong[0]}")
    finally:
        gc.callbacks.remove(count_full)
    for connection in connections:
        connection.leave()
    await asyncio.gather(*(c.task for c in connections if c.task is not None))
    return per_member[WARMUP_BROADCASTS:], collections[0]


def contender_names(text: str) -> list[str]:
    """``--contenders``'s value (comma-separated names of :data:`CONTENDERS`) as a list; an
    unknown name is the option's error."""
    names = text.split(",")
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown contenders: {', '.join(sorted(unknown))}")
    return names


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket.inprocess")
    parser.add_argument("--parts", default="rtt,fanout", help="comma-separated: rtt, fanout")
    parser.add_argument("--contenders", type=contender_names, default="components",
                        help="rtt: comma-separated, of " + ", ".join(CONTENDERS))  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="rtt: rounds over the contenders")
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--clients", type=int, default=1, help="rtt: connections at once")
    parser.add_argument("--connections", type=int, default=5_000)
    parser.add_argument("--broadcasts", type=int, default=12)
    parser.add_argument("--slice", type=float, default=SLICE_SECONDS,
                        help="fanout: seconds of the hub's slices")  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="a tiny correctness run")
    arguments = parser.parse_args(argv)
    if arguments.smoke:
        arguments.events, arguments.connections, arguments.broadcasts = 200, 50, 4
    if not 1 <= arguments.clients <= arguments.events:
        parser.error("--clients must be at least 1 and at most --events")
    return arguments


async def _run(arguments: argparse.Namespace) -> None:
    parts = arguments.parts.split(",")
    if "rtt" in parts:
        names = arguments.contenders
        for index in range(arguments.rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                clients = arguments.clients
                micros = await _round_trips(CONTENDERS[name](), arguments.events, clients)
                label = "" if names == ["components"] else f" {name}"
                over = "" if clients == 1 else f" over {clients:,} clients"
                print(f"rtt{label}: {micros:.1f} us of CPU per event "
                      f"({arguments.events // clients * clients:,} events{over})")  # fmt: skip
    if "fanout" in parts:
        app = build_ws_components()
        per_member, collections = await _fan_out(
            app, arguments.connections, arguments.broadcasts, arguments.slice
        )
        print(f"fanout: {statistics.median(per_member):.1f} us of CPU per member (median; "
              f"best {min(per_member):.1f}; {arguments.connections:,} connections, "
              f"{len(per_member)} broadcasts, {collections} full collections)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the parts asked for and print their figures; 1 when an answer was wrong."""
    try:
        uvloop.run(_run(_arguments(argv)))
    except ValueError as exc:
        print(f"WRONG ANSWER: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
