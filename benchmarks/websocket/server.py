"""The WebSocket benchmark's processes: uvicorns, a redis-server and the client, always on
127.0.0.1, always bounded in time and always stopped.

:func:`ws_servers` starts uvicorns serving one factory of :mod:`benchmarks.ws_app` (one worker
each, ``--ws`` as asked, httptools, uvloop, no access log) on free ports and stops them on exit
(SIGTERM, then SIGKILL after a bounded wait); :func:`app_server` does the same for one module
attribute app (``examples.standalone:app``), from this checkout or another one;
:func:`redis_server` starts a throwaway
``redis-server`` (no persistence) on a free port; :func:`run_client` runs one
:mod:`benchmarks.ws_client` scenario with a timeout and returns its JSON result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

from benchmarks.processes import HOST, ServerProcess, free_port, port_answers, stop_process

__all__ = [
    "REDIS",
    "Server",
    "app_server",
    "redis_server",
    "run_client",
    "server_command",
    "ws_servers",
]

ROOT: Final = Path(__file__).resolve().parent.parent
REDIS: Final = "redis-server"
_START_TIMEOUT: Final = 30.0
_STOP_TIMEOUT: Final = 15.0


#: A running server process of the benchmark.
Server = ServerProcess


def server_command(factory: str, port: int, ws: str) -> list[str]:
    """The uvicorn command line serving ``benchmarks.ws_app:<factory>``."""
    return _uvicorn(f"benchmarks.ws_app:{factory}", port, ws, ROOT, "--factory")


def _uvicorn(target: str, port: int, ws: str, root: Path, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", *options, target, "--host", HOST, "--port", str(port),
        "--ws", ws, "--http", "httptools", "--loop", "uvloop", "--no-access-log",
        "--log-level", "warning", "--app-dir", str(root),
    ]  # fmt: skip


def _start(
    command: list[str], port: int, env: Mapping[str, str], stack: ExitStack, cwd: Path = ROOT
) -> Server:
    log = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - the stack closes it
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    stack.callback(stop_process, process, _STOP_TIMEOUT)
    return Server(port, process, log)


def _wait_ready(servers: Sequence[Server]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    for server in servers:
        while not port_answers(server.port):
            server.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer in time:\n{server.output()}")
            time.sleep(0.05)


@contextmanager
def ws_servers(
    factory: str,
    ws: str,
    *,
    count: int = 1,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[list[Server]]:
    """``count`` uvicorns (one worker each, own ports) serving ``factory``, ready when entered
    and stopped on exit."""
    with ExitStack() as stack:
        servers = []
        for _ in range(count):
            port = free_port()
            command = [*prefix, *server_command(factory, port, ws)]
            servers.append(_start(command, port, env or {}, stack))
        _wait_ready(servers)
        yield servers


@contextmanager
def app_server(
    target: str,
    ws: str,
    *,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    root: Path = ROOT,
) -> Iterator[Server]:
    """One uvicorn serving the app ``target`` (``module:attribute``) of the checkout at
    ``root`` (its ``src`` comes first on the path, so another checkout serves its own
    code), ready when entered and stopped on exit."""
    with ExitStack() as stack:
        port = free_port()
        path = os.pathsep.join(filter(None, [str(root / "src"), os.environ.get("PYTHONPATH")]))
        server = _start([*prefix, *_uvicorn(target, port, ws, root)], port,
                        {**(env or {}), "PYTHONPATH": path}, stack, root)  # fmt: skip
        _wait_ready([server])
        yield server


@contextmanager
def redis_server() -> Iterator[Server]:
    """A throwaway redis-server on a free loopback port (no persistence)."""
    binary = shutil.which(REDIS) or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
               "--protected-mode", "yes", "--loglevel", "warning"]  # fmt: skip
    with ExitStack() as stack:
        server = _start(command, port, {}, stack)
        _wait_ready([server])
        yield server


def run_client(
    prefix: Sequence[str],
    scenario: str,
    servers: Sequence[Server],
    options: Sequence[str],
    timeout: float,
) -> dict[str, Any]:
    """Run one client scenario and return its JSON result (a wrong or missing answer shows as
    its ``error``). Raises ``RuntimeError`` when the client or a server fails."""
    command = [
        *prefix, sys.executable, "-m", "benchmarks.ws_client", scenario,
        "--ports", ",".join(str(server.port) for server in servers),
        "--server-pids", ",".join(str(server.pid) for server in servers), *options,
    ]  # fmt: skip
    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    for server in servers:
        server.check_alive()
    lines = completed.stdout.strip().splitlines()
    if completed.returncode not in (0, 1) or not lines:
        raise RuntimeError(
            f"ws client {scenario} failed ({completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result
