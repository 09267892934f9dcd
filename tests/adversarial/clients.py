"""One client interface over every host of the matrix, in process or behind a real uvicorn.

Owns how a request is delivered exactly as a test spells it (raw header list, raw query bytes,
a body in chunks, a ``Content-Length`` that lies, a body that never completes), how a
WebSocket is opened and read on either side, how a host's call counters are read (in process:
:data:`CALLS`; a server: the ``audit`` component) and what "healthy" means. In process,
requests go through the app's ASGI callable on the test's loop; for uvicorn, ordinary requests
go through ``httpx`` and the ones no well-behaved client can send through a raw socket. Owns
no expectation: the tests do. Every wait is bounded by :data:`WAIT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from component_framework.testing import (
    ASGIResponse,
    WebSocketClosed,
    WebSocketDenied,
    WebSocketTestSession,
    client_receive,
    http_scope,
    websocket_scope,
)
from tests.adversarial.apps import CALLS, SECRET
from tests.servers import LOOPBACK, UvicornServer

__all__ = [
    "WAIT",
    "Closed",
    "Host",
    "InProcessHost",
    "OpenStream",
    "Refused",
    "Request",
    "UvicornHost",
    "WSClient",
]

WAIT: Final = 10.0
#: The wait for one WebSocket message.
MESSAGE_WAIT: Final = 5.0
Headers = Sequence[tuple[str, str]]


class Refused(AssertionError):
    """A WebSocket handshake was refused: ``status`` and ``body`` (an HTTP denial) or
    ``code`` (a close before accept)."""

    def __init__(self, status: int | None, body: bytes = b"", code: int | None = None) -> None:
        super().__init__(f"handshake refused: status={status} code={code} {body[:200]!r}")
        self.status, self.body, self.code = status, body, code


class Closed(AssertionError):
    """The server closed the socket; ``code`` is ``None`` when no close frame arrived."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"socket closed with {code}: {reason}")
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Request:
    """One HTTP request, spelled out. ``chunks``: the body as the server hands it to the app
    (in process) or as it is written (raw socket); ``stall``: the body never completes;
    ``raw``: over a real server, send it through a socket as is (no client would)."""

    method: str
    path: str
    query: bytes = b""
    headers: Headers = ()
    chunks: tuple[bytes, ...] = (b"",)
    stall: bool = False
    raw: bool = False
    chunked: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def target(self) -> str:
        return self.path + (f"?{self.query.decode('latin-1')}" if self.query else "")


class OpenStream:
    """An HTTP answer being read: its status and headers, then its SSE events as they come
    (``next_event``) or up to its end (``rest``); a JSON error answer is in ``body``."""

    def __init__(
        self, status: int, headers: list[tuple[str, str]], chunks: AsyncIterator[bytes]
    ) -> None:
        self.status, self.headers = status, headers
        self.events: list[SSEEvent] = []  # every event read so far
        self.body = b""  # every byte read so far
        self._chunks = chunks
        self._decoder = SSEDecoder()
        self._pending: list[SSEEvent] = []
        self.ended = False

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name.lower()), None)

    async def next_event(self, wait: float = MESSAGE_WAIT) -> SSEEvent:
        """The next event; ``EOFError`` when the answer ended first, ``TimeoutError`` when
        none came within ``wait`` seconds."""
        async with asyncio.timeout(wait):
            while not self._pending:
                try:
                    chunk = await anext(self._chunks)
                except StopAsyncIteration:
                    self.ended = True
                    raise EOFError("the answer ended") from None
                self.body += chunk
                self._pending.extend(self._decoder.feed(chunk))
        event = self._pending.pop(0)
        self.events.append(event)
        return event

    async def rest(self, wait: float = WAIT) -> list[SSEEvent]:
        """Every event up to the end of the answer (within ``wait`` seconds)."""
        async with asyncio.timeout(wait):
            while True:
                try:
                    await self.next_event(wait)
                except EOFError:
                    return self.events

    def json(self) -> Any:
        return json.loads(self.body)


# -- WebSocket clients ----------------------------------------------------------------------


class WSClient:
    """What a test does with an open socket, on either side."""

    async def send_text(self, text: str) -> None:
        raise NotImplementedError

    async def send_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    async def send_invalid_utf8_text(self, data: bytes) -> None:
        """A text frame whose payload is not UTF-8 (only a raw client can send one)."""
        raise NotImplementedError("only a real socket can carry an invalid text frame")

    async def receive_text(self) -> str:
        """The next text message; raises :class:`Closed` when the server closed instead."""
        raise NotImplementedError

    async def receive_json(self) -> dict[str, Any]:
        """The next message, decoded; raises :class:`Closed` when the server closed instead."""
        message: dict[str, Any] = json.loads(await self.receive_text())
        return message

    async def send_json(self, value: Any) -> None:
        await self.send_text(json.dumps(value))

    async def request(self, value: Any) -> dict[str, Any]:
        """Send ``value`` as JSON and return the next message."""
        await self.send_json(value)
        return await self.receive_json()


class _InProcessWS(WSClient):
    def __init__(self, session: WebSocketTestSession) -> None:
        self.session = session

    async def send_text(self, text: str) -> None:
        await self.session.send_text(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.session.send_bytes(data)

    async def receive_text(self) -> str:
        try:
            return await self.session.receive_text()
        except WebSocketClosed as closed:
            raise Closed(closed.code, closed.reason) from None


class _RealWS(WSClient):
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send_text(self, text: str) -> None:
        await self.connection.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.connection.send(data)

    async def send_invalid_utf8_text(self, data: bytes) -> None:
        await self.connection.send(data, text=True)

    async def receive_text(self) -> str:
        try:
            text = await asyncio.wait_for(self.connection.recv(), MESSAGE_WAIT)
        except ConnectionClosed as closed:
            received = closed.rcvd
            code, reason = (received.code, received.reason) if received else (None, "")
            raise Closed(code, reason) from None
        assert isinstance(text, str), text
        return text


#: The ``Host`` an in-process request carries unless a case sends its own (one of the matrix
#: apps' ``allowed_hosts``, like the loopback address a real client sends).
IN_PROCESS_HOST: Final = b"127.0.0.1"

# -- hosts -----------------------------------------------------------------------------------


class Host:
    """A host under test."""

    name: str
    in_process: bool

    async def send(self, request: Request) -> ASGIResponse:
        """Deliver ``request`` and return the whole answer."""
        raise NotImplementedError

    async def calls(self) -> Counter[str]:
        """The user-code call counters of the process serving this host."""
        raise NotImplementedError

    def websocket(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[WSClient]:
        """An open socket (``async with``); raises :class:`Refused` if the handshake is."""
        raise NotImplementedError

    async def check_alive(self) -> None:
        """The serving process still runs and logged no traceback (no-op in process)."""

    def stream(self, request: Request) -> contextlib.AbstractAsyncContextManager[OpenStream]:
        """An answer read as it comes (``async with``: an endless stream too); leaving the
        block is the client going away."""
        raise NotImplementedError

    async def post_json(self, path: str, document: Any) -> ASGIResponse:
        body = json.dumps(document).encode()
        headers = (("content-type", "application/json"), ("content-length", str(len(body))))
        return await self.send(Request("POST", path, headers=headers, chunks=(body,)))

    async def check_healthy(self) -> None:
        """A normal mount and a normal event right after both answer 200."""
        await self.check_alive()
        mounted = await self.post_json("/components/target/", {"params": {"start": 1}})
        assert mounted.status == 200, (mounted.status, mounted.body[:300])
        snapshot = mounted.json()["snapshot"]
        added = await self.post_json(
            "/components/target/", {"event": "add", "payload": {"amount": 2}, "snapshot": snapshot}
        )
        assert added.status == 200, (added.status, added.body[:300])
        assert added.json()["state"] == {"count": 3}
        await self.check_alive()


def _request_scope(request: Request) -> dict[str, Any]:
    """The HTTP scope of ``request``, with the ``Host`` an HTTP/1.1 server passes."""
    scope = http_scope(request.method, request.path)
    scope["query_string"] = request.query
    scope["headers"] = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in request.headers
    ]
    if not any(name.lower() == "host" for name, _ in request.headers):
        scope["headers"].append((b"host", IN_PROCESS_HOST))
    return scope


async def asgi_exchange(app: Any, request: Request, *, limit: float = WAIT) -> ASGIResponse:
    """Run ``request`` against ``app`` in process, message by message; after the body (or,
    with ``stall``, never) the receive channel waits, then reports ``http.disconnect`` once
    the answer is complete. A hang fails with ``TimeoutError`` after ``limit`` seconds."""
    scope = _request_scope(request)
    chunks = request.chunks
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk,
         "more_body": request.stall or index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]  # fmt: skip
    sent: list[dict[str, Any]] = []
    finished = asyncio.Event()
    receive = client_receive(incoming, finished)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    task = asyncio.get_running_loop().create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(asyncio.shield(task), limit)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise TimeoutError(f"{request.method} {request.path}: no answer within {limit} s") from None
    finally:
        finished.set()
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, f"expected one http.response.start, got {sent!r}"
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in starts[0]["headers"]]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return ASGIResponse(starts[0]["status"], headers, body)


@dataclass
class InProcessHost(Host):
    """A host app on the test's own loop."""

    name: str
    app: Any
    in_process: bool = True

    async def send(self, request: Request) -> ASGIResponse:
        return await asgi_exchange(self.app, request)

    async def calls(self) -> Counter[str]:
        return Counter(CALLS)

    @contextlib.asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[OpenStream]:
        scope = _request_scope(request)
        incoming: list[dict[str, Any]] = [
            {"type": "http.request", "body": request.body, "more_body": False}
        ]
        sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        gone = asyncio.Event()
        receive = client_receive(incoming, gone)

        async def send(message: dict[str, Any]) -> None:
            if not gone.is_set():  # after a disconnect, a no-op (as uvicorn's)
                await sent.put(message)

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await sent.get()
                if message["type"] == "http.response.body":
                    yield message.get("body", b"")
                    if not message.get("more_body", False):
                        return

        task = asyncio.get_running_loop().create_task(self.app(scope, receive, send))
        try:
            async with asyncio.timeout(WAIT):
                start = await sent.get()
            assert start["type"] == "http.response.start", start
            headers = [
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in start["headers"]
            ]
            opened = OpenStream(start["status"], headers, body())
            if opened.status != 200:
                await opened.rest()
            yield opened
        finally:
            gone.set()
            try:
                async with asyncio.timeout(WAIT):
                    await task
            except TimeoutError:
                task.cancel()
                left = f"{request.path}: still running after the client left"
                raise AssertionError(left) from None

    @contextlib.asynccontextmanager
    async def websocket(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[WSClient]:
        scope = websocket_scope(
            path, query=query, headers={"Host": IN_PROCESS_HOST.decode(), **(headers or {})}
        )
        session = WebSocketTestSession(self.app, scope, timeout=MESSAGE_WAIT)
        try:
            await session.connect()
        except WebSocketDenied as denied:
            raise Refused(denied.status, denied.body, denied.code) from None
        except BaseException:
            crash = await _reap(session)
            if crash is not None:
                raise AssertionError(f"the app raised during the handshake: {crash!r}") from None
            raise
        try:
            yield _InProcessWS(session)
        finally:
            task = session._task
            if task is not None and not task.done():
                await session.close()
            crash = await _reap(session)
            if crash is not None:
                raise AssertionError(f"the app raised: {crash!r}") from None


async def _reap(session: WebSocketTestSession) -> BaseException | None:
    """End the app's task of ``session`` and return what it raised (its exception must be
    retrieved: an unretrieved one is logged from a finalizer at an arbitrary later moment)."""
    task = session._task
    if task is None:
        return None
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return None
    except BaseException as exc:
        return exc
    return None


@dataclass
class UvicornHost(Host):
    """A host app served by a real uvicorn on loopback."""

    name: str
    server: UvicornServer
    client: httpx.AsyncClient
    in_process: bool = False
    #: Where this test's part of the server log starts.
    log_offset: int = field(default=-1)

    def __post_init__(self) -> None:
        if self.log_offset < 0:
            self.log_offset = len(self.server.log())

    async def send(self, request: Request) -> ASGIResponse:
        if request.raw or request.stall:
            response, _ = await raw_exchange(self.server.port, request)
            return response
        content: Any = request.body
        if request.chunked:
            content = _chunks(request.chunks)
        answer = await self.client.request(
            request.method,
            request.target(),
            content=content if request.body or request.chunked else None,
            headers=list(request.headers),
        )
        pairs = [(key.lower(), value) for key, value in answer.headers.multi_items()]
        return ASGIResponse(answer.status_code, pairs, answer.content)

    @contextlib.asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[OpenStream]:
        async with self.client.stream(
            request.method,
            request.target(),
            content=request.body or None,
            headers=list(request.headers),
        ) as answer:
            pairs = [(key.lower(), value) for key, value in answer.headers.multi_items()]
            opened = OpenStream(answer.status_code, pairs, answer.aiter_raw())
            if opened.status != 200:
                await opened.rest()
            yield opened

    async def calls(self) -> Counter[str]:
        response = await self.post_json("/components/audit/", {})
        assert response.status == 200, (response.status, response.body[:300])
        return Counter(response.json()["state"]["calls"])

    async def check_alive(self) -> None:
        assert self.server.process.poll() is None, f"{self.name} died:\n{self.server.log()}"
        log = self.server.log()[self.log_offset :]
        assert "Traceback" not in log, f"{self.name} logged a traceback:\n{log}"
        assert SECRET not in log, f"{self.name} logged the secret key:\n{log}"

    def ws_url(
        self, path: str, query: Mapping[str, Any] | None = None, hostname: str = LOOPBACK
    ) -> str:
        suffix = f"?{urlencode(query)}" if query else ""
        return f"ws://{hostname}:{self.server.port}{path}{suffix}"

    @contextlib.asynccontextmanager
    async def websocket(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[WSClient]:
        extra = dict(headers or {})
        origin = extra.pop("Origin", None)
        # The real Host is the server's address, unless a case asks for "localhost" (the
        # matrix's unknown host), which reaches the same server under another name.
        hostname = "localhost" if extra.pop("Host", None) == "localhost" else LOOPBACK
        options: dict[str, Any] = {"open_timeout": WAIT, "close_timeout": WAIT}
        if origin is not None:
            options["origin"] = origin
        if extra:
            options["additional_headers"] = extra
        try:
            connection = await connect(self.ws_url(path, query, hostname), **options)
        except InvalidStatus as refused:
            response = refused.response
            raise Refused(response.status_code, bytes(response.body or b"")) from None
        try:
            yield _RealWS(connection)
        finally:
            await connection.close()


async def _chunks(chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def raw_exchange(
    port: int, request: Request, *, wait_for_close: bool = False
) -> tuple[ASGIResponse, bool]:
    """Write ``request`` to a fresh connection exactly as spelled (``Content-Length`` from its
    headers only; with ``stall`` only ``chunks[0]`` of the body is sent) and read one answer.
    With ``wait_for_close``, also report whether the server then closed the connection
    (within :data:`WAIT`) after announcing it with ``Connection: close``."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        head = [f"{request.method} {request.target()} HTTP/1.1", f"host: {LOOPBACK}:{port}"]
        head += [f"{name}: {value}" for name, value in request.headers]
        payload = request.chunks[0] if request.stall else request.body
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()
        async with asyncio.timeout(WAIT):
            response = await _read_response(reader)
        closed = False
        # Only an announced close is awaited: without ``Connection: close`` the server keeps the
        # connection until its keep-alive timeout, and the caller's header check fails first.
        if wait_for_close and response.header("connection") == "close":
            try:
                async with asyncio.timeout(WAIT):
                    closed = (await reader.read()) == b"" or reader.at_eof()
            except (TimeoutError, ConnectionError):
                closed = False
        return response, closed
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _read_response(reader: asyncio.StreamReader) -> ASGIResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
    lengths = [int(value) for name, value in headers if name == "content-length"]
    if lengths:
        body = await reader.readexactly(lengths[0])
    elif any(name == "transfer-encoding" for name, _ in headers):
        body = await _read_chunked(reader)
    else:
        body = b""
    return ASGIResponse(status, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return body
        body += await reader.readexactly(size)
        await reader.readexactly(2)
