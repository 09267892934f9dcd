"""The streaming benchmark's server and client processes, always on 127.0.0.1 and always stopped.

:func:`stream_server` runs ``uvicorn --factory benchmarks.stream_app:...`` (httptools, uvloop,
one worker, no access log) pinned to the first CPU and stops it on exit (SIGTERM, then SIGKILL
after a bounded wait). :func:`run_client` runs one ``benchmarks.stream_client`` scenario pinned
to the second CPU, with a timeout, and returns its JSON result; :func:`run_floor` runs the pacing
floor on the server's CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from benchmarks.loopback import CpuPlan
from benchmarks.processes import HOST, ServerProcess, free_port, port_answers, stop_process

__all__ = [
    "StreamServer",
    "client_command",
    "describe_plan",
    "run_client",
    "run_floor",
    "server_command",
    "stream_server",
]

ROOT: Final = Path(__file__).resolve().parent.parent
_START_TIMEOUT: Final = 30.0
_STOP_TIMEOUT: Final = 15.0


#: A running uvicorn of the streaming benchmark.
StreamServer = ServerProcess


def describe_plan(plan: CpuPlan) -> str:
    """A line for the report."""
    if not plan.server:
        return "no CPU pinning (needs taskset and at least 2 CPUs)"
    return f"server pinned with `{' '.join(plan.server)}`, client with `{' '.join(plan.wrk)}`"


def server_command(factory: str, port: int) -> list[str]:
    """The uvicorn command line serving ``benchmarks.stream_app:<factory>``."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", f"benchmarks.stream_app:{factory}",
        "--host", HOST, "--port", str(port), "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning", "--app-dir", str(ROOT),
    ]  # fmt: skip


@contextmanager
def stream_server(
    plan: CpuPlan, factory: str = "build_stream_app", env: Mapping[str, str] | None = None
) -> Iterator[StreamServer]:
    """A uvicorn serving the streaming app, ready when entered, stopped on exit."""
    port = free_port()
    environment = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*plan.server, *server_command(factory, port)],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = StreamServer(port, process, log)
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while not port_answers(port):
                server.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not answer in time:\n{server.output()}")
                time.sleep(0.05)
            yield server
        finally:
            stop_process(process, _STOP_TIMEOUT)


def client_command(
    plan: CpuPlan, scenario: str, server: StreamServer, options: Sequence[str]
) -> list[str]:
    """The client command line of one scenario."""
    core = ["--server-core", plan.server[-1]] if plan.server else []
    return [
        *plan.wrk, sys.executable, "-m", "benchmarks.stream_client", scenario,
        "--port", str(server.port), "--server-pid", str(server.pid), *core, *options,
    ]  # fmt: skip


def run_client(
    plan: CpuPlan, scenario: str, server: StreamServer, options: Sequence[str], timeout: float
) -> dict[str, Any]:
    """Run one client scenario and return its JSON result; a lost or wrong token shows as the
    result's ``error``. Raises ``RuntimeError`` when the client or the server fails."""
    completed = subprocess.run(
        client_command(plan, scenario, server, options),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    server.check_alive()
    lines = completed.stdout.strip().splitlines()
    if completed.returncode not in (0, 1) or not lines:
        raise RuntimeError(
            f"stream client {scenario} failed ({completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_floor(plan: CpuPlan, tasks: int, rate: float, seconds: float) -> dict[str, Any]:
    """The pacing floor (:mod:`benchmarks.stream_floor`) on the server's CPU."""
    command = [
        *plan.server, sys.executable, "-m", "benchmarks.stream_floor",
        "--tasks", str(tasks), "--rate", f"{rate:g}", "--seconds", f"{seconds:g}",
    ]  # fmt: skip
    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=seconds * 4 + 60, check=False
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"stream floor failed ({completed.returncode}):\n{completed.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
