"""In-process measurement: µs per request over synthetic ``scope``/``receive``/``send``.

No server and no sockets: each request is one ``await app(scope, receive, send)`` on a uvloop
loop, with a scope shaped like uvicorn's, a ``receive`` that returns the pre-built body and a
``send`` that keeps the last message of each type. Every contender gets the same scope (a fresh
shallow copy per request, with a fresh ``state`` dict as uvicorn gives), the same body and the
same callables, so the only difference is the app. Each app runs its lifespan first (Litestar
needs its startup). Rounds interleave the contenders (rotating their order) so that drift of
the machine spreads over all of them; the result per contender is the median of its rounds.
The last answer of every round is checked, so a contender that answers wrongly fails the run.
Each round is timed twice: wall-clock µs per request, and this process's CPU µs per request
(``time.process_time``), which a busy shared machine inflates far less (time the process waits
for a CPU is not counted).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import uvloop

from benchmarks.common.counter import CONTENT_TYPE, PATH, WrongAnswer, check_answer, request_body
from benchmarks.http.contenders import Contender

__all__ = ["Exchange", "InProcessResult", "lifespan", "run_inprocess"]

_ASGI: Final = {"version": "3.0", "spec_version": "2.4"}


@dataclass(frozen=True, slots=True)
class InProcessResult:
    """Median and per-round µs per request of one contender (wall clock, and CPU time)."""

    key: str
    label: str
    iterations: int
    rounds: list[float]
    cpu_rounds: list[float] = field(default_factory=list)

    @property
    def us_per_request(self) -> float:
        """Median µs per request over the rounds."""
        return statistics.median(self.rounds)

    @property
    def best_us(self) -> float:
        """The fastest round (least disturbed by the rest of the machine)."""
        return min(self.rounds)

    @property
    def cpu_us(self) -> float:
        """Median CPU µs per request over the rounds."""
        return statistics.median(self.cpu_rounds)

    @property
    def cpu_best_us(self) -> float:
        """The round with the least CPU per request."""
        return min(self.cpu_rounds)


def _scope_template(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode("ascii"),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", CONTENT_TYPE.encode("ascii")),
            (b"content-length", str(len(body)).encode("ascii")),
        ],
    }


class Exchange:
    """The synthetic ASGI side: one scope template, one body message, a recording ``send``."""

    def __init__(self) -> None:
        body = request_body()
        self.body = body
        self.scope: Any = _scope_template(body)
        self.message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
        self.last: dict[str, Any] = {}

    async def receive(self) -> Any:
        """Every call returns the whole body (each contender reads it once per request)."""
        return self.message

    async def send(self, message: Any) -> None:
        """Keep the last message of each type."""
        self.last[message["type"]] = message

    def check(self, label: str) -> None:
        """Check the last complete answer; raises ``WrongAnswer``."""
        start = self.last.get("http.response.start")
        body = self.last.get("http.response.body")
        if start is None or body is None:
            raise WrongAnswer(f"{label}: sent no complete response")
        check_answer(start["status"], body["body"], label)
        self.last.clear()

    async def run(self, app: Any, iterations: int) -> float:
        """Serve ``iterations`` requests; return µs per request."""
        return (await self.measure(app, iterations))[0]

    async def measure(self, app: Any, iterations: int) -> tuple[float, float]:
        """Serve ``iterations`` requests; return wall-clock and CPU µs per request."""
        template, receive, send = self.scope, self.receive, self.send
        started, cpu = time.perf_counter_ns(), time.process_time_ns()
        for _ in range(iterations):
            await app({**template, "state": {}}, receive, send)
        cpu = time.process_time_ns() - cpu
        return (time.perf_counter_ns() - started) / iterations / 1000, cpu / iterations / 1000


@asynccontextmanager
async def lifespan(app: Any, label: str) -> AsyncIterator[None]:
    """Run ``app``'s lifespan startup around the block and its shutdown after it."""
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": _ASGI, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    reply = await asyncio.wait_for(outbox.get(), 10)
    if reply["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"{label}: lifespan startup failed: {reply}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(outbox.get(), 10)
        await asyncio.wait_for(task, 10)


async def _measure(
    contenders: Sequence[Contender], iterations: int, rounds: int, warmup: int
) -> list[InProcessResult]:
    exchange = Exchange()
    apps = {contender.key: contender.build() for contender in contenders}
    times: dict[str, list[float]] = {contender.key: [] for contender in contenders}
    cpu: dict[str, list[float]] = {contender.key: [] for contender in contenders}
    async with AsyncExitStack() as stack:
        for contender in contenders:
            await stack.enter_async_context(lifespan(apps[contender.key], contender.label))
        for contender in contenders:
            await exchange.run(apps[contender.key], 1)
            exchange.check(contender.label)
            await exchange.run(apps[contender.key], warmup)
            exchange.check(contender.label)
        for index in range(rounds):
            shift = index % len(contenders)
            for contender in [*contenders[shift:], *contenders[:shift]]:
                gc.collect()
                wall, used = await exchange.measure(apps[contender.key], iterations)
                times[contender.key].append(wall)
                cpu[contender.key].append(used)
                exchange.check(contender.label)
    return [
        InProcessResult(
            contender.key, contender.label, iterations, times[contender.key], cpu[contender.key]
        )
        for contender in contenders
    ]


def run_inprocess(
    contenders: Sequence[Contender], *, iterations: int, rounds: int, warmup: int
) -> list[InProcessResult]:
    """Measure every contender on a fresh uvloop loop; raises if any answer is wrong."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_measure(contenders, iterations, rounds, warmup))
