"""The Servers table of docs/hosts.md, row by row: each server a real process on loopback
serving ``tests.streaming.uvicorn_app:app``, each row's claims checked through the wire.

HTTP events, SSE frames as the handler yields them, a resume with ``Last-Event-ID``, a
WebSocket, the body limit, and a stop with the server's normal signal while a stream and a
socket are open: the client reads our ``shutdown`` frame and the 1012 close (daphne cannot
send 1012: its socket reads 1006). Servers that speak h2c run the HTTP and SSE checks over
HTTP/2 too. The contract suite runs on the same servers through ``tests/hosts/conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket as sockets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.hosts.asgi_servers import SERVERS, ServerKind, start
from tests.hosts.h2_websocket import H2WebSocket
from tests.servers import LOOPBACK, ServerProcess
from tests.websocket.socket_streams import Carried
from tests.websocket_uvicorn.wsclient import close_code_of, event, receive_json

pytestmark = pytest.mark.servers

APP = "tests.streaming.uvicorn_app:app"
WAIT = 10.0
#: (server, HTTP/2) pairs: every server over HTTP/1.1, and over h2c where it speaks it.
CLIENTS = [
    pytest.param(name, http2, id=f"{name}-h2" if http2 else name)
    for name, kind in SERVERS.items()
    for http2 in ((False, True) if kind.http2 else (False,))
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ServerProcess]]:
    """``kind name -> its process``, started on first use, all stopped with the module."""
    running: dict[str, ServerProcess] = {}

    def server(name: str) -> ServerProcess:
        if name not in running:
            running[name] = start(SERVERS[name], APP, tmp_path_factory.mktemp(name))
        return running[name]

    try:
        yield server
    finally:
        for process in running.values():
            process.stop()


@asynccontextmanager
async def client(server: ServerProcess, http2: bool) -> AsyncIterator[httpx.AsyncClient]:
    """httpx on ``server``: HTTP/1.1, or HTTP/2 only (h2c with prior knowledge)."""
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=WAIT, http1=not http2, http2=http2
    ) as http:
        yield http


async def read_stream(
    http: httpx.AsyncClient, params: dict[str, Any], *, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, list[tuple[float, SSEEvent]]]:
    """GET the ticker's stream; every event with the time it arrived."""
    decoder, events = SSEDecoder(), []
    async with http.stream(
        "GET", "/components/ticker/stream/", params=params, headers=headers
    ) as response:
        async for chunk in response.aiter_raw():
            events.extend((time.monotonic(), found) for found in decoder.feed(chunk))
    return response, events


@pytest.mark.parametrize(("name", "http2"), CLIENTS)
async def test_http_event_round_trip(servers: Any, name: str, http2: bool) -> None:
    async with client(servers(name), http2) as http:
        mounted = await http.post("/components/plain/", json={})
        clicked = await http.post(
            "/components/plain/", json={"event": "click", "snapshot": mounted.json()["snapshot"]}
        )

    assert mounted.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert clicked.status_code == 200, clicked.text
    assert clicked.json()["state"] == {"clicks": 1}


@pytest.mark.parametrize(("name", "http2"), CLIENTS)
async def test_sse_frames_arrive_as_the_handler_yields_them(
    servers: Any, name: str, http2: bool
) -> None:
    params = {"tag": f"paced-{name}", "count": 3, "interval": 0.4}
    async with client(servers(name), http2) as http:
        response, events = await read_stream(http, params)

    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert [found.event for _, found in events] == ["message"] * 3 + ["done"]
    assert events[0][1].retry == 2000  # the hint rides on the first frame
    arrivals = [at for at, _ in events]
    assert arrivals[2] - arrivals[0] > 0.6, "frames were buffered, not streamed"


@pytest.mark.parametrize(("name", "http2"), CLIENTS)
async def test_resume_with_last_event_id_sends_the_missed_frames(
    servers: Any, name: str, http2: bool
) -> None:
    params = {"tag": f"resume-{name}", "count": 5, "interval": 0.15}
    async with client(servers(name), http2) as http:
        decoder, seen = SSEDecoder(), []
        async with http.stream("GET", "/components/ticker/stream/", params=params) as response:
            async for chunk in response.aiter_raw():
                seen.extend(decoder.feed(chunk))
                if seen:
                    break  # the connection drops after the first frame
        last_id = seen[0].id
        assert last_id is not None
        _, events = await read_stream(http, {}, headers={"Last-Event-ID": last_id})
        finished, _ = await read_stream(http, {}, headers={"Last-Event-ID": events[-1][1].id or ""})

    run, _, first = last_id.rpartition(".")
    ids = [found.id for _, found in events]
    assert ids == [f"{run}.{seq}" for seq in range(int(first) + 1, 7)], ids
    assert events[-1][1].event == "done"
    assert finished.status_code == 204  # after done: nothing to resume, no new run


@pytest.mark.parametrize("name", list(SERVERS))
async def test_websocket_join_and_event(servers: Any, name: str) -> None:
    server = servers(name)
    async with connect(f"ws://{LOOPBACK}:{server.port}/components/plain/ws/") as socket:
        joined = await receive_json(socket)
        clicked = await event(socket, "click")

    assert joined["type"] == "render"
    assert clicked["state"] == {"clicks": 1}


@pytest.mark.parametrize("name", list(SERVERS))
async def test_streams_ride_the_page_socket_and_resume_on_a_new_one(
    servers: Any, name: str
) -> None:
    """Two page-connection entries on an open socket: one completes, the other resumes on a
    second socket after the first one drops, with nothing lost or repeated."""
    url = f"ws://{LOOPBACK}:{servers(name).port}/components/plain/ws/"
    quick = f"tag=quick-{name}&count=2&interval=0.01"
    slow = f"tag=slow-{name}&count=5&interval=0.15"
    carried = Carried()
    async with connect(url) as socket:
        await receive_json(socket)
        for key, query in (("q", quick), ("s", slow)):
            await socket.send(
                json.dumps({"type": "stream", "key": key, "name": "ticker", "query": query})
            )
        while not carried.ended("q") or not carried.controls.get("s") or not carried.of("s"):
            carried.take(str(await asyncio.wait_for(socket.recv(), WAIT)))
    first = carried.of("s")
    resume = {"type": "stream", "key": "s", "name": "ticker", "resume": first[-1].id}
    again = Carried()
    async with connect(url) as socket:
        await receive_json(socket)
        await socket.send(json.dumps(resume))
        while not again.ended("s"):
            again.take(str(await asyncio.wait_for(socket.recv(), WAIT)))
    run = carried.controls["s"]["run"]
    ids = [frame.id for frame in first + again.of("s")]
    assert [frame.event for frame in carried.of("q")] == ["message"] * 2 + ["done"]
    assert again.controls["s"]["run"] == run
    assert ids == [f"{run}.{seq}" for seq in range(1, 7)], ids
    assert again.of("s")[-1].event == "done"


@pytest.mark.parametrize("name", [name for name, kind in SERVERS.items() if kind.http2])
async def test_websocket_over_http2_where_the_server_offers_it(servers: Any, name: str) -> None:
    """RFC 8441: a server that offers extended CONNECT in its SETTINGS opens a component
    socket on one h2c stream: the join's render, an event's render, a clean close (1000)."""
    kind, server = SERVERS[name], servers(name)
    socket = await H2WebSocket.open(LOOPBACK, server.port)
    try:
        assert socket.offers_websocket == kind.websocket_over_h2
        if not kind.websocket_over_h2:
            return  # the table says so; a browser then opens its socket over HTTP/1.1
        async with asyncio.timeout(WAIT):
            status = await socket.connect(f"{LOOPBACK}:{server.port}", "/components/plain/ws/")
            assert status == 200
            joined = await socket.receive_json()
            await socket.send_json({"type": "event", "event": "click", "payload": {}, "ref": 7})
            clicked = await socket.receive_json()
            code = await socket.close()
    finally:
        await socket.aclose()

    assert joined["type"] == "render"
    assert (clicked["type"], clicked["ref"], clicked["state"]) == ("render", 7, {"clicks": 1})
    assert code == 1000


@pytest.mark.parametrize("name", list(SERVERS))
def test_declared_length_over_the_limit_is_413(servers: Any, name: str) -> None:
    """A body over ``max_body_bytes`` is refused from its Content-Length, before the body is
    read; daphne reads the whole body before the application runs, so there the client
    uploads it all first."""
    kind, server = SERVERS[name], servers(name)
    length = 2_000_000
    head = (
        f"POST /components/plain/ HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
    body = b"{" + b" " * (length - 2) + b"}" if kind.reads_whole_body else b"{}"
    with sockets.create_connection((LOOPBACK, server.port), timeout=WAIT) as raw:
        raw.sendall(head + body)
        answer = raw.recv(65536)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# -- a stop with the server's normal signal ---------------------------------------------------


@asynccontextmanager
async def stopped_with_sigterm(kind: ServerKind, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A fresh ``kind`` server, stopped with SIGTERM on exit; it must exit in time with
    nothing of ours in its log (hypercorn logs its own connection tasks' cancellation)."""
    server = start(kind, APP, tmp_path)
    try:
        yield server
        exit_code = await asyncio.to_thread(server.process.wait, kind.stop_seconds + WAIT)
    finally:
        server.stop()
    assert exit_code in (0, -signal.SIGTERM)
    assert "component_framework" not in server.log(), server.log()


@pytest.mark.parametrize("name", list(SERVERS))
async def test_sigterm_ends_an_open_stream_with_the_shutdown_frame(
    name: str, tmp_path: Path
) -> None:
    """daphne cancels the application on stop and hypercorn's worker cancels connections
    after its graceful timeout: the frame goes out from the cancellation path there."""
    kind = SERVERS[name]
    events: list[SSEEvent] = []
    started = asyncio.Event()
    async with stopped_with_sigterm(kind, tmp_path) as server, client(server, False) as http:

        async def read_forever() -> None:
            decoder = SSEDecoder()
            params = {"tag": f"stop-{name}", "count": 10_000, "interval": 0.2}
            async with http.stream("GET", "/components/ticker/stream/", params=params) as answer:
                async for chunk in answer.aiter_raw():
                    events.extend(decoder.feed(chunk))
                    started.set()

        reader = asyncio.create_task(read_forever())
        await asyncio.wait_for(started.wait(), WAIT)
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(kind.stop_seconds + WAIT):
            await reader  # the body ends cleanly: no incomplete chunked read
        took = time.monotonic() - stopped_at

    assert events[-1].event == "shutdown", events[-3:]
    assert took < kind.stop_seconds + 2.0


@pytest.mark.parametrize("name", list(SERVERS))
async def test_sigterm_closes_an_open_socket_with_1012(name: str, tmp_path: Path) -> None:
    """daphne's autobahn refuses close code 1012, so there the connection drops (1006)."""
    kind = SERVERS[name]
    async with (
        stopped_with_sigterm(kind, tmp_path) as server,
        connect(f"ws://{LOOPBACK}:{server.port}/components/plain/ws/") as socket,
    ):
        await receive_json(socket)
        closing = asyncio.create_task(close_code_of(socket))
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(kind.stop_seconds + WAIT):
            code, reason = await closing
        took = time.monotonic() - stopped_at

    if not kind.close_codes:
        assert code is None
    elif kind.close_may_race_stop and code is None:
        pass  # granian: dropped (1006) before the close went out, as docs/hosts.md says
    else:
        assert (code, reason) == (1012, "the server is restarting")
    assert took < kind.stop_seconds + 2.0
