"""``core.presence.Presence`` on one in-process broker: its bounds and its healing.

Two hubs on one ``MemoryBroker`` stand for two processes (every broker kind runs the same
protocol: tests/broker/test_presence.py). ``Lossy`` drops what one hub receives while it is
switched off, as an outage would.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from component_framework.core.broker import MemoryBroker, MessageCallback
from component_framework.core.hub import Hub
from component_framework.core.presence import DIFF_LIMIT, LIST_LIMIT, MAX_META_BYTES, checked_meta
from component_framework.errors import ConfigurationError
from tests.broker.support import wait_for


@dataclass(eq=False)
class Viewer:
    heard: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = field(default_factory=list)

    def presence_changed(
        self, topic: str, joined: list[dict[str, Any]], left: list[dict[str, Any]]
    ) -> None:
        self.heard.append((joined, left))


class Lossy:
    """A hub's link to a shared ``MemoryBroker`` whose receiving side can be switched off."""

    def __init__(self, shared: MemoryBroker) -> None:
        self.shared, self.hearing = shared, True

    async def publish(self, channel: str, data: bytes) -> None:
        await self.shared.publish(channel, data)

    async def subscribe(self, channel: str, callback: MessageCallback) -> None:
        await self.shared.subscribe(channel, lambda data: self.hearing and callback(data))

    async def unsubscribe(self, channel: str) -> None:
        await self.shared.unsubscribe(channel)

    @property
    def connected(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def test_meta_must_be_small_json_without_a_key() -> None:
    assert checked_meta({"name": "Ada"}, "meta") == {"name": "Ada"}
    with pytest.raises(ConfigurationError, match="at most 512"):
        checked_meta({"name": "x" * MAX_META_BYTES}, "meta")
    with pytest.raises(ConfigurationError, match="'key'"):
        checked_meta({"key": "mine"}, "meta")
    with pytest.raises(ConfigurationError, match="JSON"):
        checked_meta({"when": object()}, "meta")
    with pytest.raises(ConfigurationError, match="mapping"):
        checked_meta(["Ada"], "meta")


async def test_a_burst_of_joins_is_one_call_with_a_bounded_list() -> None:
    hub = Hub()
    watcher = Viewer()
    await hub.presence.enter(watcher, "w", ["room"], None, notify=True)
    await asyncio.sleep(0.1)  # past the first window
    for index in range(LIST_LIMIT + 20):
        await hub.presence.enter(Viewer(), f"k{index:03}", ["room"], {"n": index}, notify=False)

    await wait_for(lambda: sum(len(joined) for joined, _ in watcher.heard) >= DIFF_LIMIT, "calls")
    await asyncio.sleep(0.2)
    assert len(watcher.heard) <= 2  # the first join at once, the rest at the window's end
    assert all(len(joined) <= DIFF_LIMIT for joined, _ in watcher.heard)
    assert hub.presence.count("room") == LIST_LIMIT + 20
    assert len(hub.presence.present("room")) == LIST_LIMIT
    assert len(hub.presence.present("room", limit=5)) == 5
    await hub.close()


async def test_a_join_and_leave_within_one_window_are_never_told() -> None:
    hub = Hub()
    watcher, passer = Viewer(), Viewer()
    await hub.presence.enter(watcher, "w", ["room"], None, notify=True)
    await hub.presence.enter(Viewer(), "first", ["room"], {"n": 0}, notify=False)  # opens it
    await hub.presence.enter(passer, "passer", ["room"], {"n": 1}, notify=False)
    hub.presence.leave(passer)

    await asyncio.sleep(0.2)
    told = [entry["key"] for joined, left in watcher.heard for entry in joined + left]
    assert "passer" not in told
    await hub.close()


async def test_a_changed_meta_is_told_as_a_join_with_the_new_meta() -> None:
    shared = MemoryBroker()
    hub_a, hub_b = Hub(shared), Hub(shared)
    watcher, alice = Viewer(), Viewer()
    await hub_b.presence.enter(watcher, "w", ["room"], None, notify=True)
    await hub_a.presence.enter(alice, "a", ["room"], {"status": "reading"}, notify=False)
    await wait_for(lambda: len(watcher.heard) == 1, "the join")

    hub_a.presence.update(alice, "a", ["room"], {"status": "typing"}, notify=False)

    await wait_for(lambda: len(watcher.heard) == 2, "the change")
    assert watcher.heard[1] == ([{"status": "typing", "key": "a"}], [])
    assert hub_b.presence.present("room") == [{"status": "typing", "key": "a"}]
    await hub_a.close()
    await hub_b.close()


async def test_joins_missed_in_an_outage_are_healed_by_the_next_beat() -> None:
    shared = MemoryBroker()
    link_b = Lossy(shared)
    hub_a = Hub(shared, presence_heartbeat=0.2)
    hub_b = Hub(link_b, presence_heartbeat=0.2)
    await hub_b.presence.enter(Viewer(), "w", ["room"], None, notify=True)
    await hub_a.presence.enter(Viewer(), "a1", ["room"], {"name": "Alice"}, notify=False)
    await wait_for(lambda: hub_b.presence.count("room") == 1, "B to list Alice")

    link_b.hearing = False
    await hub_a.presence.enter(Viewer(), "a2", ["room"], {"name": "Bob"}, notify=False)
    await asyncio.sleep(0.1)  # Bob's diff went out and was lost for B
    assert hub_b.presence.count("room") == 1
    link_b.hearing = True

    await wait_for(lambda: hub_b.presence.count("room") == 2, "a beat to heal B's list")
    assert [e["name"] for e in hub_b.presence.present("room")] == ["Alice", "Bob"]
    await hub_a.close()
    await hub_b.close()


async def test_a_malformed_presence_message_is_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = MemoryBroker()
    hub = Hub(shared)
    await hub.presence.enter(Viewer(), "w", ["room"], {"name": "W"}, notify=True)
    caplog.set_level(logging.WARNING, "component_framework")
    channel = f"{hub.channel}:presence"
    for junk in (b"not json", b'{"v": 1, "o": "x", "k": "diff", "t": "room", "j": 3, "l": []}'):
        await shared.publish(channel, junk)
    await asyncio.sleep(0.05)

    assert [e["name"] for e in hub.presence.present("room")] == ["W"]
    assert sum("malformed presence message" in r.getMessage() for r in caplog.records) == 2
    await hub.close()
