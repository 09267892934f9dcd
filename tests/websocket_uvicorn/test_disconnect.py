"""Clients that go away under a real uvicorn (``--ws websockets`` and ``wsproto``): the server
forgets their live components and keeps serving. The ``inspector`` component reports
``WebSocketManager().connections("sentinel")`` from inside the server; only this module's
tests hold ``sentinel`` instances, and each waits until they are gone again."""

from __future__ import annotations

from contextlib import AsyncExitStack, suppress

import pytest
from websockets.asyncio.client import ClientConnection

from tests.servers import UvicornServer
from tests.websocket_uvicorn.wsclient import (
    event,
    eventually,
    open_socket,
    receive_json,
    send_event,
)

pytestmark = pytest.mark.uvicorn


async def live_sentinels(inspector: ClientConnection) -> int:
    answer = await event(inspector, "count", {"name": "sentinel"})
    assert answer["type"] == "render", answer
    count: int = answer["state"]["connections"]
    return count


async def settles_at(inspector: ClientConnection, expected: int) -> int:
    """Poll until the server holds ``expected`` sentinels (bounded); the last count seen."""
    seen: list[int] = []

    async def check() -> bool:
        seen.append(await live_sentinels(inspector))
        return seen[-1] == expected

    with suppress(TimeoutError):
        await eventually(check)
    return seen[-1]


async def test_an_aborted_client_is_forgotten_and_the_others_keep_working(
    standalone: UvicornServer,
) -> None:
    async with AsyncExitStack() as stack:
        inspector = await stack.enter_async_context(open_socket(standalone, "inspector"))
        await receive_json(inspector)
        assert await settles_at(inspector, 0) == 0
        doomed = await stack.enter_async_context(open_socket(standalone, "sentinel"))
        survivor = await stack.enter_async_context(open_socket(standalone, "sentinel"))
        await receive_json(doomed)
        await receive_json(survivor)
        both = await live_sentinels(inspector)

        doomed.transport.abort()  # no close frame, the TCP connection is reset
        after_abort = await settles_at(inspector, 1)
        answer = await event(survivor, "poke", ref="s")

    assert both == 2
    assert after_abort == 1
    assert (answer["ref"], answer["state"]) == ("s", {"seen": 1})


async def test_a_client_aborting_with_events_in_flight_leaves_the_server_healthy(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "inspector") as inspector:
        await receive_json(inspector)
        assert await settles_at(inspector, 0) == 0
        async with open_socket(standalone, "sentinel") as doomed:
            await receive_json(doomed)
            for step in range(20):
                await send_event(doomed, "poke", ref=step)
            doomed.transport.abort()
        gone = await settles_at(inspector, 0)

        async with open_socket(standalone, "sentinel") as fresh:
            mounted = await receive_json(fresh)
            answer = await event(fresh, "poke", ref="fresh")
            during = await live_sentinels(inspector)
        after = await settles_at(inspector, 0)

    assert gone == 0
    assert mounted["state"] == {"seen": 0}
    assert answer["state"] == {"seen": 1}
    assert during == 1
    assert after == 0


async def test_a_client_closing_normally_is_forgotten(standalone: UvicornServer) -> None:
    async with open_socket(standalone, "inspector") as inspector:
        await receive_json(inspector)
        assert await settles_at(inspector, 0) == 0
        async with open_socket(standalone, "sentinel") as leaving:
            await receive_json(leaving)
            during = await live_sentinels(inspector)
        after = await settles_at(inspector, 0)

    assert during == 1
    assert after == 0
