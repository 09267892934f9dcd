"""The pacing floor: ``python -m benchmarks.streaming.floor --tasks N --rate R --seconds S``.

``N`` asyncio tasks on uvloop, each running the token loop of
:meth:`benchmarks.streaming.app.TokenStream.on_run` (absolute-schedule ``asyncio.sleep`` pacing and
the stamped token text) without the framework, without ``stream_text`` and without any I/O.
What it costs is the least any server pays to produce the benchmark's tokens on this machine;
it prints one JSON line: the CPU share it used and how late the tasks woke (p50/p99, ms).
The streaming benchmark runs it pinned to the server's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence

import uvloop

from benchmarks.common.probes import percentile

__all__ = ["main", "pace"]


async def _producer(tokens: int, rate: float, late: list[float]) -> int:
    loop = asyncio.get_running_loop()
    start = loop.time()
    size = 0
    for index in range(tokens):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append(loop.time() - due)
        size += len(f"{index}@{time.time():.6f} ")
    return size


async def pace(tasks: int, rate: float, seconds: float) -> dict[str, float]:
    """Run ``tasks`` pacing loops of ``seconds``; returns CPU share and lateness."""
    late: list[float] = []
    tokens = round(rate * seconds)
    wall, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(_producer(tokens, rate, late) for _ in range(tasks)))
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    late.sort()
    return {
        "tasks": tasks,
        "rate": rate,
        "seconds": seconds,
        "tokens": tasks * tokens,
        "wall_s": round(wall, 3),
        "cpu_share": round(cpu / wall, 3),
        "cpu_us_per_token": round(cpu * 1e6 / (tasks * tokens), 2),
        "late_p50_ms": round(percentile(late, 0.5) * 1000, 3),
        "late_p99_ms": round(percentile(late, 0.99) * 1000, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the floor's JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming.floor")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    arguments = parser.parse_args(argv)
    result = uvloop.run(pace(arguments.tasks, arguments.rate, arguments.seconds))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
