"""Server-held state benchmark: the cost per event against client-held snapshots.

Starts a ``redis-server`` (no persistence) on a free loopback port, then runs ``rounds``
rounds; each round measures every kind of :data:`~benchmarks.server_state.measure.KINDS` at
every state size of :data:`~benchmarks.server_state.measure.SIZES` once
(:func:`~benchmarks.server_state.measure.measure`: a chain of HTTP events through
``ComponentASGI`` in process, a fresh uvloop event loop each time), rotating the kinds' order
from round to round. Per kind and size the round with the median p50 is reported. Nothing is
pinned: Redis and this process share the machine's CPUs.

Prints the Markdown report and writes it with the JSON to ``benchmarks/results/`` (or
``--results``). Exit status 1 when an answer was wrong (a count, a status, state where none
belongs), 2 when Redis fails to start; timing never fails a run. ``--smoke``: one round of a
few events (a correctness run, a few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.common.machine import machine_info
from benchmarks.common.report import FAILURES, RESULTS, log, write_results
from benchmarks.server_state.measure import KINDS, SIZES, Plan, measure
from benchmarks.websocket.server import redis_server

__all__ = ["FULL", "SMOKE", "main", "markdown"]

FULL = Plan()
SMOKE = Plan(events=30, warmup=5)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda run: run["p50_us"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds"] = len(runs)
    chosen["p50_us_all"] = [round(run["p50_us"], 1) for run in runs]
    return chosen


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(summary: dict[str, dict[str, Any]], info: dict[str, str], plan: Plan) -> str:
    """The report: one row per state size and kind (the median round), and each server-held
    kind's cost over the client-held one of the same size."""
    lines = [
        "# Server-held state: cost per event",
        "",
        f"A chain of {plan.events} HTTP events (JSON, `ComponentASGI` in process, uvloop), "
        "each sent with the token of the previous answer; the state is a count plus a list "
        "of items. Median round by p50. CPU: this process per event (the app and the client "
        "loop), and the Redis server's per event.",
        "",
        "| state | where the state lives | p50 µs | p99 µs | over client-held µs "
        "| CPU µs/event | Redis CPU µs/event | request bytes | answer bytes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, run in summary.items():
        size, kind = key.split("/")
        base = summary.get(f"{size}/client")
        extra = None if base is None or kind == "client" else run["p50_us"] - base["p50_us"]
        lines.append(
            f"| {size} | {KINDS[kind][0]} | {run['p50_us']:,.1f} | {run['p99_us']:,.1f} "
            f"| {'-' if extra is None else f'{extra:+,.1f}'} "
            f"| {run['cpu_us_per_event']:,.1f} | {_number(run['server_cpu_us_per_event'], 1)} "
            f"| {run['request_bytes']:,} | {run['answer_bytes']:,} |"
        )
    lines += ["", "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_state")
    parser.add_argument("--smoke", action="store_true", help="one tiny round (correctness)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    rounds = 1 if args.smoke else args.rounds
    kinds = list(KINDS)
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        with redis_server() as redis:
            target = (f"redis://127.0.0.1:{redis.port}/0", redis.pid)
            for round_index in range(rounds):
                order = kinds[round_index % len(kinds) :] + kinds[: round_index % len(kinds)]
                for size, items in SIZES.items():
                    for kind in order:
                        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                            run = runner.run(measure(kind, items, plan, target))
                        log(
                            f"round {round_index + 1} {size} {kind}: p50 "
                            f"{run['p50_us']:,.1f} µs {run['errors'] or ''}"
                        )
                        runs.setdefault(f"{size}/{kind}", []).append(run)
    except FAILURES as exc:
        log(f"redis-server failed: {exc}")
        return 2
    summary = {key: _median(key_runs) for key, key_runs in runs.items()}
    report = markdown(summary, machine_info(), plan)
    print(report)
    mode = "smoke" if args.smoke else "full"
    write_results(
        args.results, f"server-state-{mode}", {"plan": plan.__dict__, "runs": runs}, report
    )
    errors = [error for key_runs in runs.values() for run in key_runs for error in run["errors"]]
    return 1 if errors else 0
