"""Where the streaming server's time goes: ``python -m benchmarks.stream_profile``.

Runs the streaming app under a real uvicorn with cProfile enabled in the server's thread
(:func:`benchmarks.stream_app.build_profiled_stream_app`), loads it with ``--streams`` streams at
100 tokens/s for ``--seconds`` and one unpaced stream, stops it (the profile is dumped at the
lifespan shutdown) and prints the functions by own time: those of ``component_framework``, then
the whole process. cProfile inflates small calls: read it for ranking, not for absolute cost.
Diagnostic only: never fails on timing and is not part of ``benchmarks.streaming``.
"""

from __future__ import annotations

import argparse
import io
import pstats
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.loopback import cpu_plan
from benchmarks.stream_app import PROFILE_ENV
from benchmarks.stream_server import run_client, stream_server

__all__ = ["main"]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_profile")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=25)
    return parser.parse_args(argv)


def _table(profile: Path, top: int, restriction: str | None) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(profile), stream=out)
    stats.sort_stats("tottime")
    if restriction is None:
        stats.print_stats(top)
    else:
        stats.print_stats(restriction, top)
    text = out.getvalue()
    return text[text.find("   ncalls") :]


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
        print("component_framework:\n" + _table(target, arguments.top, "component_framework"))
        print("whole server process:\n" + _table(target, arguments.top, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
