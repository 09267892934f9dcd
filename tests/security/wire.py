"""Helpers of the security tests: apps over :mod:`tests.security.components`, requests with a
user and a client address, and exchanges a test holds open (SSE) or drives by hand (a body
that stalls). Every wait is bounded by :data:`WAIT`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Final

from component_framework import ComponentASGI, Settings
from component_framework.core.access import AccessHook
from component_framework.core.hub import Hub
from component_framework.protocol.sse import SSEDecoder, SSEEvent
from component_framework.testing import (
    ASGIResponse,
    SSEResponse,
    WebSocketTestSession,
    asgi_request,
    http_scope,
    sse_request,
    websocket_scope,
)
from tests.security import components
from tests.security.components import MARK, User

__all__ = [
    "WAIT",
    "HeldStream",
    "assert_nothing_rendered",
    "make_app",
    "path",
    "post",
    "scope_extra",
    "socket",
    "stalled_request",
    "stream",
]

WAIT: Final = 5.0


def make_app(*, authorize: AccessHook | None = None, **settings: Any) -> ComponentASGI:
    """A standalone app over the security components with its own hub and ``settings``."""
    return ComponentASGI(
        registry=components.registry,
        renderer=components.renderer,
        settings=Settings(secret_keys=(components.SECRET,), **settings),
        hub=Hub(),
        shutdown_on_signals=False,
        authorize=authorize,
    )


def path(name: str, kind: str = "") -> str:
    """``/components/<name>/`` plus ``stream/`` or ``ws/``."""
    return f"/components/{name}/{kind + '/' if kind else ''}"


def scope_extra(user: User | str | None = None, client: str | None = None) -> dict[str, Any]:
    """What the host put in the scope: ``scope["user"]`` (as authentication middleware does)
    and the peer address."""
    extra: dict[str, Any] = {}
    if user is not None:
        extra["user"] = User(user) if isinstance(user, str) else user
    if client is not None:
        extra["client"] = (client, 40000)
    return extra


async def post(
    app: Any,
    name: str,
    body: Mapping[str, Any] | None = None,
    *,
    user: User | str | None = None,
    client: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ASGIResponse:
    """POST a JSON ``body`` to component ``name`` as ``user`` from ``client``."""
    return await asgi_request(
        app,
        "POST",
        path(name),
        json=dict(body or {}),
        headers=headers,
        extra_scope=scope_extra(user, client),
    )


async def stream(
    app: Any,
    name: str,
    query: Mapping[str, Any] | None = None,
    *,
    user: User | str | None = None,
    headers: Mapping[str, str] | None = None,
    max_events: int | None = None,
    method: str = "GET",
) -> SSEResponse:
    """One SSE exchange as ``user`` (``sse_request`` takes no scope extras: the host's user is
    added by a thin wrapper, as authentication middleware would). With ``method="POST"`` the
    fields of ``query`` travel as a form body: a ``GET`` starts only stream handlers."""
    extra = scope_extra(user)

    async def with_user(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, **extra}, receive, send)

    posting = method == "POST"
    return await sse_request(
        with_user,
        path(name, "stream"),
        method=method,
        query=None if posting else query,
        form=query if posting else None,
        headers=headers,
        max_events=max_events,
        give_up_after=WAIT,
    )


def socket(
    app: Any,
    name: str,
    *,
    query: Mapping[str, Any] | None = None,
    user: User | str | None = None,
    client: str | None = None,
    headers: Mapping[str, str] | None = None,
    denial_response: bool = True,
) -> WebSocketTestSession:
    """A WebSocket connection to component ``name`` as ``user`` (use with ``async with``)."""
    scope = websocket_scope(
        path(name, "ws"),
        query=query,
        headers=headers,
        denial_response=denial_response,
        extra_scope=scope_extra(user, client),
    )
    return WebSocketTestSession(app, scope, WAIT)


def assert_nothing_rendered(body: bytes | str) -> None:
    """No markup and no snapshot of any component in ``body``."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    assert MARK not in text, text
    assert "snapshot" not in text, text
    assert "v1." not in text, text


class HeldStream:
    """One SSE exchange that stays open until :meth:`close` (the client leaves)."""

    def __init__(
        self,
        app: Any,
        name: str,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        client: str = "127.0.0.1",
        last_event_id: str | None = None,
    ) -> None:
        header_map = dict(headers or {})
        if last_event_id is not None:
            header_map["last-event-id"] = last_event_id
        self.app = app
        self.scope = http_scope(
            "GET",
            path(name, "stream"),
            headers=header_map,
            query=query,
            extra_scope={"client": (client, 40000)},
        )
        self.status: int | None = None
        self.body = b""
        self.events: list[SSEEvent] = []
        self._decoder = SSEDecoder()
        self._delivered = False
        self._gone = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        if not self._delivered:
            self._delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            self.body += chunk
            self.events.extend(self._decoder.feed(chunk))
        self._changed.set()

    async def open(self) -> int:
        """Start the exchange; returns the status once the response started."""
        self._task = asyncio.get_running_loop().create_task(
            self.app(self.scope, self._receive, self._send)
        )
        await self.wait_for(lambda: self.status is not None)
        assert self.status is not None
        return self.status

    async def wait_for(self, condition: Any) -> None:
        """Until ``condition()`` holds (bounded by :data:`WAIT`)."""
        async with asyncio.timeout(WAIT):
            while not condition():
                if self._task is not None and self._task.done():
                    self._task.result()  # raise what the app raised
                    if not condition():
                        raise AssertionError("the exchange ended first")
                self._changed.clear()
                await self._changed.wait()

    @property
    def ended(self) -> bool:
        """Whether the app finished the exchange."""
        return self._task is not None and self._task.done()

    async def close(self) -> None:
        """The client leaves; waits for the app to finish."""
        self._gone.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, WAIT)

    def json(self) -> Any:
        return json.loads(self.body)


async def stalled_request(
    app: Any,
    method: str,
    target: str,
    *,
    first_chunk: bytes | None = b'{"par',
    declared_length: int = 100,
) -> ASGIResponse:
    """A request whose body stops after ``first_chunk``: the client never sends the rest
    (a slow-loris); ``None``: not a byte of it comes, the first ``receive`` already waits.
    The app runs in its own task, as under a server."""
    scope = http_scope(
        method,
        target,
        headers={"content-type": "application/json", "content-length": str(declared_length)},
    )
    sent: list[dict[str, Any]] = []
    stalled = asyncio.Event()  # never set: the rest of the body never comes
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered and first_chunk is not None:
            delivered = True
            return {"type": "http.request", "body": first_chunk, "more_body": True}
        await stalled.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    task = asyncio.get_running_loop().create_task(app(scope, receive, send))
    await asyncio.wait_for(task, WAIT * 2)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in starts[0]["headers"]]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return ASGIResponse(starts[0]["status"], headers, body)
