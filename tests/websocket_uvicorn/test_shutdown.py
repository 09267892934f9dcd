"""SIGTERM to a real uvicorn with open sockets (``--ws websockets`` and ``wsproto``, on every
host kind whose shutdown path differs: standalone and middleware get the lifespan shutdown,
Litestar mounts none, Starlette ``Mount`` the outer app's). Each test starts its own server.

Observed with uvicorn 0.54: no ``--timeout-graceful-shutdown`` is needed. ``ComponentASGI``
chains its own SIGTERM handler in front of uvicorn's when it serves its first socket, so the
sockets are closed with 1012 and the framework's reason ("the server is restarting") at once,
before uvicorn waits for open connections; the process is gone about 0.2 s after the signal.
uvicorn then re-raises the captured SIGTERM with the default handler, so the exit status is
-SIGTERM (a bare ASGI app under uvicorn 0.54 exits the same way), not 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.websocket_uvicorn.wsclient import (
    WAIT,
    WS_IMPLEMENTATIONS,
    close_code_of,
    open_socket,
    receive_json,
    serve,
)

pytestmark = pytest.mark.uvicorn

CLOSE_SERVICE_RESTART = 1012
RESTART_REASON = "the server is restarting"
EXIT_WITHIN = 10.0
HOSTS = ["standalone", "middleware", "litestar_routes", "starlette_mount"]
EXPECTED_EXIT = (0, -signal.SIGTERM)


def wait_for_exit(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize("ws", WS_IMPLEMENTATIONS)
@pytest.mark.parametrize("host", HOSTS)
async def test_sigterm_closes_open_sockets_with_1012_and_the_server_exits(
    host: str, ws: str, tmp_path: Path
) -> None:
    with serve(host, ws, tmp_path) as server:
        async with (
            open_socket(server, "counter") as counter,
            open_socket(server, "ticker", {"room": "shutdown"}) as ticker,
        ):
            await receive_json(counter)
            await receive_json(ticker)
            server.process.send_signal(signal.SIGTERM)
            closes = await asyncio.gather(close_code_of(counter), close_code_of(ticker))
        status = await asyncio.to_thread(wait_for_exit, server.process)

    assert closes == [(CLOSE_SERVICE_RESTART, RESTART_REASON)] * 2
    assert status in EXPECTED_EXIT, f"exit status {status} (None: still running)"


@pytest.mark.parametrize("ws", WS_IMPLEMENTATIONS)
async def test_sigterm_ends_a_live_sse_stream_and_closes_the_socket_beside_it(
    ws: str, tmp_path: Path
) -> None:
    async def read_stream(base_url: str, opened: asyncio.Event) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        decoder = SSEDecoder()
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=WAIT) as client,
            client.stream("GET", "/components/ticker/stream/") as response,
        ):
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                events.extend(decoder.feed(chunk))
                if events:
                    opened.set()
        return events

    with serve("standalone", ws, tmp_path) as server:
        opened = asyncio.Event()
        reader = asyncio.create_task(read_stream(server.base_url, opened))
        try:
            async with open_socket(server, "counter") as socket:
                await receive_json(socket)
                await asyncio.wait_for(opened.wait(), WAIT)
                server.process.send_signal(signal.SIGTERM)
                code, reason = await close_code_of(socket)
            events = await asyncio.wait_for(reader, WAIT)
        finally:
            reader.cancel()
        status = await asyncio.to_thread(wait_for_exit, server.process)

    assert (code, reason) == (CLOSE_SERVICE_RESTART, RESTART_REASON)
    assert events[0].event == "message"
    assert events[-1].event == "shutdown", events
    assert json.loads(events[-1].data)["code"] == "server_shutdown"
    assert status in EXPECTED_EXIT, f"exit status {status} (None: still running)"
