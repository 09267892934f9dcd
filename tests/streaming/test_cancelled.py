"""A server that stops by cancelling the application (daphne always, hypercorn's workers after
their graceful timeout) still gets the ``shutdown`` frame out: the stream tries it once,
bounded, from the cancellation path, ends the body, and the cancellation goes on. At the ASGI
message level; the real servers are in ``tests/hosts/test_servers.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from component_framework.asgi.sse import LAST_FRAME_TIMEOUT
from tests.streaming import stream_components
from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange

pacer = stream_components.pacer


async def cancelled(exchange: Exchange) -> None:
    """Cancel the app's task as such a server does; the cancellation must reach the server."""
    assert exchange.task is not None
    exchange.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(LAST_FRAME_TIMEOUT + 2.0):
            await exchange.task


async def test_cancelled_stream_ends_with_the_shutdown_frame(streams: Streams) -> None:
    app = streams.app()
    pacer.grant("cancel", 1)
    exchange = streams.open(app, "paced", query={"tag": "cancel", "steps": 3})
    await exchange.events_count(1)

    await cancelled(exchange)

    assert [event.event for event in exchange.events] == ["message", "shutdown"]
    # No id of its own: a reconnecting client resumes after the last render, not after it.
    assert exchange.events[-1].id is None
    assert exchange.decoder.last_event_id == exchange.events[0].id
    assert exchange.ended


async def test_stream_cancelled_before_its_first_frame_carries_the_retry_hint_on_it(
    streams: Streams,
) -> None:
    app = streams.app(stream_retry_ms=700)

    async def fault(message: Mapping[str, Any], body_messages: int) -> None:
        if b"id: " in message.get("body", b""):  # the first frame's send never completes
            await asyncio.sleep(3600)

    exchange = streams.open(app, "paced", query={"tag": "early", "steps": 3}, fault=fault)
    await exchange.body_started()
    await asyncio.sleep(0.05)  # the first frame is produced; its send waits

    await cancelled(exchange)

    (shutdown,) = exchange.events
    assert (shutdown.event, shutdown.retry) == ("shutdown", 700)
    assert exchange.ended


async def test_cancelled_stream_with_a_stalled_client_still_ends_in_bounded_time(
    streams: Streams,
) -> None:
    app = streams.app()
    pacer.grant("stall", 1)
    stalled = asyncio.Event()

    async def fault(message: Mapping[str, Any], body_messages: int) -> None:
        if stalled.is_set():
            await asyncio.sleep(3600)  # the server's send never returns

    exchange = streams.open(app, "paced", query={"tag": "stall", "steps": 3}, fault=fault)
    await exchange.events_count(1)
    stalled.set()
    started = asyncio.get_running_loop().time()

    await cancelled(exchange)

    assert asyncio.get_running_loop().time() - started < LAST_FRAME_TIMEOUT + 1.0
    assert not exchange.ended
