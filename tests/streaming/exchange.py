"""A message-level harness for one SSE exchange: the test plays the server around the app.

:class:`Exchange` runs ``app(scope, receive, send)`` as a task. ``receive`` hands out what the
test queued (the request body, then whatever the test adds, e.g. ``http.disconnect``); ``send``
records every message, decodes the body with :class:`SSEDecoder` and, like uvicorn, ignores
sends after the client disconnected. An optional ``fault`` runs before each ``send`` is
recorded and may raise or block (a failing or stalled client). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from component_framework.testing import http_scope

__all__ = ["Exchange", "SendFault", "eventually", "stray_tasks", "stream_scope"]

#: Called with each message and the number of body messages sent before it.
SendFault = Callable[[Mapping[str, Any], int], Awaitable[None]]
WAIT: float = 3.0


def stream_scope(
    name: str,
    *,
    method: str = "GET",
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """The HTTP scope of a stream request for component ``name``."""
    path = path if path is not None else f"/components/{name}/stream/"
    return http_scope(method, path, headers=headers, query=query)


class Exchange:
    """One stream request against ``app``; call :meth:`start`, then read and disconnect."""

    def __init__(
        self,
        app: Any,
        scope: dict[str, Any],
        *,
        body: bytes | None = b"",
        fault: SendFault | None = None,
    ) -> None:
        self.app = app
        self.scope = scope
        self.fault = fault
        self.incoming: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        if body is not None:
            self.incoming.put_nowait({"type": "http.request", "body": body, "more_body": False})
        self.messages: list[dict[str, Any]] = []
        self.decoder = SSEDecoder()
        self.events: list[SSEEvent] = []
        self.body = b""
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.ended = False
        self.disconnected = False
        self.body_messages = 0
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def stream(
        cls,
        app: Any,
        name: str,
        *,
        method: str = "GET",
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        fault: SendFault | None = None,
    ) -> Exchange:
        """A started stream request for component ``name``."""
        header_map = dict(headers or {})
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            header_map.setdefault("content-type", "application/json")
            header_map.setdefault("content-length", str(len(body)))
        scope = stream_scope(name, method=method, query=query, headers=header_map)
        return cls(app, scope, body=body, fault=fault).start()

    # -- the server's side of the channel -----------------------------------------------------

    async def _receive(self) -> dict[str, Any]:
        message = await self.incoming.get()
        if isinstance(message, BaseException):
            raise message
        return message

    async def _send(self, message: dict[str, Any]) -> None:
        if self.fault is not None:
            await self.fault(message, self.body_messages)
        if self.disconnected:
            return  # like uvicorn: a send after the disconnect is a silent no-op
        self.messages.append(message)
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.body_messages += 1
            chunk = message.get("body", b"")
            self.body += chunk
            self.events.extend(self.decoder.feed(chunk))
            if not message.get("more_body", False):
                self.ended = True
        self._changed.set()

    # -- the test's side ------------------------------------------------------------------

    def start(self) -> Exchange:
        self.task = asyncio.get_running_loop().create_task(
            self.app(self.scope, self._receive, self._send)
        )
        self.task.add_done_callback(lambda _: self._changed.set())
        return self

    async def wait_until(self, condition: Callable[[], bool], within: float = WAIT) -> None:
        """Wait for ``condition`` to hold after some message; fails after ``within`` seconds."""
        async with asyncio.timeout(within):
            while not condition():
                assert self.task is not None
                if self.task.done():
                    self.task.result()  # raise what the app raised
                    if not condition():
                        raise AssertionError(
                            f"the app returned before the condition held; events: {self.events}"
                        )
                    return
                self._changed.clear()
                await self._changed.wait()

    async def events_count(self, count: int, within: float = WAIT) -> list[SSEEvent]:
        """Wait until ``count`` events arrived; returns all events so far."""
        await self.wait_until(lambda: len(self.events) >= count, within)
        return self.events

    async def event_named(self, name: str, within: float = WAIT) -> SSEEvent:
        """Wait for the first event of type ``name``."""
        await self.wait_until(lambda: any(e.event == name for e in self.events), within)
        return next(e for e in self.events if e.event == name)

    async def response_started(self, within: float = WAIT) -> None:
        """Wait for ``http.response.start``."""
        await self.wait_until(lambda: self.status is not None, within)

    async def body_started(self, within: float = WAIT) -> None:
        """Wait for the first body message (of a stream: the empty one that sends the head out)."""
        await self.wait_until(lambda: self.body_messages >= 1, within)

    def disconnect(self) -> None:
        """The client goes away: ``receive`` reports ``http.disconnect`` from now on."""
        self.disconnected = True
        self.incoming.put_nowait({"type": "http.disconnect"})

    def fail_receive(self, error: BaseException) -> None:
        """The server's ``receive`` raises ``error`` on its next call."""
        self.incoming.put_nowait(error)

    async def finished(self, within: float = WAIT) -> None:
        """Wait for the app to return (re-raising what it raised)."""
        assert self.task is not None
        try:
            async with asyncio.timeout(within):
                await asyncio.shield(self.task)
        except TimeoutError:
            last = self.messages[-1] if self.messages else None
            raise AssertionError(
                f"the app did not return within {within} s; last message sent: {last!r}"
            ) from None

    async def run_to_end(self, within: float = WAIT) -> Exchange:
        """Wait for the response to end and the app to return."""
        await self.wait_until(lambda: self.ended, within)
        await self.finished(within)
        return self

    def json_body(self) -> Any:
        return json.loads(self.body)

    @property
    def last_id(self) -> str:
        """The id of the last event received."""
        ids = [event.id for event in self.events if event.id]
        assert ids, f"no event with an id: {self.events}"
        return ids[-1]

    def cancel(self) -> None:
        """Stop the app task if it still runs (test cleanup)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()


async def eventually(condition: Callable[[], bool], within: float = WAIT) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took; fails after ``within`` s."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while not condition():
        if loop.time() - began > within:
            raise AssertionError(f"condition still false after {within} s")
        await asyncio.sleep(0.005)
    return loop.time() - began


async def stray_tasks(baseline: set[asyncio.Task[Any]], within: float = 2.0) -> set[Any]:
    """Tasks started since ``baseline`` that still run after at most ``within`` seconds."""
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        extra = {t for t in asyncio.all_tasks() if t not in baseline and t is not current}
        if not extra or loop.time() >= deadline:
            return extra
        await asyncio.sleep(0.01)
