"""A member's entry in the hub: entered once, its topics re-indexed only when they change,
left once; broadcasts reach it by name and by its current topics only."""

from __future__ import annotations

import asyncio

from hypothesis import assume, given
from hypothesis import strategies as st

from component_framework.core.hub import Broadcast, Hub, Membership


class Member:
    """A live component as the hub sees it; its topics are its membership's."""

    component_name = "board"
    component_id = "board-1"

    def __init__(self, hub: Hub) -> None:
        self.membership = Membership(hub, self)
        self.received: list[str] = []

    @property
    def topics(self) -> frozenset[str]:
        return self.membership.topics

    def deliver(self, broadcast: Broadcast) -> None:
        self.received.append(broadcast.event)


async def test_a_member_is_reached_only_once_it_entered() -> None:
    hub = Hub()
    member = Member(hub)
    await hub.deliver(Broadcast("tick", component_name="board"))
    assert hub.members() == []

    await member.membership.enter(frozenset({"room:a"}))
    await hub.deliver(Broadcast("tick", component_name="board"))
    await hub.deliver(Broadcast("chat", topic="room:a"))

    assert hub.members() == [member]
    assert member.received == ["tick", "chat"]


async def test_topics_follow_updates_and_a_second_enter_only_updates() -> None:
    hub = Hub()
    member = Member(hub)
    await member.membership.enter(frozenset({"room:a"}))

    await member.membership.enter(frozenset({"room:b"}))  # a join again: same entry
    await hub.deliver(Broadcast("old", topic="room:a"))
    await hub.deliver(Broadcast("new", topic="room:b"))
    member.membership.update(frozenset({"room:c"}))
    await hub.deliver(Broadcast("moved", topic="room:c"))

    assert len(hub) == 1
    assert member.received == ["new", "moved"]


async def test_leaving_is_idempotent_and_updates_after_it_change_nothing() -> None:
    hub = Hub()
    member = Member(hub)
    member.membership.leave()  # never entered: nothing to leave
    await member.membership.enter(frozenset({"room:a"}))

    member.membership.leave()
    member.membership.leave()
    member.membership.update(frozenset({"room:b"}))
    await hub.deliver(Broadcast("tick", component_name="board"))
    await hub.deliver(Broadcast("chat", topic="room:b"))

    assert len(hub) == 0
    assert member.received == []


class _Indexed:
    """A member with fixed name, id and topics, entered through its membership."""

    def __init__(self, hub: Hub, name: str, component_id: str) -> None:
        self.component_name, self.component_id = name, component_id
        self.membership = Membership(hub, self)
        self.received = 0

    @property
    def topics(self) -> frozenset[str]:
        return self.membership.topics

    def deliver(self, broadcast: Broadcast) -> None:
        self.received += 1


_NAMES = st.sampled_from(["board", "chat"])
_IDS = st.sampled_from(["a", "b", "c"])
_TOPICS = st.frozensets(st.sampled_from(["room:a", "room:b"]), max_size=2)


@given(
    members=st.lists(st.tuples(_NAMES, _IDS, _TOPICS, _TOPICS), max_size=8),
    name=st.none() | _NAMES,
    component_id=st.none() | _IDS,
    topic=st.none() | st.sampled_from(["room:a", "room:b"]),
)
def test_a_broadcast_reaches_exactly_the_members_it_matches(
    members: list[tuple[str, str, frozenset[str], frozenset[str]]],
    name: str | None,
    component_id: str | None,
    topic: str | None,
) -> None:
    """The hub takes a one-target broadcast's members from its index unchecked: they are
    exactly those that ``Broadcast.matches`` (the general rule) picks, topics re-indexed."""
    assume(name is not None or component_id is not None or topic is not None)
    broadcast = Broadcast("tick", component_name=name, component_id=component_id, topic=topic)

    async def scenario() -> list[_Indexed]:
        hub = Hub()
        entered = [_Indexed(hub, *member[:2]) for member in members]
        for member, (_, _, first, later) in zip(entered, members, strict=True):
            await member.membership.enter(first)
            member.membership.update(later)
        reached = await hub.deliver(broadcast)
        assert reached == sum(member.received for member in entered)
        return entered

    for member in asyncio.run(scenario()):
        assert member.received == (1 if broadcast.matches(member) else 0)
