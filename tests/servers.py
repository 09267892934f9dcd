"""Real servers for tests: server subprocesses on loopback (uvicorn, and any other server whose
command line takes a port), started and always stopped."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOOPBACK",
    "REPO_ROOT",
    "ServerProcess",
    "UvicornServer",
    "free_port",
    "port_answers",
    "post_stalled_body",
    "start_server",
    "start_uvicorn",
    "uvicorn_server",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3


@dataclass
class ServerProcess:
    """A server subprocess on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    def log(self) -> str:
        """What the server wrote so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after a bounded wait)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


#: The name the uvicorn tests know it by.
UvicornServer = ServerProcess


def free_port() -> int:
    """A loopback port free at this moment (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def port_answers(port: int) -> bool:
    """True when something accepts TCP connections on the loopback ``port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def post_stalled_body(port: int, path: str, timeout: float) -> bytes:
    """``POST path`` to the loopback ``port`` with a JSON body that stops after 5 of its 100
    announced bytes; returns the answer (its head, and its body when it has a length), or what
    arrived before the server closed the connection. A read that waits longer than ``timeout``
    raises :class:`TimeoutError`."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {LOOPBACK}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
        '{"par'
    ).encode("ascii")
    answer = b""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as raw:
        raw.sendall(head)  # ... and nothing more: the other 95 bytes never come
        while True:
            top, end_of_head, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", top)
            if end_of_head and (length is None or len(body) >= int(length.group(1))):
                return answer
            chunk = raw.recv(4096)
            if not chunk:
                return answer
            answer += chunk


def _new_log_path(log_dir: Path, stem: str) -> Path:
    """``stem.log`` in ``log_dir``, or ``stem-N.log`` when a restart on the same port has it."""
    path, number = log_dir / f"{stem}.log", 1
    while path.exists():
        path, number = log_dir / f"{stem}-{number}.log", number + 1
    return path


def _wait_until_ready(server: ServerProcess, deadline: float) -> bool:
    """True once the port accepts connections; False if the process died first."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if port_answers(server.port):
            return True
        time.sleep(0.05)
    return False


def start_server(
    name: str,
    command: Callable[[int], Sequence[str]],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
) -> ServerProcess:
    """Start ``command(port)`` on a free loopback port (or on ``port``, e.g. to restart a
    server where its pages reconnect) and wait at most ``READY_TIMEOUT`` seconds for it to
    answer; retries when another process took the port. ``env`` replaces the
    ``COMPONENT_FRAMEWORK_*`` variables of this process. ``name`` (one word) names the log
    files."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("COMPONENT_FRAMEWORK_")
    }
    environment.update(env or {})
    deadline = time.monotonic() + READY_TIMEOUT
    for attempt in range(START_ATTEMPTS):
        chosen = free_port() if port is None else port
        log_path = _new_log_path(log_dir, f"{name}-{chosen}-{attempt}")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(command(chosen)),
                cwd=REPO_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(process, chosen, log_path)
        if _wait_until_ready(server, deadline):
            return server
        server.stop()
        if time.monotonic() >= deadline:
            break
    raise RuntimeError(
        f"{' '.join(command(chosen))} did not answer on {LOOPBACK} within "
        f"{READY_TIMEOUT:g} s; last log:\n{server.log()}"
    )


def start_uvicorn(
    app: str,
    log_dir: Path,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
) -> ServerProcess:
    """:func:`start_server` with ``uvicorn app`` (``--log-level warning`` and ``extra_args``)."""

    def command(chosen: int) -> list[str]:
        return [
            *(sys.executable, "-m", "uvicorn", app, "--host", LOOPBACK),
            *("--port", str(chosen), "--log-level", "warning", *extra_args),
        ]

    return start_server("uvicorn", command, log_dir, env, port=port)


@contextmanager
def uvicorn_server(
    app: str,
    log_dir: Path,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
) -> Iterator[ServerProcess]:
    """:func:`start_uvicorn` as a context manager that always stops the server."""
    server = start_uvicorn(app, log_dir, extra_args, env, port=port)
    try:
        yield server
    finally:
        server.stop()
