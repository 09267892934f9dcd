"""One measurement of one broker: a publisher and ``subscribers`` other brokers, in one process.

Owns the timed part. :func:`measure` builds the brokers of one kind (:data:`KINDS`), subscribes
``subscribers`` of them (each its own connection, as another worker process would have one),
warms up, then times:

- **latency**: ``latency_messages`` broadcasts one at a time (each a real hub message, about
  100 bytes), each timed from before ``publish`` until the last subscriber's callback ran; p50
  and p99;
- **throughput**: broadcasts published back to back (each ``publish`` awaited, as the hub does)
  for at most ``throughput_seconds`` or ``throughput_messages``, timed until every subscriber
  had every message: messages per second, and CPU per message of this process (publisher and
  subscribers) and of the broker's server process tree;
- **large**: ``large_messages`` messages of 64 KiB, one at a time, p50 latency (PostgreSQL
  splits each into 9 NOTIFYs).

Every subscriber must get every message exactly once and in order, or the run is an error.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from component_framework.adapters.litestar_channels_broker import LitestarChannelsBroker
from component_framework.adapters.postgres_broker import PostgresBroker
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.broker import Broker, MemoryBroker
from component_framework.core.hub import Broadcast

__all__ = ["KINDS", "Plan", "measure", "tree_cpu_seconds"]

#: kind -> (label, which server it needs: "redis", "postgres" or None)
KINDS: Final = {
    "memory": ("MemoryBroker (one process only)", None),
    "redis": ("RedisBroker, redis://", "redis"),
    "postgres": ("PostgresBroker, postgresql://", "postgres"),
    "litestar-memory": ("LitestarChannelsBroker, memory backend (one process only)", None),
    "litestar-postgres": ("LitestarChannelsBroker, asyncpg backend", "postgres"),
}
CHANNEL: Final = "component_framework:broadcast"
LARGE: Final = 64 * 1024
WAIT: Final = 30.0


@dataclass(frozen=True)
class Plan:
    subscribers: int = 3
    warmup_messages: int = 50
    latency_messages: int = 300
    throughput_messages: int = 20_000
    throughput_seconds: float = 3.0
    large_messages: int = 30


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU seconds of ``pid`` and its descendants, the exited ones included (Linux /proc)."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        own = (int(fields[11]) + int(fields[12])) / tick
        reaped = (int(fields[13]) + int(fields[14])) / tick
        stats[int(entry.name)] = (int(fields[1]), own, reaped)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current not in stats:
            continue
        total += stats[current][1] + stats[current][2]
        todo.extend(child for child, (parent, _, _) in stats.items() if parent == current)
    return total


@dataclass(eq=False)
class Counter:
    """A subscriber callback that checks each message against what was published (``sent``,
    in order) and signals when ``target`` messages arrived."""

    sent: list[bytes]
    received: int = 0
    target: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)

    def __call__(self, data: bytes) -> None:
        index = self.received
        wrong = index >= len(self.sent) or data != self.sent[index]
        if wrong and len(self.errors) < 5:
            self.errors.append(f"message {index} is wrong, extra or out of order")
        self.received += 1
        if self.received >= self.target:
            self.reached.set()

    def arm(self, target: int) -> None:
        self.target = self.received + target
        self.reached.clear()


def _brokers(kind: str, url: str | None, count: int) -> list[Broker]:
    if kind == "memory":
        return [MemoryBroker()] * count
    if kind == "litestar-memory":
        first = LitestarChannelsBroker(MemoryChannelsBackend())
        return [first, *(LitestarChannelsBroker(first.plugin) for _ in range(count - 1))]
    assert url is not None
    if kind == "litestar-postgres":
        return [LitestarChannelsBroker(AsyncPgChannelsBackend(dsn=url)) for _ in range(count)]
    factory = RedisBroker if kind == "redis" else PostgresBroker
    return [factory(url) for _ in range(count)]


async def _wait_all(counters: list[Counter]) -> None:
    async with asyncio.timeout(WAIT):
        for counter in counters:
            await counter.reached.wait()


def _broadcast(sequence: int) -> bytes:
    """A hub message as ``WebSocketManager.broadcast`` makes it (about 100 bytes)."""
    payload = {"ticker": "ACME", "price": 101.5, "seq": sequence}
    return Broadcast("price_update", payload, "ticker").encode("0123456789abcdef")


async def _one_at_a_time(
    publisher: Broker, counters: list[Counter], messages: list[bytes]
) -> list[float]:
    latencies = []
    for data in messages:
        for counter in counters:
            counter.arm(1)
        counters[0].sent.append(data)
        start = time.perf_counter()
        await publisher.publish(CHANNEL, data)
        await _wait_all(counters)
        latencies.append(time.perf_counter() - start)
    return latencies


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(kind: str, url: str | None, server_pid: int | None, plan: Plan) -> dict[str, Any]:
    """Measure ``kind`` (on the server at ``url``); see the module docstring."""
    brokers = _brokers(kind, url, plan.subscribers + 1)
    publisher, subscribers = brokers[0], brokers[1:]
    sent: list[bytes] = []
    counters = [Counter(sent) for _ in subscribers]
    numbered = [_broadcast(index) for index in range(plan.throughput_messages)]
    try:
        for broker, counter in zip(subscribers, counters, strict=True):
            await broker.subscribe(CHANNEL, counter)
        await asyncio.sleep(0.2)  # Redis confirms subscriptions in the background
        await _one_at_a_time(publisher, counters, numbered[: plan.warmup_messages])

        latencies = await _one_at_a_time(publisher, counters, numbered[: plan.latency_messages])

        for counter in counters:
            counter.arm(plan.throughput_messages)
        cpu, server_cpu = time.process_time(), tree_cpu_seconds(server_pid)
        start = time.perf_counter()
        published = 0
        for data in numbered:
            sent.append(data)
            await publisher.publish(CHANNEL, data)
            published += 1
            if published % 50 == 0 and time.perf_counter() - start > plan.throughput_seconds:
                break
        for counter in counters:
            counter.target -= plan.throughput_messages - published
            if counter.received >= counter.target:
                counter.reached.set()
        await _wait_all(counters)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        server_cpu = tree_cpu_seconds(server_pid) - server_cpu

        large = await _one_at_a_time(
            publisher, counters, [os.urandom(LARGE) for _ in range(plan.large_messages)]
        )
        errors = [error for counter in counters for error in counter.errors]
        expected = len(sent)
        errors += [
            f"subscriber {index} got {counter.received} of {expected} messages"
            for index, counter in enumerate(counters)
            if counter.received != expected
        ]
    finally:
        for broker in reversed(brokers):
            await broker.close()
    return {
        "kind": kind,
        "subscribers": plan.subscribers,
        "message_bytes": len(numbered[0]),
        "latency_p50_ms": statistics.median(latencies) * 1000,
        "latency_p99_ms": _percentile(latencies, 0.99) * 1000,
        "messages": published,
        "messages_per_s": published / elapsed,
        "client_cpu_us_per_message": cpu / published * 1e6,
        "server_cpu_us_per_message": server_cpu / published * 1e6 if server_pid else None,
        "large_p50_ms": statistics.median(large) * 1000,
        "errors": errors,
    }
