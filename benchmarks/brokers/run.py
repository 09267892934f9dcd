"""Broker fan-out benchmark: every broker kind, same machine, rounds interleaved.

Starts a ``redis-server`` (no persistence) and a throw-away PostgreSQL cluster (``initdb`` in a
temporary directory, fsync off; :class:`tests.broker.postgres_server.PostgresServer`) on free
loopback ports, then runs ``rounds`` rounds; each round measures every kind of
:data:`~benchmarks.brokers.measure.KINDS` once (:func:`~benchmarks.brokers.measure.measure`, a
fresh uvloop event loop and fresh brokers each time), rotating the order from round to round.
Per kind the round with the median messages/s is reported, with the spread over the rounds.
Nothing is pinned: the brokers' servers and this process share the machine's CPUs.

Prints the Markdown report and writes it with the JSON to ``benchmarks/results/``. Exit status
1 when a subscriber missed a message or got one wrong, 2 when a server fails to start; timing
never fails a run. ``--smoke``: one round of tiny counts (a correctness run, about 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvloop
from tests.broker.postgres_server import PostgresServer, postgres_bin_dir

from benchmarks.brokers.measure import KINDS, Plan, measure
from benchmarks.common.machine import machine_info
from benchmarks.common.report import FAILURES, RESULTS, log, write_results
from benchmarks.websocket.server import REDIS, redis_server

__all__ = ["FULL", "SMOKE", "main", "markdown"]

FULL = Plan()
SMOKE = Plan(warmup_messages=5, latency_messages=20, throughput_messages=300, large_messages=3)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda run: run["messages_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    rates = [run["messages_per_s"] for run in runs]
    chosen["rounds"] = len(runs)
    chosen["messages_per_s_min"], chosen["messages_per_s_max"] = min(rates), max(rates)
    chosen["latency_p50_ms_all"] = [round(run["latency_p50_ms"], 3) for run in runs]
    return chosen


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def markdown(summary: dict[str, dict[str, Any]], info: dict[str, str], plan: Plan) -> str:
    """The report: one row per kind (the median round)."""
    lines = [
        "# Broker fan-out",
        "",
        f"One publisher, {plan.subscribers} subscribers (each its own broker and connection, "
        "as other worker processes would have), one process, uvloop. Hub messages of "
        f"{next(iter(summary.values()))['message_bytes']} bytes; large ones 64 KiB. Median "
        "round by messages/s (min-max over the rounds); latency from before `publish` until "
        "the last subscriber's callback ran. CPU: this process (publisher and subscribers) and "
        "the broker server's process tree, per message published.",
        "",
        "| broker | messages/s (min-max) | p50 ms | p99 ms | 64 KiB p50 ms "
        "| client CPU µs/msg | server CPU µs/msg |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, run in summary.items():
        lines.append(
            f"| {KINDS[kind][0]} | {run['messages_per_s']:,.0f} "
            f"({run['messages_per_s_min']:,.0f}-{run['messages_per_s_max']:,.0f}) "
            f"| {run['latency_p50_ms']:.3f} | {run['latency_p99_ms']:.3f} "
            f"| {run['large_p50_ms']:.2f} | {_cpu(run['client_cpu_us_per_message'])} "
            f"| {_cpu(run['server_cpu_us_per_message'])} |"
        )
    lines += ["", "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()), ""]
    return "\n".join(lines)


def _servers(stack: ExitStack, needed: set[str | None]) -> dict[str, tuple[str, int | None]]:
    """Start the servers the kinds need; ``{server: (url, pid)}``."""
    servers: dict[str, tuple[str, int | None]] = {}
    if "redis" in needed:
        redis = stack.enter_context(redis_server())
        servers["redis"] = (f"redis://127.0.0.1:{redis.port}/0", redis.pid)
    if "postgres" in needed:
        postgres = PostgresServer(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        stack.callback(postgres.remove)
        postgres.start()
        assert postgres.process is not None
        servers["postgres"] = (postgres.url, postgres.process.pid)
    return servers


def _server_versions() -> dict[str, str]:
    versions = {}
    for name, command in [
        ("redis-server", [shutil.which(REDIS) or "/usr/bin/redis-server", "--version"]),
        ("postgres", [str(postgres_bin_dir() / "postgres"), "--version"]),
    ]:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
            versions[name] = done.stdout.strip().split(" sha=")[0]
        except (OSError, subprocess.SubprocessError, RuntimeError):
            versions[name] = "not installed"
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.brokers")
    parser.add_argument("--smoke", action="store_true", help="one tiny round (correctness)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    rounds = 1 if args.smoke else args.rounds
    kinds = [kind for kind in args.kinds.split(",") if kind]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}: expected some of {', '.join(KINDS)}")
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    try:
        with ExitStack() as stack:
            servers = _servers(stack, {KINDS[kind][1] for kind in kinds})
            for round_index in range(rounds):
                order = kinds[round_index % len(kinds) :] + kinds[: round_index % len(kinds)]
                for kind in order:
                    server = KINDS[kind][1]
                    url, pid = servers[server] if server else (None, None)
                    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                        run = runner.run(measure(kind, url, pid, plan))
                    log(
                        f"round {round_index + 1} {kind}: {run['messages_per_s']:,.0f} msg/s, "
                        f"p50 {run['latency_p50_ms']:.3f} ms {run['errors'] or ''}"
                    )
                    runs[kind].append(run)
    except FAILURES as exc:
        log(f"a server failed: {exc}")
        return 2
    summary = {kind: _median_run(kind_runs) for kind, kind_runs in runs.items()}
    info = machine_info()
    info.update(_server_versions())
    report = markdown(summary, info, plan)
    print(report)
    mode = "smoke" if args.smoke else "full"
    write_results(RESULTS, f"brokers-{mode}", {"plan": plan.__dict__, "runs": runs}, report)
    errors = [error for kind_runs in runs.values() for run in kind_runs for error in run["errors"]]
    return 1 if errors else 0
