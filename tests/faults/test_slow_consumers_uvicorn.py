"""Slow consumers against a real uvicorn on loopback: a raw TCP client with a small receive
buffer that stops reading, so that the server's writes really block on flow control.

An SSE reader that stops: the stalled ``send`` is given up after ``stream_send_timeout`` and
the server stops counting the stream while the client still holds the connection. A
WebSocket client that never reads while large broadcasts arrive: the server's outbox stays
within ``ws_outbox_messages`` / ``ws_outbox_bytes`` and the socket is closed (1013). Each
time the server keeps answering other requests and logs no traceback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.faults.components import JOURNAL_FILE_VARIABLE, SECRET
from tests.faults.harness import WAIT
from tests.servers import LOOPBACK, UvicornServer, uvicorn_server

pytestmark = [pytest.mark.uvicorn, pytest.mark.timeout(120)]

APP = "tests.faults.uvicorn_app:slow"
#: ``SLOW_SETTINGS`` of the app (the server module is never imported here).
OUTBOX_MESSAGES = 64
OUTBOX_BYTES = 1024 * 1024
GIVE_UP_WITHIN = 15.0
#: Broadcasts per HTTP request and their size: a few batches overflow the 1 MiB outbox.
BATCH = 8
BATCHES = 40
MESSAGE_SIZE = 40_000


@pytest.fixture(scope="module", params=[("httptools", "websockets"), ("h11", "wsproto")],
                ids=lambda p: "-".join(p))  # fmt: skip
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UvicornServer]:
    http, ws = request.param
    log_dir = tmp_path_factory.mktemp(f"faults-slow-{http}-{ws}")
    env = {
        "COMPONENT_FRAMEWORK_SECRET_KEY": SECRET,
        JOURNAL_FILE_VARIABLE: str(log_dir / "journal.txt"),
    }
    arguments = ["--http", http, "--ws", ws, "--lifespan", "on", "--no-access-log"]
    with uvicorn_server(APP, log_dir, arguments, env) as running:
        yield running
    assert "Traceback" not in running.log(), running.log()


async def probe(server: UvicornServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
        answer = await client.post("/components/probe/", json={})
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()["state"]
    return state


async def probe_until(server: UvicornServer, what: str, **expected: Any) -> dict[str, Any]:
    """Poll the probe until it shows ``expected``; samples every answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GIVE_UP_WITHIN
    while True:
        state = await probe(server)
        if all(state[key] == value for key, value in expected.items()):
            return state
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}: {state}")
        await asyncio.sleep(0.1)


@contextlib.contextmanager
def stuck_client(server: UvicornServer, request: bytes) -> Iterator[socket.socket]:
    """A TCP client with a small receive buffer that sends ``request``, reads the first
    answer bytes and then never reads again (closed at the end of the block)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.settimeout(WAIT)
        sock.connect((LOOPBACK, server.port))
        sock.sendall(request)
        first = sock.recv(256)
        assert first.startswith(b"HTTP/1.1 "), first
        yield sock
    finally:
        sock.close()


async def test_sse_reader_that_stops_reading_is_given_up_and_the_server_goes_on(
    server: UvicornServer,
) -> None:
    query = "tag=stuck&frames=300&size=20000&pause=0"  # snapshots stay under 64 KiB
    request = (
        f"GET /components/flood/stream/?{query} HTTP/1.1\r\n"
        f"Host: {LOOPBACK}:{server.port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    with stuck_client(server, request):
        await probe_until(server, "the stream to open", open_streams=1)
        # Its frames no longer fit the buffers: the send blocks, then is given up.
        state = await probe_until(server, "the stalled stream to be given up", open_streams=0)
        assert state["runs"] <= 1
        await probe_until(server, "the run to end after its grace", runs=0)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
            fresh = await client.get("/components/story/stream/", params={"tag": "after"})
        assert fresh.status_code == 200
        assert fresh.text.rstrip().endswith("}"), "a normal stream still runs to its end"
        assert "event: done" in fresh.text


def websocket_request(server: UvicornServer, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def test_websocket_client_that_never_reads_is_closed_and_its_outbox_stays_bounded(
    server: UvicornServer,
) -> None:
    with stuck_client(server, websocket_request(server, "/components/board/ws/?room=stuck")):
        await probe_until(server, "the socket to join", sockets=1, members=1)
        samples: list[dict[str, Any]] = []
        async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
            mounted = await client.post("/components/megaphone/", json={})
            snapshot = mounted.json()["snapshot"]
            for _ in range(BATCHES):  # batches, so that the probe sees the outbox between them
                answer = await client.post(
                    "/components/megaphone/",
                    json={
                        "event": "blast",
                        "payload": {"room": "stuck", "count": BATCH, "size": MESSAGE_SIZE},
                        "snapshot": snapshot,
                    },
                )
                assert answer.status_code == 200, answer.text
                snapshot = answer.json()["snapshot"]
                samples.append(await probe(server))
                if samples[-1]["members"] == 0:
                    break
        await probe_until(server, "the stuck socket to be closed", sockets=0, open_sockets=0)

    largest = max(sample["largest_outbox"] for sample in samples)
    assert 0 < largest <= OUTBOX_MESSAGES, f"the outbox held {largest} messages: {samples}"
    assert samples[-1]["members"] == 0, "the socket was closed for not keeping up"
