"""What only the Litestar channels broker has: living beside the app's own use of its plugin.

The contract and hub suites run it on Litestar's memory backend and on its asyncpg backend
(``litestar-memory``, ``litestar-postgres``), and the two-process tests in a Litestar app whose
``ChannelsPlugin`` is the broker; this file covers the handover of a plugin or backend.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from component_framework.adapters.litestar_channels_broker import LitestarChannelsBroker
from component_framework.core.broker import BrokerUnavailable
from component_framework.core.broker_chunks import NOTIFY_PAYLOAD_LIMIT
from component_framework.core.hub import DEFAULT_CHANNEL
from component_framework.errors import ConfigurationError
from tests.broker.postgres_server import PostgresServer
from tests.broker.support import Recorder, wait_for


@pytest.fixture
async def app_plugin() -> AsyncIterator[ChannelsPlugin]:
    """The app's plugin, started as the app's lifespan would."""
    plugin = ChannelsPlugin(MemoryChannelsBackend(), channels=["orders", DEFAULT_CHANNEL])
    async with plugin:
        yield plugin


async def test_the_apps_own_channels_keep_working_beside_the_broker(
    app_plugin: ChannelsPlugin,
) -> None:
    broker = LitestarChannelsBroker(app_plugin)
    recorder = Recorder()
    await broker.subscribe(DEFAULT_CHANNEL, recorder)
    async with app_plugin.start_subscription("orders") as orders:
        app_plugin.publish(b"order 1", "orders")
        await broker.publish(DEFAULT_CHANNEL, b"broadcast")

        first_order = await anext(orders.iter_events())
        await recorder.wait_count(1)

    await broker.close()
    assert (first_order, recorder.messages) == (b"order 1", [b"broadcast"])


async def test_closing_the_broker_leaves_the_apps_plugin_running(
    app_plugin: ChannelsPlugin,
) -> None:
    broker = LitestarChannelsBroker(app_plugin)
    await broker.subscribe(DEFAULT_CHANNEL, Recorder())

    await broker.close()

    async with app_plugin.start_subscription("orders") as orders:
        await app_plugin.wait_published(b"still served", "orders")
        assert await anext(orders.iter_events()) == b"still served"


async def test_a_plugin_without_the_hub_channel_is_a_configuration_error_naming_the_fix() -> None:
    async with ChannelsPlugin(MemoryChannelsBackend(), channels=["orders"]) as plugin:
        broker = LitestarChannelsBroker(plugin)

        with pytest.raises(ConfigurationError, match="arbitrary_channels_allowed=True"):
            await broker.subscribe(DEFAULT_CHANNEL, Recorder())


async def test_publishing_before_the_apps_plugin_started_is_broker_unavailable() -> None:
    plugin = ChannelsPlugin(MemoryChannelsBackend(), arbitrary_channels_allowed=True)
    broker = LitestarChannelsBroker(plugin)

    with pytest.raises(BrokerUnavailable, match="not running"):
        await broker.publish(DEFAULT_CHANNEL, b"too early")


async def test_subscribing_through_a_plugin_the_app_never_started_names_the_fix(
    postgres_server: PostgresServer,
) -> None:
    plugin = ChannelsPlugin(
        AsyncPgChannelsBackend(dsn=postgres_server.url), arbitrary_channels_allowed=True
    )
    broker = LitestarChannelsBroker(plugin)

    with pytest.raises(ConfigurationError, match="list it in the Litestar app's plugins"):
        await broker.subscribe(DEFAULT_CHANNEL, Recorder())


def test_something_else_than_a_plugin_or_backend_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ChannelsPlugin or ChannelsBackend"):
        LitestarChannelsBroker("redis://127.0.0.1:6379/0")


def test_litestars_postgresql_backends_get_text_payloads_under_the_notify_limit() -> None:
    on_postgres = LitestarChannelsBroker(AsyncPgChannelsBackend(dsn="postgresql://x@127.0.0.1/x"))
    in_memory = LitestarChannelsBroker(MemoryChannelsBackend())

    assert (on_postgres.payload_limit, in_memory.payload_limit) == (NOTIFY_PAYLOAD_LIMIT, None)


async def test_a_message_over_8000_bytes_crosses_litestars_asyncpg_backend(
    postgres_server: PostgresServer,
) -> None:
    sender = LitestarChannelsBroker(AsyncPgChannelsBackend(dsn=postgres_server.url))
    receiver = LitestarChannelsBroker(AsyncPgChannelsBackend(dsn=postgres_server.url))
    recorder = Recorder()
    data = random.Random(8000).randbytes(40_000)
    try:
        await receiver.subscribe(DEFAULT_CHANNEL, recorder)
        await wait_for(lambda: receiver.connected, "the receiver to listen")

        await sender.publish(DEFAULT_CHANNEL, data)

        await recorder.wait_count(1)
    finally:
        await sender.close()
        await receiver.close()
    assert recorder.messages == [data]
