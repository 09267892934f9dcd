"""Fixtures of the WebSocket tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from component_framework import ComponentASGI
from tests.websocket import ws_components
from tests.websocket.helpers import RawSocket, make_app


@pytest.fixture(autouse=True)
def _reset_journal() -> None:
    ws_components.journal.reset()
    ws_components.gates.reset()


@pytest.fixture
def app() -> ComponentASGI:
    """An app with default settings and its own hub."""
    return make_app()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[..., RawSocket]]:
    """Start :class:`RawSocket` exchanges; every one still running is ended at teardown."""
    started: list[RawSocket] = []

    def start(app: Any, name: str, **kwargs: Any) -> RawSocket:
        connect = kwargs.pop("connect", True)
        socket = RawSocket(app, name, **kwargs).start(connect=connect)
        started.append(socket)
        return socket

    yield start
    for socket in started:
        await socket.end()
