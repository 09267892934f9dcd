"""A long broadcast fan-out does not hold the worker (issue 11, point 3), under a real uvicorn.

The ``busy_viewer`` pages of a room each spend 20 ms of CPU in their broadcast
handler, so one broadcast to all of them is a long piece of work. An unrelated request sent
once the first page has its new render must be answered while the fan-out is still going:
the ``progress`` component it mounts reports how many handlers had run by then. The test
asserts that order (fewer than all), never a duration.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Final

import httpx
import pytest

from tests.servers import UvicornServer
from tests.websocket_uvicorn.wsclient import WAIT, open_socket, receive_json, send_event

pytestmark = pytest.mark.uvicorn

#: Pages of the room (one client address may hold 64 sockets).
VIEWERS: Final = 50


async def test_a_request_is_answered_in_the_middle_of_a_long_broadcast_fan_out(
    standalone: UvicornServer, request: pytest.FixtureRequest
) -> None:
    room = f"{request.node.name}-{standalone.port}"
    async with AsyncExitStack() as stack:
        pages = [
            await stack.enter_async_context(open_socket(standalone, "busy_viewer", {"room": room}))
            for _ in range(VIEWERS)
        ]
        for page in pages:
            assert (await receive_json(page))["state"]["seen"] == 0
        announcer = await stack.enter_async_context(open_socket(standalone, "announcer"))
        await receive_json(announcer)

        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=standalone.base_url, timeout=WAIT)
        )
        query, accept = {"room": room}, {"accept": "application/json"}
        # A connection already open, so the probe is one request on a loaded machine too.
        warm = await client.get("/components/progress/", params=query, headers=accept)
        assert warm.json()["state"]["seen"] == 0

        await send_event(announcer, "work", {"room": room}, ref="fan-out")
        pushes = [asyncio.ensure_future(receive_json(page)) for page in pages]
        await asyncio.wait(pushes, return_when=asyncio.FIRST_COMPLETED)  # it has begun
        probe = await client.get("/components/progress/", params=query, headers=accept)
        answer = await receive_json(announcer)
        renders = await asyncio.gather(*pushes)

    assert probe.status_code == 200, probe.text[:300]
    assert 1 <= probe.json()["state"]["seen"] < VIEWERS, "answered only after the fan-out"
    assert answer["ref"] == "fan-out"
    assert answer["state"] == {"reached": VIEWERS}
    assert [render["state"]["seen"] for render in renders] == [1] * VIEWERS
