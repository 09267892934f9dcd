"""Resume-store benchmark: ``python -m benchmarks.streaming.store [--smoke]``.

Measures what publishing streams to a resume store costs (``core.resume_store``), in one
process on uvloop, against a throwaway ``redis-server`` on loopback:

1. **frames through a store**: ``streams`` stream runs each produce ``frames`` frames of about
   600 bytes as fast as the loop lets them (one frame per loop turn, as a handler that yields),
   with no store, the in-memory store, and the Redis store (then until every frame is in
   Redis); frames per second, this process's CPU per frame and redis-server's CPU per frame.
   The three modes run interleaved, ``rounds`` times, and the medians are reported;
2. **resume latency**: a live run on app A, resumed from its first frame ``resumes`` times on
   A itself (from the run's buffer) and on app B (another worker: Redis lookup, then ``XREAD``);
   the time from the request to the first replayed frame, p50 and p99, at the ASGI level (no
   HTTP server in the way).

Prints a Markdown report. Timing never fails a run; a missing or garbled frame does (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any, Final

import uvloop

from benchmarks.common.processes import ServerProcess
from benchmarks.websocket.server import redis_server
from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.adapters.redis_resume import RedisResumeStore
from component_framework.core.component import StreamingComponent
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.resume_store import MemoryResumeStore, ResumeStore
from component_framework.core.stream_run import StreamRegistry
from component_framework.protocol.sse import SSEDecoder
from component_framework.testing import http_scope

__all__ = ["main"]

PAYLOAD: Final = {"html": "<li>" + "x" * 560 + "</li>"}
TICKS: Final = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _produce(
    store: Callable[[], ResumeStore | None], streams: int, frames: int, redis_pid: int
) -> dict[str, float]:
    registry = StreamRegistry(store)
    settings = Settings(secret_keys=("benchmark-secret-key-0123456789abcdef",))
    runs = [registry.open_run("bench", "html", 60.0, settings) for _ in range(streams)]

    async def one(run: Any) -> None:
        for _ in range(frames):
            run.emit_broadcast("tick", PAYLOAD)
            await asyncio.sleep(0)
        run.mark_finished()

    cpu, redis_cpu, wall = time.process_time(), _cpu_of(redis_pid), time.perf_counter()
    await asyncio.gather(*(one(run) for run in runs))
    current = store()
    if isinstance(current, RedisResumeStore):  # until every frame is in Redis
        while current.writing:  # noqa: ASYNC110 - polling the store, no event to wait on
            await asyncio.sleep(0.001)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    redis_cpu = _cpu_of(redis_pid) - redis_cpu
    if any(run.next_seq != frames + 1 for run in runs):
        raise SystemExit("a run lost a frame")
    for run in runs:
        run.close()
    total = streams * frames
    return {
        "frames_per_s": total / wall,
        "cpu_us_per_frame": cpu / total * 1e6,
        "redis_cpu_us_per_frame": redis_cpu / total * 1e6,
    }


async def frames_through_stores(
    redis: ServerProcess, url: str, streams: int, frames: int, rounds: int
) -> dict[str, dict[str, float]]:
    memory, redis_store = MemoryResumeStore(), RedisResumeStore(url)
    modes: dict[str, Callable[[], ResumeStore | None]] = {
        "none": lambda: None,
        "memory": lambda: memory,
        "redis": lambda: redis_store,
    }
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode, store in modes.items():
            samples[mode].append(await _produce(store, streams, frames, redis.pid))
    await redis_store.close()
    return {
        mode: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for mode, runs in samples.items()
    }


renderer = Jinja2Renderer.from_strings({"held.html": "<p>{{ step }}</p>"})
registry = ComponentRegistry()
release = asyncio.Event


@registry.register("held")
class HeldComponent(StreamingComponent):
    """Three renders, then it waits until the benchmark ends."""

    template_name = "held.html"
    stop: asyncio.Event | None = None

    def mount(self) -> None:
        self.state["step"] = 0

    async def on_run(self) -> Any:
        for step in range(1, 4):
            self.state["step"] = step
            yield
        assert HeldComponent.stop is not None
        await HeldComponent.stop.wait()


async def _first_frame(
    app: ComponentASGI, last_event_id: str, left: list[asyncio.Task[None]]
) -> float:
    """Seconds from a resume request to its first replayed frame; the exchange, told the
    client left, goes into ``left`` (a follower notices within its 0.5 s read)."""
    scope = http_scope("GET", "/components/held/stream/", headers={"last-event-id": last_event_id})
    got, decoder = asyncio.Event(), SSEDecoder()
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and decoder.feed(message.get("body", b"")):
            got.set()

    start = time.perf_counter()
    task = asyncio.get_running_loop().create_task(app(scope, receive, send))
    await asyncio.wait_for(got.wait(), 10)
    elapsed = time.perf_counter() - start
    gone.set()
    left.append(task)
    return elapsed


async def resume_latency(url: str, resumes: int) -> dict[str, dict[str, float]]:
    HeldComponent.stop = asyncio.Event()
    settings = Settings(secret_keys=("benchmark-secret-key-0123456789abcdef",))
    hubs = [Hub(RedisBroker(url)), Hub(RedisBroker(url))]
    app_a, app_b = (
        ComponentASGI(registry=registry, renderer=renderer, settings=settings, hub=hub,
                      shutdown_on_signals=False)
        for hub in hubs
    )  # fmt: skip
    scope = http_scope("GET", "/components/held/stream/")
    first, decoder = asyncio.Event(), SSEDecoder()
    ids: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            for event in decoder.feed(message.get("body", b"")):
                ids.append(event.id or "")
                first.set()

    async def receive() -> dict[str, Any]:
        await HeldComponent.stop.wait()  # type: ignore[union-attr]
        return {"type": "http.disconnect"}

    runner = asyncio.get_running_loop().create_task(app_a(scope, receive, send))
    await asyncio.wait_for(first.wait(), 10)
    await asyncio.sleep(0.2)  # the frames are in Redis
    samples: dict[str, list[float]] = {"same worker": [], "another worker (Redis)": []}
    left: list[asyncio.Task[None]] = []
    for _ in range(resumes):
        samples["same worker"].append(await _first_frame(app_a, ids[0], left))
        samples["another worker (Redis)"].append(await _first_frame(app_b, ids[0], left))
    await asyncio.wait_for(asyncio.gather(*left), 30)
    HeldComponent.stop.set()
    await runner
    for app in (app_a, app_b):
        await app.shutdown()
    for hub in hubs:
        await hub.close()
    return {
        where: {
            "p50_ms": statistics.median(values) * 1e3,
            "p99_ms": statistics.quantiles(values, n=100)[98] * 1e3,
        }
        for where, values in samples.items()
    }


def _report(throughput: dict[str, dict[str, float]], latency: dict[str, dict[str, float]]) -> str:
    lines = [
        "| store | frames/s | CPU µs/frame (app) | CPU µs/frame (redis-server) |",
        "|-------|---------:|-------------------:|----------------------------:|",
    ]
    for mode, row in throughput.items():
        lines.append(
            f"| {mode} | {row['frames_per_s']:,.0f} | {row['cpu_us_per_frame']:.1f} | "
            f"{row['redis_cpu_us_per_frame']:.1f} |"
        )
    lines += ["", "| resume served by | p50 ms | p99 ms |", "|---|---:|---:|"]
    for where, row in latency.items():
        lines.append(f"| {where} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")
    return "\n".join(lines)


async def _main(smoke: bool) -> None:
    streams, frames, rounds, resumes = (20, 50, 1, 20) if smoke else (100, 200, 5, 300)
    with redis_server() as redis:
        url = f"redis://127.0.0.1:{redis.port}/0"
        throughput = await frames_through_stores(redis, url, streams, frames, rounds)
        latency = await resume_latency(url, resumes)
    print(f"{streams} streams x {frames} frames of ~600 bytes, median of {rounds} rounds; "
          f"{resumes} resumes\n")  # fmt: skip
    print(_report(throughput, latency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a small, quick run")
    uvloop.run(_main(parser.parse_args().smoke))


if __name__ == "__main__":
    main()
