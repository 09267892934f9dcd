"""Where the streaming server's time goes: ``python -m benchmarks.streaming.profile``.

Runs the streaming app under a real uvicorn with cProfile enabled in the server's thread
(:func:`benchmarks.streaming.app.build_profiled_stream_app`), loads it with ``--streams`` streams at
100 tokens/s for ``--seconds`` and one unpaced stream, stops it (the profile is dumped at the
lifespan shutdown) and prints the functions by own time: those of ``component_framework``, then
the whole process. cProfile inflates small calls: read it for ranking, not for absolute cost.
Diagnostic only: never fails on timing and is not part of ``benchmarks.streaming``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common.asgi import profile_table
from benchmarks.common.processes import cpu_plan
from benchmarks.streaming.app import PROFILE_ENV
from benchmarks.streaming.server import run_client, stream_server

__all__ = ["main"]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming.profile")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=25)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Profile one load and one unpaced stream; print the tables."""
    arguments = _arguments(argv)
    plan = cpu_plan()
    tokens = round(100 * arguments.seconds)
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "server.prof"
        env = {PROFILE_ENV: str(target)}
        with stream_server(plan, "build_profiled_stream_app", env) as server:
            load = ["--streams", str(arguments.streams), "--tokens", str(tokens)]
            result = run_client(plan, "load", server, load, 600)
            burst = run_client(plan, "burst", server, ["--tokens", "50000"], 120)
        for part in (result, burst):
            if part.get("error"):
                print(f"ERROR: {part['error']}", file=sys.stderr)
                return 1
        if not target.exists():
            print("no profile was written (lifespan shutdown did not run)", file=sys.stderr)
            return 2
        print(f"{arguments.streams} streams x 100 tokens/s x {arguments.seconds:g} s, "
              "then one stream of 50,000 unpaced tokens; by own time\n")  # fmt: skip
        own = profile_table(target, arguments.top, restriction="component_framework")
        print("component_framework:\n" + own)
        print("whole server process:\n" + profile_table(target, arguments.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
