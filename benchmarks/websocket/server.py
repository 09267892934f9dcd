"""The WebSocket benchmark's processes: uvicorns, a redis-server and the client, always on
127.0.0.1, always bounded in time and always stopped.

:func:`ws_servers` starts uvicorns serving one factory of :mod:`benchmarks.websocket.app` (one
worker each, ``--ws`` as asked, httptools, uvloop, no access log), or granians (``--server
granian``: its ASGI interface and WebSocket, one worker each, uvloop), on free ports and stops them
on exit (SIGTERM, then SIGKILL after a bounded wait); :func:`redis_server` starts a throwaway
``redis-server`` (no persistence) on a free port; :func:`run_client` runs one
:mod:`benchmarks.websocket.client` scenario with a timeout and returns its JSON result.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

from benchmarks.common.processes import (
    HOST,
    ServerName,
    ServerProcess,
    free_port,
    run_json,
    serve,
    start_process,
    wait_ready,
)
from benchmarks.common.processes import server_command as _server_command

__all__ = ["REDIS", "Server", "redis_server", "run_client", "server_command", "ws_servers"]

REDIS: Final = "redis-server"

#: A running server process of the benchmark.
Server = ServerProcess


def server_command(factory: str, port: int, ws: str, server: ServerName = "uvicorn") -> list[str]:
    """The command line of ``server`` serving ``benchmarks.websocket.app:<factory>`` (``ws``:
    uvicorn's WebSocket implementation)."""
    return _server_command(server, f"benchmarks.websocket.app:{factory}", port, ws=ws)


@contextmanager
def ws_servers(
    factory: str,
    ws: str,
    *,
    count: int = 1,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    server: ServerName = "uvicorn",
) -> Iterator[list[Server]]:
    """``count`` processes of ``server`` (one worker each, own ports) serving ``factory``,
    ready when entered and stopped on exit."""
    with ExitStack() as stack:
        servers = []
        for _ in range(count):
            port = free_port()
            command = [*prefix, *server_command(factory, port, ws, server)]
            servers.append(start_process(command, port, stack, env=env, server=server))
        wait_ready(servers)
        yield servers


@contextmanager
def redis_server() -> Iterator[Server]:
    """A throwaway redis-server on a free loopback port (no persistence)."""
    binary = shutil.which(REDIS) or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
               "--protected-mode", "yes", "--loglevel", "warning"]  # fmt: skip
    with serve(command, port) as server:
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
        *prefix, sys.executable, "-m", "benchmarks.websocket.client", scenario,
        "--ports", ",".join(str(server.port) for server in servers),
        "--server-pids", ",".join(str(server.worker_pid) for server in servers), *options,
    ]  # fmt: skip
    return run_json(command, timeout, f"ws client {scenario}", servers=servers)
