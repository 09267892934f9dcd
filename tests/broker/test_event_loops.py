"""Brokers under trio: the in-process broker works on any loop; RedisBroker, PostgresBroker and
LitestarChannelsBroker, whose clients are asyncio's (redis-py, asyncpg, Litestar's channels),
refuse trio with a clear ``ConfigurationError``."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from litestar.channels.backends.memory import MemoryChannelsBackend

from component_framework.adapters.litestar_channels_broker import LitestarChannelsBroker
from component_framework.adapters.postgres_broker import PostgresBroker
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.broker import Broker, MemoryBroker
from component_framework.errors import ConfigurationError
from tests.event_loops import on_both_loops


@on_both_loops
async def test_the_memory_broker_delivers_on_either_loop() -> None:
    broker, received = MemoryBroker(), []
    await broker.subscribe("news", received.append)
    await broker.publish("news", b"hello")
    await anyio.sleep(0.01)
    assert received == [b"hello"]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("RedisBroker", lambda: RedisBroker("redis://127.0.0.1:1/0")),
        ("PostgresBroker", lambda: PostgresBroker("postgresql://app@127.0.0.1:1/app")),
        ("LitestarChannelsBroker", lambda: LitestarChannelsBroker(MemoryChannelsBackend())),
    ],
)
@pytest.mark.parametrize("operation", ["publish", "subscribe"])
def test_asyncio_only_brokers_on_trio_are_a_configuration_error(
    name: str, make: Callable[[], Broker], operation: str
) -> None:
    async def use() -> None:
        broker = make()
        if operation == "publish":
            await broker.publish("news", b"hello")
        else:
            await broker.subscribe("news", lambda data: None)

    with pytest.raises(ConfigurationError, match=f"{name} needs asyncio"):
        anyio.run(use, backend="trio")
