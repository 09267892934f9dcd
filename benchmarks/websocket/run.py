"""WebSocket benchmark: ``python -m benchmarks.websocket [--smoke] [--ws IMPL] [--server S]``.

Measures ``ComponentASGI``'s WebSocket transport and broadcasts under real uvicorns on
127.0.0.1 (``--ws websockets`` by default, httptools, uvloop), with the client
(:mod:`benchmarks.websocket.client`, our own minimal asyncio WebSocket client on uvloop) in a
separate process:

1. event round trips (the counter's ``increment``, JSON protocol): 1 client in a closed loop,
   500 clients in a closed loop, and 500 clients each pacing 10 events/s; against the same
   work done by a bare ASGI WebSocket app (the floor), a Litestar ``@websocket`` handler and a
   Starlette ``WebSocketEndpoint`` (:mod:`benchmarks.websocket.app`). All four servers start first,
   the runs interleave round by round, the server is pinned to the first CPU and the client to
   the second;
2. broadcast fan-out on one worker: 1,000 and 10,000 idle ticker connections, each on a fresh
   pinned server; one ``WebSocketManager().broadcast`` triggered in the server
   (``POST /_bench/broadcast``), timed until the last client has its render;
3. the same through Redis to 4 workers: 4 separate uvicorn processes (one worker each, own
   ports, clients spread evenly) with ``COMPONENT_FRAMEWORK_BROKER_URL`` pointing at a
   ``redis-server`` started on a free loopback port; no CPU pinning (6 processes, 2 CPUs);
4. memory per idle connection: the server's ``VmRSS`` before and after opening the
   connections of part 2; and a diagnostic run with tracemalloc in the server that splits the
   Python allocations per connection by package.

``--server granian`` runs every server process under granian instead (its ASGI interface and
WebSocket, one worker, uvloop; ``--ws`` does not apply), e.g. to measure the idle memory per
connection there.

Prints the Markdown report and writes it with the JSON to ``benchmarks/results/``. ``--smoke``
runs each part tiny (5 clients, 50 connections, 2 workers) in well under a minute. Exit status
1 when a client got a wrong or no answer, 2 when a server, redis or the client fails; timing
never fails a run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.common.machine import machine_info
from benchmarks.common.processes import CpuPlan, ServerName, cpu_plan
from benchmarks.common.report import FAILURES, RESULTS, log, write_results
from benchmarks.websocket.app import TRACE_ENV
from benchmarks.websocket.report import CONTENDERS, markdown, targets
from benchmarks.websocket.server import Server, redis_server, run_client, ws_servers

__all__ = ["FULL", "SMOKE", "RttLoad", "WsProfile", "main"]

BROKER_ENV: Final = "COMPONENT_FRAMEWORK_BROKER_URL"
WS_IMPLEMENTATIONS: Final = ("websockets", "websockets-sansio", "wsproto")


@dataclass(frozen=True, slots=True)
class RttLoad:
    """``clients`` clients, closed loop (``rate`` 0) or ``rate`` events/s each."""

    clients: int
    rate: float = 0.0

    @property
    def key(self) -> str:
        """A name for the report and the JSON."""
        return f"{self.clients}" + (f"@{self.rate:g}/s" if self.rate else "")


@dataclass(frozen=True, slots=True)
class WsProfile:
    """How long and how hard each part runs."""

    name: str
    rtt_loads: tuple[RttLoad, ...]
    rtt_seconds: float
    rtt_warmup: float
    rtt_rounds: int
    fanout: tuple[int, ...]
    fanout_rounds: int
    workers: int
    worker_connections: int
    detail_connections: int


FULL: Final = WsProfile(
    "full", rtt_loads=(RttLoad(1), RttLoad(500), RttLoad(500, 10.0)), rtt_seconds=3,
    rtt_warmup=1, rtt_rounds=3, fanout=(1000, 10_000), fanout_rounds=5, workers=4,
    worker_connections=10_000, detail_connections=2000,
)  # fmt: skip
SMOKE: Final = WsProfile(
    "smoke", rtt_loads=(RttLoad(1), RttLoad(5)), rtt_seconds=0.5, rtt_warmup=0.2,
    rtt_rounds=1, fanout=(50,), fanout_rounds=2, workers=2, worker_connections=50,
    detail_connections=20,
)  # fmt: skip


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="short correctness run (< 60 s)")
    parser.add_argument("--ws", default="websockets", choices=WS_IMPLEMENTATIONS,
                        help="uvicorn's WebSocket implementation")  # fmt: skip
    parser.add_argument("--server", default="uvicorn", choices=("uvicorn", "granian"),
                        help="the server of every part (default: uvicorn)")  # fmt: skip
    parser.add_argument(
        "--parts",
        type=_parts,
        default=PARTS,
        help=f"the parts to run, separated by commas: {','.join(PARTS)} "
        "(default: all; fanout includes the memory per idle connection)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    return parser.parse_args(argv)


PARTS: Final = ("rtt", "fanout", "redis", "traced")


def _parts(text: str) -> tuple[str, ...]:
    """``--parts``: which of :data:`PARTS` to run."""
    parts = tuple(part.strip() for part in text.split(","))
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parts {unknown}; choose from {PARTS}")
    return parts


def _fanout_timeout(connections: int, rounds: int) -> float:
    return 120 + connections / 50 + rounds * (60 + connections / 200)


class _Run:
    """One benchmark run's results and the errors (wrong or missing answers) it met."""

    def __init__(
        self, plan: CpuPlan, profile: WsProfile, ws: str, server: ServerName = "uvicorn"
    ) -> None:
        self.plan = plan
        self.profile = profile
        self.ws = ws
        self.server: ServerName = server
        self.rtt: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.fanout: dict[int, dict[str, Any]] = {}
        self.workers: dict[str, Any] | None = None
        self.detail: dict[str, Any] | None = None
        self.errors: list[str] = []

    def _client(
        self, prefix: Sequence[str], scenario: str, servers: Sequence[Server],
        options: list[str], timeout: float,
    ) -> dict[str, Any]:  # fmt: skip
        core = ["--server-core", self.plan.server[-1]] if self.plan.server and prefix else []
        result = run_client(prefix, scenario, servers, [*core, *options], timeout)
        if result.get("error"):
            self.errors.append(f"{scenario} {' '.join(options)}: {result['error']}")
            log(f"  ERROR: {result['error']}")
        return result

    def round_trips(self) -> None:
        profile, plan = self.profile, self.plan
        with ExitStack() as stack:
            servers = {
                key: stack.enter_context(
                    ws_servers(factory, self.ws, prefix=plan.server, server=self.server)
                )[0]
                for key, (factory, _) in CONTENDERS.items()
            }
            keys = list(servers)
            for index in range(profile.rtt_rounds):
                shift = index % len(keys)
                for load in profile.rtt_loads:
                    for key in [*keys[shift:], *keys[:shift]]:
                        self._rtt(key, servers[key], load)

    def _rtt(self, key: str, server: Server, load: RttLoad) -> None:
        profile = self.profile
        options = ["--clients", str(load.clients), "--seconds", f"{profile.rtt_seconds:g}",
                   "--warmup", f"{profile.rtt_warmup:g}", "--rate", f"{load.rate:g}"]  # fmt: skip
        timeout = 120 + profile.rtt_seconds + profile.rtt_warmup
        result = self._client(self.plan.wrk, "rtt", [server], options, timeout)
        if "round_trips" in result:
            self.rtt.setdefault(load.key, {}).setdefault(key, []).append(result)
            latency = result["latency"]
            log(f"  {CONTENDERS[key][1]}, {load.key} clients: "
                 f"{result['round_trips_per_second']:,.0f} round trips/s, p50 "
                 f"{latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms, "
                 f"server CPU {result['server_cpu_share']:.0%}")  # fmt: skip

    def fan_out(self, connections: int) -> None:
        """One worker, pinned, fresh; ``connections`` idle tickers, then the broadcasts."""
        rounds = self.profile.fanout_rounds
        options = ["--connections", str(connections), "--rounds", str(rounds)]
        with ws_servers(
            "build_ws_components", self.ws, prefix=self.plan.server, server=self.server
        ) as servers:
            result = self._client(self.plan.wrk, "fanout", servers, options,
                                  _fanout_timeout(connections, rounds))  # fmt: skip
        self.fanout[connections] = result
        _log_fanout(f"{connections:,} connections, one worker", result)

    def through_redis(self) -> None:
        """``workers`` uvicorns sharing a redis-server; the broadcast goes to the first."""
        profile = self.profile
        connections, rounds = profile.worker_connections, profile.fanout_rounds
        options = ["--connections", str(connections), "--rounds", str(rounds)]
        with redis_server() as redis:
            env = {BROKER_ENV: f"redis://127.0.0.1:{redis.port}/0"}
            with ws_servers("build_ws_components", self.ws, count=profile.workers,
                            env=env, server=self.server) as servers:  # fmt: skip
                result = self._client((), "fanout", servers, options,
                                      _fanout_timeout(connections, rounds))  # fmt: skip
            redis.check_alive()
        result["workers"] = profile.workers
        self.workers = result
        _log_fanout(f"{connections:,} connections, {profile.workers} workers via Redis", result)

    def traced(self) -> None:
        """A diagnostic run with tracemalloc in the server (slow: not timed)."""
        connections = self.profile.detail_connections
        options = ["--connections", str(connections), "--rounds", "1", "--detail"]
        with ws_servers("build_ws_components", self.ws, prefix=self.plan.server,
                        env={TRACE_ENV: "1"}, server=self.server) as servers:  # fmt: skip
            result = self._client(self.plan.wrk, "fanout", servers, options,
                                  _fanout_timeout(connections, 1) * 3)  # fmt: skip
        self.detail = result
        if "traced" in result:
            diff = result["traced"]["after"][0].get("traced_diff_bytes", {})
            total = sum(diff.values()) / connections
            log(f"  tracemalloc: {total / 1024:.1f} KiB of Python allocations per connection")


def _log_fanout(label: str, result: dict[str, Any]) -> None:
    if "bytes_per_connection" in result:
        per = result["bytes_per_connection"] / 1024
        log(f"  {label}: opened in {result['open_s']:.1f} s, {per:.1f} KiB of server RSS each")
    for run in result.get("rounds", []):
        log(f"  {label}: last render {run['last_ms']:,.1f} ms after the trigger, p50 "
             f"{run['latency']['p50_ms']:,.1f} ms, broadcast() returned after "
             f"{run['broadcast_returned_ms']:,.1f} ms, {run['full_collections']} full "
             f"collections ({run['full_collection_ms']:,.0f} ms)")  # fmt: skip


def _write(arguments: argparse.Namespace, run: _Run, machine: dict[str, str]) -> int:
    profile = run.profile
    server = (f"uvicorn --ws {run.ws} --http httptools --loop uvloop" if run.server == "uvicorn"
              else "granian --interface asgi --loop uvloop --http 1")  # fmt: skip
    setup = f"{server}; " + run.plan.describe().replace("wrk", "client")
    target_document = targets(run.fanout, run.workers, profile.fanout)
    report = markdown(machine, setup, run.rtt, run.fanout, run.workers, run.detail,
                      target_document, run.errors)  # fmt: skip
    print(report)
    document = {
        "mode": profile.name,
        "machine": machine,
        "settings": {**asdict(profile), "ws": run.ws, "server": run.server, "setup": setup},
        "round_trips": run.rtt,
        "fanout": {str(count): result for count, result in sorted(run.fanout.items())},
        "workers": run.workers,
        "tracemalloc": run.detail,
        "targets": target_document,
        "errors": run.errors,
    }
    target = write_results(arguments.results, f"websocket-{profile.name}", document, report)
    log(f"[websocket {profile.name}] wrote {target}")
    return 1 if run.errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    arguments = _arguments(argv)
    profile = SMOKE if arguments.smoke else FULL
    plan = cpu_plan()
    run = _Run(plan, profile, arguments.ws, arguments.server)
    started = time.monotonic()
    try:
        pinning = plan.describe().replace("wrk", "client")
        log(f"[websocket {profile.name}] {arguments.server} --ws {arguments.ws}; {pinning}")
        parts = arguments.parts
        if "rtt" in parts:
            log("[1/4] event round trips: floor, ComponentASGI, Litestar, Starlette")
            run.round_trips()
        if "fanout" in parts:
            log("[2/4] broadcast fan-out, one worker (a fresh server per count)")
            for connections in profile.fanout:
                run.fan_out(connections)
        if "redis" in parts:
            log(f"[3/4] broadcast through Redis to {profile.workers} workers")
            run.through_redis()
        if "traced" in parts:
            log("[4/4] memory per connection by package (tracemalloc in the server)")
            run.traced()
    except FAILURES as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 2
    status = _write(arguments, run, machine_info())
    log(f"[websocket {profile.name}] done in {time.monotonic() - started:.0f} s")
    return status
