"""Broadcasts inside one uvicorn process (``--ws websockets`` and ``wsproto``). The test
process cannot reach the server's hub, so application code in the server triggers them: the
``announcer`` component's handlers call ``WebSocketManager().broadcast("ticker", ...,
topic=room)``. Each test uses a room of its own, so the number of instances reached is exact.
Live SSE subscriptions (``ticker.live_updates``) are read incrementally with ``httpx``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.servers import UvicornServer
from tests.websocket_uvicorn.wsclient import WAIT, event, open_socket, receive_json, send_event

pytestmark = pytest.mark.uvicorn


class LiveStream:
    """An open ``GET /components/ticker/stream/`` read one SSE event at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks = response.aiter_raw()
        self.decoder = SSEDecoder()
        self.pending: list[SSEEvent] = []

    async def next_event(self) -> SSEEvent:
        async with asyncio.timeout(WAIT):
            while not self.pending:
                self.pending.extend(self.decoder.feed(await anext(self.chunks)))
        return self.pending.pop(0)


@asynccontextmanager
async def live_ticker(server: UvicornServer, room: str) -> AsyncIterator[LiveStream]:
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client,
        client.stream(
            "GET", "/components/ticker/stream/", params={"params": json.dumps({"room": room})}
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield LiveStream(response)


def room_of(request: pytest.FixtureRequest, server: UvicornServer) -> str:
    return f"{request.node.name}-{server.port}"


async def test_two_websocket_clients_of_the_ticker_both_receive_the_push_render(
    standalone: UvicornServer, request: pytest.FixtureRequest
) -> None:
    room = room_of(request, standalone)
    async with (
        open_socket(standalone, "ticker", {"room": room}) as first,
        open_socket(standalone, "ticker", {"room": room}) as second,
        open_socket(standalone, "announcer") as announcer,
    ):
        mounted = [await receive_json(first), await receive_json(second)]
        await receive_json(announcer)
        answer = await event(announcer, "announce", {"text": "news", "room": room}, ref="a")
        pushed = [await receive_json(first), await receive_json(second)]

    assert answer["state"] == {"reached": 2}
    for before, after in zip(mounted, pushed, strict=True):
        assert after["type"] == "render"
        assert after["ref"] is None
        assert after["component_id"] == before["component_id"]
        assert after["state"] == {"room": room, "ticks": 1, "last": "news"}
        assert "<i>news</i>" in after["html"]
    assert mounted[0]["component_id"] != mounted[1]["component_id"]


async def test_a_broadcast_to_another_room_does_not_reach_the_ticker(
    standalone: UvicornServer, request: pytest.FixtureRequest
) -> None:
    room = room_of(request, standalone)
    async with (
        open_socket(standalone, "ticker", {"room": room}) as ticker,
        open_socket(standalone, "announcer") as announcer,
    ):
        await receive_json(ticker)
        await receive_json(announcer)
        elsewhere = await event(announcer, "announce", {"text": "other", "room": f"not-{room}"})
        here = await event(announcer, "announce", {"text": "mine", "room": room})
        pushed = await receive_json(ticker)

    assert elsewhere["state"] == {"reached": 0}
    assert here["state"] == {"reached": 1}
    assert pushed["state"] == {"room": room, "ticks": 1, "last": "mine"}


async def test_a_live_sse_subscription_receives_the_same_broadcast(
    standalone: UvicornServer, request: pytest.FixtureRequest
) -> None:
    room = room_of(request, standalone)
    async with (
        live_ticker(standalone, room) as stream,
        open_socket(standalone, "ticker", {"room": room}) as ticker,
        open_socket(standalone, "announcer") as announcer,
    ):
        first = await stream.next_event()
        await receive_json(ticker)
        await receive_json(announcer)
        answer = await event(announcer, "announce", {"text": "both", "room": room})
        frame = await stream.next_event()
        pushed = await receive_json(ticker)

    assert first.event == "message"
    assert '<b class="ticks">0</b>' in first.data
    assert answer["state"] == {"reached": 2}
    assert frame.event == "message"
    assert '<b class="ticks">1</b><i>both</i>' in frame.data
    assert frame.id.rpartition(".")[0] == first.id.rpartition(".")[0], "one run"
    assert pushed["state"] == {"room": room, "ticks": 1, "last": "both"}


async def test_a_broadcast_without_a_handler_is_forwarded_to_websocket_and_sse(
    standalone: UvicornServer, request: pytest.FixtureRequest
) -> None:
    room = room_of(request, standalone)
    async with (
        live_ticker(standalone, room) as stream,
        open_socket(standalone, "ticker", {"room": room}) as ticker,
        open_socket(standalone, "announcer") as announcer,
    ):
        await stream.next_event()
        await receive_json(ticker)
        await receive_json(announcer)
        answer = await event(announcer, "shout", {"text": "hey", "room": room})
        forwarded = await receive_json(ticker)
        frame = await stream.next_event()

    assert answer["state"] == {"reached": 2}
    assert forwarded == {"type": "broadcast", "event": "note", "payload": {"text": "hey"}}
    assert frame.event == "broadcast"
    assert json.loads(frame.data) == {"event": "note", "payload": {"text": "hey"}}


async def test_own_events_and_broadcasts_interleave_without_losing_an_update(
    standalone: UvicornServer, request: pytest.FixtureRequest
) -> None:
    """Each ticker sends ``tick`` events itself while the announcer broadcasts ``tick`` to
    the room; everything on one connection is applied one at a time, so nothing is lost. A
    broadcast is queued on every ticker before the announcer's answer goes out, so the final
    event, sent after all answers, sees every update."""
    room = room_of(request, standalone)
    tickers, rounds = 4, 10

    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(open_socket(standalone, "ticker", {"room": room}))
            for _ in range(tickers)
        ]
        announcer = await stack.enter_async_context(open_socket(standalone, "announcer"))
        for socket in [*sockets, announcer]:
            await receive_json(socket)

        async def announce() -> list[int]:
            reached = []
            for step in range(rounds):
                answer = await event(announcer, "announce", {"text": f"b{step}", "room": room})
                reached.append(answer["state"]["reached"])
            return reached

        async def tick_and_collect(socket: ClientConnection) -> list[dict[str, Any]]:
            for step in range(rounds):
                await send_event(socket, "tick", {"text": f"own{step}"}, ref=step)
            messages = []
            while len([m for m in messages if m["ref"] is not None]) < rounds:
                messages.append(await receive_json(socket))
            return messages

        reached, *_ = await asyncio.wait_for(
            asyncio.gather(announce(), *(tick_and_collect(socket) for socket in sockets)),
            4 * WAIT,
        )
        finals = []
        for socket in sockets:
            await send_event(socket, "tick", {"text": "final"}, ref="final")
            message = await receive_json(socket)
            while message["ref"] != "final":  # coalesced push renders still on their way
                assert message["ref"] is None, message
                message = await receive_json(socket)
            finals.append(message["state"])

    assert reached == [tickers] * rounds
    assert finals == [{"room": room, "ticks": 2 * rounds + 1, "last": "final"}] * tickers
