"""Fairness benchmark: ``python -m benchmarks.fairness [--smoke]``.

Replays the attack of issue 11 (point 3) on the showcase and measures what everyone else pays
for it: 100 pages watch the shared todo list over WebSocket, one fast client sends ``add``
events at 45/s (under the 50/s message limit; each one broadcasts to every page), and an
unrelated client probes ``GET /components/counter/`` ten times a second. Reported: the probe's
latency (median, p99) without and with the attack, the worker's CPU share during the attack,
how many events ran or were refused (``rate_limited``) and how many renders the pages got.

The server is ``examples.standalone:app`` (the showcase, unchanged) under a real uvicorn on
127.0.0.1 (``--ws websockets``, httptools, uvloop, one worker, pinned to the first CPU); the
client (:mod:`benchmarks.fairness.client`) runs in its own process on the second CPU. Each
configuration gets a fresh server:

- ``limits off``: ``COMPONENT_FRAMEWORK_EVENT_RATE_LIMITS=off``, so only the fair fan-out
  works for the other clients;
- ``limits on``: the showcase as shipped (its broadcasting handlers declare ``@rate_limit``).

``--server-tree DIR --label NAME`` instead serves the showcase of another checkout (for
example ``git archive`` of an older commit unpacked in ``DIR``) as a single configuration: how
the figures before a change were taken. Results go to ``benchmarks/results/fairness-*.json``
and ``.md``. ``--smoke`` runs 10 pages for 1.5 s per configuration (well under a minute) and
checks that the shipped limits refuse part of the flood and that with them off nothing is
refused. Exit status 1 when an answer was wrong, 2 when a server or the client fails; timing
never fails a run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.common.machine import machine_info
from benchmarks.common.processes import (
    ROOT,
    ServerProcess,
    cpu_plan,
    free_port,
    run_json,
    serve,
    uvicorn_command,
)
from benchmarks.common.report import FAILURES, RESULTS, log, write_results

__all__ = ["FULL", "SMOKE", "FairnessProfile", "main", "markdown"]

APP: Final = "examples.standalone:app"
ENV_EVENT_RATE_LIMITS: Final = "COMPONENT_FRAMEWORK_EVENT_RATE_LIMITS"
SERVER_ENV: Final = {"COMPONENT_FRAMEWORK_SECRET_KEY": "fairness-benchmark-key-0123456789abcdef"}
#: configuration -> extra server environment.
CONFIGURATIONS: Final = {
    "limits off": {ENV_EVENT_RATE_LIMITS: "off"},
    "limits on": {},
}


@dataclass(frozen=True, slots=True)
class FairnessProfile:
    """How big and how long each configuration runs."""

    name: str
    viewers: int
    rate: float
    seconds: float
    quiet: float
    probe_interval: float


FULL: Final = FairnessProfile("full", viewers=100, rate=45.0, seconds=10.0, quiet=3.0,
                              probe_interval=0.1)  # fmt: skip
SMOKE: Final = FairnessProfile("smoke", viewers=10, rate=45.0, seconds=1.5, quiet=0.5,
                               probe_interval=0.1)  # fmt: skip


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fairness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--smoke", action="store_true", help="short correctness run (< 60 s)")
    parser.add_argument(
        "--server-tree", type=Path, default=None,
        help="serve the showcase of this checkout instead (one configuration)",
    )  # fmt: skip
    parser.add_argument("--label", default="other tree", help="its name in the report")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    return parser.parse_args(argv)


@contextmanager
def app_server(
    target: str, *, prefix: Sequence[str], env: Mapping[str, str], root: Path
) -> Iterator[ServerProcess]:
    """One uvicorn (``--ws websockets``) serving the app ``target`` (``module:attribute``) of the
    checkout at ``root`` (its ``src`` comes first on the path, so another checkout serves its
    own code), ready when entered and stopped on exit."""
    port = free_port()
    path = os.pathsep.join(filter(None, [str(root / "src"), os.environ.get("PYTHONPATH")]))
    command = [*prefix, *uvicorn_command(target, port, ws="websockets", factory=False, root=root)]
    with serve(command, port, env={**env, "PYTHONPATH": path}, cwd=root) as server:
        yield server


def _run_client(prefix: Sequence[str], port: int, pid: int, profile: FairnessProfile) -> Any:
    command = [
        *prefix, sys.executable, "-m", "benchmarks.fairness.client", "--port", str(port),
        "--server-pid", str(pid), "--viewers", str(profile.viewers), "--rate", f"{profile.rate:g}",
        "--seconds", f"{profile.seconds:g}", "--quiet", f"{profile.quiet:g}",
        "--probe-interval", f"{profile.probe_interval:g}",
    ]  # fmt: skip
    timeout = 180 + profile.seconds + profile.quiet
    return run_json(command, timeout, "fairness client")


def _expectation(label: str, result: dict[str, Any]) -> str | None:
    """What the smoke run checks of the two shipped configurations (not of another tree)."""
    refused = result.get("load", {}).get("events_rate_limited", 0)
    if label == "limits on" and not refused:
        return "limits on: no event was refused, but the showcase declares a rate below 45/s"
    if label == "limits off" and refused:
        return f"limits off: {refused} events were refused"
    return None


def _configuration(
    label: str, env: dict[str, str], root: Path, profile: FairnessProfile, errors: list[str]
) -> dict[str, Any]:
    plan = cpu_plan()
    with app_server(APP, prefix=plan.server, env={**SERVER_ENV, **env}, root=root) as server:
        result: dict[str, Any] = _run_client(plan.wrk, server.port, server.pid, profile)
        server.check_alive()
    problem = result.get("error") or _expectation(label, result)
    if problem:
        errors.append(f"{label}: {problem}")
        log(f"  ERROR: {problem}")
    load = result.get("load")
    if load:
        quiet = result["quiet"]["latency"]
        log(f"  {label}: probe p50 {quiet['p50_ms']:.1f} -> {load['latency']['p50_ms']:.1f} ms, "
             f"p99 {quiet['p99_ms']:.1f} -> {load['latency']['p99_ms']:.1f} ms, server CPU "
             f"{load['server_cpu_share']:.0%}, events run {load['events_run']} of "
             f"{load['events_sent']} ({load['events_rate_limited']} rate limited)")  # fmt: skip
    return result


def markdown(machine: dict[str, str], profile: FairnessProfile, results: dict[str, Any]) -> str:
    """The report: one row per configuration."""
    lines = [
        f"# Fairness benchmark ({profile.name})", "",
        f"{profile.viewers} pages on the shared todo list, one client sending `add` at "
        f"{profile.rate:g}/s for {profile.seconds:g} s, a probe `GET /components/counter/` "
        f"every {profile.probe_interval:g} s. Machine: {machine.get('cpu', '?')}.", "",
        "| configuration | probe p50 / p99, quiet | probe p50 / p90 / p99, attacked | worker CPU "
        "| events run / refused / sent | renders to pages per s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]  # fmt: skip
    for label, result in results.items():
        load = result.get("load")
        if not load:
            lines.append(f"| {label} | failed: {result.get('error')} | | | | |")
            continue
        quiet, attacked = result["quiet"]["latency"], load["latency"]
        lines.append(
            f"| {label} | {quiet['p50_ms']:.1f} / {quiet['p99_ms']:.1f} ms "
            f"| {attacked['p50_ms']:.1f} / {attacked['p90_ms']:.1f} / {attacked['p99_ms']:.1f} ms "
            f"| {load['server_cpu_share']:.0%} | {load['events_run']} / "
            f"{load['events_rate_limited']} / {load['events_sent']} "
            f"| {load['viewer_renders_per_second']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    arguments = _arguments(argv)
    profile = SMOKE if arguments.smoke else FULL
    configurations: dict[str, tuple[Path, dict[str, str]]]
    if arguments.server_tree is not None:
        configurations = {arguments.label: (arguments.server_tree.resolve(), {})}
    else:
        configurations = {label: (ROOT, env) for label, env in CONFIGURATIONS.items()}
    started = time.monotonic()
    results: dict[str, Any] = {}
    errors: list[str] = []
    try:
        for index, (label, (root, env)) in enumerate(configurations.items(), 1):
            log(f"[{index}/{len(configurations)}] {label}: a fresh server, {profile.viewers} "
                 f"pages, {profile.rate:g} events/s")  # fmt: skip
            results[label] = _configuration(label, env, root, profile, errors)
    except FAILURES as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 2
    machine = machine_info()
    report = markdown(machine, profile, results)
    print(report)
    document = {"mode": profile.name, "machine": machine, "settings": asdict(profile),
                "results": results, "errors": errors}  # fmt: skip
    target = write_results(arguments.results, f"fairness-{profile.name}", document, report)
    log(f"[fairness {profile.name}] wrote {target} in {time.monotonic() - started:.0f} s")
    return 1 if errors else 0
