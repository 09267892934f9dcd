"""In-process drivers for the fuzzed entry points, at the ASGI message level.

Unlike ``component_framework.testing``, these never assume the app behaves: every message the
app sends is recorded and checked against the ASGI rules, an exception escaping the app fails
the example, and every wait is bounded (a hang is a failure, not a stuck test run).
A client's ``receive`` is ``component_framework.testing.client_receive``, as for the
adversarial matrix's in-process host (``tests/adversarial/clients.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from component_framework.protocol.sse import SSEDecoder, SSEEvent, stream_ops
from component_framework.testing import client_receive
from tests.fuzz.apps import (
    DOCUMENTED_STATUSES,
    SERVER_FAULT_CODES,
    WS_CLOSE_CODES,
    WS_DENIAL_CLOSE_CODES,
    WS_DENIAL_STATUSES,
    check_error_document,
    check_json_render,
    check_ws_server_message,
    header,
)

_BAD_HEADER_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_HEADER_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
#: The ``type`` of a frame that is a server-side broadcast (``frame["broadcast"]``).
BROADCAST = "fuzz.broadcast"
#: Longest an app may take to finish once its client has left (or its answer is complete).
HANG_LIMIT = 5.0


def http_scope(
    method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    """The scope a server builds for one request (from the loopback client)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


@dataclass
class Answer:
    """What the app sent for one request."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = False

    def header(self, name: bytes) -> bytes | None:
        return header(self.headers, name)

    @property
    def content_type(self) -> bytes:
        return (self.header(b"content-type") or b"").split(b";")[0].strip()


async def http_exchange(
    app: Any,
    scope: dict[str, Any],
    chunks: list[bytes],
    *,
    budget: float = 0.5,
    leave_after_chunks: int | None = None,
) -> Answer:
    """Run one request: send ``chunks`` as the body (or, with ``leave_after_chunks``, that
    many chunks and then a disconnect), give the app ``budget`` seconds to answer (streams run
    that long), then leave; the app must return within :data:`HANG_LIMIT` after that."""
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    if leave_after_chunks is not None:
        incoming = [*incoming[:leave_after_chunks], {"type": "http.disconnect"}]
    answer = Answer()
    gone = asyncio.Event()
    receive = client_receive(incoming, gone)

    async def send(message: dict[str, Any]) -> None:
        if gone.is_set() and not answer.complete:
            return  # the client left: a send is a silent no-op (uvicorn)
        assert not answer.complete, f"a message after the complete response: {message!r}"
        kind = message["type"]
        if kind == "http.response.start":
            assert answer.status is None, "two http.response.start messages"
            assert isinstance(message["status"], int)
            for name, value in message.get("headers", []):
                assert isinstance(name, bytes), name
                assert isinstance(value, bytes), (name, value)
                # What uvicorn refuses to write (RuntimeError: invalid header name / value).
                assert not _BAD_HEADER_NAME.search(name), name
                assert not _BAD_HEADER_VALUE.search(value), (name, value)
            answer.status, answer.headers = message["status"], list(message.get("headers", []))
        else:
            assert kind == "http.response.body", message
            assert answer.status is not None, "a body before http.response.start"
            assert isinstance(message.get("body", b""), bytes)
            answer.body += message.get("body", b"")
            if not message.get("more_body", False):
                answer.complete = True
                gone.set()

    task = asyncio.get_running_loop().create_task(app(scope, receive, send))
    try:
        async with asyncio.timeout(budget):
            await asyncio.shield(task)
    except TimeoutError:
        gone.set()  # the client leaves (an endless stream, or a slow answer)
    try:
        async with asyncio.timeout(HANG_LIMIT):
            await task  # an exception escaping the app fails the example here
    except TimeoutError:
        task.cancel()
        raise AssertionError(
            f"the app did not finish within {HANG_LIMIT:g} s after its client left "
            f"(status {answer.status})"
        ) from None
    if leave_after_chunks is None and answer.status is not None and not gone.is_set():
        raise AssertionError("the app returned without completing its response")
    return answer


def check_http_answer(answer: Answer, method: str, *, left_early: bool = False) -> None:
    """The invariants of every HTTP answer: a documented status, a JSON error body for every
    error, the headers errors promise."""
    if answer.status is None:
        assert left_early, "the app answered nothing to a complete request"
        return
    status = answer.status
    assert status in DOCUMENTED_STATUSES, (status, answer.body[:300])
    if method == "HEAD" and not answer.body:
        return  # servers drop a HEAD answer's body anyway
    if status >= 400 and (answer.complete or answer.body):
        check_error_document(answer.body, status)
        assert answer.content_type == b"application/json"
    if status == 405:
        assert answer.header(b"allow"), answer.headers
    if status == 429:
        retry_after = answer.header(b"retry-after")
        assert retry_after is not None, answer.headers
        assert int(retry_after) >= 1, answer.headers
    if status in (204, 304):
        assert answer.body == b""
    if status == 200 and answer.complete:
        kind = answer.content_type
        if kind == b"application/json":
            check_json_render(json.loads(answer.body))
        elif kind == b"text/event-stream":
            check_sse_body(answer.body)
        else:
            answer.body.decode("utf-8")  # HTML fragments and static files are UTF-8


FRAME_TYPES = frozenset(
    {"message", "stream", "t", "done", "error", "broadcast", "shutdown", "lost"}
)


def check_sse_body(body: bytes, after: int = 0) -> list[SSEEvent]:
    """A stream's bytes: frames of the documented types, ids increasing, error frames with a
    client-fault code only, the done frame carrying the snapshot."""
    decoder = SSEDecoder()
    events = decoder.feed(body)
    if events:  # the retry hint rides on the first frame (a stream cut before it has none)
        assert events[0].retry is not None, "a stream's first frame carries the retry hint"
    last_seq = after
    run_ids = set()
    if any(event.event == "lost" for event in events):  # a resume of a stream we do not have
        (lost,) = events
        assert (lost.id or "").endswith(".lost"), lost
        assert json.loads(lost.data)["code"] == "stream_lost", lost
        return events
    for event in events:
        assert event.event in FRAME_TYPES, event
        if event.event != "shutdown":
            assert event.id is not None, event
            run_id, _, seq = event.id.rpartition(".")
            run_ids.add(run_id)
            assert seq.isdigit(), event.id
            assert int(seq) > last_seq, (event.id, last_seq)
            last_seq = int(seq)
        if event.event == "error":
            error = json.loads(event.data)
            assert isinstance(error.get("code"), str)
            assert isinstance(error.get("message"), str)
            assert error["code"] not in SERVER_FAULT_CODES, error
            # A denial is a 403/401 before the stream opens (docs/security.md), never a frame.
            assert error["code"] not in ("forbidden", "unauthorized"), error
        elif event.event == "done":
            done = json.loads(event.data)
            assert set(done) == {"component_id", "snapshot"}, done
        elif event.event == "message":
            if event.data.startswith("{"):
                check_json_render(json.loads(event.data))
            else:
                assert event.data.startswith("<"), event.data[:100]
        elif event.event in ("stream", "t"):
            ops = stream_ops(event)
            assert isinstance(ops, list), ops
            assert all(isinstance(op, dict) for op in ops), ops
    assert len(run_ids) <= 1, run_ids
    return events


# -- WebSocket --------------------------------------------------------------------------------


def websocket_scope(
    path: str, query: bytes, headers: list[tuple[bytes, bytes]], *, denial: bool
) -> dict[str, Any]:
    scope = http_scope("GET", path, query, headers)
    del scope["method"]
    scope.update(type="websocket", scheme="ws", subprotocols=[])
    scope["extensions"] = {"websocket.http.response": {}} if denial else {}
    return scope


@dataclass
class Session:
    """What the app sent on one WebSocket connection."""

    accepted: bool = False
    denied_status: int | None = None
    denied_body: bytes = b""
    close_code: int | None = None
    texts: list[str] = field(default_factory=list)


async def websocket_session(
    app: Any, scope: dict[str, Any], frames: list[dict[str, Any]], *, quiet: float = 0.03
) -> Session:
    """Connect, send ``frames`` (``websocket.receive`` messages, or :data:`BROADCAST` ones
    that the server broadcasts to the app's hub once the frames before them were read) as fast
    as the app takes them, read until the app has been quiet for ``quiet`` seconds, then leave.
    Every message is checked for ASGI order; the app must return within :data:`HANG_LIMIT`
    after the client left."""
    inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    session = Session()
    state = {"closed": False, "http": False}

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        assert not state["closed"], f"a message after websocket.close: {message!r}"
        if kind == "websocket.accept":
            assert not session.accepted, message
            assert not state["http"], message
            session.accepted = True
        elif kind == "websocket.send":
            assert session.accepted, f"a send before accept: {message!r}"
            text, data = message.get("text"), message.get("bytes")
            assert (text is None) != (data is None), message
            assert text is not None, "the server sends text frames only"
            session.texts.append(text)
        elif kind == "websocket.close":
            code = message.get("code", 1000)
            allowed = WS_CLOSE_CODES if session.accepted else WS_DENIAL_CLOSE_CODES
            assert code in allowed, (code, message.get("reason"))
            reason = message.get("reason") or ""
            assert len(reason.encode("utf-8")) <= 123, reason
            session.close_code = code
            state["closed"] = True
        elif kind == "websocket.http.response.start":
            assert not session.accepted
            assert "websocket.http.response" in scope["extensions"]
            assert message["status"] in WS_DENIAL_STATUSES, message
            session.denied_status = message["status"]
            state["http"] = True
        elif kind == "websocket.http.response.body":
            assert state["http"], message
            session.denied_body += message.get("body", b"")
            if not message.get("more_body", False):
                state["closed"] = True
        else:
            raise AssertionError(f"unknown ASGI message {message!r}")
        await outbound.put(message)

    loop = asyncio.get_running_loop()
    task = loop.create_task(app(scope, inbound.get, send))
    await inbound.put({"type": "websocket.connect"})
    for frame in frames:
        if frame["type"] != BROADCAST:
            await inbound.put(frame)
            continue
        for _ in range(100):  # the frames before it are read first
            if inbound.empty() or task.done():
                break
            await asyncio.sleep(0)
        await app.hub.broadcast(frame["broadcast"])
    stop = loop.time() + HANG_LIMIT
    while not task.done() and loop.time() < stop:  # read until the app is quiet
        try:
            async with asyncio.timeout(quiet):
                await outbound.get()
        except TimeoutError:
            if inbound.empty():
                break
    await inbound.put({"type": "websocket.disconnect", "code": 1001})
    try:
        async with asyncio.timeout(HANG_LIMIT):
            await task  # an exception escaping the app fails the example here
    except TimeoutError:
        task.cancel()
        raise AssertionError(f"the app did not finish within {HANG_LIMIT:g} s") from None
    if session.denied_status is not None:
        assert state["closed"], "a denial without its body"
        check_error_document(session.denied_body, session.denied_status)
    else:
        assert session.accepted or session.close_code is not None, "no accept, no denial"
    return session


def check_ws_texts(
    session: Session, refs: set[Any], *, html_possible: bool
) -> list[dict[str, Any]]:
    """Every text the server sent is a documented server message."""
    return [
        check_ws_server_message(text, refs, html_possible=html_possible) for text in session.texts
    ]
