"""Server processes of the benchmarks: free loopback ports, readiness, bounded stops.

Owns what every benchmark that starts a server shares: :func:`free_port`, :func:`port_answers`,
:func:`stop_process` (SIGTERM, then SIGKILL after a bounded wait) and :class:`ServerProcess`
(a running server, its port and log).
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from typing import IO, Final

__all__ = ["HOST", "ServerProcess", "free_port", "port_answers", "stop_process"]

HOST: Final = "127.0.0.1"


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


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
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
    """A running server: its port, process and log."""

    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def pid(self) -> int:
        """The server's process (``taskset`` execs it, so it is the process started)."""
        return self.process.pid

    def output(self) -> str:
        """The last lines it wrote."""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]

    def check_alive(self) -> None:
        """Raise if it has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
