"""Where the broadcast fan-out's server time goes: ``python -m benchmarks.websocket.profile``.

Runs ``ComponentASGI`` under a real uvicorn (``--ws websockets``, one worker) with cProfile in
the server's thread (:func:`benchmarks.websocket.app.build_profiled_ws_components`), opens
``--connections`` idle ticker connections, broadcasts ``--rounds`` times, stops the server (the
profile is dumped at the lifespan shutdown) and prints the functions by own time and by
cumulative time. cProfile inflates small calls: read it for ranking, not for absolute cost.
Diagnostic only: never fails on timing and is not part of ``benchmarks.websocket``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common.asgi import profile_table
from benchmarks.common.processes import cpu_plan
from benchmarks.websocket.app import PROFILE_ENV
from benchmarks.websocket.server import run_client, ws_servers

__all__ = ["main"]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket.profile")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ws", default="websockets")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--clients", type=int, default=0,
                        help="profile event round trips of this many clients instead")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Profile the opening of the connections and the broadcasts; print the tables."""
    arguments = _arguments(argv)
    plan = cpu_plan()
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "server.prof"
        env = {PROFILE_ENV: str(target)}
        scenario, options = "fanout", ["--connections", str(arguments.connections),
                                       "--rounds", str(arguments.rounds)]  # fmt: skip
        if arguments.clients:
            scenario, options = "rtt", ["--clients", str(arguments.clients), "--seconds", "5"]
        with ws_servers("build_profiled_ws_components", arguments.ws, prefix=plan.server,
                        env=env) as servers:  # fmt: skip
            result = run_client(plan.wrk, scenario, servers, options, 900)
        if result.get("error"):
            print(f"ERROR: {result['error']}", file=sys.stderr)
            return 1
        if not target.exists():
            print("no profile was written (lifespan shutdown did not run)", file=sys.stderr)
            return 2
        if scenario == "rtt":
            print(f"{result['round_trips_per_second']:,.0f} round trips/s (under cProfile)")
        for run in result.get("rounds", []):
            print(f"broadcast: last render after {run['last_ms']:,.1f} ms (under cProfile)")
        what = (
            f"{arguments.clients} client(s), closed loop, 5 s"
            if scenario == "rtt"
            else f"{arguments.connections:,} connections opened, {arguments.rounds} broadcasts"
        )
        print(f"\n{what}; by own time\n")
        print(profile_table(target, arguments.top))
        print("by cumulative time\n" + profile_table(target, arguments.top, "cumulative"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
