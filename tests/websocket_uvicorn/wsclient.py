"""Servers and a small client vocabulary for the real-uvicorn WebSocket tests.

:func:`serve` starts ``uvicorn tests.websocket_uvicorn.ws_app:<app>`` on loopback with the
snapshot key and an allowed cross-origin in its environment, ``--lifespan on`` and no access
log, and stops it with SIGTERM (then SIGKILL). The client side wraps the ``websockets`` asyncio
client; every wait is bounded by :data:`WAIT`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.servers import LOOPBACK, UvicornServer, uvicorn_server

__all__ = [
    "DELIBERATE_FAILURE",
    "LIMITED_JOIN_TIMEOUT",
    "LIMITED_MAX_MESSAGE_BYTES",
    "SECRET",
    "SERVER_ENV",
    "TRUSTED_ORIGIN",
    "WAIT",
    "WS_IMPLEMENTATIONS",
    "close_code_of",
    "event",
    "eventually",
    "open_socket",
    "receive_json",
    "send_event",
    "serve",
    "ws_url",
]

WS_IMPLEMENTATIONS = ["websockets", "wsproto"]
SECRET = "websocket-uvicorn-test-key-0123456789"
TRUSTED_ORIGIN = "https://trusted.example"
SERVER_ENV = {
    "COMPONENT_FRAMEWORK_SECRET_KEY": SECRET,
    "COMPONENT_FRAMEWORK_ALLOWED_ORIGINS": TRUSTED_ORIGIN,
}
WAIT = 5.0
#: ``Settings.ws_max_message_bytes`` of the ``limited`` app.
LIMITED_MAX_MESSAGE_BYTES = 1024
#: ``Settings.ws_join_timeout`` of the ``limited`` app.
LIMITED_JOIN_TIMEOUT = 0.5
#: The only exception a server may log with a traceback (``fragile``'s failing mount).
DELIBERATE_FAILURE = "mount failed on purpose"


APP_MODULE = "tests.websocket_uvicorn.ws_app"


def uvicorn_arguments(ws: str, *extra: str) -> list[str]:
    return ["--ws", ws, "--lifespan", "on", "--no-access-log", *extra]


@contextmanager
def serve(
    app: str, ws: str, log_dir: Path, *extra: str, check_log: bool = True
) -> Iterator[UvicornServer]:
    """``uvicorn tests.websocket_uvicorn.ws_app:<app> --ws <ws> ...``; with ``check_log`` the
    server must not have logged a traceback by the time it stopped, except for the
    deliberate failure of ``fragile``'s mount."""
    with uvicorn_server(
        f"{APP_MODULE}:{app}", log_dir, uvicorn_arguments(ws, *extra), env=SERVER_ENV
    ) as server:
        yield server
    if check_log:
        log = server.log()
        deliberate = log.count(f"RuntimeError: {DELIBERATE_FAILURE}")
        assert log.count("Traceback") == deliberate, log


def ws_url(
    server: UvicornServer, name: str, query: Mapping[str, Any] | None = None, *, path: str = ""
) -> str:
    """``ws://127.0.0.1:PORT/components/<name>/ws/`` (or ``path`` instead of the usual one)."""
    path = path or f"/components/{name}/ws/"
    suffix = f"?{urlencode(query)}" if query else ""
    return f"ws://{LOOPBACK}:{server.port}{path}{suffix}"


@asynccontextmanager
async def open_socket(
    server: UvicornServer,
    name: str,
    query: Mapping[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[ClientConnection]:
    """An open connection to component ``name`` (closed on exit, each step bounded)."""
    async with connect(
        ws_url(server, name, query), open_timeout=WAIT, close_timeout=WAIT, **options
    ) as socket:
        yield socket


async def receive_json(socket: ClientConnection) -> dict[str, Any]:
    """The next message, decoded; raises ``TimeoutError`` after :data:`WAIT`."""
    text = await asyncio.wait_for(socket.recv(), WAIT)
    assert isinstance(text, str), text
    message: dict[str, Any] = json.loads(text)
    return message


async def send_event(
    socket: ClientConnection,
    name: str,
    payload: Mapping[str, Any] | None = None,
    ref: str | int | None = None,
) -> None:
    await socket.send(
        json.dumps({"type": "event", "event": name, "payload": dict(payload or {}), "ref": ref})
    )


async def event(
    socket: ClientConnection,
    name: str,
    payload: Mapping[str, Any] | None = None,
    ref: str | int | None = None,
) -> dict[str, Any]:
    """Send an event and return the next message."""
    await send_event(socket, name, payload, ref)
    return await receive_json(socket)


async def close_code_of(socket: ClientConnection) -> tuple[int | None, str]:
    """Read until the server closes the socket; its close frame's code and reason (``None``
    when the connection ended without one). Raises ``TimeoutError`` after :data:`WAIT`."""
    async with asyncio.timeout(WAIT):
        try:
            while True:
                await socket.recv()
        except ConnectionClosed as closed:
            received = closed.rcvd
            return (received.code, received.reason) if received else (None, "")


async def eventually(check: Callable[[], Any], *, within: float = WAIT) -> Any:
    """Call async ``check`` until it returns something truthy; bounded by ``within``."""
    async with asyncio.timeout(within):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)
