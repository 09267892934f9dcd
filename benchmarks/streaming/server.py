"""The streaming benchmark's server and client processes, always on 127.0.0.1 and always stopped.

:func:`stream_server` runs ``uvicorn --factory benchmarks.streaming.app:...`` (httptools,
uvloop, one worker, no access log), or the same app under granian (``server="granian"``: its
ASGI interface, one worker, uvloop), pinned to the first CPU and stops it on exit (SIGTERM, then
SIGKILL after a bounded wait). :func:`run_client` runs one ``benchmarks.streaming.client``
scenario pinned to the second CPU, with a timeout, and returns its JSON result (the server CPU
and memory it reads are those of the process running the app: granian's worker); :func:`run_floor`
runs the pacing floor on the server's CPU.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from benchmarks.common.processes import (
    CpuPlan,
    ServerName,
    ServerProcess,
    free_port,
    run_json,
    serve,
)
from benchmarks.common.processes import server_command as _server_command

__all__ = [
    "CONTENDERS",
    "OURS",
    "OURS_PAGE",
    "SSE_STARLETTE",
    "Contender",
    "StreamServer",
    "client_command",
    "describe_plan",
    "run_client",
    "run_floor",
    "server_command",
    "stream_server",
]

#: A running server (uvicorn or granian) of the streaming benchmark.
StreamServer = ServerProcess


@dataclass(frozen=True, slots=True)
class Contender:
    """A server the benchmark streams the same tokens through: its name in the report, its
    uvicorn factory (``module:callable``) and the client options that read its format."""

    name: str
    factory: str
    client_options: tuple[str, ...] = ()


OURS: Final = Contender("ComponentASGI", "benchmarks.streaming.app:build_stream_app")
SSE_STARLETTE: Final = Contender(
    "sse-starlette", "benchmarks.streaming.contender:build_contender_app", ("--plain",)
)
#: The same app, each stream opened as the client runtime opens it in a browser: over a page
#: connection (one per stream here) that asks for compact frames.
OURS_PAGE: Final = Contender(
    "ComponentASGI page connection", "benchmarks.streaming.app:build_stream_app", ("--page",)
)
CONTENDERS: Final = (OURS, SSE_STARLETTE, OURS_PAGE)


def describe_plan(plan: CpuPlan) -> str:
    """A line for the report."""
    if not plan.server:
        return "no CPU pinning (needs taskset and at least 2 CPUs)"
    return f"server pinned with `{' '.join(plan.server)}`, client with `{' '.join(plan.wrk)}`"


def server_command(factory: str, port: int, server: ServerName = "uvicorn") -> list[str]:
    """The command line of ``server`` serving ``factory``: ``module:callable``, or a callable
    of ``benchmarks.streaming.app``."""
    target = factory if ":" in factory else f"benchmarks.streaming.app:{factory}"
    return _server_command(server, target, port)


@contextmanager
def stream_server(
    plan: CpuPlan,
    factory: str = "build_stream_app",
    env: Mapping[str, str] | None = None,
    server: ServerName = "uvicorn",
) -> Iterator[StreamServer]:
    """``server`` serving the streaming app, ready when entered, stopped on exit."""
    port = free_port()
    command = [*plan.server, *server_command(factory, port, server)]
    with serve(command, port, env=env, server=server) as running:
        yield running


def client_command(
    plan: CpuPlan, scenario: str, server: StreamServer, options: Sequence[str]
) -> list[str]:
    """The client command line of one scenario."""
    core = ["--server-core", plan.server[-1]] if plan.server else []
    return [
        *plan.wrk, sys.executable, "-m", "benchmarks.streaming.client", scenario,
        "--port", str(server.port), "--server-pid", str(server.worker_pid), *core, *options,
    ]  # fmt: skip


def run_client(
    plan: CpuPlan, scenario: str, server: StreamServer, options: Sequence[str], timeout: float
) -> dict[str, Any]:
    """Run one client scenario and return its JSON result; a lost or wrong token shows as the
    result's ``error``. Raises ``RuntimeError`` when the client or the server fails."""
    command = client_command(plan, scenario, server, options)
    return run_json(command, timeout, f"stream client {scenario}", servers=[server])


def run_floor(plan: CpuPlan, tasks: int, rate: float, seconds: float) -> dict[str, Any]:
    """The pacing floor (:mod:`benchmarks.streaming.floor`) on the server's CPU."""
    command = [
        *plan.server, sys.executable, "-m", "benchmarks.streaming.floor",
        "--tasks", str(tasks), "--rate", f"{rate:g}", "--seconds", f"{seconds:g}",
    ]  # fmt: skip
    return run_json(command, seconds * 4 + 60, "stream floor", exits=(0,))
