"""Helpers of the broker tests: bounded waits, message recorders, hub members, Redis probes.

Every wait here is bounded and polls a condition; nothing asserts how long something took.
:class:`BrokerKit` hands out brokers of one kind (:data:`BROKER_KINDS`: the shared
:class:`MemoryBroker`; one :class:`RedisBroker` or :class:`PostgresBroker` per call on the same
server, as separate processes would have; Litestar channels brokers on one shared memory
backend, or each on its own asyncpg backend) and knows how to wait until a subscription is
really effective: a Redis subscription becomes active in the background after ``subscribe``
returns, so the kit waits for ``PUBSUB NUMSUB`` to count it; the PostgreSQL and Litestar
brokers have run ``LISTEN`` (or subscribed the backend) when ``subscribe`` returns.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from redis import asyncio as redis_asyncio

from component_framework.adapters.litestar_channels_broker import LitestarChannelsBroker
from component_framework.adapters.postgres_broker import PostgresBroker
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.broker import Broker, MemoryBroker
from component_framework.core.hub import Broadcast, Hub

__all__ = [
    "BROKER_KINDS",
    "WAIT",
    "BrokerKit",
    "Probe",
    "Recorder",
    "barrier",
    "numsub",
    "unique_channel",
    "wait_for",
    "wait_subscribers",
]

#: Every broker the contract and hub suites run on; the server each needs (None: none).
BROKER_KINDS: dict[str, str | None] = {
    "memory": None,
    "redis": "redis",
    "postgres": "postgres",
    "litestar-memory": None,
    "litestar-postgres": "postgres",
}

#: Upper bound of every wait in this directory (seconds); generous for a shared 2-core box.
WAIT = 15.0


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = WAIT
) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"gave up after {within:g} s waiting for: {what}")
        await asyncio.sleep(0.02)


def unique_channel(label: str = "test") -> str:
    """A channel no other test uses (the session Redis is shared by the whole directory)."""
    return f"cf-test:{label}:{uuid.uuid4().hex}"


async def numsub(url: str, channel: str) -> int:
    """How many connections Redis at ``url`` counts as subscribed to ``channel``."""
    client = redis_asyncio.Redis.from_url(url)
    try:
        answer = await client.pubsub_numsub(channel)
    finally:
        await client.aclose()
    return int(answer[0][1])


async def wait_subscribers(url: str, channel: str, count: int, within: float = WAIT) -> None:
    """Wait until Redis counts at least ``count`` subscriptions of ``channel``."""

    async def enough() -> bool:
        try:
            return await numsub(url, channel) >= count
        except (OSError, redis_asyncio.ConnectionError):
            return False

    await wait_for(enough, f"{count} Redis subscribers of {channel}", within)


@dataclass(eq=False)
class Recorder:
    """A broker callback that keeps every message it gets."""

    messages: list[bytes] = field(default_factory=list)

    def __call__(self, data: bytes) -> None:
        self.messages.append(data)

    async def wait_count(self, count: int, within: float = WAIT) -> None:
        await wait_for(lambda: len(self.messages) >= count, f"{count} messages", within)


@dataclass(eq=False)
class Probe:
    """A hub member (the ``Member`` protocol) that records the broadcasts delivered to it."""

    component_name: str
    component_id: str
    topics: frozenset[str] = frozenset()
    received: list[Broadcast] = field(default_factory=list)

    def deliver(self, broadcast: Broadcast) -> None:
        self.received.append(broadcast)

    def events(self) -> list[str]:
        return [broadcast.event for broadcast in self.received]

    async def wait_count(self, count: int, within: float = WAIT) -> None:
        await wait_for(
            lambda: len(self.received) >= count,
            f"{count} broadcasts for {self.component_name}/{self.component_id}",
            within,
        )


async def barrier(via: Broker, to: Broker, redis_url: str | None) -> None:
    """Return once ``to`` has handled everything ``via`` published before this call: a marker
    that ``via`` publishes on a side channel arrives after them (per-publisher order).
    ``redis_url``: where to check that the side subscription is effective (None: in memory)."""
    channel = unique_channel("barrier")
    recorder = Recorder()
    await to.subscribe(channel, recorder)
    if redis_url is not None:
        await wait_subscribers(redis_url, channel, 1)
    marker = uuid.uuid4().hex.encode()
    await via.publish(channel, marker)
    await wait_for(lambda: marker in recorder.messages, "the barrier marker")
    await to.unsubscribe(channel)


@dataclass
class BrokerKit:
    """Brokers of one kind for one test; :meth:`close` closes every broker it made.
    ``server_url``: the Redis or PostgreSQL server of the kind (None for in-memory kinds)."""

    kind: str
    server_url: str | None = None
    made: list[Broker] = field(default_factory=list)
    _shared: Broker | None = None
    _expected: dict[str, int] = field(default_factory=dict)

    @property
    def redis_url(self) -> str | None:
        return self.server_url if self.kind == "redis" else None

    async def new(self, **options: Any) -> Broker:
        """A broker as another process would have it: for a server a new connection, for the
        in-memory kinds one shared backend."""
        broker: Broker
        if self.kind == "memory":
            if self._shared is None:
                self._shared = MemoryBroker()
                self.made.append(self._shared)
            return self._shared
        if self.kind == "litestar-memory":
            if self._shared is None:  # the first owns the backend's plugin; the rest reuse it
                broker = LitestarChannelsBroker(MemoryChannelsBackend())
                self._shared = broker
            else:
                assert isinstance(self._shared, LitestarChannelsBroker)
                broker = LitestarChannelsBroker(self._shared.plugin)
            self.made.append(broker)
            return broker
        assert self.server_url is not None
        if self.kind == "litestar-postgres":
            broker = LitestarChannelsBroker(AsyncPgChannelsBackend(dsn=self.server_url))
        else:
            options.setdefault("reconnect_initial", 0.05)
            options.setdefault("reconnect_max", 0.5)
            factory = RedisBroker if self.kind == "redis" else PostgresBroker
            broker = factory(self.server_url, **options)
        self.made.append(broker)
        return broker

    async def settled(self, channel: str, added: int = 1) -> None:
        """Wait until ``added`` more subscriptions of ``channel`` are effective."""
        self._expected[channel] = self._expected.get(channel, 0) + added
        if self.redis_url is not None:
            await wait_subscribers(self.redis_url, channel, self._expected[channel])

    async def subscribe(self, broker: Broker, channel: str) -> Recorder:
        """Subscribe a new :class:`Recorder` to ``channel`` on ``broker``, effective on return."""
        recorder = Recorder()
        await broker.subscribe(channel, recorder)
        await self.settled(channel)
        return recorder

    async def unsubscribe(self, broker: Broker, channel: str) -> None:
        """Unsubscribe ``broker`` from ``channel`` and wait until that is effective."""
        await broker.unsubscribe(channel)
        self._expected[channel] = self._expected.get(channel, 1) - 1
        if self.redis_url is not None:
            url, left = self.redis_url, self._expected[channel]

            async def gone() -> bool:
                return await numsub(url, channel) <= left

            await wait_for(gone, f"{left} Redis subscribers of {channel}")

    async def hub(self, channel: str, *members: Probe) -> Hub:
        """A started hub on a new broker with ``members`` joined, subscribed on return."""
        hub = Hub(await self.new(), channel=channel)
        await hub.start()
        await self.settled(channel)
        for member in members:
            hub.join(member)
        return hub

    async def barrier(self, via: Broker, to: Broker) -> None:
        """See :func:`barrier`."""
        await barrier(via, to, self.redis_url)

    async def close(self) -> None:
        for broker in reversed(self.made):  # a shared plugin's owner goes last
            await broker.close()
