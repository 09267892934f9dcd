"""Redis stopped and restarted on the same port under a steady broadcast load.

Two apps (two "processes": each its own hub on its own :class:`RedisBroker`, one real
``redis-server``), WebSocket clients and a live SSE subscription on both. App A broadcasts
200 times, a few milliseconds apart; Redis is stopped part-way and started again while the
load goes on. Local delivery never stops (every broadcast reaches A's clients), remote delivery
resumes after the restart, the broker outage is logged as warnings without a traceback, and the
worker's tasks and traced memory are back where they were before the outage.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.hub import Hub
from component_framework.core.websocket import WebSocketManager
from component_framework.protocol.sse import SSEDecoder
from component_framework.testing import http_scope, websocket_scope
from tests.broker.conftest import fresh_redis  # noqa: F401  (the fixture)
from tests.broker.redis_server import RedisServer
from tests.broker.support import unique_channel, wait_subscribers
from tests.faults.harness import make_app, settle, task_baseline

pytestmark = pytest.mark.timeout(180)

BROADCASTS = 200
STOP_AT = 50
RESTART_AT = 100
PAUSE = 0.01
SOCKETS_PER_APP = 2
#: Long waits for the broker (reconnection backoff on a loaded 2-core machine).
BROKER_WAIT = 30.0
#: A live stream's replay buffer: full after the warm-up, so that it is not counted as growth.
REPLAY_FRAMES = 8
#: Traced memory allowed to remain after the outage, compared with before it.
MEMORY_BOUND = 256 * 1024


def broker(url: str) -> RedisBroker:
    return RedisBroker(url, publish_timeout=0.5, reconnect_initial=0.05, reconnect_max=0.5)


class CountingSocket:
    """A WebSocket client of ``board`` that keeps only what the test needs (the last count
    shown and how many messages came), so that the client side holds constant memory."""

    def __init__(self, app: ComponentASGI) -> None:
        self.app = app
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.count = -1
        self.messages = 0
        self.task: asyncio.Task[None] | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            self.messages += 1
            answer = json.loads(message["text"])
            if answer["type"] == "render":
                self.count = answer["state"]["count"]

    def start(self) -> CountingSocket:
        scope = websocket_scope("/components/board/ws/", query={"room": "r1"})
        self.task = asyncio.get_running_loop().create_task(
            self.app(scope, self.incoming.get, self._send)
        )
        self.incoming.put_nowait({"type": "websocket.connect"})
        return self

    async def end(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await asyncio.wait_for(self.task, BROKER_WAIT)


class CountingStream:
    """A live SSE subscription to ``board`` that counts render frames and keeps nothing else."""

    def __init__(self, app: ComponentASGI) -> None:
        self.app = app
        self.decoder = SSEDecoder()
        self.renders = 0
        self.gone = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            events = self.decoder.feed(message.get("body", b""))
            self.renders += sum(event.event == "message" for event in events)

    def start(self) -> CountingStream:
        scope = http_scope("GET", "/components/board/stream/", query={"room": "r1"})
        self.task = asyncio.get_running_loop().create_task(
            self.app(scope, self._receive, self._send)
        )
        return self

    async def end(self) -> None:
        self.gone.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, BROKER_WAIT)


@dataclass
class Side:
    """One "process": its app, its WebSocket clients and a live SSE subscription."""

    app: ComponentASGI
    sockets: list[CountingSocket] = field(default_factory=list)
    live: CountingStream | None = None

    @property
    def redis(self) -> RedisBroker:
        assert isinstance(self.app.hub.broker, RedisBroker)
        return self.app.hub.broker

    def counts(self) -> list[int]:
        """The tick count each socket shows last."""
        return [socket.count for socket in self.sockets]

    def live_ticks(self) -> int:
        assert self.live is not None
        return self.live.renders - 1

    def idle(self) -> bool:
        return all(not member.busy for member in self.app.hub.members())  # type: ignore[attr-defined]

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.end()
        if self.live is not None:
            await self.live.end()
        await self.app.shutdown()
        await self.app.hub.close()


async def open_side(url: str, channel: str) -> Side:
    side = Side(
        make_app(
            hub=Hub(broker(url), channel=channel),
            stream_resume_grace=0,
            stream_replay_frames=REPLAY_FRAMES,
        )
    )
    for _ in range(SOCKETS_PER_APP):
        socket = CountingSocket(side.app).start()
        await settle(lambda s=socket: s.count == 0, "the socket's first render")
        side.sockets.append(socket)
    side.live = CountingStream(side.app).start()
    await settle(lambda: side.live_ticks() == 0, "the live stream's first render")
    return side


@pytest.fixture
async def sides(fresh_redis: RedisServer) -> AsyncIterator[tuple[Side, Side, RedisServer]]:  # noqa: F811
    channel = unique_channel("faults")
    opened: list[Side] = []
    try:
        for _ in range(2):
            opened.append(await open_side(fresh_redis.url, channel))
        await wait_subscribers(fresh_redis.url, channel, 2)
        yield opened[0], opened[1], fresh_redis
    finally:
        for side in opened:
            await side.close()


async def steady(a: Side, b: Side) -> None:
    """Wait until every delivery of both sides has been handled."""
    await settle(lambda: a.idle() and b.idle(), "both sides idle", BROKER_WAIT)
    await asyncio.sleep(0.1)
    await settle(lambda: a.idle() and b.idle(), "both sides idle", BROKER_WAIT)


def own_tasks(baseline: Any) -> int:
    return sum(1 for task in asyncio.all_tasks() if task not in baseline)


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_redis_restart_under_load_keeps_local_delivery_and_recovers_remote(
    sides: tuple[Side, Side, RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    a, b, redis = sides
    caplog.set_level(logging.INFO, logger="component_framework")
    manager = WebSocketManager(hub=a.app.hub)
    baseline = task_baseline()
    reached: list[int] = []

    async def tick(n: int) -> None:
        sent = manager.broadcast("board", "tick", {"n": n}, topic="room:r1")
        reached.append(await asyncio.wait_for(sent, BROKER_WAIT))

    tracemalloc.start()
    try:
        for n in range(10):  # warm-up: every path of the load has run once
            await tick(n)
        await settle(lambda: b.counts() == [10, 10], "B to get the warm-up", BROKER_WAIT)
        await steady(a, b)
        tasks_before, memory_before = own_tasks(baseline), traced()

        async def load() -> None:
            for n in range(10, BROADCASTS):
                await tick(n)
                await asyncio.sleep(PAUSE)

        async def outage() -> None:
            await settle(lambda: len(reached) >= STOP_AT, "the load to reach the stop point")
            await asyncio.to_thread(redis.stop)
            await settle(lambda: len(reached) >= RESTART_AT, "the load to go on during the outage")
            await asyncio.to_thread(redis.start)

        await asyncio.wait_for(asyncio.gather(load(), outage()), BROKER_WAIT * 2)

        # Local delivery never stopped: every broadcast reached both sockets of A.
        assert reached == [SOCKETS_PER_APP + 1] * BROADCASTS  # two sockets and the live stream
        await settle(lambda: a.counts() == [BROADCASTS] * 2, "A's sockets to show every tick")
        await settle(lambda: a.live_ticks() >= 1, "A's live stream to follow")
        # Remote delivery resumes once both links are back.
        await settle(
            lambda: a.redis.connected and b.redis.connected and b.redis.reconnects >= 1,
            "both brokers to reconnect",
            BROKER_WAIT,
        )
        await wait_subscribers(redis.url, a.app.hub.channel, 2, BROKER_WAIT)
        lost = BROADCASTS - b.counts()[0]
        await tick(BROADCASTS)
        await settle(
            lambda: b.counts() == [BROADCASTS + 1 - lost] * 2, "B to get broadcasts again",
            BROKER_WAIT,
        )  # fmt: skip
        assert 0 < lost < BROADCASTS, "B lost the broadcasts of the outage, and only those"
        await steady(a, b)
        tasks_after, memory_after = own_tasks(baseline), traced()
    finally:
        tracemalloc.stop()

    assert tasks_after == tasks_before, "tasks left behind by the outage"
    assert memory_after - memory_before < MEMORY_BOUND, (
        f"traced memory grew by {memory_after - memory_before} bytes over the outage"
    )
    messages = [record.getMessage() for record in caplog.records]
    assert any("reached this process only" in m for m in messages), messages
    assert any("is back" in m for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert "Traceback" not in caplog.text
