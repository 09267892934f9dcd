"""The ASGI servers of docs/hosts.md's Servers table, as the tests start them.

Owns each server's command line (the one the docs show, plus a loopback port and a quiet log)
and what the tests expect of it where servers differ: whether it speaks h2c, whether it can
send our close codes, whether it takes WebSockets over HTTP/2, how long it takes to stop with
streams open. Starting and stopping a process belongs to :mod:`tests.servers`; the
expectations themselves to the tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.servers import LOOPBACK, ServerProcess, start_server

__all__ = ["SERVERS", "ServerKind", "start"]


@dataclass(frozen=True)
class ServerKind:
    """One server as the table lists it."""

    name: str
    #: ``(app, port) -> argv``: the documented command with a loopback port.
    argv: Callable[[str, int], list[str]]
    #: Serves HTTP/2 over cleartext to a client with prior knowledge (h2c).
    http2: bool = False
    #: Serves WebSockets over HTTP/2 (RFC 8441: it offers ``SETTINGS_ENABLE_CONNECT_PROTOCOL``
    #: and takes an extended ``CONNECT``).
    websocket_over_h2: bool = False
    #: Sends any close code; daphne's autobahn sends only 1000 and 3000-4999, so a socket
    #: closed at shutdown reads 1006 there (and a limit's close 1000).
    close_codes: bool = True
    #: At SIGTERM a socket may be dropped (1006) before our 1012 goes out: granian's worker
    #: tears its connections down while the application still closes them.
    close_may_race_stop: bool = False
    #: Reads the whole request body before the application runs (daphne), so a body over
    #: the limit is uploaded in full before its 413.
    reads_whole_body: bool = False
    #: Seconds a SIGTERM takes with a stream open (hypercorn's workers cancel after their
    #: graceful timeout, 3 s by default).
    stop_seconds: float = 1.0


def _python(*argv: str) -> list[str]:
    return [sys.executable, "-m", *argv]


def _uvicorn(http: str, ws: str) -> Callable[[str, int], list[str]]:
    def argv(app: str, port: int) -> list[str]:
        return _python(
            *("uvicorn", app, "--host", LOOPBACK, "--port", str(port), "--http", http),
            *("--ws", ws, "--lifespan", "on", "--no-access-log", "--log-level", "warning"),
        )

    return argv


def _hypercorn(app: str, port: int) -> list[str]:
    return _python("hypercorn", app, "--bind", f"{LOOPBACK}:{port}", "--log-level", "warning")


def _hypercorn_trio(app: str, port: int) -> list[str]:
    return [*_hypercorn(app, port), "--worker-class", "trio"]


def _daphne(app: str, port: int) -> list[str]:
    return _python("daphne", "--bind", LOOPBACK, "--port", str(port), "-v", "0", app)


def _granian(app: str, port: int) -> list[str]:
    return _python(
        *("granian", "--interface", "asgi", "--host", LOOPBACK, "--port", str(port)),
        *("--log-level", "warning", app),
    )


SERVERS: dict[str, ServerKind] = {
    kind.name: kind
    for kind in (
        ServerKind("uvicorn-h11-websockets", _uvicorn("h11", "websockets")),
        ServerKind("uvicorn-httptools-wsproto", _uvicorn("httptools", "wsproto")),
        ServerKind("hypercorn", _hypercorn, http2=True, websocket_over_h2=True, stop_seconds=4.5),
        ServerKind(
            "hypercorn-trio", _hypercorn_trio, http2=True, websocket_over_h2=True, stop_seconds=4.5
        ),
        ServerKind("daphne", _daphne, close_codes=False, reads_whole_body=True),
        ServerKind("granian", _granian, http2=True, close_may_race_stop=True),
    )
}


def start(kind: ServerKind, app: str, log_dir: Path) -> ServerProcess:
    """``kind`` serving ``app`` on a free loopback port, answering."""
    return start_server(kind.name, lambda port: kind.argv(app, port), log_dir)
