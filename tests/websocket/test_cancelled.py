"""A server that stops by cancelling the application (daphne always, hypercorn's workers after
their graceful timeout) still gets the 1012 close out: the connection tries it once, bounded,
from the cancellation path, and the cancellation goes on. At the ASGI message level; the real
servers are in ``tests/hosts/test_servers.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from component_framework.asgi.websocket import LAST_CLOSE_TIMEOUT
from tests.websocket.helpers import RawSocket, make_app

Raw = Callable[..., RawSocket]


class ServerSocket(RawSocket):
    """A :class:`RawSocket` whose server side may refuse every close code but 1000
    (``picky``: daphne's autobahn raises a bare ``Exception``) or, once ``stalling`` is set,
    never return from a send."""

    def __init__(self, *args: Any, picky: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.picky = picky
        self.stalling = False

    async def _send(self, message: dict[str, Any]) -> None:
        if self.stalling:
            await asyncio.sleep(3600)  # the server's send never returns
        if self.picky and message["type"] == "websocket.close" and message["code"] != 1000:
            raise Exception(f"invalid close code {message['code']}")
        await super()._send(message)


async def opened(app: Any, **server: bool) -> ServerSocket:
    """A counter socket on ``app`` whose first render arrived."""
    socket = ServerSocket(app, "counter", **server).start()
    await socket.wait_until(lambda: bool(socket.messages))
    return socket


async def cancelled(socket: RawSocket) -> None:
    """Cancel the app's task as such a server does; the cancellation must reach the server."""
    assert socket.task is not None
    socket.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(LAST_CLOSE_TIMEOUT + 2.0):
            await socket.task


async def test_cancelled_connection_closes_with_1012_and_the_restart_reason(raw: Raw) -> None:
    app = make_app()
    socket = raw(app, "counter")
    await socket.wait_until(lambda: bool(socket.messages))

    await cancelled(socket)

    assert socket.close == {
        "type": "websocket.close",
        "code": 1012,
        "reason": "the server is restarting",
    }
    assert len(app.sockets) == 0


async def test_cancelled_connection_with_a_stalled_client_still_ends_in_bounded_time() -> None:
    app = make_app()
    socket = await opened(app)
    socket.stalling = True
    started = asyncio.get_running_loop().time()

    await cancelled(socket)

    assert asyncio.get_running_loop().time() - started < LAST_CLOSE_TIMEOUT + 1.0
    assert socket.close is None
    assert len(app.sockets) == 0


async def test_server_refusing_the_1012_code_gets_the_connection_dropped() -> None:
    """daphne's autobahn sends only 1000 and 3000-4999 and raises for 1012: nothing else is
    tried (1000 would stop clients from reconnecting; the dropped connection reads 1006)."""
    app = make_app()
    socket = await opened(app, picky=True)

    await cancelled(socket)

    assert socket.close is None
    assert len(app.sockets) == 0


async def test_server_refusing_a_limit_close_code_gets_1000_with_the_reason() -> None:
    """A close for a limit (here 1009) on a server that refuses the code is sent as 1000."""
    app = make_app(ws_max_message_bytes=64)
    socket = await opened(app, picky=True)

    socket.send_text("x" * 65)

    close = await socket.closed()
    assert close["code"] == 1000
    assert "limit of 64 bytes" in close["reason"]
    await socket.end()
