"""Presence through the public API and the wire: components over WebSocket on two apps.

Two ``ComponentASGI`` apps whose hubs share one ``MemoryBroker`` stand for two workers (the
same protocol runs over Redis, PostgreSQL and Litestar channels: tests/broker/test_presence.py,
and two real processes: tests/presence/test_processes.py). ``room`` is present in its room's
topic and lists who is there in its template.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.broker import MemoryBroker
from component_framework.core.component import Component
from component_framework.core.hub import Hub
from component_framework.core.presence import DIFF_LIMIT
from component_framework.core.registry import ComponentRegistry
from component_framework.testing import WebSocketTestSession, asgi_request, websocket_connect
from tests.streaming.exchange import Exchange

registry = ComponentRegistry()
renderer = Jinja2Renderer.from_strings(
    {
        "room.html": (
            "<p>{{ viewers | sort | join(', ') }} ({{ count }})"
            "{% if heard %} heard {{ heard | join(' ') }}{% endif %}</p>"
        ),
        "plain.html": "<p>{{ state }}</p>",
    }
)


@registry.register("room")
class Room(Component):
    """Present in ``room:<name>``; hears who comes and goes."""

    template_name = "room.html"
    presence = True

    def mount(self, room: str = "lobby", hidden: bool = False) -> None:
        self.state.update({"room": room, "hidden": hidden, "heard": []})

    def topics(self) -> list[str]:
        return [f"room:{self.state['room']}"]

    def presence_meta(self) -> Mapping[str, Any] | None:
        return None if self.state["hidden"] else super().presence_meta()

    def on_presence(
        self, topic: str, joined: list[dict[str, Any]], left: list[dict[str, Any]]
    ) -> None:
        self.state["heard"] += [f"+{e['name']}" for e in joined] + [f"-{e['name']}" for e in left]

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["viewers"] = [entry["name"] for entry in self.present()]
        context["count"] = self.present_count()
        return context


@registry.register("terse")
class Terse(Room):
    """A hook that takes only ``joined``: it gets only that."""

    def on_presence(self, joined: list[dict[str, Any]]) -> None:  # type: ignore[override]
        self.state["heard"] += [f"+{e['name']}" for e in joined]


@registry.register("busy_room")
class BusyRoom(Room):
    """Counts its ``on_presence`` calls; ``on_work`` keeps it busy for a while."""

    def on_presence(self, joined: list[dict[str, Any]]) -> None:  # type: ignore[override]
        self.state["heard"] = [*self.state["heard"][-1:], f"calls={len(self.state['heard'])}"]
        self.state.setdefault("joined", 0)
        self.state["joined"] += len(joined)

    async def on_work(self) -> None:
        await asyncio.sleep(0.5)


@registry.register("room_feed")
class RoomFeed(Room):
    """The same room as a live SSE subscription."""

    live_updates = True


@registry.register("topicless")
class Topicless(Component):
    template_name = "plain.html"
    presence = True


@registry.register("loud")
class Loud(Room):
    def presence_meta(self) -> Mapping[str, Any] | None:
        return {"name": "x" * 600}


class _User:
    is_authenticated = True

    def __init__(self, name: str) -> None:
        self.display_name = name


def as_user(app: ComponentASGI, name: str) -> Any:
    """``app`` behind a middleware that puts a signed-in user in the scope."""

    async def with_user(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, "user": _User(name)}, receive, send)

    return with_user


def member(
    app: ComponentASGI,
    name: str,
    component: str = "room",
    query: Mapping[str, str] | None = None,
) -> WebSocketTestSession:
    """``name``'s page on ``app``: a socket holding ``component``, signed in as ``name``."""
    return websocket_connect(as_user(app, name), f"/components/{component}/ws/", query=query)


@pytest.fixture
async def workers() -> AsyncIterator[tuple[ComponentASGI, ComponentASGI]]:
    shared = MemoryBroker()
    apps = tuple(
        ComponentASGI(registry=registry, renderer=renderer, hub=Hub(shared, presence_heartbeat=60))
        for _ in range(2)
    )
    yield apps  # type: ignore[misc]
    for app in apps:
        await app.hub.close()


async def _html_until(ws: WebSocketTestSession, text: str) -> str:
    """Renders until one contains ``text`` (the session's timeout bounds the wait)."""
    while True:
        message = await ws.receive_json()
        if message["type"] == "render" and text in message["html"]:
            return str(message["html"])


async def test_a_live_component_lists_itself_from_its_first_render(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app, _ = workers
    async with member(app, "Ada") as ws:
        first = await ws.receive_json()
    assert first["html"] == "<p>Ada (1)</p>"


async def test_a_join_on_another_worker_reaches_the_hook_and_the_list(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app_a, app_b = workers
    async with member(app_a, "Ada") as ada:
        await ada.receive_json()
        async with member(app_b, "Bob") as bob:
            # Bob's worker asks who is there; Ada's answers: Bob's list fills in a push render
            assert await _html_until(bob, "Ada, Bob (2)") == "<p>Ada, Bob (2) heard +Ada</p>"
            assert await _html_until(ada, "+Bob") == "<p>Ada, Bob (2) heard +Bob</p>"
        assert await _html_until(ada, "-Bob") == "<p>Ada (1) heard +Bob -Bob</p>"


async def test_rooms_are_topics_of_their_own(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app_a, app_b = workers
    async with member(app_a, "Ada") as ada:
        await ada.receive_json()
        kitchen = {"room": "kitchen"}
        async with member(app_b, "Cy", query=kitchen) as cy:
            assert (await cy.receive_json())["html"] == "<p>Cy (1)</p>"
            bob = member(app_b, "Bob")
            async with bob:
                await _html_until(ada, "+Bob")  # Ada never hears of Cy, in another room
        assert await _html_until(ada, "-Bob") == "<p>Ada (1) heard +Bob -Bob</p>"


async def test_a_follower_whose_meta_is_none_hears_but_is_not_listed(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app_a, app_b = workers
    hidden = {"hidden": "true"}
    eve_page = member(app_a, "Eve", query=hidden)
    async with eve_page as eve:
        assert (await eve.receive_json())["html"] == "<p> (0)</p>"
        async with member(app_b, "Bob") as bob:
            assert (await bob.receive_json())["html"] == "<p>Bob (1)</p>"
            assert await _html_until(eve, "+Bob") == "<p>Bob (1) heard +Bob</p>"


async def test_an_anonymous_member_is_a_guest_with_a_short_random_label(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app, _ = workers
    async with websocket_connect(app, "/components/room/ws/") as first:
        html = (await first.receive_json())["html"]
    assert re.fullmatch(r"<p>Guest [0-9a-f]{4} \(1\)</p>", html)


async def test_the_hook_gets_only_the_arguments_it_takes(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app_a, app_b = workers
    async with member(app_a, "Ada", "terse") as ada:
        await ada.receive_json()
        async with member(app_b, "Bob"):
            assert await _html_until(ada, "+Bob") == "<p>Ada, Bob (2) heard +Bob</p>"


async def test_presence_without_a_topic_is_a_clear_error(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app, _ = workers
    async with websocket_connect(app, "/components/topicless/ws/") as ws:
        error = await ws.receive_json()
    assert error["type"] == "error"
    assert error["code"] == "configuration_error"


async def test_meta_larger_than_the_bound_is_a_clear_error(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app, _ = workers
    async with websocket_connect(app, "/components/loud/ws/") as ws:
        error = await ws.receive_json()
    assert (error["type"], error["code"]) == ("error", "configuration_error")
    assert len(app.hub.presence.present("room:lobby")) == 0


async def test_an_http_render_lists_who_this_worker_knows(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app, _ = workers
    async with member(app, "Ada") as ada:
        await ada.receive_json()
        answer = await asgi_request(app, "POST", "/components/room/", json={})
    assert answer.json()["html"] == "<p>Ada (1)</p>"


async def test_a_live_sse_subscription_is_present_like_a_socket(
    workers: tuple[ComponentASGI, ComponentASGI],
) -> None:
    app_a, app_b = workers
    feed = Exchange.stream(as_user(app_a, "Sid"), "room_feed", query={"format": "json"})
    try:

        def htmls() -> list[str]:
            return [
                json.loads(e.data)["html"] for e in feed.events if e.event in (None, "", "message")
            ]

        await feed.wait_until(lambda: "<p>Sid (1)</p>" in htmls())
        async with member(app_b, "Bob") as bob:
            assert await _html_until(bob, "Bob, Sid (2)") == "<p>Bob, Sid (2) heard +Sid</p>"
            await feed.wait_until(lambda: "<p>Bob, Sid (2) heard +Bob</p>" in htmls())
        await feed.wait_until(lambda: "<p>Sid (1) heard +Bob -Bob</p>" in htmls())
    finally:
        feed.disconnect()
        await feed.finished()


async def test_a_busy_component_gets_one_call_for_many_changes_and_keeps_its_connection() -> None:
    """While a handler runs, changes for its topic merge into the one queued call (lists
    capped at DIFF_LIMIT) instead of filling the connection's queue (here 4 messages)."""
    hub = Hub(presence_heartbeat=60)
    hub.presence.tick = 0  # every change told on its own
    app = ComponentASGI(
        registry=registry, renderer=renderer, hub=hub, settings=Settings(ws_inbox_messages=4)
    )
    async with member(app, "Ada", "busy_room") as ada:
        await ada.receive_json()
        await ada.send_json({"type": "event", "event": "work", "payload": {}, "ref": "w"})
        for index in range(60):
            await hub.presence.enter(
                _Quiet(), f"k{index}", ["room:lobby"], {"name": "x"}, notify=False
            )
            await asyncio.sleep(0.002)
        while (message := await ada.receive_json()).get("ref") != "w":
            pass
        assert message["type"] == "render"
        last = message
        while last["state"].get("joined", 0) < DIFF_LIMIT:
            last = await ada.receive_json()
    assert last["type"] == "render"
    assert last["state"]["joined"] <= 60
    await hub.close()


class _Quiet:
    def presence_changed(self, topic: str, joined: Any, left: Any) -> None:
        return None
