"""Redis going away and coming back while hubs are subscribed (a real Redis, restarted on the
same port). Every wait is bounded; nothing asserts how long something took."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.hub import Broadcast, Hub
from tests.broker.redis_server import RedisServer
from tests.broker.support import WAIT, Probe, barrier, unique_channel, wait_for, wait_subscribers


@dataclass
class Pair:
    """Two hubs on their own RedisBrokers (two processes) with one ticker member each."""

    redis: RedisServer
    channel: str
    hub_a: Hub
    hub_b: Hub
    member_a: Probe
    member_b: Probe

    @property
    def broker_a(self) -> RedisBroker:
        assert isinstance(self.hub_a.broker, RedisBroker)
        return self.hub_a.broker

    @property
    def broker_b(self) -> RedisBroker:
        assert isinstance(self.hub_b.broker, RedisBroker)
        return self.hub_b.broker

    async def wait_down(self) -> None:
        await wait_for(
            lambda: not self.broker_a.connected and not self.broker_b.connected,
            "both brokers to notice the outage",
        )

    async def wait_recovered(self) -> None:
        await wait_for(
            lambda: all(b.connected and b.reconnects >= 1 for b in (self.broker_a, self.broker_b)),
            "both brokers to reconnect",
        )
        await wait_subscribers(self.redis.url, self.channel, 2)


def _broker(url: str) -> RedisBroker:
    return RedisBroker(url, publish_timeout=1.0, reconnect_initial=0.05, reconnect_max=0.5)


@pytest.fixture
async def pair(fresh_redis: RedisServer) -> AsyncIterator[Pair]:
    channel = unique_channel("fault")
    member_a, member_b = Probe("ticker", "a1"), Probe("ticker", "b1")
    hub_a = Hub(_broker(fresh_redis.url), channel=channel)
    hub_b = Hub(_broker(fresh_redis.url), channel=channel)
    try:
        for hub, member in ((hub_a, member_a), (hub_b, member_b)):
            await hub.start()
            hub.join(member)
        await wait_subscribers(fresh_redis.url, channel, 2)
        yield Pair(fresh_redis, channel, hub_a, hub_b, member_a, member_b)
    finally:
        await hub_a.close()
        await hub_b.close()


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "component_framework" and text in record.getMessage()
    ]


async def test_broadcast_during_an_outage_is_delivered_locally(pair: Pair) -> None:
    pair.redis.stop()
    await pair.wait_down()

    reached = await asyncio.wait_for(
        pair.hub_a.broadcast(Broadcast("price_update", {"price": 1.0}, "ticker")), WAIT
    )

    assert reached == 1
    assert pair.member_a.events() == ["price_update"]


async def test_broadcast_during_an_outage_logs_a_warning(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="component_framework"):
        pair.redis.stop()
        await pair.wait_down()
        await asyncio.wait_for(pair.hub_a.broadcast(Broadcast("update", {}, "ticker")), WAIT)

    [warning] = _messages(caplog, "reached this process only")
    assert warning.levelno == logging.WARNING


async def test_subscribers_log_the_start_of_an_outage(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="component_framework"):
        pair.redis.stop()
        await pair.wait_down()
        await wait_for(
            lambda: len(_messages(caplog, "is unavailable")) >= 2, "an outage warning per broker"
        )

    assert {record.levelno for record in _messages(caplog, "is unavailable")} == {logging.WARNING}
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_publish_during_an_outage_raises_broker_unavailable_promptly(pair: Pair) -> None:
    from component_framework.core.broker import BrokerUnavailable

    pair.redis.stop()
    await pair.wait_down()

    for _ in range(3):  # the first fails on the dead connection, later ones on connect
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(pair.broker_a.publish(pair.channel, b"lost"), WAIT)


async def test_repeated_broadcasts_during_an_outage_never_raise(pair: Pair) -> None:
    pair.redis.stop()
    await pair.wait_down()

    for index in range(20):
        reached = await asyncio.wait_for(
            pair.hub_a.broadcast(Broadcast("update", {"n": index}, "ticker")), WAIT
        )
        assert reached == 1

    assert len(pair.member_a.received) == 20


async def test_subscribers_reconnect_after_redis_restarts(pair: Pair) -> None:
    pair.redis.stop()
    await pair.wait_down()

    pair.redis.start()

    await pair.wait_recovered()
    assert (pair.broker_a.reconnects, pair.broker_b.reconnects) >= (1, 1)


async def test_broadcasts_reach_the_other_hub_again_after_redis_restarts(pair: Pair) -> None:
    pair.redis.stop()
    await pair.wait_down()
    await asyncio.wait_for(pair.hub_a.broadcast(Broadcast("lost", {}, "ticker")), WAIT)
    pair.redis.start()
    await pair.wait_recovered()

    await pair.hub_a.broadcast(Broadcast("found", {}, "ticker"))

    await pair.member_b.wait_count(1)
    assert pair.member_b.events() == ["found"]
    assert pair.member_a.events() == ["lost", "found"]


async def test_first_broadcast_after_a_restart_reaches_the_other_hub(pair: Pair) -> None:
    """No publish happened during the outage, so the publisher still holds the connection
    the old Redis closed; the first broadcast once Redis is back must still get through."""
    await pair.hub_a.broadcast(Broadcast("before", {}, "ticker"))
    await pair.member_b.wait_count(1)
    pair.redis.stop()
    await pair.wait_down()
    pair.redis.start()
    await pair.wait_recovered()

    await pair.hub_a.broadcast(Broadcast("after", {}, "ticker"))

    await barrier(pair.broker_a, pair.broker_b, pair.redis.url)
    assert pair.member_b.events() == ["before", "after"]


async def test_recovery_is_logged(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="component_framework"):
        pair.redis.stop()
        await pair.wait_down()
        await asyncio.wait_for(pair.hub_a.broadcast(Broadcast("lost", {}, "ticker")), WAIT)
        pair.redis.start()
        await pair.wait_recovered()
        await pair.hub_a.broadcast(Broadcast("found", {}, "ticker"))
        await pair.member_b.wait_count(1)

    assert len(_messages(caplog, "is back")) == 2  # each subscriber link
    assert len(_messages(caplog, "publishing works again")) == 1
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_hub_started_while_redis_is_down_connects_once_it_is_up(
    fresh_redis: RedisServer,
) -> None:
    channel = unique_channel("late")
    fresh_redis.stop()
    member_b = Probe("ticker", "b1")
    hub_a = Hub(_broker(fresh_redis.url), channel=channel)
    hub_b = Hub(_broker(fresh_redis.url), channel=channel)
    try:
        await hub_b.start()
        hub_b.join(member_b)
        reached = await asyncio.wait_for(
            hub_a.broadcast(Broadcast("lost", {}, "ticker")), WAIT
        )  # starts hub_a too
        fresh_redis.start()
        await wait_subscribers(fresh_redis.url, channel, 2)

        await hub_a.broadcast(Broadcast("found", {}, "ticker"))

        await member_b.wait_count(1)
        assert (reached, member_b.events()) == (0, ["found"])
    finally:
        await hub_a.close()
        await hub_b.close()
