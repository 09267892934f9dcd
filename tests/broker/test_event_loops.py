"""Brokers under trio: the in-process broker works on any loop; RedisBroker, whose client is
redis-py's asyncio one, refuses trio with a clear ``ConfigurationError``."""

from __future__ import annotations

import anyio
import pytest

from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.broker import MemoryBroker
from component_framework.errors import ConfigurationError
from tests.event_loops import on_both_loops


@on_both_loops
async def test_the_memory_broker_delivers_on_either_loop() -> None:
    broker, received = MemoryBroker(), []
    await broker.subscribe("news", received.append)
    await broker.publish("news", b"hello")
    await anyio.sleep(0.01)
    assert received == [b"hello"]


def test_redis_broker_on_trio_is_a_configuration_error() -> None:
    async def publish() -> None:
        await RedisBroker("redis://127.0.0.1:1/0").publish("news", b"hello")

    with pytest.raises(ConfigurationError, match="RedisBroker needs asyncio"):
        anyio.run(publish, backend="trio")
