"""Helpers of the WebSocket tests: apps over :mod:`ws_components`, and a raw socket harness.

:class:`RawSocket` plays the server around ``ComponentASGI`` at the ASGI message level, like
``websocket_connect`` but with a ``send`` the test controls: ``hold_sends()`` makes every
``websocket.send`` block until ``release_sends()`` (a client that does not read), while
``websocket.close`` always goes through. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from component_framework import ComponentASGI
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.testing import websocket_scope
from tests.sample_components import SECRET
from tests.websocket import ws_components

__all__ = ["WAIT", "RawSocket", "make_app", "ws_path"]

WAIT: float = 3.0


def make_app(*, hub: Hub | None = None, **settings: Any) -> ComponentASGI:
    """A standalone app over the test components, with its own hub and ``settings``."""
    return ComponentASGI(
        registry=ws_components.registry,
        renderer=ws_components.renderer,
        settings=Settings(secret_keys=(SECRET,), **settings),
        hub=Hub() if hub is None else hub,
        shutdown_on_signals=False,
    )


def ws_path(name: str) -> str:
    """The WebSocket path of component ``name``."""
    return f"/components/{name}/ws/"


class RawSocket:
    """One WebSocket exchange with a controllable client side."""

    def __init__(
        self,
        app: Any,
        name: str,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        denial_response: bool = True,
    ) -> None:
        self.app = app
        self.scope = websocket_scope(
            ws_path(name), query=query, headers=headers, denial_response=denial_response
        )
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self._open = asyncio.Event()
        self._open.set()
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # -- the server's side ---------------------------------------------------------------------

    async def _receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await self._open.wait()
        self.sent.append(message)
        self._changed.set()

    # -- the test's side -----------------------------------------------------------------------

    def start(self, *, connect: bool = True) -> RawSocket:
        """Run the app; queue ``websocket.connect`` unless ``connect`` is False."""
        self.task = asyncio.get_running_loop().create_task(
            self.app(self.scope, self._receive, self._send)
        )
        self.task.add_done_callback(lambda _: self._changed.set())
        if connect:
            self.incoming.put_nowait({"type": "websocket.connect"})
        return self

    def hold_sends(self) -> None:
        """From now on ``websocket.send`` blocks (the client stops reading)."""
        self._open.clear()

    def release_sends(self) -> None:
        """Let blocked and later sends through."""
        self._open.set()

    def send_text(self, text: str) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": text})

    def send_json(self, value: Any) -> None:
        self.send_text(json.dumps(value))

    def disconnect(self, code: int = 1001) -> None:
        """The client goes away."""
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The JSON text messages sent so far."""
        return [json.loads(m["text"]) for m in self.sent if m["type"] == "websocket.send"]

    @property
    def close(self) -> dict[str, Any] | None:
        """The ``websocket.close`` message, once sent."""
        return next((m for m in self.sent if m["type"] == "websocket.close"), None)

    async def wait_until(self, condition: Callable[[], bool], within: float = WAIT) -> None:
        """Wait until ``condition`` holds after some message; fails after ``within`` s."""
        try:
            async with asyncio.timeout(within):
                while not condition():
                    assert self.task is not None
                    if self.task.done():
                        self.task.result()
                        assert condition(), f"the app returned first; sent: {self.sent!r}"
                        return
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"condition still false after {within} s; sent: {self.sent[-3:]!r}"
            ) from None

    async def closed(self, within: float = WAIT) -> dict[str, Any]:
        """Wait for the app's ``websocket.close``."""
        await self.wait_until(lambda: self.close is not None, within)
        assert self.close is not None
        return self.close

    async def finished(self, within: float = WAIT) -> None:
        """Wait for the app to return (re-raising what it raised)."""
        assert self.task is not None
        async with asyncio.timeout(within):
            await asyncio.shield(self.task)

    async def end(self) -> None:
        """Disconnect and wait for the app to return; an app that does not return is
        cancelled (test cleanup: the test itself asserts on how the app ended)."""
        if self.task is None or self.task.done():
            return
        self.release_sends()
        self.disconnect()
        try:
            await self.finished()
        except TimeoutError:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
