"""The fairness benchmark's client: ``python -m benchmarks.fairness.client --port P ...``.

Plays the attack on the showcase's shared todo list (``examples.standalone`` under uvicorn on
127.0.0.1) and measures what an unrelated client sees meanwhile. Prints one JSON line.

1. ``--viewers`` WebSocket connections to ``/components/todo/ws/``, each from its own loopback
   address (``127.1.x.y``: 100 people, not one client past its socket cap), each checked to
   get its first render;
2. quiet: the probe alone for ``--quiet`` seconds: ``GET /components/counter/`` (JSON, a
   fresh connection each, from ``127.3.0.1``) sent every ``--probe-interval`` seconds
   whether the earlier ones were answered or not, each answer checked, its latency from
   connect to the last byte;
3. load: one more socket (``127.2.0.1``, the broadcaster) sends ``add`` events on a fixed
   schedule of ``--rate`` per second for ``--seconds`` seconds (under the 50/s message
   limit) while the probe goes on; the server's CPU over that window; how many of the
   broadcaster's events were run (a render with their ``ref``) or refused (a
   ``rate_limited`` error), and how many push renders the viewers got.

A viewer message that is not a push render, a probe that is not a ``200`` counter render, or
a broadcaster answer that is neither a render nor ``rate_limited`` is an error: exit status 1
with ``"error"`` in the JSON line. Timing never fails a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

import uvloop

from benchmarks.common.probes import raise_open_files, read_cpu_seconds, summary_ms
from benchmarks.common.wsclient import WrongAnswer, WsProtocol

__all__ = ["Broadcaster", "Viewer", "main", "probe_once", "viewer_address"]

HOST: Final = "127.0.0.1"
TODO_PATH: Final = "/components/todo/ws/"
PROBE_PATH: Final = "/components/counter/"
BROADCASTER_ADDRESS: Final = "127.2.0.1"
PROBE_ADDRESS: Final = "127.3.0.1"
_OPEN_TIMEOUT: Final = 30.0
_PROBE_TIMEOUT: Final = 60.0
_PUSH_PREFIX: Final = b'{"type":"render"'
_PUSH_SUFFIX: Final = b'"ref":null}'


def viewer_address(index: int) -> str:
    """The loopback address viewer ``index`` connects from (all of 127/8 is loopback)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


class Viewer(WsProtocol):
    """A passive page of the shared list: counts push renders, keeps only the last one."""

    def __init__(self, port: int) -> None:
        super().__init__(TODO_PATH, port)
        self.renders = 0
        self.wrong: bytes | None = None
        self.last: bytes = b""
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _message(self, now: float, message: bytes) -> None:
        if message.startswith(_PUSH_PREFIX) and message.endswith(_PUSH_SUFFIX):
            self.renders += 1
            self.last = message
            if not self.first.done():
                self.first.set_result(None)
        elif self.wrong is None:
            self.wrong = message[:300]

    def check(self) -> None:
        """The last render is the shared list (raises ``WrongAnswer`` otherwise)."""
        if self.wrong is not None:
            raise WrongAnswer(f"a viewer got something else than a push render: {self.wrong!r}")
        state = json.loads(self.last).get("state", {})
        if not isinstance(state.get("items"), list):
            raise WrongAnswer(f"a viewer's render is not the todo list: {self.last[:200]!r}")


class Broadcaster(WsProtocol):
    """The fast client: counts the answers to its events by kind."""

    def __init__(self, port: int) -> None:
        super().__init__(TODO_PATH, port)
        self.answered = 0
        self.limited = 0
        self.pushes = 0
        self.wrong: str | None = None

    def _message(self, now: float, message: bytes) -> None:
        document = json.loads(message)
        kind, ref = document.get("type"), document.get("ref")
        if kind == "render" and ref is None:
            self.pushes += 1
        elif kind == "render":
            self.answered += 1
        elif kind == "error" and document.get("code") == "rate_limited":
            self.limited += 1
        elif self.wrong is None:
            self.wrong = f"unexpected answer to the broadcaster: {message[:300]!r}"


async def _open(protocol: WsProtocol, port: int, address: str) -> None:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(_OPEN_TIMEOUT):
        await loop.create_connection(lambda: protocol, HOST, port, local_addr=(address, 0))
        await protocol.opened


async def probe_once(port: int) -> float:
    """One probe request on a fresh connection; its latency in seconds, checked."""
    started = time.perf_counter()
    async with asyncio.timeout(_PROBE_TIMEOUT):
        reader, writer = await asyncio.open_connection(HOST, port, local_addr=(PROBE_ADDRESS, 0))
        try:
            writer.write(
                f"GET {PROBE_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                "Accept: application/json\r\nConnection: close\r\n\r\n".encode("ascii")
            )
            answer = await reader.read()
        finally:
            writer.close()
    elapsed = time.perf_counter() - started
    status, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    if not status.startswith(b"HTTP/1.1 200") or b'"component_id"' not in body:
        raise WrongAnswer(f"probe answered {status!r}: {body[:200]!r}")
    return elapsed


async def _probe(port: int, interval: float, until: float) -> list[float]:
    """A probe every ``interval`` seconds until ``until``, each sent on time whether or not
    the earlier ones were answered (other people do not wait for each other): a stall of the
    server shows in every probe that arrives during it. Their latencies, in order."""
    loop = asyncio.get_running_loop()
    probes: list[asyncio.Task[float]] = []
    due = time.perf_counter()
    while due < until:
        probes.append(loop.create_task(probe_once(port)))
        due += interval
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    return list(await asyncio.gather(*probes))


async def _broadcast(broadcaster: Broadcaster, rate: float, until: float) -> int:
    """``add`` events on a fixed schedule of ``rate`` per second; returns how many."""
    sent = 0
    began = time.perf_counter()
    while True:
        due = began + sent / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if time.perf_counter() >= until:
            return sent
        sent += 1
        event = {"type": "event", "event": "add", "payload": {"text": f"item {sent}"}}
        broadcaster.send_text(json.dumps({**event, "ref": sent}))


async def run(
    port: int, pid: int, viewers: int, rate: float, seconds: float, quiet: float,
    probe_interval: float,
) -> dict[str, Any]:  # fmt: skip
    """The three phases (see the module docstring); the JSON document."""
    result: dict[str, Any] = {"viewers": viewers, "rate": rate, "seconds": seconds}
    pages = [Viewer(port) for _ in range(viewers)]
    broadcaster = Broadcaster(port)
    try:
        await asyncio.gather(*(_open(page, port, viewer_address(i)) for i, page in
                               enumerate(pages)))  # fmt: skip
        await _open(broadcaster, port, BROADCASTER_ADDRESS)
        async with asyncio.timeout(_OPEN_TIMEOUT):
            await asyncio.gather(*(page.first for page in pages))
        quiet_probes = await _probe(port, probe_interval, time.perf_counter() + quiet)
        result["quiet"] = {"probes": len(quiet_probes), "latency": summary_ms(quiet_probes)}
        before = sum(page.renders for page in pages)
        cpu, wall = read_cpu_seconds(pid), time.perf_counter()
        until = wall + seconds
        sending = asyncio.get_running_loop().create_task(_broadcast(broadcaster, rate, until))
        load_probes = await _probe(port, probe_interval, until)
        sent = await sending
        cpu, wall = read_cpu_seconds(pid) - cpu, time.perf_counter() - wall
        renders = sum(page.renders for page in pages) - before
        result["load"] = {
            "probes": len(load_probes),
            "latency": summary_ms(load_probes),
            "server_cpu_share": round(cpu / wall, 3),
            "events_sent": sent,
            "events_run": broadcaster.answered,
            "events_rate_limited": broadcaster.limited,
            "viewer_renders_per_second": round(renders / wall, 1),
        }
        for page in pages:
            page.check()
        if broadcaster.wrong is not None:
            raise WrongAnswer(broadcaster.wrong)
    except (WrongAnswer, OSError, TimeoutError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for connection in [*pages, broadcaster]:
            connection.abort()
    return result


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fairness.client")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=45.0, help="broadcaster events/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load phase")
    parser.add_argument("--quiet", type=float, default=3.0, help="length of the quiet phase")
    parser.add_argument("--probe-interval", type=float, default=0.1)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenario; print its JSON line."""
    arguments = _arguments(argv)
    raise_open_files(4096)
    scenario = run(
        arguments.port, arguments.server_pid, arguments.viewers, arguments.rate,
        arguments.seconds, arguments.quiet, arguments.probe_interval,
    )  # fmt: skip
    result = uvloop.run(scenario)
    print(json.dumps(result), flush=True)
    return 1 if result.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
