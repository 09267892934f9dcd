"""Server and client processes of the benchmarks: loopback ports, CPU pinning, uvicorn and
granian command lines, readiness, bounded stops and the JSON line a client process prints.

Owns what every benchmark that starts a process shares: :func:`free_port`, :func:`port_answers`,
:class:`CpuPlan` (which CPU the server and the load generator are pinned to),
:func:`uvicorn_command` (one worker, httptools, uvloop, no access log), :func:`granian_command`
(its ASGI interface, one worker, uvloop, HTTP/1, no access log), :func:`server_command`
(either, by name: the benchmarks' ``--server uvicorn|granian|both``, :func:`server_names`),
:func:`start_process` and :func:`wait_ready` (a server started on an
:class:`~contextlib.ExitStack` that stops it), :func:`serve` (both in one),
:func:`stop_process` (SIGTERM, then SIGKILL after a bounded wait), :class:`ServerProcess` (a
running server, its port, log and the process that runs the app) and :func:`run_json` (run a
client process with a timeout and read the JSON line it prints last).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal, get_args

__all__ = [
    "HOST",
    "ROOT",
    "SERVER_CHOICES",
    "CpuPlan",
    "ServerName",
    "ServerProcess",
    "cpu_plan",
    "free_port",
    "granian_command",
    "port_answers",
    "run_json",
    "serve",
    "server_command",
    "server_names",
    "start_process",
    "stop_process",
    "uvicorn_command",
    "wait_ready",
]

HOST: Final = "127.0.0.1"
#: The checkout: every process runs there (``benchmarks`` and ``examples`` import from it).
ROOT: Final = Path(__file__).resolve().parents[2]
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 15.0
#: The servers a benchmark can run its app under (the first is the default everywhere).
ServerName = Literal["uvicorn", "granian"]
#: What ``--server`` accepts: one server, or ``both`` (one after the other, side by side).
SERVER_CHOICES: Final = (*get_args(ServerName), "both")


def free_port() -> int:
    """A port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_answers(port: int) -> bool:
    """Whether something accepts connections on the loopback ``port``."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Terminate ``process``, and kill it if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@dataclass
class ServerProcess:
    """A running server: its port, process and log, and which server it is."""

    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    server: ServerName = "uvicorn"

    @property
    def pid(self) -> int:
        """The server's process (``taskset`` execs it, so it is the process started)."""
        return self.process.pid

    @property
    def worker_pid(self) -> int:
        """The process that runs the app, whose CPU time and memory are the server's: uvicorn
        itself, or granian's one worker (granian's main process only supervises it)."""
        if self.server == "uvicorn":
            return self.pid
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            children = _children(self.pid)
            if len(children) == 1:
                return children[0]
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.server}: expected one worker, found {children}")
            time.sleep(0.05)

    def output(self) -> str:
        """The last lines it wrote."""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]

    def check_alive(self) -> None:
        """Raise if it has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Command prefixes pinning the servers and ``wrk`` to separate CPUs (empty: no pinning)."""

    server: tuple[str, ...]
    wrk: tuple[str, ...]

    def describe(self) -> str:
        """A line for the report."""
        if not self.server:
            return "no CPU pinning (needs taskset and at least 2 CPUs)"
        return f"server pinned with `{' '.join(self.server)}`, wrk with `{' '.join(self.wrk)}`"


def cpu_plan() -> CpuPlan:
    """Pin servers to the first allowed CPU and wrk to the second, when possible."""
    cpus = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    if taskset is None or len(cpus) < 2:
        return CpuPlan((), ())
    return CpuPlan(("taskset", "-c", str(cpus[0])), ("taskset", "-c", str(cpus[1])))


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (from every thread's ``children`` list in ``/proc``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return sorted(set(found))


def server_names(choice: str) -> tuple[ServerName, ...]:
    """The servers a ``--server`` choice names (``both``: every one, uvicorn first)."""
    servers: tuple[ServerName, ...] = get_args(ServerName)
    if choice == "both":
        return servers
    for server in servers:
        if server == choice:
            return (server,)
    raise ValueError(f"expected one of {', '.join(SERVER_CHOICES)}, got {choice!r}")


def server_command(
    server: ServerName,
    target: str,
    port: int,
    *,
    ws: str | None = None,
    factory: bool = True,
    root: Path = ROOT,
) -> list[str]:
    """The command line of ``server`` serving ``target`` on 127.0.0.1:``port`` (``ws``: the
    uvicorn WebSocket implementation; granian has one of its own)."""
    if server == "granian":
        return granian_command(target, port, factory=factory, root=root)
    return uvicorn_command(target, port, ws=ws, factory=factory, root=root)


def granian_command(
    target: str, port: int, *, factory: bool = True, root: Path = ROOT
) -> list[str]:
    """The granian command line serving ``target`` (``module:factory``, or ``module:app`` with
    ``factory=False``) of the checkout at ``root`` on 127.0.0.1:``port``, as close to
    :func:`uvicorn_command` as granian allows: its ASGI interface, one worker (a child process
    of granian's own), uvloop, HTTP/1 only, no access log, log level warning."""
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", *(["--factory"] if factory else []),
        "--host", HOST, "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "1",
        "--no-access-log", "--log-level", "warning", "--working-dir", str(root), target,
    ]  # fmt: skip


def uvicorn_command(
    target: str, port: int, *, ws: str | None = None, factory: bool = True, root: Path = ROOT
) -> list[str]:
    """The uvicorn command line serving ``target`` (``module:factory``, or ``module:app`` with
    ``factory=False``) of the checkout at ``root`` on 127.0.0.1:``port``: one worker,
    httptools, uvloop, ``--ws ws`` when given, no access log, log level warning."""
    return [
        sys.executable, "-m", "uvicorn", *(["--factory"] if factory else []), target,
        "--host", HOST, "--port", str(port), *(["--ws", ws] if ws else []),
        "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        "--app-dir", str(root),
    ]  # fmt: skip


def start_process(
    command: Sequence[str],
    port: int,
    stack: ExitStack,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    server: ServerName = "uvicorn",
) -> ServerProcess:
    """Start ``command`` (``server`` that will listen on ``port``) with ``env`` added to this
    process's environment, its output in a temporary log; ``stack`` stops it and closes the
    log."""
    log = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - the stack closes it
    process = subprocess.Popen(
        list(command), cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stack.callback(stop_process, process, STOP_TIMEOUT)
    return ServerProcess(port, process, log, server)


def wait_ready(servers: Sequence[ServerProcess], timeout: float = START_TIMEOUT) -> None:
    """Wait until every server accepts connections; raise if one exits or the time is up."""
    deadline = time.monotonic() + timeout
    for server in servers:
        while not port_answers(server.port):
            server.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer in time:\n{server.output()}")
            time.sleep(0.05)


@contextmanager
def serve(
    command: Sequence[str],
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    server: ServerName = "uvicorn",
) -> Iterator[ServerProcess]:
    """The ``server`` ``command`` listening on ``port``, ready when entered, stopped on exit."""
    with ExitStack() as stack:
        running = start_process(command, port, stack, env=env, cwd=cwd, server=server)
        wait_ready([running])
        yield running


def run_json(
    command: Sequence[str],
    timeout: float,
    what: str,
    *,
    servers: Sequence[ServerProcess] = (),
    exits: tuple[int, ...] = (0, 1),
) -> dict[str, Any]:
    """Run the client ``command`` (named ``what`` in errors) and return the JSON line it
    printed last. Raises ``RuntimeError`` when one of ``servers`` has exited, or the client
    exited with a status not in ``exits`` (0: done, 1: a wrong answer, shown in the JSON's
    ``error``) or printed nothing."""
    completed = subprocess.run(
        list(command), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    for server in servers:
        server.check_alive()
    lines = completed.stdout.strip().splitlines()
    if completed.returncode not in exits or not lines:
        raise RuntimeError(f"{what} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
