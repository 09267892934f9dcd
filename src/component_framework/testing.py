"""Helpers for testing components and apps, for users and for this project's own suite.

Owns: :class:`StateRenderer` (a renderer that needs no template files), :func:`asgi_request`
(one HTTP exchange against any ASGI app, in process, at the message level),
:func:`sse_request` (one Server-Sent Events exchange, decoded into events), and
:class:`ComponentTestClient` with :class:`ComponentSession` (mount a component, send events,
read state and HTML, with the snapshot echoed for you), and :func:`websocket_connect` (one
WebSocket connection, message by message). No dependency beyond the standard library. The
HTTP and SSE helpers run on asyncio and trio alike (``core.aio``); :func:`websocket_connect`
on asyncio.
"""

from __future__ import annotations

import asyncio
import html
import json as jsonlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from component_framework.asgi.app import ComponentASGI
from component_framework.core import aio
from component_framework.protocol.sse import SSEDecoder, SSEEvent, stream_ops

__all__ = [
    "ASGIResponse",
    "ComponentResponseError",
    "ComponentSession",
    "ComponentTestClient",
    "SSEResponse",
    "StateRenderer",
    "WebSocketClosed",
    "WebSocketDenied",
    "WebSocketTestSession",
    "asgi_request",
    "client_receive",
    "http_scope",
    "sse_request",
    "websocket_connect",
    "websocket_scope",
]


class StateRenderer:
    """Renders any template as ``<div data-template="name">`` listing the state, escaped.

    Needs no files, so component logic can be tested before templates exist.
    """

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        """Render ``state`` from ``context`` as ``key=value`` lines inside one root ``div``."""
        state = context.get("state", {})
        items = "".join(
            f"<span data-key={html.escape(str(key))!r}>{html.escape(repr(value))}</span>"
            for key, value in state.items()
        )
        return f'<div data-template="{html.escape(template_name)}">{items}</div>'


@dataclass(frozen=True, slots=True)
class ASGIResponse:
    """A complete HTTP response collected from an ASGI app."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body)


def http_scope(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, Any] | None = None,
    root_path: str = "",
    extra_scope: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An ASGI HTTP scope as a server builds it (lower-case header names), for tests that
    drive an app message by message."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "query_string": urlencode(query or {}, doseq=True).encode("ascii"),
        "root_path": root_path,
        "headers": [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        **(extra_scope or {}),
    }


def _encode_body(
    json: Any, form: Mapping[str, Any] | None, body: bytes | None, headers: dict[str, str]
) -> bytes:
    if json is not None:
        headers.setdefault("content-type", "application/json")
        return jsonlib.dumps(json).encode("utf-8")
    if form is not None:
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
        return urlencode(form, doseq=True).encode("ascii")
    return body or b""


async def asgi_request(
    app: Any,
    method: str,
    path: str,
    *,
    json: Any = None,
    form: Mapping[str, Any] | None = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, Any] | None = None,
    root_path: str = "",
    chunk_size: int | None = None,
    extra_scope: Mapping[str, Any] | None = None,
) -> ASGIResponse:
    """Run one HTTP exchange against ``app`` in process and return the whole response.

    ``json`` / ``form`` / ``body`` give the request body (``chunk_size`` splits it into several
    ``http.request`` messages). The app must finish its response; after the body the receive
    channel reports ``http.disconnect``, as a server does.
    """
    header_map = {key.lower(): value for key, value in (headers or {}).items()}
    payload = _encode_body(json, form, body, header_map)
    if payload and "content-length" not in header_map:
        header_map["content-length"] = str(len(payload))
    scope = http_scope(
        method, path, headers=header_map, query=query, root_path=root_path, extra_scope=extra_scope
    )
    size = chunk_size or max(len(payload), 1)
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []
    done = aio.new_event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    await app(scope, client_receive(incoming, done), send)
    done.set()
    return _collect(sent)


def client_receive(
    incoming: list[dict[str, Any]], gone: aio.Event
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The ASGI ``receive`` of an HTTP client in process: hands out ``incoming`` in order (it
    takes them off the list), then waits until ``gone`` is set (the response ended, or the
    client left) and reports ``http.disconnect`` from then on, as a server does."""

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive


def _collect(sent: list[dict[str, Any]]) -> ASGIResponse:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    if len(starts) != 1:
        raise AssertionError(f"expected one http.response.start, got {len(starts)}: {sent!r}")
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in starts[0]["headers"]]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return ASGIResponse(starts[0]["status"], headers, body)


@dataclass
class SSEResponse:
    """A Server-Sent Events answer: status, headers, the decoded events and heartbeats seen."""

    status: int
    headers: list[tuple[str, str]]
    events: list[SSEEvent]
    comments: int
    body: bytes

    @property
    def ops(self) -> list[dict[str, object]]:
        """Every stream operation of the answer, in order, in its wire form (from its
        ``event: stream`` frames and its compact ``event:t`` text frames alike)."""
        return [op for event in self.events for op in stream_ops(event) or ()]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


async def sse_request(
    app: Any,
    path: str,
    *,
    method: str = "GET",
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    form: Mapping[str, Any] | None = None,
    max_events: int | None = None,
    give_up_after: float = 10.0,
) -> SSEResponse:
    """Open a stream on ``app`` in process and collect its events.

    Reads until the app ends the response, or until ``max_events`` events arrived (then the
    client disconnects, as a browser closing the tab would). Raises ``TimeoutError`` after
    ``give_up_after`` seconds, so a test never hangs on an endless stream. ``json`` / ``form``
    give the body of a ``POST`` stream start.
    """
    header_map = {key.lower(): value for key, value in (headers or {}).items()}
    payload = _encode_body(json, form, None, header_map)
    scope = http_scope(method, path, headers=header_map, query=query)
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    sent: list[dict[str, Any]] = []
    gone = aio.new_event()
    receive = client_receive([{"type": "http.request", "body": payload, "more_body": False}], gone)

    async def send(message: dict[str, Any]) -> None:
        if gone.is_set():
            return  # like uvicorn: a send after the disconnect is a no-op
        sent.append(message)
        if message["type"] == "http.response.body":
            events.extend(decoder.feed(message.get("body", b"")))
            if not message.get("more_body", False) or (
                max_events is not None and len(events) >= max_events
            ):
                gone.set()

    async with aio.timeout(give_up_after):
        await app(scope, receive, send)
    gone.set()
    response = _collect(sent)
    return SSEResponse(response.status, response.headers, events, decoder.comments, response.body)


def _is_form_render(response: ASGIResponse) -> bool:
    """Whether ``response`` is a form that did not go through: a ``422 invalid_form`` that
    carries the component's render with its errors (a render, not a failure)."""
    if response.status != 422:
        return False
    try:
        answer = response.json()
        return bool(answer["error"]["code"] == "invalid_form" and "html" in answer)
    except (ValueError, KeyError, TypeError):
        return False


class ComponentResponseError(AssertionError):
    """A component request answered with an error status."""

    def __init__(self, response: ASGIResponse) -> None:
        try:
            error = response.json()["error"]
            self.code, self.message = error["code"], error["message"]
        except (ValueError, KeyError, TypeError):
            self.code, self.message = "unknown", response.text
        super().__init__(f"{response.status} {self.code}: {self.message}")
        self.response = response
        self.status = response.status


@dataclass
class ComponentSession:
    """One live component as a browser would hold it: the last HTML, state and snapshot, the
    form ``errors`` that render shows (dotted field name -> messages; empty when none) and
    the ``effects`` its event asked for (``redirect``, ``push_url``, ``replace_url``,
    ``trigger``; empty when none)."""

    client: ComponentTestClient
    name: str
    html: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    snapshot: str = ""
    component_id: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    effects: dict[str, Any] = field(default_factory=dict)

    def _update(self, response: ASGIResponse) -> ComponentSession:
        if response.status != 200 and not _is_form_render(response):
            raise ComponentResponseError(response)
        answer = response.json()
        self.html, self.state = answer["html"], answer["state"]
        self.snapshot, self.component_id = answer["snapshot"], answer["component_id"]
        self.errors = answer.get("errors", {})
        self.effects = answer.get("effects", {})
        return self

    async def send(self, event: str, /, **payload: Any) -> ComponentSession:
        """Send ``event`` with ``payload``; raises :class:`ComponentResponseError` on errors."""
        body = {"event": event, "payload": payload, "snapshot": self.snapshot}
        return self._update(await self.client.post(self.name, body))

    async def refresh(self) -> ComponentSession:
        """Re-render from the current snapshot without running a handler."""
        return self._update(await self.client.post(self.name, {"snapshot": self.snapshot}))


class ComponentTestClient:
    """Drives a ``ComponentASGI`` (or any app serving it under ``prefix``) in process.

    ``session = await client.mount("counter")`` then ``await session.send("increment")``.
    """

    def __init__(self, app: Any = None, *, prefix: str = "/components") -> None:
        self.app = ComponentASGI() if app is None else app
        self.prefix = prefix.rstrip("/")

    async def post(
        self, name: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> ASGIResponse:
        """POST a JSON ``body`` to the component ``name``."""
        return await asgi_request(
            self.app, "POST", f"{self.prefix}/{name}/", json=dict(body), headers=headers
        )

    async def mount(self, name: str, /, **params: Any) -> ComponentSession:
        """Mount ``name`` with ``params``; raises :class:`ComponentResponseError` on errors."""
        response = await self.post(name, {"params": params})
        return ComponentSession(self, name)._update(response)


def websocket_scope(
    path: str,
    *,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    root_path: str = "",
    denial_response: bool = True,
    extra_scope: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An ASGI WebSocket scope as a server builds it. ``denial_response``: advertise the
    ``websocket.http.response`` extension (uvicorn does), so a refused handshake is an HTTP
    answer instead of a close before accept."""
    scope = http_scope("GET", path, headers=headers, query=query, root_path=root_path)
    del scope["method"]
    scope.update(type="websocket", scheme="ws", subprotocols=[])
    scope["extensions"] = {"websocket.http.response": {}} if denial_response else {}
    scope.update(extra_scope or {})
    return scope


class WebSocketDenied(AssertionError):
    """The app refused the handshake: ``status`` and ``body`` (an HTTP denial) or ``code``
    and ``reason`` (a close before accept)."""

    def __init__(
        self,
        *,
        status: int | None = None,
        body: bytes = b"",
        code: int | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(f"handshake refused: status={status} code={code} {body!r}{reason}")
        self.status, self.body, self.code, self.reason = status, body, code, reason

    def json(self) -> Any:
        """The JSON error body of an HTTP denial."""
        return jsonlib.loads(self.body)


class WebSocketClosed(AssertionError):
    """The app closed the socket while the test waited for a message."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"socket closed with {code}: {reason}")
        self.code, self.reason = code, reason


class WebSocketTestSession:
    """One WebSocket connection to an ASGI app, in process, at the message level.

    ``async with websocket_connect(app, "/components/counter/ws/") as ws:`` then
    ``await ws.send_json({...})`` and ``await ws.receive_json()``; :meth:`event` does both.
    """

    def __init__(self, app: Any, scope: Mapping[str, Any], timeout: float = 5.0) -> None:
        self.app, self.scope, self.timeout = app, dict(scope), timeout
        self._inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.accepted: dict[str, Any] = {}

    async def _receive(self) -> dict[str, Any]:
        return await self._inbound.get()

    async def _send(self, message: dict[str, Any]) -> None:
        await self._outbound.put(message)

    async def connect(self) -> WebSocketTestSession:
        """Open the connection; raises :class:`WebSocketDenied` if the app refuses it."""
        self._task = asyncio.get_running_loop().create_task(
            self.app(self.scope, self._receive, self._send)
        )
        await self._inbound.put({"type": "websocket.connect"})
        first = await self.receive()
        if first["type"] == "websocket.accept":
            self.accepted = first
            return self
        if first["type"] == "websocket.http.response.start":
            body = b""
            while True:
                part = await self.receive()
                body += part.get("body", b"")
                if not part.get("more_body", False):
                    break
            await self._finish()
            raise WebSocketDenied(status=first["status"], body=body)
        await self._finish()
        raise WebSocketDenied(code=first.get("code"), reason=first.get("reason", ""))

    async def receive(self) -> dict[str, Any]:
        """The next raw ASGI message the app sent (within ``timeout``)."""
        return await asyncio.wait_for(self._outbound.get(), self.timeout)

    async def receive_text(self) -> str:
        """The next text message; raises :class:`WebSocketClosed` if the app closed."""
        message = await self.receive()
        if message["type"] == "websocket.close":
            raise WebSocketClosed(message.get("code", 1000), message.get("reason", ""))
        text: str = message["text"]
        return text

    async def receive_json(self) -> Any:
        """The next text message, decoded."""
        return jsonlib.loads(await self.receive_text())

    async def send_text(self, text: str) -> None:
        """Send a text frame."""
        await self._inbound.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        await self._inbound.put({"type": "websocket.receive", "bytes": data})

    async def send_json(self, value: Any) -> None:
        """Send ``value`` as a JSON text frame."""
        await self.send_text(jsonlib.dumps(value))

    async def event(
        self, event: str, payload: Mapping[str, Any] | None = None, ref: str | int | None = None
    ) -> Any:
        """Send an event message and return the next message (its answer, usually)."""
        message: dict[str, Any] = {"type": "event", "event": event, "payload": dict(payload or {})}
        if ref is not None:
            message["ref"] = ref
        await self.send_json(message)
        return await self.receive_json()

    async def close(self, code: int = 1000) -> None:
        """The client goes away; waits for the app to finish the exchange."""
        await self._inbound.put({"type": "websocket.disconnect", "code": code})
        await self._finish()

    async def _finish(self) -> None:
        if self._task is not None:
            await asyncio.wait_for(self._task, self.timeout)

    async def __aenter__(self) -> WebSocketTestSession:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None and not self._task.done():
            await self.close()


def websocket_connect(
    app: Any,
    path: str,
    *,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    denial_response: bool = True,
    timeout: float = 5.0,
) -> WebSocketTestSession:
    """A :class:`WebSocketTestSession` for ``path`` (use it with ``async with``)."""
    scope = websocket_scope(path, query=query, headers=headers, denial_response=denial_response)
    return WebSocketTestSession(app, scope, timeout)
