"""What one counter request costs in instructions and cache misses, counted rather than timed:
``python -m benchmarks.http.cachesim``.

Runs the in-process counter event of :mod:`benchmarks.http.inprocess` (the same synthetic
scope, ``receive`` and ``send``) for each contender under valgrind's cache simulator
(cachegrind), twice: ``--requests`` requests and ``--requests`` plus ``--extra``. The
difference divided by ``--extra`` is one request's cost, without the start-up both runs
share. ``--evict BYTES`` writes that much memory between requests (as
``benchmarks.http.hotspots``' cold-cache table does: what a real server's requests meet), so
its own stores are in every contender's figures alike: compare contenders, or one contender
before and after, never a figure alone. The counting and the table are
:mod:`benchmarks.websocket.cachesim`'s.

Diagnostic only: slow (tens of seconds per run), needs valgrind, never fails on the figures
(status 2 when valgrind is missing or a run fails).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvloop

from benchmarks.http.contenders import CONTENDERS, by_key
from benchmarks.http.inprocess import Exchange, lifespan
from benchmarks.websocket.cachesim import FIGURES, cachegrind, parse_counts, per_event

__all__ = ["main"]


async def _serve(key: str, requests: int, evict: int) -> None:
    """``requests`` counter requests to contender ``key`` (after its lifespan starts and a
    warm-up of 200), writing one byte of each cache line of ``evict`` bytes before each."""
    exchange, contender = Exchange(), by_key(key)
    app, scratch = contender.build(), bytearray(evict)
    zeros = bytes(len(scratch[::64]))
    async with lifespan(app, contender.label):
        await exchange.run(app, 200)
        for _ in range(requests):
            if scratch:
                scratch[::64] = zeros
            await app({**exchange.scope, "state": {}}, exchange.receive, exchange.send)
        exchange.check(contender.label)


def _run(valgrind: str, key: str, requests: int, evict: int, out: Path) -> str:
    """One run under cachegrind (a last level of 2 MiB); its output file's text."""
    module = [
        "benchmarks.http.cachesim", "--serve", key, "--requests", str(requests),
        "--evict", str(evict),
    ]  # fmt: skip
    return cachegrind(valgrind, module, 2 * 1024 * 1024, out, f"{key} ({requests} requests)")


def main(argv: Sequence[str] | None = None) -> int:
    """Count every contender's short and long run; print the figures per request."""
    keys = [contender.key for contender in CONTENDERS]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http.cachesim")
    parser.add_argument("--contenders", default="floor,components", help=", ".join(keys))
    parser.add_argument("--requests", type=int, default=500, help="requests of the short run")
    parser.add_argument("--extra", type=int, default=2000, help="requests the long run adds")
    parser.add_argument("--evict", type=int, default=0, help="bytes written between requests")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--serve", choices=keys, help=argparse.SUPPRESS)  # one run's child
    arguments = parser.parse_args(argv)
    if arguments.serve is not None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(arguments.serve, arguments.requests, arguments.evict))
        return 0
    names = arguments.contenders.split(",")
    if unknown := set(names) - set(keys):
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    short, long = arguments.requests, arguments.requests + arguments.extra
    with tempfile.TemporaryDirectory() as directory, ThreadPoolExecutor(arguments.jobs) as pool:
        runs = {
            (name, count): pool.submit(
                _run, valgrind, name, count, arguments.evict, Path(directory) / f"{name}-{count}"
            )
            for name in names
            for count in (short, long)
        }
        try:
            counts = {key: parse_counts(run.result()) for key, run in runs.items()}
        except (RuntimeError, ValueError) as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 2
    print(f"per request, {arguments.evict:,} bytes evicted between requests "
          f"({arguments.extra:,} requests measured)\n")  # fmt: skip
    print("| contender | " + " | ".join(FIGURES) + " |")
    print("|---|" + "---:|" * len(FIGURES))
    for name in names:
        figures = per_event(counts[name, short], counts[name, long], arguments.extra)
        print(f"| {name} | " + " | ".join(f"{value:,.1f}" for value in figures.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
