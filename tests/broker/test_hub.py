"""Hubs across processes: two hubs on one broker (kind) model two processes.

Every test runs once per broker kind. Negative checks ("did not arrive") wait for a later
marker from the same publisher instead of sleeping: messages of one publisher keep their order.
"""

from __future__ import annotations

import logging

import pytest

from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.broker import MemoryBroker, broker_from_url
from component_framework.core.hub import ENV_BROKER_URL, Broadcast, Hub, default_hub
from component_framework.core.websocket import WebSocketManager
from component_framework.errors import ConfigurationError
from tests.broker.redis_server import RedisServer
from tests.broker.support import BrokerKit, Probe, unique_channel, wait_subscribers


async def test_broadcast_reaches_members_of_the_other_hub_once(broker_factory: BrokerKit) -> None:
    channel = unique_channel("hub")
    remote = Probe("ticker", "b1")
    hub_a = await broker_factory.hub(channel)
    hub_b = await broker_factory.hub(channel, remote)

    reached = await hub_a.broadcast(Broadcast("price_update", {"price": 1.5}, "ticker"))

    await remote.wait_count(1)
    await broker_factory.barrier(via=hub_a.broker, to=hub_b.broker)  # type: ignore[arg-type]
    assert reached == 0
    assert [(b.event, dict(b.payload)) for b in remote.received] == [
        ("price_update", {"price": 1.5})
    ]


async def test_broadcast_reaches_members_of_its_own_hub_once(broker_factory: BrokerKit) -> None:
    """Delivered locally at once; the copy the broker echoes back is ignored."""
    channel = unique_channel("hub")
    local, remote = Probe("ticker", "a1"), Probe("ticker", "b1")
    hub_a = await broker_factory.hub(channel, local)
    await broker_factory.hub(channel, remote)

    reached = await hub_a.broadcast(Broadcast("price_update", {"price": 2.0}, "ticker"))

    assert reached == 1
    assert local.events() == ["price_update"]
    await remote.wait_count(1)  # the broker has carried it
    await broker_factory.barrier(via=hub_a.broker, to=hub_a.broker)  # type: ignore[arg-type]
    assert local.events() == ["price_update"]


async def test_each_hub_reaches_the_other_with_its_broadcasts(broker_factory: BrokerKit) -> None:
    channel = unique_channel("hub")
    member_a, member_b = Probe("ticker", "a1"), Probe("ticker", "b1")
    hub_a = await broker_factory.hub(channel, member_a)
    hub_b = await broker_factory.hub(channel, member_b)

    await hub_a.broadcast(Broadcast("from_a", {}, "ticker"))
    await hub_b.broadcast(Broadcast("from_b", {}, "ticker"))

    await member_a.wait_count(2)
    await member_b.wait_count(2)
    assert sorted(member_a.events()) == sorted(member_b.events()) == ["from_a", "from_b"]


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ({"component_name": "ticker"}, {"t-prices", "t-plain"}),
        ({"component_id": "t-plain"}, {"t-plain"}),
        ({"topic": "prices"}, {"t-prices", "n-prices"}),
        ({"component_name": "ticker", "topic": "prices"}, {"t-prices"}),
        ({"component_name": "news", "component_id": "t-plain"}, set()),
    ],
    ids=["name", "id", "topic", "name-and-topic", "no-match"],
)
async def test_targets_filter_remote_members_as_local_ones(
    broker_factory: BrokerKit, targets: dict[str, str], expected: set[str]
) -> None:
    channel = unique_channel("hub")

    def members() -> list[Probe]:
        return [
            Probe("ticker", "t-prices", frozenset({"prices"})),
            Probe("ticker", "t-plain"),
            Probe("news", "n-prices", frozenset({"prices"})),
        ]

    local, remote = members(), members()
    marker_a, marker_b = Probe("marker", "ma"), Probe("marker", "mb")
    hub_a = await broker_factory.hub(channel, *local, marker_a)
    await broker_factory.hub(channel, *remote, marker_b)

    await hub_a.broadcast(Broadcast("update", {"n": 1}, **targets))
    await hub_a.broadcast(Broadcast("marker", {}, "marker"))  # same publisher: after it

    await marker_b.wait_count(1)
    reached_locally = {probe.component_id for probe in local if probe.received}
    reached_remotely = {probe.component_id for probe in remote if probe.received}
    assert reached_locally == reached_remotely == expected


async def test_retopic_changes_which_remote_members_a_topic_reaches(
    broker_factory: BrokerKit,
) -> None:
    channel = unique_channel("hub")
    member = Probe("chat", "c1", frozenset({"room-1"}))
    marker = Probe("marker", "m")
    hub_a = await broker_factory.hub(channel)
    hub_b = await broker_factory.hub(channel, member, marker)

    member.topics = frozenset({"room-2"})
    hub_b.retopic(member)
    await hub_a.broadcast(Broadcast("said", {"text": "one"}, topic="room-1"))
    await hub_a.broadcast(Broadcast("said", {"text": "two"}, topic="room-2"))
    await hub_a.broadcast(Broadcast("marker", {}, "marker"))

    await marker.wait_count(1)
    assert [dict(b.payload) for b in member.received] == [{"text": "two"}]


async def test_left_members_get_no_remote_broadcasts(broker_factory: BrokerKit) -> None:
    channel = unique_channel("hub")
    gone, staying = Probe("ticker", "gone"), Probe("ticker", "staying")
    hub_a = await broker_factory.hub(channel)
    hub_b = await broker_factory.hub(channel, gone, staying)

    hub_b.leave(gone)
    await hub_a.broadcast(Broadcast("update", {}, "ticker"))

    await staying.wait_count(1)
    await broker_factory.barrier(via=hub_a.broker, to=hub_b.broker)  # type: ignore[arg-type]
    assert (gone.received, len(staying.received)) == ([], 1)


GARBAGE = {
    "not-json": b"\xff\xfe\x00garbage",
    "all-bytes": bytes(range(256)),
    "json-list": b"[1, 2, 3]",
    "wrong-version": b'{"v": 99, "o": "x", "e": "update", "p": {}, "n": "ticker"}',
    "no-origin": b'{"v": 1, "e": "update", "p": {}, "n": "ticker"}',
    "payload-not-object": b'{"v": 1, "o": "x", "e": "update", "p": [], "n": "ticker"}',
    "bad-event": b'{"v": 1, "o": "x", "e": "1 bad", "p": {}, "n": "ticker"}',
    "no-target": b'{"v": 1, "o": "x", "e": "update", "p": {}}',
    "target-not-string": b'{"v": 1, "o": "x", "e": "update", "p": {}, "n": 5}',
    "deeply-nested": b"[" * 100_000,
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
async def test_malformed_broker_messages_are_ignored_with_a_warning(
    broker_factory: BrokerKit, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    channel = unique_channel("hub")
    member = Probe("ticker", "b1")
    hub_a = await broker_factory.hub(channel)
    await broker_factory.hub(channel, member)
    assert hub_a.broker is not None

    def ignored() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "malformed broker message" in r.getMessage()]

    with caplog.at_level(logging.WARNING, logger="component_framework"):
        await hub_a.broker.publish(channel, garbage)
        await hub_a.broadcast(Broadcast("update", {"after": True}, "ticker"))
        await member.wait_count(1)  # hub B has handled the garbage and still works
        await broker_factory.barrier(via=hub_a.broker, to=hub_a.broker)  # so has hub A

    assert [dict(b.payload) for b in member.received] == [{"after": True}]
    assert [record.levelno for record in ignored()] == [logging.WARNING] * 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_broadcast_payload_that_is_not_json_is_refused_before_delivery(
    broker_factory: BrokerKit,
) -> None:
    channel = unique_channel("hub")
    local = Probe("ticker", "a1")
    hub_a = await broker_factory.hub(channel, local)

    with pytest.raises(TypeError):
        await hub_a.broadcast(Broadcast("update", {"when": object()}, "ticker"))

    assert local.received == []


# -- configuration by URL ------------------------------------------------------------------


def test_broker_from_url_memory_is_a_memory_broker() -> None:
    assert isinstance(broker_from_url("memory://"), MemoryBroker)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/0", "rediss://127.0.0.1:1/0", "unix:///tmp/no-redis.sock"]
)
def test_broker_from_url_redis_schemes_are_redis_brokers(url: str) -> None:
    broker = broker_from_url(url)

    assert isinstance(broker, RedisBroker)
    assert broker.url == url


@pytest.mark.parametrize("url", ["kafka://127.0.0.1:9092", "127.0.0.1:6379", ""])
def test_broker_from_url_unknown_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unsupported broker URL scheme"):
        broker_from_url(url)


def test_hub_accepts_a_broker_url() -> None:
    hub = Hub("memory://")

    assert isinstance(hub.broker, MemoryBroker)


def test_hub_refuses_to_switch_to_another_broker_url() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    hub.use_broker("redis://127.0.0.1:1/0")  # the same URL again is fine

    with pytest.raises(ConfigurationError):
        hub.use_broker("redis://127.0.0.1:2/0")


@pytest.mark.usefixtures("fresh_default_hub")
async def test_websocket_manager_broker_url_configures_the_default_hub(
    redis_server: RedisServer,
) -> None:
    manager = WebSocketManager(broker=redis_server.url)

    assert manager.hub is default_hub()
    assert isinstance(manager.hub.broker, RedisBroker)
    assert manager.hub.broker.url == redis_server.url
    assert WebSocketManager().hub.broker is manager.hub.broker


@pytest.mark.usefixtures("fresh_default_hub")
async def test_websocket_manager_broadcast_reaches_another_process_through_redis(
    redis_server: RedisServer,
) -> None:
    channel = "component_framework:broadcast"
    remote = Probe("ticker", "b1")
    other = Hub(RedisBroker(redis_server.url), channel=channel)
    try:
        await other.start()
        other.join(remote)
        manager = WebSocketManager(broker=redis_server.url)
        await manager.hub.start()
        await wait_subscribers(redis_server.url, channel, 2)

        reached = await manager.broadcast("ticker", "price_update", {"price": 3.0})

        await remote.wait_count(1)
        assert reached == 0
        assert dict(remote.received[0].payload) == {"price": 3.0}
    finally:
        await other.close()


@pytest.mark.usefixtures("fresh_default_hub")
def test_websocket_manager_refuses_a_different_broker_for_the_default_hub() -> None:
    WebSocketManager(broker="redis://127.0.0.1:1/0")

    with pytest.raises(ConfigurationError):
        WebSocketManager(broker="redis://127.0.0.1:2/0")


@pytest.mark.usefixtures("fresh_default_hub")
def test_default_hub_reads_the_broker_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_BROKER_URL, "redis://127.0.0.1:1/0")

    hub = default_hub()

    assert isinstance(hub.broker, RedisBroker)
    assert hub.broker.url == "redis://127.0.0.1:1/0"


@pytest.mark.usefixtures("fresh_default_hub")
def test_default_hub_reads_a_memory_broker_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_BROKER_URL, "memory://")

    assert isinstance(default_hub().broker, MemoryBroker)


@pytest.mark.usefixtures("fresh_default_hub")
@pytest.mark.parametrize("value", ["", "   "])
def test_default_hub_without_a_broker_url_has_no_broker(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_BROKER_URL, value)

    assert default_hub().broker is None


@pytest.mark.usefixtures("fresh_default_hub")
def test_default_hub_with_an_unknown_scheme_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_BROKER_URL, "kafka://127.0.0.1:9092")

    with pytest.raises(ConfigurationError):
        default_hub()
