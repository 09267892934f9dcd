"""A real ``redis-server`` for tests: a subprocess on a free loopback port, always stopped.

:class:`RedisServer` starts ``redis-server`` without persistence, waits (bounded) until it
answers ``PING``, and can be stopped and started again on the same port, which is how the fault
tests take Redis away from running brokers and give it back. A missing ``redis-server`` is an
error, never a skip: CI installs it, and a broker suite that silently skips proves nothing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import LOOPBACK

__all__ = ["RedisServer", "RedisServerMissing", "redis_server_binary"]

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3


class RedisServerMissing(RuntimeError):
    """``redis-server`` is not installed."""


def redis_server_binary() -> str:
    """The path of ``redis-server``; :class:`RedisServerMissing` with a clear message if none."""
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if path is None:
        raise RedisServerMissing(
            "redis-server is not installed: the broker tests need a real Redis "
            "(apt-get install redis-server; CI installs it)"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    """Whether a Redis on ``port`` answers ``PING`` with ``+PONG`` (raw RESP, no client)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.settimeout(0.5)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A ``redis-server`` subprocess on ``127.0.0.1``; :meth:`stop` and :meth:`start` keep
    the port, so clients configured with :attr:`url` find it again after a restart."""

    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the server wrote, across restarts."""
        return "".join(path.read_text(errors="replace") for path in self._logs if path.exists())

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        log_path = self.log_dir / f"redis-{port}-{self.starts}.log"
        self.starts += 1
        self._logs.append(log_path)
        command = [
            redis_server_binary(), "--port", str(port), "--bind", LOOPBACK,
            "--save", "", "--appendonly", "no", "--dir", str(self.log_dir),
        ]  # fmt: skip
        with log_path.open("wb") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if not self.running:
                return False
            if _ping(self.port):
                return True
            time.sleep(0.02)
        return False

    def start(self) -> None:
        """Start Redis (on a free port the first time, on the same port afterwards) and wait
        at most ``READY_TIMEOUT`` seconds for ``PING``."""
        if self.running:
            return
        same_port = self.port != 0
        deadline = time.monotonic() + READY_TIMEOUT
        for _ in range(START_ATTEMPTS):
            if not same_port:
                self.port = _free_port()
            self.process = self._spawn(self.port)
            if self._wait_ready(deadline):
                return
            self.stop()
            if time.monotonic() >= deadline:
                break
            if same_port:  # the port may linger for a moment after a stop: try again
                time.sleep(0.2)
        raise RuntimeError(
            f"redis-server did not answer PING on {LOOPBACK}:{self.port} within "
            f"{READY_TIMEOUT:g} s; log:\n{self.log()}"
        )

    def stop(self) -> None:
        """Stop Redis (SIGTERM, then SIGKILL after a bounded wait); idempotent."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
