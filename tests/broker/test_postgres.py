"""What only the PostgreSQL broker has: NOTIFY's payload limit, channel names, its URLs, outages.

The contract and hub suites (``test_contract.py``, ``test_hub.py``) and the two-process tests
run on it too; this file covers what they cannot say, on a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from component_framework.adapters.postgres_broker import PostgresBroker
from component_framework.core.broker import BrokerUnavailable, broker_from_url
from component_framework.core.broker_chunks import NOTIFY_PAYLOAD_LIMIT
from component_framework.errors import ConfigurationError
from tests.broker.postgres_server import PostgresServer
from tests.broker.support import WAIT, BrokerKit, Recorder, unique_channel, wait_for


@pytest.fixture
async def kit(postgres_server: PostgresServer) -> AsyncIterator[BrokerKit]:
    kit = BrokerKit("postgres", postgres_server.url)
    try:
        yield kit
    finally:
        await kit.close()


async def _raw_notify(url: str, channel: str, payload: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_notify($1, $2)", channel, payload)
    finally:
        await connection.close()


async def test_postgresql_refuses_a_notify_payload_of_8000_bytes(
    postgres_server: PostgresServer,
) -> None:
    """The limit the broker works around is real (and 7,999 bytes still pass)."""
    await _raw_notify(postgres_server.url, unique_channel(), "x" * NOTIFY_PAYLOAD_LIMIT)

    with pytest.raises(asyncpg.PostgresError, match="payload string too long"):
        await _raw_notify(postgres_server.url, unique_channel(), "x" * (NOTIFY_PAYLOAD_LIMIT + 1))


@pytest.mark.parametrize(
    "size",
    [NOTIFY_PAYLOAD_LIMIT - 1, NOTIFY_PAYLOAD_LIMIT, 8000, 50_000, 1 << 20],
    ids=["limit-1", "limit", "8000", "50k", "1MiB"],
)
async def test_messages_of_any_length_cross_the_notify_limit(kit: BrokerKit, size: int) -> None:
    channel = unique_channel()
    publisher, subscriber = await kit.new(), await kit.new()
    recorder = await kit.subscribe(subscriber, channel)
    data = random.Random(size).randbytes(size)

    await publisher.publish(channel, data)
    await publisher.publish(channel, b"after")

    await recorder.wait_count(2)
    assert recorder.messages == [data, b"after"]


async def test_long_messages_of_concurrent_publishers_all_arrive_whole(kit: BrokerKit) -> None:
    channel = unique_channel()
    subscriber = await kit.new()
    recorder = await kit.subscribe(subscriber, channel)
    publishers = [await kit.new() for _ in range(3)]
    sent = [bytes([65 + index]) * 30_000 for index in range(6)]

    await asyncio.gather(
        *(publishers[index % 3].publish(channel, data) for index, data in enumerate(sent))
    )

    await recorder.wait_count(len(sent))
    assert sorted(recorder.messages) == sorted(sent)


async def test_a_notification_that_is_not_ours_is_ignored_with_a_warning(
    kit: BrokerKit, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    channel = unique_channel()
    recorder = await kit.subscribe(await kit.new(), channel)

    with caplog.at_level(logging.WARNING, logger="component_framework"):
        await _raw_notify(postgres_server.url, channel, "hello from psql")
        await _raw_notify(postgres_server.url, channel, "tafter")
        await recorder.wait_count(1)

    assert recorder.messages == [b"after"]
    assert "ignored a malformed PostgreSQL notification" in caplog.text


async def test_publishing_on_a_channel_name_over_63_bytes_is_a_configuration_error(
    kit: BrokerKit,
) -> None:
    broker = await kit.new()

    with pytest.raises(ConfigurationError, match="1 to 63 bytes"):
        await broker.publish("c" * 64, b"data")


async def test_subscribing_to_a_channel_name_over_63_bytes_is_a_configuration_error(
    kit: BrokerKit,
) -> None:
    broker = await kit.new()

    with pytest.raises(ConfigurationError, match="1 to 63 bytes"):
        await broker.subscribe("c" * 64, Recorder())


@pytest.mark.parametrize(
    "url", ["postgresql://app@127.0.0.1:1/app", "postgres://app:secret@127.0.0.1:1/app"]
)
def test_broker_from_url_postgres_schemes_are_postgres_brokers(url: str) -> None:
    broker = broker_from_url(url)

    assert isinstance(broker, PostgresBroker)
    assert broker.url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://app:s3cret@127.0.0.1:notaport/app", "invalid PostgreSQL URL"),
        ("postgresql://app@127.0.0.1:99999/app", "invalid PostgreSQL URL"),
        ("mysql://app@127.0.0.1/app", "not a PostgreSQL URL"),
    ],
)
def test_a_malformed_url_is_a_configuration_error_at_once(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        PostgresBroker(url)

    assert "s3cret" not in str(raised.value)


async def test_publish_to_an_unreachable_server_fails_fast_without_the_password() -> None:
    broker = PostgresBroker("postgresql://app:s3cret@127.0.0.1:1/app", publish_timeout=0.5)

    with pytest.raises(BrokerUnavailable, match="unavailable") as raised:
        await asyncio.wait_for(broker.publish("channel", b"data"), WAIT)
    await broker.close()

    assert "s3cret" not in str(raised.value)
    assert "app:***@127.0.0.1:1" in str(raised.value)


async def test_the_listener_reconnects_after_a_restart_and_logs_the_outage(
    fresh_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    kit = BrokerKit("postgres", fresh_postgres.url)
    channel = unique_channel()
    try:
        publisher, subscriber = await kit.new(), await kit.new()
        recorder = await kit.subscribe(subscriber, channel)
        with caplog.at_level(logging.WARNING, logger="component_framework"):
            fresh_postgres.stop()
            await wait_for(lambda: not subscriber.connected, "the listener to notice")
            with pytest.raises(BrokerUnavailable):
                await publisher.publish(channel, b"lost")
            fresh_postgres.start()
            await wait_for(lambda: subscriber.connected, "the listener to reconnect")
            await publisher.publish(channel, b"back")
            await recorder.wait_count(1)
    finally:
        await kit.close()

    assert recorder.messages == [b"back"]
    assert "is unavailable" in caplog.text
    assert "is back after" in caplog.text
