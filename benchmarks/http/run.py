"""HTTP benchmark: ``python -m benchmarks.http [--smoke] [--no-loopback] [--server S]``.

Runs the in-process and the loopback benchmark of the four contenders in one go, prints the
Markdown tables and writes the JSON (and the Markdown) to ``benchmarks/results/``. The loopback
part runs under uvicorn, granian, or ``both`` (the default: one after the other, reported side
by side as the server matrix). ``--smoke`` is a short sanity run (about a minute): every
contender in process and one short wrk run each under each server. The exit status is
non-zero only when a contender answers wrongly or a server or tool fails; timing never fails
a run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from benchmarks.common.counter import WrongAnswer
from benchmarks.common.machine import machine_info
from benchmarks.common.processes import SERVER_CHOICES, cpu_plan, server_names
from benchmarks.common.report import FAILURES, RESULTS, log, write_results
from benchmarks.http.contenders import CONTENDERS
from benchmarks.http.inprocess import InProcessResult, run_inprocess
from benchmarks.http.loopback import LoopbackResult, run_loopback
from benchmarks.http.report import Loopbacks, markdown, to_json

__all__ = ["FULL", "SMOKE", "Profile", "main"]


@dataclass(frozen=True, slots=True)
class Profile:
    """How long and how hard each part runs."""

    name: str
    iterations: int
    rounds: int
    warmup_iterations: int
    connections: int
    duration_s: int
    wrk_rounds: int
    wrk_warmup_s: int


FULL: Final = Profile("full", 2000, 15, 1000, 32, 3, 7, 2)
SMOKE: Final = Profile("smoke", 200, 2, 50, 32, 1, 1, 0)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="short sanity run (< 1 minute)")
    parser.add_argument("--no-loopback", action="store_true", help="skip the servers + wrk")
    parser.add_argument(
        "--server",
        choices=SERVER_CHOICES,
        default="both",
        help="the server(s) of the loopback part (default: both, side by side)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    arguments = _arguments(argv)
    profile = SMOKE if arguments.smoke else FULL
    machine = machine_info()
    plan = cpu_plan()
    setup = f"`wrk -t1 -c{profile.connections} -d{profile.duration_s}s`, {plan.describe()}"
    started = time.monotonic()
    inprocess: list[InProcessResult] | None = None
    loopback: dict[str, list[LoopbackResult]] = {}
    try:
        log(f"[{profile.name}] in process: {len(CONTENDERS)} contenders")
        inprocess = run_inprocess(
            CONTENDERS,
            iterations=profile.iterations,
            rounds=profile.rounds,
            warmup=profile.warmup_iterations,
        )
        for server in () if arguments.no_loopback else server_names(arguments.server):
            log(f"[{profile.name}] loopback: {server} + wrk, {plan.describe()}")
            loopback[server] = run_loopback(
                CONTENDERS,
                connections=profile.connections,
                duration=profile.duration_s,
                rounds=profile.wrk_rounds,
                warmup=profile.wrk_warmup_s,
                plan=plan,
                server=server,
            )
    except WrongAnswer as exc:
        log(f"FAILED: a contender answered wrongly: {exc}")
        return 1
    except FAILURES as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 2
    results: Loopbacks = loopback
    report = markdown(machine, inprocess, results, setup)
    print(report)
    settings = {**asdict(profile), "loopback_setup": setup, "servers": list(loopback)}
    document = to_json(profile.name, machine, settings, inprocess, results)
    target = write_results(arguments.results, f"{profile.name}", document, report)
    log(f"[{profile.name}] done in {time.monotonic() - started:.0f} s; wrote {target}")
    return 0
