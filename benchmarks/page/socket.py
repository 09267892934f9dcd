"""The page socket part of the page-connection benchmark (``python -m benchmarks.page``).

A page of ``components`` live WebSocket components, held two ways against the same uvicorn
(``--ws wsproto``, as docs/deployment.md recommends) serving
:func:`benchmarks.websocket.app.build_ws_components` (its ``counter`` and ``ticker`` and its
``/_bench/broadcast`` route): **separate**, one socket per component (``ws-connect`` without
the runtime), and **shared**, one socket holding its own component plus the others joined to
it (``{"type": "join", "component": ...}``, docs/websocket.md "Several components on one
socket"). Runs alternate between the two in every round. Measured, on the server process:

- **open**: CPU and wire bytes to open a page of counters (handshakes, joins, first renders);
- **round trip**: CPU and wire bytes per event and its render (every component of every page
  sends ``increment`` at once, ``steps`` times; each answer checked: its ref, its count, its
  component id);
- **push**: CPU and wire bytes per push render (pages of tickers; ``pushes`` broadcasts, each
  render checked: its price, every component once);
- **memory**: RSS growth per open page of counters on a fresh server (after one small page).

A wrong or missing answer raises :class:`~benchmarks.common.wsclient.WrongAnswer`, and both
sides must have done the same work (the same messages), so ``--smoke`` is a correctness run.
The client is :class:`~benchmarks.common.wsclient.WsProtocol` (the WebSocket benchmark's).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from benchmarks.common.control import control_request
from benchmarks.common.probes import read_cpu_seconds, read_rss_kib
from benchmarks.common.processes import HOST, free_port, serve, uvicorn_command
from benchmarks.common.wsclient import Arrivals, WrongAnswer, WsProtocol
from benchmarks.websocket.app import (
    BROADCAST_PATH,
    COUNTER,
    COUNTER_PATH,
    MEMORY_PATH,
    TICKER,
    TICKER_PATH,
)
from benchmarks.websocket.client import check_render, check_ticker

__all__ = ["SOCKET_FULL", "SOCKET_MODES", "SOCKET_SMOKE", "SocketProfile", "measure_sockets"]

SOCKET_MODES: Final = ("separate", "shared")
#: The WebSocket implementation docs/deployment.md recommends for many open sockets.
WS: Final = "wsproto"
_PATHS: Final = {COUNTER: COUNTER_PATH, TICKER: TICKER_PATH}
_SETTLE: Final = 10.0
#: Longest wait for the renders of a step or a push to arrive (seconds).
_ARRIVAL_WAIT: Final = 30.0


@dataclass(frozen=True)
class SocketProfile:
    """The sizes of the socket part."""

    pages: int
    components: int
    steps: int
    pushes: int
    rounds: int
    memory_pages: int
    memory_rounds: int


SOCKET_FULL: Final = SocketProfile(pages=50, components=10, steps=50, pushes=20, rounds=5,
                                   memory_pages=100, memory_rounds=3)  # fmt: skip
SOCKET_SMOKE: Final = SocketProfile(pages=2, components=10, steps=3, pushes=2, rounds=1,
                                    memory_pages=3, memory_rounds=1)  # fmt: skip


@dataclass
class _Page:
    """One page's components: ``routes[i]`` is component ``i``'s socket and the
    ``component_id`` its events name (``None``: the socket's own component)."""

    sockets: list[WsProtocol] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    routes: list[tuple[WsProtocol, str | None]] = field(default_factory=list)

    @property
    def wire(self) -> int:
        return sum(s.sent_bytes + s.received_bytes for s in self.sockets)


async def _connect(port: int, name: str, on_message: Callable[[], None] | None) -> WsProtocol:
    loop = asyncio.get_running_loop()
    path = _PATHS[name]
    _, protocol = await loop.create_connection(
        lambda: WsProtocol(path, port, on_message=on_message), HOST, port
    )
    await protocol.opened
    return protocol


def _first(data: bytes, name: str, ref: object) -> str:
    """A component's first render checked; its component id."""
    if name == COUNTER:
        check_render(data, ref, 0)
        return str(json.loads(data)["component_id"])
    message = json.loads(data)
    if message.get("ref") != ref:
        raise WrongAnswer(f"expected the answer to {ref!r}, got {data[:200]!r}")
    check_ticker(json.dumps({**message, "ref": None}).encode(), 0.0)  # a push render's checks
    return str(message["component_id"])


async def _open_page(
    port: int, mode: str, name: str, count: int, on_message: Callable[[], None] | None = None
) -> _Page:
    """A page of ``count`` components ``name``, each with its first render checked."""
    page = _Page()
    if mode == "separate":
        page.sockets = list(
            await asyncio.gather(*(_connect(port, name, on_message) for _ in range(count)))
        )
        for socket in page.sockets:
            page.ids.append(_first((await socket.receive())[1], name, None))
            page.routes.append((socket, None))
        return page
    socket = await _connect(port, name, on_message)
    page.sockets = [socket]
    page.ids.append(_first((await socket.receive())[1], name, None))
    page.routes.append((socket, None))
    for ref in range(1, count):
        socket.send_text(json.dumps({"type": "join", "component": name, "ref": f"j{ref}"}))
    joined: dict[str, str] = {}
    for _ in range(1, count):
        data = (await socket.receive())[1]
        ref = json.loads(data).get("ref")
        joined[str(ref)] = _first(data, name, ref)
    for ref in range(1, count):
        if f"j{ref}" not in joined:
            raise WrongAnswer(f"join j{ref} was not answered: {sorted(joined)}")
        page.ids.append(joined[f"j{ref}"])
        page.routes.append((socket, joined[f"j{ref}"]))
    return page


async def _close(pages: list[_Page]) -> None:
    sockets = [socket for page in pages for socket in page.sockets]
    for socket in sockets:
        socket.close()
    if sockets:
        await asyncio.wait([s.closed for s in sockets], timeout=_SETTLE)
    for socket in sockets:
        if not socket.closed.done():
            socket.abort()


async def _step(page: _Page, ref: int) -> int:
    """Every component of ``page`` sends ``increment`` at once; every answer checked."""
    for socket, joined in page.routes:
        event: dict[str, Any] = {"type": "event", "event": "increment", "payload": {}, "ref": ref}
        if joined is not None:
            event["component_id"] = joined
        socket.send_text(json.dumps(event))
    seen: set[str] = set()
    for socket in page.sockets:
        expected = len([route for route in page.routes if route[0] is socket])
        for _ in range(expected):
            data = (await socket.receive())[1]
            check_render(data, ref, ref)
            seen.add(json.loads(data)["component_id"])
    if seen != set(page.ids):
        raise WrongAnswer(f"step {ref}: answers of {len(seen)} of {len(page.ids)} components")
    return len(page.routes)


async def _no_tickers(port: int) -> None:
    """Wait until the server holds no ticker (the last round's pages have left)."""
    for _ in range(int(_SETTLE / 0.05)):
        if (await control_request(port, "GET", MEMORY_PATH))["members"] == 0:
            return
        await asyncio.sleep(0.05)
    raise WrongAnswer("tickers of a closed page are still held")


async def _arrived(arrivals: Arrivals, target: int) -> None:
    """Until ``target`` renders arrived in all; ``WrongAnswer`` after ``_ARRIVAL_WAIT``."""
    if not await arrivals.wait(target, _ARRIVAL_WAIT):
        raise WrongAnswer(f"only {arrivals.total} of {target} renders arrived")


def _check_pushes(pages: list[_Page], pushes: int) -> int:
    """Every ticker got every price once, in order; returns the push renders."""
    count = 0
    for page in pages:
        prices: dict[str, list[float]] = {}
        for socket in page.sockets:
            for _, data in socket.messages:
                message = json.loads(data)
                check_ticker(data, message.get("state", {}).get("price"))
                prices.setdefault(message["component_id"], []).append(message["state"]["price"])
        expected = [_price(n) for n in range(pushes)]
        if set(prices) != set(page.ids) or any(p != expected for p in prices.values()):
            raise WrongAnswer(f"push renders missing, repeated or reordered: {prices}")
        count += len(prices) * pushes
    return count


def _price(index: int) -> float:
    return 100.0 + index + 0.25


async def _push_round(port: int, pid: int, mode: str, profile: SocketProfile) -> dict[str, float]:
    await _no_tickers(port)
    arrivals = Arrivals()
    pages = [
        await _open_page(port, mode, TICKER, profile.components, arrivals.on_message)
        for _ in range(profile.pages)
    ]
    renders = profile.pages * profile.components
    try:
        await _arrived(arrivals, renders)
        wire = sum(page.wire for page in pages)
        before = read_cpu_seconds(pid)
        for index in range(profile.pushes):
            body = json.dumps({"price": _price(index)}).encode()
            answer = await control_request(port, "POST", BROADCAST_PATH, body)
            if answer["reached"] != renders:
                raise WrongAnswer(f"the broadcast reached {answer['reached']} of {renders}")
            await _arrived(arrivals, renders * (index + 2))
        cpu = read_cpu_seconds(pid) - before
        wire = sum(page.wire for page in pages) - wire
        pushed = _check_pushes(pages, profile.pushes)
    finally:
        await _close(pages)
    return {"push_cpu_us": cpu / pushed * 1e6, "push_bytes": wire / pushed, "pushed": pushed}


async def _events_round(port: int, pid: int, mode: str, profile: SocketProfile) -> dict[str, float]:
    before = read_cpu_seconds(pid)
    pages = await asyncio.gather(
        *(_open_page(port, mode, COUNTER, profile.components) for _ in range(profile.pages))
    )
    open_cpu = read_cpu_seconds(pid) - before
    open_wire = sum(page.wire for page in pages)
    try:
        before = read_cpu_seconds(pid)
        trips = 0
        for ref in range(1, profile.steps + 1):
            trips += sum(await asyncio.gather(*(_step(page, ref) for page in pages)))
        cpu = read_cpu_seconds(pid) - before
        wire = sum(page.wire for page in pages) - open_wire
        sockets = sum(len(page.sockets) for page in pages)
    finally:
        await _close(list(pages))
    return {
        "open_cpu_ms": open_cpu / profile.pages * 1e3,
        "open_bytes": open_wire / profile.pages,
        "rtt_cpu_us": cpu / trips * 1e6,
        "rtt_bytes": wire / trips,
        "round_trips": trips,
        "sockets_per_page": sockets / profile.pages,
    }


async def _cpu_rounds(
    port: int, pid: int, profile: SocketProfile
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {mode: {} for mode in SOCKET_MODES}
    for mode in SOCKET_MODES:  # warm-up: imports, templates, the first connections
        await _events_round(port, pid, mode, profile)
        await _push_round(port, pid, mode, profile)
    for index in range(profile.rounds):
        order = SOCKET_MODES if index % 2 == 0 else SOCKET_MODES[::-1]
        for mode in order:  # interleaved: the machine's noise hits both alike
            figures = {
                **await _events_round(port, pid, mode, profile),
                **await _push_round(port, pid, mode, profile),
            }
            for key, value in figures.items():
                results[mode].setdefault(key, []).append(value)
    return results


async def _memory_round(port: int, pid: int, mode: str, profile: SocketProfile) -> float:
    """KiB of server RSS per open page of counters, on a fresh server."""
    warm = await _open_page(port, mode, COUNTER, profile.components)
    await _close([warm])
    await asyncio.sleep(0.2)
    baseline = read_rss_kib(pid)
    pages = [
        await _open_page(port, mode, COUNTER, profile.components)
        for _ in range(profile.memory_pages)
    ]
    await asyncio.sleep(0.5)  # let the server settle
    held = read_rss_kib(pid)
    await _close(pages)
    return (held - baseline) / profile.memory_pages


def _same_work(results: dict[str, dict[str, list[float]]]) -> None:
    """Both sides answered the same messages (the smoke run's point)."""
    for key in ("round_trips", "pushed"):
        counts = {mode: results[mode][key] for mode in SOCKET_MODES}
        if len({tuple(v) for v in counts.values()}) != 1:
            raise WrongAnswer(f"the two sides did different work: {key} {counts}")


def measure_sockets(
    profile: SocketProfile, prefix: Sequence[str] = ()
) -> dict[str, dict[str, float]]:
    """Run the socket part (the server's command line after ``prefix``: its CPU pinning);
    the medians per mode (``WrongAnswer`` when an answer is wrong)."""
    port = free_port()
    target = "benchmarks.websocket.app:build_ws_components"
    command = [*prefix, *uvicorn_command(target, port, ws=WS)]
    with serve(command, port) as server:
        results = asyncio.run(_cpu_rounds(port, server.pid, profile))
    _same_work(results)
    for _ in range(profile.memory_rounds):
        for mode in SOCKET_MODES:  # a fresh server each time: RSS never shrinks after a peak
            with serve(command, port) as server:
                memory = asyncio.run(_memory_round(port, server.pid, mode, profile))
            results[mode].setdefault("kib_per_page", []).append(memory)
    return {mode: {k: statistics.median(v) for k, v in r.items()} for mode, r in results.items()}
