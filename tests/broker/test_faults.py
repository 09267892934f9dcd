"""The broker's server going away and coming back while hubs are subscribed: a real Redis or a
real PostgreSQL, restarted on the same port (every test runs on both). Every wait is bounded;
nothing asserts how long something took."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from component_framework.adapters.postgres_broker import PostgresBroker
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.hub import Broadcast, Hub
from tests.broker.postgres_server import PostgresServer
from tests.broker.redis_server import RedisServer
from tests.broker.support import WAIT, Probe, barrier, unique_channel, wait_for, wait_subscribers

#: The brokers that reconnect by themselves, by the name of their server fixture's kind.
KINDS = ["redis", "postgres"]
ReconnectingBroker = RedisBroker | PostgresBroker
Server = RedisServer | PostgresServer


def _redis_url(server: Server) -> str | None:
    """Where to count subscriptions (Redis only: PostgreSQL's LISTEN is done when the broker
    reports connected)."""
    return server.url if isinstance(server, RedisServer) else None


async def _listening(server: Server, channel: str, *brokers: ReconnectingBroker) -> None:
    """Wait until every broker in ``brokers`` is subscribed to ``channel`` again."""
    url = _redis_url(server)
    if url is not None:
        await wait_subscribers(url, channel, len(brokers))
    else:
        await wait_for(lambda: all(b.connected for b in brokers), "every broker to LISTEN")


@dataclass
class Pair:
    """Two hubs on their own brokers (two processes) with one ticker member each."""

    server: Server
    channel: str
    hub_a: Hub
    hub_b: Hub
    member_a: Probe
    member_b: Probe

    @property
    def broker_a(self) -> ReconnectingBroker:
        assert isinstance(self.hub_a.broker, RedisBroker | PostgresBroker)
        return self.hub_a.broker

    @property
    def broker_b(self) -> ReconnectingBroker:
        assert isinstance(self.hub_b.broker, RedisBroker | PostgresBroker)
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
        await _listening(self.server, self.channel, self.broker_a, self.broker_b)


def _broker(server: Server) -> ReconnectingBroker:
    factory = RedisBroker if isinstance(server, RedisServer) else PostgresBroker
    return factory(server.url, publish_timeout=1.0, reconnect_initial=0.05, reconnect_max=0.5)


@pytest.fixture(params=KINDS)
def fresh_server(request: pytest.FixtureRequest) -> Server:
    """A Redis or a PostgreSQL of this test alone, which it may stop and start again."""
    server: Server = request.getfixturevalue(f"fresh_{request.param}")
    return server


@pytest.fixture
async def pair(fresh_server: Server) -> AsyncIterator[Pair]:
    channel = unique_channel("fault")
    member_a, member_b = Probe("ticker", "a1"), Probe("ticker", "b1")
    broker_a, broker_b = _broker(fresh_server), _broker(fresh_server)
    hub_a, hub_b = Hub(broker_a, channel=channel), Hub(broker_b, channel=channel)
    try:
        for hub, member in ((hub_a, member_a), (hub_b, member_b)):
            await hub.start()
            hub.join(member)
        await _listening(fresh_server, channel, broker_a, broker_b)
        yield Pair(fresh_server, channel, hub_a, hub_b, member_a, member_b)
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
    pair.server.stop()
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
        pair.server.stop()
        await pair.wait_down()
        await asyncio.wait_for(pair.hub_a.broadcast(Broadcast("update", {}, "ticker")), WAIT)

    [warning] = _messages(caplog, "reached this process only")
    assert warning.levelno == logging.WARNING


async def test_subscribers_log_the_start_of_an_outage(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="component_framework"):
        pair.server.stop()
        await pair.wait_down()
        await wait_for(
            lambda: len(_messages(caplog, "is unavailable")) >= 2, "an outage warning per broker"
        )

    assert {record.levelno for record in _messages(caplog, "is unavailable")} == {logging.WARNING}
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_publish_during_an_outage_raises_broker_unavailable_promptly(pair: Pair) -> None:
    from component_framework.core.broker import BrokerUnavailable

    pair.server.stop()
    await pair.wait_down()

    for _ in range(3):  # the first fails on the dead connection, later ones on connect
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(pair.broker_a.publish(pair.channel, b"lost"), WAIT)


async def test_repeated_broadcasts_during_an_outage_never_raise(pair: Pair) -> None:
    pair.server.stop()
    await pair.wait_down()

    for index in range(20):
        reached = await asyncio.wait_for(
            pair.hub_a.broadcast(Broadcast("update", {"n": index}, "ticker")), WAIT
        )
        assert reached == 1

    assert len(pair.member_a.received) == 20


async def test_subscribers_reconnect_after_the_server_restarts(pair: Pair) -> None:
    pair.server.stop()
    await pair.wait_down()

    pair.server.start()

    await pair.wait_recovered()
    assert (pair.broker_a.reconnects, pair.broker_b.reconnects) >= (1, 1)


async def test_broadcasts_reach_the_other_hub_again_after_the_server_restarts(pair: Pair) -> None:
    pair.server.stop()
    await pair.wait_down()
    await asyncio.wait_for(pair.hub_a.broadcast(Broadcast("lost", {}, "ticker")), WAIT)
    pair.server.start()
    await pair.wait_recovered()

    await pair.hub_a.broadcast(Broadcast("found", {}, "ticker"))

    await pair.member_b.wait_count(1)
    assert pair.member_b.events() == ["found"]
    assert pair.member_a.events() == ["lost", "found"]


async def test_first_broadcast_after_a_restart_reaches_the_other_hub(pair: Pair) -> None:
    """No publish happened during the outage, so the publisher still holds the connection
    the old server closed; the first broadcast once it is back must still get through."""
    await pair.hub_a.broadcast(Broadcast("before", {}, "ticker"))
    await pair.member_b.wait_count(1)
    pair.server.stop()
    await pair.wait_down()
    pair.server.start()
    await pair.wait_recovered()

    await pair.hub_a.broadcast(Broadcast("after", {}, "ticker"))

    await barrier(pair.broker_a, pair.broker_b, _redis_url(pair.server))
    assert pair.member_b.events() == ["before", "after"]


async def test_recovery_is_logged(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="component_framework"):
        pair.server.stop()
        await pair.wait_down()
        await asyncio.wait_for(pair.hub_a.broadcast(Broadcast("lost", {}, "ticker")), WAIT)
        pair.server.start()
        await pair.wait_recovered()
        await pair.hub_a.broadcast(Broadcast("found", {}, "ticker"))
        await pair.member_b.wait_count(1)

    assert len(_messages(caplog, "is back")) == 2  # each subscriber link
    assert len(_messages(caplog, "publishing works again")) == 1
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_hub_started_while_the_server_is_down_connects_once_it_is_up(
    fresh_server: Server,
) -> None:
    channel = unique_channel("late")
    fresh_server.stop()
    member_b = Probe("ticker", "b1")
    broker_a, broker_b = _broker(fresh_server), _broker(fresh_server)
    hub_a = Hub(broker_a, channel=channel)
    hub_b = Hub(broker_b, channel=channel)
    try:
        await hub_b.start()
        hub_b.join(member_b)
        reached = await asyncio.wait_for(
            hub_a.broadcast(Broadcast("lost", {}, "ticker")), WAIT
        )  # starts hub_a too
        fresh_server.start()
        await _listening(fresh_server, channel, broker_a, broker_b)

        await hub_a.broadcast(Broadcast("found", {}, "ticker"))

        await member_b.wait_count(1)
        assert (reached, member_b.events()) == (0, ["found"])
    finally:
        await hub_a.close()
        await hub_b.close()
