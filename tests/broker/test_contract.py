"""The broker contract, run against the in-memory reference and against Redis.

Each test runs once per broker kind (``broker_factory``). "Several processes" are several
``RedisBroker`` instances on one Redis, or the one shared ``MemoryBroker``.
"""

from __future__ import annotations

import asyncio

import pytest

from component_framework.core.broker import Broker, BrokerUnavailable
from tests.broker.support import WAIT, BrokerKit, Recorder, unique_channel, wait_for


async def test_publish_reaches_a_subscriber_of_the_channel(broker_factory: BrokerKit) -> None:
    channel = unique_channel()
    publisher, subscriber = await broker_factory.new(), await broker_factory.new()
    recorder = await broker_factory.subscribe(subscriber, channel)

    await publisher.publish(channel, b"hello")

    await recorder.wait_count(1)
    assert recorder.messages == [b"hello"]


async def test_publish_reaches_every_subscriber_in_separate_brokers(
    broker_factory: BrokerKit,
) -> None:
    channel = unique_channel()
    publisher = await broker_factory.new()
    recorders = [
        await broker_factory.subscribe(await broker_factory.new(), channel) for _ in range(3)
    ]

    await publisher.publish(channel, b"to everyone")

    for recorder in recorders:
        await recorder.wait_count(1)
    assert [recorder.messages for recorder in recorders] == [[b"to everyone"]] * 3


async def test_publish_does_not_reach_subscribers_of_other_channels(
    broker_factory: BrokerKit,
) -> None:
    channel, other = unique_channel(), unique_channel()
    publisher, subscriber = await broker_factory.new(), await broker_factory.new()
    elsewhere = await broker_factory.subscribe(subscriber, other)
    here = await broker_factory.subscribe(subscriber, channel)

    await publisher.publish(channel, b"only here")
    await publisher.publish(other, b"marker")  # same publisher: arrives after the first

    await elsewhere.wait_count(1)
    await here.wait_count(1)
    assert elsewhere.messages == [b"marker"]
    assert here.messages == [b"only here"]


async def test_messages_of_one_publisher_arrive_in_order(broker_factory: BrokerKit) -> None:
    channel = unique_channel()
    publisher, subscriber = await broker_factory.new(), await broker_factory.new()
    recorder = await broker_factory.subscribe(subscriber, channel)
    sent = [f"message {index}".encode() for index in range(200)]

    for data in sent:
        await publisher.publish(channel, data)

    await recorder.wait_count(len(sent))
    assert recorder.messages == sent


async def test_payloads_are_binary_safe(broker_factory: BrokerKit) -> None:
    channel = unique_channel()
    publisher, subscriber = await broker_factory.new(), await broker_factory.new()
    recorder = await broker_factory.subscribe(subscriber, channel)
    every_byte = bytes(range(256))
    payloads = [every_byte, every_byte[::-1], b"", b"\x00", b"\r\n*1\r\n$4\r\nPING\r\n"]

    for data in payloads:
        await publisher.publish(channel, data)

    await recorder.wait_count(len(payloads))
    assert recorder.messages == payloads


async def test_unsubscribe_stops_delivery(broker_factory: BrokerKit) -> None:
    channel, marker_channel = unique_channel(), unique_channel("marker")
    publisher, subscriber = await broker_factory.new(), await broker_factory.new()
    recorder = await broker_factory.subscribe(subscriber, channel)
    markers = await broker_factory.subscribe(subscriber, marker_channel)
    await publisher.publish(channel, b"before")
    await recorder.wait_count(1)

    await subscriber.unsubscribe(channel)
    await publisher.publish(channel, b"after")
    await publisher.publish(marker_channel, b"marker")  # arrives after "after" would have

    await markers.wait_count(1)
    assert recorder.messages == [b"before"]


async def test_subscribe_again_after_unsubscribe_delivers_again(
    broker_factory: BrokerKit,
) -> None:
    channel = unique_channel()
    publisher, subscriber = await broker_factory.new(), await broker_factory.new()
    first = await broker_factory.subscribe(subscriber, channel)
    await broker_factory.unsubscribe(subscriber, channel)

    second = await broker_factory.subscribe(subscriber, channel)
    await publisher.publish(channel, b"again")

    await second.wait_count(1)
    assert (first.messages, second.messages) == ([], [b"again"])


async def test_several_subscriptions_of_one_channel_on_one_broker_each_receive(
    broker_factory: BrokerKit,
) -> None:
    """Two hubs may share one broker instance (the in-memory reference is used that way to
    model processes): every callback subscribed to a channel gets every message."""
    channel = unique_channel()
    publisher, shared = await broker_factory.new(), await broker_factory.new()
    first = await broker_factory.subscribe(shared, channel)
    second = Recorder()
    await shared.subscribe(channel, second)  # the broker's link is subscribed already
    marker_channel = unique_channel("marker")
    markers = await broker_factory.subscribe(shared, marker_channel)

    await publisher.publish(channel, b"for both")
    await publisher.publish(marker_channel, b"marker")

    await markers.wait_count(1)
    assert (first.messages, second.messages) == ([b"for both"], [b"for both"])


async def test_connected_once_subscribed(broker_factory: BrokerKit) -> None:
    broker = await broker_factory.new()

    await broker.subscribe(unique_channel(), lambda data: None)

    await wait_for(lambda: broker.connected, "the broker to report connected")
    assert broker.connected is True


async def test_brokers_satisfy_the_broker_protocol(broker_factory: BrokerKit) -> None:
    assert isinstance(await broker_factory.new(), Broker)


async def test_close_is_idempotent(broker_factory: BrokerKit) -> None:
    broker = await broker_factory.new()
    await broker.subscribe(unique_channel(), lambda data: None)
    await wait_for(lambda: broker.connected, "the broker to report connected")

    await broker.close()
    await broker.close()

    assert broker.connected is False


async def test_publish_after_close_raises_broker_unavailable(broker_factory: BrokerKit) -> None:
    broker = await broker_factory.new()
    await broker.publish(unique_channel(), b"while open")
    await broker.close()

    with pytest.raises(BrokerUnavailable):
        await asyncio.wait_for(broker.publish(unique_channel(), b"after close"), WAIT)


async def test_subscribe_after_close_raises_broker_unavailable(broker_factory: BrokerKit) -> None:
    broker = await broker_factory.new()
    await broker.close()

    with pytest.raises(BrokerUnavailable):
        await broker.subscribe(unique_channel(), lambda data: None)
