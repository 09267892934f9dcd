"""A real PostgreSQL server for tests: ``initdb`` into a temporary directory, ``postgres`` on a
free loopback port, always stopped and removed.

The binaries are found on ``PATH`` (``/usr/local/bin`` on the development machines) or in
``/usr/lib/postgresql/<version>/bin`` (where Debian's ``postgresql`` package puts them, off
``PATH``), the newest version first. PostgreSQL refuses to run as root: when the tests run as
root (containers, CI), ``initdb`` and ``postgres`` run as the ``postgres`` user (Debian's package
creates it) or else ``nobody``, through ``setpriv``, in a directory under ``/tmp`` that this
user owns (pytest's own temporary directories are private to root). The cluster trusts local
connections and runs without fsync: it is thrown away after the tests. A missing PostgreSQL is
an error, never a skip, as for Redis.

:meth:`PostgresServer.stop` and :meth:`PostgresServer.start` keep the port and the data, which
is how fault tests take PostgreSQL away from running brokers and give it back.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.broker.redis_server import _free_port
from tests.servers import LOOPBACK

__all__ = ["PostgresServer", "PostgresServerMissing", "postgres_bin_dir"]

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
READY_LINE = "database system is ready to accept connections"


class PostgresServerMissing(RuntimeError):
    """PostgreSQL's server binaries (``initdb``, ``postgres``) are not installed."""


def postgres_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``postgres``; :class:`PostgresServerMissing` with a
    clear message if there is none."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name.split(".")[0] or 0),
    )
    if versions:
        return Path(versions[-1]).parent
    raise PostgresServerMissing(
        "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): the "
        "PostgreSQL broker tests need a real server (apt-get install postgresql; CI installs it)"
    )


def _run_as() -> list[str]:
    """The command prefix that drops root for PostgreSQL (empty when not root)."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    raise PostgresServerMissing("running as root, and there is no postgres or nobody user")


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster on ``127.0.0.1``; :attr:`url` is its DSN."""

    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    root: Path | None = None
    starts: int = 0
    _logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/postgres``."""
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything ``initdb`` and the server wrote, across restarts."""
        return "".join(path.read_text(errors="replace") for path in self._logs if path.exists())

    def _initdb(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cf-postgres-"))
        prefix = _run_as()
        if prefix:
            uid, gid = int(prefix[1].split("=")[1]), int(prefix[2].split("=")[1])
            os.chown(self.root, uid, gid)
        log_path = self.log_dir / "initdb.log"
        self._logs.append(log_path)
        command = [
            *prefix, str(postgres_bin_dir() / "initdb"), "-D", str(self.root / "data"),
            "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}); log:\n{self.log()}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        assert self.root is not None
        log_path = self.log_dir / f"postgres-{self.port}-{self.starts}.log"
        self.starts += 1
        self._logs.append(log_path)
        command = [
            *_run_as(), str(postgres_bin_dir() / "postgres"), "-D", str(self.root / "data"),
            "-p", str(self.port), "-h", LOOPBACK, "-k", str(self.root), "-F",
            "-c", "max_connections=60", "-c", "shared_buffers=16MB",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)

    def start(self) -> None:
        """Create the cluster the first time, start the server (on a free port the first time,
        on the same port afterwards) and wait at most ``READY_TIMEOUT`` seconds until it
        accepts connections."""
        if self.running:
            return
        if self.root is None:
            self._initdb()
        if self.port == 0:
            self.port = _free_port()
        self.process = self._spawn()
        log_path = self._logs[-1]
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and self.running:
            if READY_LINE in log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"postgres did not get ready on {LOOPBACK}:{self.port} within {READY_TIMEOUT:g} s; "
            f"log:\n{self.log()}"
        )

    def stop(self) -> None:
        """Stop the server ("fast" shutdown: SIGINT disconnects clients; SIGKILL after a
        bounded wait); idempotent. The cluster stays for :meth:`start`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
