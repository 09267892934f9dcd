"""Presence across hubs: two hubs on one broker (of every kind) model two processes.

A :class:`Viewer` is a presence member (``core.presence.PresenceMember``) that records the
changes it hears. Hubs beat every 0.2 s here, so a hub that stops beating is dropped within
its lease (0.6 s) plus one beat of the survivor; every wait is bounded (``support.WAIT``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from component_framework.core.hub import Hub
from tests.broker.support import WAIT, BrokerKit, unique_channel, wait_for

HEARTBEAT = 0.2


@dataclass(eq=False)
class Viewer:
    """A member that records ``presence_changed`` calls as (topic, joined keys, left keys)."""

    heard: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    def presence_changed(
        self, topic: str, joined: list[dict[str, Any]], left: list[dict[str, Any]]
    ) -> None:
        self.heard.append((topic, [e["key"] for e in joined], [e["key"] for e in left]))

    def joined(self) -> list[str]:
        return [key for _, keys, _ in self.heard for key in keys]

    def left(self) -> list[str]:
        return [key for _, _, keys in self.heard for key in keys]


async def _hub(kit: BrokerKit, channel: str) -> Hub:
    hub = Hub(await kit.new(), channel=channel, presence_heartbeat=HEARTBEAT)
    await hub.start()
    return hub


async def _linked(kit: BrokerKit, channel: str, hubs: int) -> None:
    """Wait until ``hubs`` presence subscriptions are effective (Redis subscribes later)."""
    await kit.settled(f"{channel}:presence", hubs)


@dataclass
class Room:
    """Wanda (a watcher on hub B) and Alice (on hub A) in ``room``, B having heard Alice."""

    hub_a: Hub
    hub_b: Hub
    watcher: Viewer
    alice: Viewer


async def _room(kit: BrokerKit, channel: str, *, alice_hears: bool = False) -> Room:
    """The arrange step of the two-hub tests: both hubs started and linked, Wanda entered on
    B, Alice on A (hearing changes herself when ``alice_hears``), and B heard her join."""
    hub_a, hub_b = await _hub(kit, channel), await _hub(kit, channel)
    watcher, alice = Viewer(), Viewer()
    await hub_b.presence.enter(watcher, "w", ["room"], {"name": "Wanda"}, notify=True)
    await hub_a.presence.enter(alice, "a", ["room"], {"name": "Alice"}, notify=alice_hears)
    await _linked(kit, channel, 2)
    await wait_for(lambda: "a" in watcher.joined(), "hub B to hear Alice join")
    return Room(hub_a, hub_b, watcher, alice)


def _names(hub: Hub, topic: str) -> list[str]:
    return sorted(entry["name"] for entry in hub.presence.present(topic))


async def test_a_member_joining_in_one_hub_is_listed_and_heard_in_the_other(
    broker_factory: BrokerKit,
) -> None:
    room = await _room(broker_factory, unique_channel("presence"), alice_hears=True)

    await wait_for(lambda: _names(room.hub_a, "room") == ["Alice", "Wanda"], "A to list both")
    assert _names(room.hub_b, "room") == ["Alice", "Wanda"]
    assert room.hub_b.presence.count("room") == 2
    assert room.hub_b.presence.present("room", limit=1) == [{"name": "Alice", "key": "a"}]


async def test_a_member_leaving_is_heard_as_left_in_the_other_hub(
    broker_factory: BrokerKit,
) -> None:
    room = await _room(broker_factory, unique_channel("presence"))

    room.hub_a.presence.leave(room.alice)

    await wait_for(lambda: room.watcher.left() == ["a"], "hub B to hear Alice leave")
    assert _names(room.hub_b, "room") == ["Wanda"]


async def test_a_hub_that_stops_beating_has_its_members_expire_elsewhere(
    broker_factory: BrokerKit,
) -> None:
    """A process cut off from the broker (or crashed) says nothing: its lease runs out."""
    room = await _room(broker_factory, unique_channel("presence"))
    broker_a = room.hub_a.broker
    assert broker_a is not None
    if broker_factory.kind in ("memory", "litestar-memory"):  # one shared broker: mute A only
        room.hub_a.presence._broker = lambda: None
    else:
        await broker_a.close()

    await wait_for(lambda: room.watcher.left() == ["a"], "Alice to expire", HEARTBEAT * 5 + WAIT)
    assert _names(room.hub_b, "room") == ["Wanda"]


async def test_a_hub_that_closes_says_goodbye_and_its_members_leave_at_once(
    broker_factory: BrokerKit,
) -> None:
    channel = unique_channel("presence")
    hub_a = Hub(await broker_factory.new(), channel=channel, presence_heartbeat=60)
    hub_b = Hub(await broker_factory.new(), channel=channel, presence_heartbeat=60)
    watcher, alice = Viewer(), Viewer()
    await hub_b.presence.enter(watcher, "w", ["room"], {"name": "Wanda"}, notify=True)
    await hub_a.presence.enter(alice, "a", ["room"], {"name": "Alice"}, notify=False)
    await _linked(broker_factory, channel, 2)
    hub_a.presence.update(alice, "a", ["room"], {"name": "Alice 2"}, notify=False)
    await wait_for(lambda: _names(hub_b, "room") == ["Alice 2", "Wanda"], "B to list Alice")
    await wait_for(lambda: "a" in watcher.joined(), "B to hear Alice")  # told once a tick

    await hub_a.presence.close()  # what Hub.close does first; the lease (180 s) is not waited

    await wait_for(lambda: watcher.left() == ["a"], "Alice to leave with her process")


async def test_a_late_follower_learns_who_is_already_there(broker_factory: BrokerKit) -> None:
    channel = unique_channel("presence")
    hub_a, hub_b = await _hub(broker_factory, channel), await _hub(broker_factory, channel)
    await hub_a.presence.enter(Viewer(), "a1", ["room"], {"name": "Alice"}, notify=False)
    await hub_a.presence.enter(Viewer(), "a2", ["room"], {"name": "Bob"}, notify=False)
    await hub_a.presence.enter(Viewer(), "a3", ["other"], {"name": "Carol"}, notify=False)

    late = Viewer()
    await hub_b.presence.enter(late, "w", ["room"], None, notify=True)  # follows, not listed
    await _linked(broker_factory, channel, 2)

    await wait_for(lambda: _names(hub_b, "room") == ["Alice", "Bob"], "B to learn the room")
    await wait_for(lambda: sorted(late.joined()) == ["a1", "a2"], "the follower to hear them")
    assert _names(hub_a, "room") == ["Alice", "Bob"]  # a follower only is not listed
    assert hub_b.presence.present("other") == []  # nobody in B follows it


async def test_a_present_member_without_a_hook_still_lists_every_worker(
    broker_factory: BrokerKit,
) -> None:
    channel = unique_channel("presence")
    hub_a, hub_b = await _hub(broker_factory, channel), await _hub(broker_factory, channel)
    quiet = Viewer()
    await hub_b.presence.enter(quiet, "q", ["room"], {"name": "Quinn"}, notify=False)
    await hub_a.presence.enter(Viewer(), "a", ["room"], {"name": "Alice"}, notify=False)
    await _linked(broker_factory, channel, 2)

    await wait_for(lambda: _names(hub_b, "room") == ["Alice", "Quinn"], "B to list Alice")
    assert quiet.heard == []
