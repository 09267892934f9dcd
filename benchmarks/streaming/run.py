"""Streaming benchmark: ``python -m benchmarks.streaming [--smoke]``.

Measures ``stream_text`` through ``ComponentASGI``'s SSE transport, and the same tokens on the
same schedule through sse-starlette (:mod:`benchmarks.streaming.contender`, the SSE library a
user would otherwise pick), each under the same real uvicorn command (one worker, httptools,
uvloop, 127.0.0.1) pinned to the first CPU, with the same client
(:mod:`benchmarks.streaming.client`, raw asyncio sockets) pinned to the second:

1. one stream as fast as possible, for each contender: tokens/s, frames and bytes on the wire
   per token, server CPU per token (``ComponentASGI`` twice: its plain stream, and the same
   stream opened as the client runtime opens it in a browser, over a page connection with
   compact frames);
2. many concurrent streams at 100 tokens/s, for each contender: every token delivered in order,
   p50/p99 token latency, frames/s, bytes/s, server CPU, GC pauses, RSS; the stream counts and
   the contenders run interleaved round by round, each run on a fresh server (so no run
   inherits another's heap);
3. memory per open stream (``ComponentASGI`` only): the server's RSS with 0 and with N open
   idle streams, on a fresh server (a server that has run the load reuses the memory it freed);
4. the pacing floor: the token loops alone (:mod:`benchmarks.streaming.floor`) on the server's CPU,
   the least any server would spend producing the same tokens.

``--server uvicorn|granian|both`` (default ``both``): parts 1 and 2 run under each server named
(the sse-starlette contender under the first only: the comparison is on the same server),
parts 3 and 4 under the first; the report's server matrix shows the servers side by side
(tokens/s and server CPU per token of one stream, p99 token latency per stream count).

The report puts the contenders side by side with the ratios issue 16 names. Prints the
Markdown report and writes it with the JSON to ``benchmarks/results/``. ``--smoke``
(about a minute) runs each part small, for both contenders and both servers. Exit status 1
when a stream lost or garbled a token, 2 when a server or client fails; timing never fails a
run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

from benchmarks.common.machine import machine_info
from benchmarks.common.processes import SERVER_CHOICES, CpuPlan, ServerName, cpu_plan, server_names
from benchmarks.common.report import FAILURES, RESULTS, log, write_results
from benchmarks.streaming.client import load_timeout
from benchmarks.streaming.report import (
    Loads,
    burst_summary,
    comparison,
    floor_summary,
    markdown,
    server_matrix,
    targets,
)
from benchmarks.streaming.server import (
    CONTENDERS,
    OURS,
    OURS_PAGE,
    SSE_STARLETTE,
    Contender,
    StreamServer,
    describe_plan,
    run_client,
    run_floor,
    stream_server,
)

__all__ = ["FULL", "SMOKE", "Load", "StreamProfile", "main"]

RATE: Final = 100.0
RAMP: Final = 1.0
TARGET_STREAMS: Final = 900


@dataclass(frozen=True, slots=True)
class Load:
    """``streams`` streams at :data:`RATE` tokens/s for ``seconds``, ``rounds`` times."""

    streams: int
    seconds: float
    rounds: int


@dataclass(frozen=True, slots=True)
class StreamProfile:
    """How long and how hard each part runs."""

    name: str
    burst_tokens: int
    burst_rounds: int
    loads: tuple[Load, ...]
    idle_streams: int
    idle_steps: int
    floor_tasks: int
    floor_seconds: float
    floor_rounds: int


FULL: Final = StreamProfile(
    "full",
    burst_tokens=100_000,
    burst_rounds=5,
    loads=(
        Load(100, 10, 1),
        Load(200, 10, 3),
        Load(300, 10, 1),
        Load(400, 10, 3),
        Load(500, 10, 1),
        Load(600, 10, 1),
        Load(800, 10, 3),
        Load(TARGET_STREAMS, 10, 3),
        Load(1000, 10, 1),
    ),
    floor_tasks=TARGET_STREAMS,
    floor_seconds=3,
    floor_rounds=3,
    idle_streams=1000,
    idle_steps=4,
)
SMOKE: Final = StreamProfile(
    "smoke", burst_tokens=10_000, burst_rounds=1, loads=(Load(50, 2, 1),), idle_streams=100,
    idle_steps=2, floor_tasks=50, floor_seconds=1, floor_rounds=1,
)  # fmt: skip


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="short correctness run (< 60 s)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    parser.add_argument(
        "--server",
        choices=SERVER_CHOICES,
        default="both",
        help="the server(s) to stream through (default: both, side by side)",
    )
    parser.add_argument(
        "--loads",
        type=_loads,
        help="the paced stream counts to run instead of the profile's, 10 s each, "
        "as COUNT or COUNTxROUNDS separated by commas (e.g. 100,400x3,800)",
    )
    return parser.parse_args(argv)


def _loads(text: str) -> tuple[Load, ...]:
    """``--loads``: ``100,400x3`` -> 100 streams once, 400 streams three times (10 s each)."""
    loads = []
    for item in text.split(","):
        count, _, rounds = item.strip().partition("x")
        rounds = rounds or "1"
        if not (count.isdigit() and rounds.isdigit() and int(count) and int(rounds)):
            raise argparse.ArgumentTypeError(f"not COUNT or COUNTxROUNDS: {item!r}")
        loads.append(Load(int(count), 10, int(rounds)))
    return tuple(loads)


class _Run:
    """One benchmark run's results under one server, per contender, and the errors (lost or
    wrong tokens) it met."""

    def __init__(
        self,
        plan: CpuPlan,
        profile: StreamProfile,
        server: ServerName,
        contenders: tuple[Contender, ...] = CONTENDERS,
    ) -> None:
        self.plan = plan
        self.profile = profile
        self.server: ServerName = server
        self.contenders = contenders
        self.burst_runs: dict[str, list[dict[str, Any]]] = {}
        self.loads: dict[str, dict[int, list[dict[str, Any]]]] = {}
        self.idle: dict[str, Any] | None = None
        self.floors: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def _client(
        self,
        scenario: str,
        server: StreamServer,
        options: list[str],
        timeout: float,
        contender: Contender = OURS,
    ) -> dict[str, Any]:
        options = [*options, *contender.client_options]
        result = run_client(self.plan, scenario, server, options, timeout)
        if result.get("error"):
            where = f"{self.server}: {contender.name} {scenario}"
            self.errors.append(f"{where} {' '.join(options)}: {result['error']}")
            log(f"  ERROR: {result['error']}")
        return result

    def burst(self, contender: Contender) -> None:
        profile = self.profile
        options = ["--tokens", str(profile.burst_tokens), "--rounds", str(profile.burst_rounds)]
        with stream_server(self.plan, contender.factory, server=self.server) as server:
            timeout = 120 + 60 * profile.burst_rounds
            result = self._client("burst", server, options, timeout, contender)
        self.burst_runs[contender.name] = runs = result.get("runs", [])
        for run in runs:
            log(f"  {contender.name} burst: {run['tokens_per_second']:,.0f} tokens/s")

    def load(self, load: Load, contender: Contender) -> None:
        """One load run on a fresh server (warmed up by one short stream)."""
        with stream_server(self.plan, contender.factory, server=self.server) as server:
            self._client("burst", server, ["--tokens", "100"], 60, contender)
            self._load(server, load, contender)

    def _load(self, server: StreamServer, load: Load, contender: Contender) -> None:
        tokens = round(RATE * load.seconds)
        options = ["--streams", str(load.streams), "--rate", f"{RATE:g}",
                   "--tokens", str(tokens), "--ramp", f"{RAMP:g}"]  # fmt: skip
        timeout = load_timeout(load.streams, RATE, tokens, RAMP) + 120
        result = self._client("load", server, options, timeout, contender)
        if "sent" in result:
            loads = self.loads.setdefault(contender.name, {})
            loads.setdefault(load.streams, []).append(result)
            latency = result["schedule_latency"]
            log(
                f"  {contender.name}, {load.streams} streams: "
                f"{result['delivered']:,}/{result['sent']:,} tokens, "
                f"p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms, "
                f"server CPU {result['server_cpu_share']:.0%}, {result['wall_s']:.1f} s"
            )

    def loads_interleaved(self) -> None:
        loads = self.profile.loads
        for index in range(max((load.rounds for load in loads), default=0)):
            shift = index % len(loads)
            for load in [*loads[shift:], *loads[:shift]]:
                if index < load.rounds:
                    order = self.contenders if index % 2 == 0 else self.contenders[::-1]
                    for contender in order:
                        self.load(load, contender)

    def pacing_floor(self) -> None:
        profile = self.profile
        for _ in range(profile.floor_rounds):
            run = run_floor(self.plan, profile.floor_tasks, RATE, profile.floor_seconds)
            self.floors.append(run)
            log(f"  {run['tasks']} pacing loops alone: {run['cpu_share']:.0%} of a CPU")

    def memory(self, server: StreamServer) -> None:
        self._client("burst", server, ["--tokens", "100"], 60)  # warm the code paths up
        options = ["--streams", str(self.profile.idle_streams),
                   "--steps", str(self.profile.idle_steps), "--hold", "300"]  # fmt: skip
        result = self._client("idle", server, options, 180)
        if "points" in result:
            self.idle = result
            log(f"  memory: {result['bytes_per_stream'] / 1024:.1f} KiB per open stream")


def _write(
    arguments: argparse.Namespace, run: _Run, machine: dict[str, str], others: Sequence[_Run]
) -> int:
    profile = run.profile
    by_server: dict[str, tuple[dict[str, Any] | None, Loads]] = {}
    for one in (run, *others):
        burst_runs = one.burst_runs.get(OURS.name)
        by_server[one.server] = (
            burst_summary(burst_runs) if burst_runs else None,
            one.loads.get(OURS.name, {}),
        )
    errors = [error for one in (run, *others) for error in one.errors]
    setup = describe_plan(run.plan)
    bursts = {name: burst_summary(runs) for name, runs in run.burst_runs.items() if runs}
    target_documents = {name: targets(loads, TARGET_STREAMS) for name, loads in run.loads.items()}
    versus = [
        comparison(bursts, run.loads, target_documents, ours.name, SSE_STARLETTE.name)
        for ours in (OURS, OURS_PAGE)
        if ours in run.contenders
    ]
    floor = floor_summary(run.floors) if run.floors else None
    report = markdown(
        machine, setup, bursts, run.loads, run.idle, floor, target_documents, versus, errors
    )
    if len(by_server) > 1:
        report += "\n" + server_matrix(by_server)
    print(report)
    document = {
        "mode": profile.name,
        "machine": machine,
        "settings": {**asdict(profile), "rate": RATE, "ramp_s": RAMP, "setup": setup},
        "contenders": [asdict(contender) for contender in CONTENDERS],
        "burst": {
            name: {"summary": bursts.get(name), "runs": runs}
            for name, runs in run.burst_runs.items()
        },
        "loads": {
            name: {str(count): runs for count, runs in sorted(loads.items())}
            for name, loads in run.loads.items()
        },
        "idle": run.idle,
        "pacing_floor": {"summary": floor, "runs": run.floors},
        "targets": target_documents,
        "comparison": versus[0] if versus else None,
        "page_connection_comparison": versus[1] if len(versus) > 1 else None,
        "server": run.server,
        "by_server": {
            server: {
                "burst": burst_of,
                "loads": {str(count): runs for count, runs in loads.items()},
            }
            for server, (burst_of, loads) in by_server.items()
        },
        "errors": errors,
    }
    target = write_results(arguments.results, f"streaming-{profile.name}", document, report)
    log(f"[streaming {profile.name}] wrote {target}")
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    arguments = _arguments(argv)
    profile = SMOKE if arguments.smoke else FULL
    if arguments.loads:
        profile = replace(profile, loads=arguments.loads)
    plan = cpu_plan()
    first, *rest = server_names(arguments.server)
    run = _Run(plan, profile, first)
    others = [_Run(plan, profile, server, (OURS,)) for server in rest]
    started = time.monotonic()
    try:
        log(f"[streaming {profile.name}] {describe_plan(plan)}")
        for one in (run, *others):
            log(f"[1/4] {one.server}: one stream, no pacing (a fresh server per contender)")
            for contender in one.contenders:
                one.burst(contender)
            log(
                f"[2/4] {one.server}: concurrent streams at {RATE:g} tokens/s "
                "(a fresh server per run)"
            )
            one.loads_interleaved()
        with stream_server(plan, server=first) as server:
            log(f"[3/4] {first}: memory per open stream (fresh server)")
            run.memory(server)
        log("[4/4] pacing floor: the token loops alone, no framework, no I/O")
        run.pacing_floor()
    except FAILURES as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 2
    status = _write(arguments, run, machine_info(), others)
    log(f"[streaming {profile.name}] done in {time.monotonic() - started:.0f} s")
    return status
