"""A member's entry in the hub: entered once, its topics re-indexed only when they change,
left once; broadcasts reach it by name and by its current topics only."""

from __future__ import annotations

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
