"""The page's socket (issue 18): several top-level components on one WebSocket.

A ``join`` naming a ``component`` adds it to the open socket, joined through the same checks as
a socket's own component; a ``leave`` removes it. Each keeps its own errors, authorization and
limits, and every message about it names its ``component_id``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from component_framework import ComponentASGI
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import WebSocketTestSession, websocket_connect
from tests.streaming.exchange import eventually
from tests.websocket.helpers import make_app, ws_path
from tests.websocket.ws_components import journal


@asynccontextmanager
async def _page_socket(
    app: ComponentASGI, name: str = "counter", user: str = "ann"
) -> AsyncIterator[WebSocketTestSession]:
    """A socket holding its own ``name`` component (its first render already read)."""
    async with websocket_connect(app, ws_path(name), headers={"x-user": user}) as ws:
        first = await ws.receive_json()
        assert first["type"] == "render", first
        yield ws


async def _join(ws: WebSocketTestSession, name: str, ref: str, **fields: Any) -> dict[str, Any]:
    await ws.send_json({"type": "join", "component": name, "ref": ref, **fields})
    return await ws.receive_json()  # type: ignore[no-any-return]


async def _event(
    ws: WebSocketTestSession, event: str, component_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "event", "event": event, "ref": event, **extra}
    if component_id is not None:
        message["component_id"] = component_id
    await ws.send_json(message)
    return await ws.receive_json()  # type: ignore[no-any-return]


async def _owned_snapshot(app: ComponentASGI, user: str) -> tuple[str, str]:
    async with _page_socket(app, "owned", user) as ws:
        answer = await _event(ws, "note")
    return answer["snapshot"], answer["component_id"]


async def test_joined_components_share_the_socket_and_each_gets_its_own_events(
    app: ComponentASGI,
) -> None:
    async with _page_socket(app) as ws:
        chat = await _join(ws, "chat", "j1", params={"room": "a"})
        other = await _join(ws, "counter", "j2")
        clicked = await _event(ws, "increment", other["component_id"])
        own = await _event(ws, "increment")
    assert (chat["type"], chat["ref"], chat["state"]["room"]) == ("render", "j1", "a")
    assert (other["type"], other["ref"], other["state"]) == ("render", "j2", {"count": 0})
    assert (clicked["component_id"], clicked["state"]) == (other["component_id"], {"count": 1})
    assert own["component_id"] != other["component_id"]
    assert own["state"] == {"count": 1}


async def test_a_joined_component_resumes_from_its_snapshot(app: ComponentASGI) -> None:
    async with _page_socket(app) as ws:
        mounted = await _join(ws, "counter", "j")
        await _event(ws, "increment", mounted["component_id"])
        clicked = await _event(ws, "increment", mounted["component_id"])
    async with _page_socket(app) as ws:
        resumed = await _join(ws, "counter", "again", snapshot=clicked["snapshot"])
        after = await _event(ws, "increment", resumed["component_id"])
    assert resumed["component_id"] == mounted["component_id"]
    assert (resumed["state"], after["state"]) == ({"count": 2}, {"count": 3})


async def test_broadcasts_reach_each_joined_component_with_its_id(app: ComponentASGI) -> None:
    manager = WebSocketManager(hub=app.hub)
    async with _page_socket(app, "chat") as ws:
        joined = await _join(ws, "counter", "j")
        await manager.broadcast(component_name="counter", event="increment")
        push = await ws.receive_json()
        await manager.broadcast(component_name="counter", event="notice", payload={"n": 1})
        forwarded = await ws.receive_json()
    assert (push["type"], push["ref"]) == ("render", None)
    assert (push["component_id"], push["state"]) == (joined["component_id"], {"count": 1})
    assert forwarded == {
        "type": "broadcast",
        "event": "notice",
        "payload": {"n": 1},
        "component_id": joined["component_id"],
    }


async def test_push_renders_of_two_components_both_arrive(app: ComponentASGI) -> None:
    manager = WebSocketManager(hub=app.hub)
    async with _page_socket(app) as ws:
        joined = await _join(ws, "counter", "j")
        await manager.broadcast(component_name="counter", event="increment")
        pushes = [await ws.receive_json(), await ws.receive_json()]
    assert {push["component_id"] for push in pushes} >= {joined["component_id"]}
    assert len({push["component_id"] for push in pushes}) == 2
    assert all(push["state"] == {"count": 1} for push in pushes)


async def test_one_components_error_is_its_own_and_the_others_go_on(app: ComponentASGI) -> None:
    async with _page_socket(app) as ws:
        broken = await _join(ws, "broken", "j")
        failed = await _event(ws, "boom", broken["component_id"])
        own = await _event(ws, "increment")
        again = await _event(ws, "unknown_event", broken["component_id"])
    assert (failed["type"], failed["code"], failed["ref"]) == ("error", "handler_error", "boom")
    assert failed["component_id"] == broken["component_id"]
    assert "secret internal detail" not in failed["message"]
    assert own["state"] == {"count": 1}
    assert (again["code"], again["component_id"]) == ("event_not_found", broken["component_id"])


async def test_a_forged_component_id_is_refused_and_the_socket_stays(app: ComponentASGI) -> None:
    async with _page_socket(app) as ws:
        forged = await _event(ws, "increment", "f" * 32)
        own = await _event(ws, "increment")
    assert (forged["type"], forged["code"], forged["ref"]) == (
        "error",
        "invalid_child",
        "increment",
    )
    assert own["state"] == {"count": 1}


async def test_another_users_component_is_refused_as_it_would_be_alone(
    app: ComponentASGI,
) -> None:
    snapshot, _ = await _owned_snapshot(app, "ann")
    query = {"join": "message"}
    async with websocket_connect(
        app, ws_path("owned"), query=query, headers={"x-user": "bob"}
    ) as ws:
        await ws.send_json({"type": "join", "snapshot": snapshot})
        alone = await ws.receive()
    async with _page_socket(app, user="bob") as ws:
        refused = await _join(ws, "owned", "j", snapshot=snapshot)
        own = await _event(ws, "increment")
        mine = await _join(ws, "owned", "mine")
    assert (alone["type"], alone["code"]) == ("websocket.close", 1008)
    assert refused["message"] == alone["reason"]
    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "forbidden", "j")
    assert "component_id" not in refused
    assert own["state"] == {"count": 1}
    assert mine["state"] == {"owner": "bob", "notes": 0}


async def test_joins_the_client_could_not_open_alone_are_refused(app: ComponentASGI) -> None:
    snapshot, _ = await _owned_snapshot(app, "ann")
    async with _page_socket(app, user="ann") as ws:
        unknown = await _join(ws, "no-such-component", "a")
        forged = await _join(ws, "counter", "b", snapshot="v1.forged.token")
        foreign = await _join(ws, "counter", "c", snapshot=snapshot)  # signed for "owned"
        unfit = await _join(ws, "chat", "d", params={"room": {"no": "dict"}})
        still = await _event(ws, "increment")
    assert (unknown["code"], unknown["ref"]) == ("component_not_found", "a")
    assert (forged["code"], forged["ref"]) == ("invalid_snapshot", "b")
    assert (foreign["code"], foreign["ref"]) == ("invalid_snapshot", "c")
    assert (unfit["code"], unfit["ref"]) == ("validation_error", "d")
    assert still["state"] == {"count": 1}


async def test_a_component_already_on_the_socket_cannot_join_twice(app: ComponentASGI) -> None:
    async with _page_socket(app) as ws:
        joined = await _join(ws, "counter", "j")
        twice = await _join(ws, "counter", "again", snapshot=joined["snapshot"])
        still = await _event(ws, "increment", joined["component_id"])
    assert (twice["type"], twice["code"], twice["ref"]) == ("error", "bad_request", "again")
    assert still["state"] == {"count": 1}


async def test_leave_ends_a_joined_component_and_its_id_is_no_longer_served(
    app: ComponentASGI,
) -> None:
    manager = WebSocketManager(hub=app.hub)
    async with _page_socket(app, "chat") as ws:
        joined = await _join(ws, "counter", "j")
        await ws.send_json({"type": "leave", "component_id": joined["component_id"], "ref": "l"})
        left = await ws.receive_json()
        after = await _event(ws, "increment", joined["component_id"])
        reached = await manager.broadcast(component_name="counter", event="increment")
        await ws.send_json({"type": "leave", "component_id": joined["component_id"], "ref": "x"})
        unknown = await ws.receive_json()
    assert left == {"type": "left", "component_id": joined["component_id"], "ref": "l"}
    assert (after["code"], after["ref"]) == ("invalid_child", "increment")
    assert reached == 0
    assert (unknown["code"], unknown["ref"]) == ("not_joined", "x")


async def test_a_leave_by_join_ref_before_the_joins_answer_leaves_nothing_held(
    app: ComponentASGI,
) -> None:
    manager = WebSocketManager(hub=app.hub)
    async with _page_socket(app, "chat") as ws:
        # The client has no component_id yet: it names the join by its ref.
        await ws.send_json({"type": "join", "component": "counter", "ref": "j"})
        await ws.send_json({"type": "leave", "join_ref": "j", "ref": "l"})
        left = await ws.receive_json()
        reached = await manager.broadcast(component_name="counter", event="increment")
        await ws.send_json({"type": "ping", "ref": "p"})
        after = await ws.receive_json()
        await ws.send_json({"type": "leave", "join_ref": "j", "ref": "again"})
        unknown = await ws.receive_json()
    assert left == {"type": "left", "component_id": None, "ref": "l", "join_ref": "j"}
    assert reached == 0
    assert after == {"type": "pong", "ref": "p"}  # no late answer to the join
    assert (unknown["code"], unknown["ref"]) == ("not_joined", "again")


async def test_a_leave_by_join_ref_after_the_answer_names_the_component(
    app: ComponentASGI,
) -> None:
    async with _page_socket(app, "chat") as ws:
        joined = await _join(ws, "counter", "j")
        await ws.send_json({"type": "leave", "join_ref": "j", "ref": "l"})
        left = await ws.receive_json()
    assert left == {
        "type": "left",
        "component_id": joined["component_id"],
        "ref": "l",
        "join_ref": "j",
    }


async def test_a_leave_needs_a_component_id_or_a_join_ref(app: ComponentASGI) -> None:
    async with _page_socket(app, "chat") as ws:
        await ws.send_json({"type": "leave", "ref": "l"})
        neither = await ws.receive_json()
        await ws.send_json({"type": "leave", "component_id": "x", "join_ref": "j", "ref": "b"})
        both = await ws.receive_json()
        await ws.send_json({"type": "leave", "join_ref": ["j"], "ref": "t"})
        typed = await ws.receive_json()
    assert [m["code"] for m in (neither, both, typed)] == ["malformed_request"] * 3
    assert [m["ref"] for m in (neither, both, typed)] == ["l", "b", "t"]


async def test_the_socket_holds_at_most_ws_max_components() -> None:
    app = make_app(ws_max_components=3)
    async with _page_socket(app) as ws:
        first = await _join(ws, "counter", "1")
        second = await _join(ws, "counter", "2")
        third = await _join(ws, "counter", "3")
        await ws.send_json({"type": "leave", "component_id": first["component_id"], "ref": "l"})
        await ws.receive_json()
        fourth = await _join(ws, "counter", "4")
    assert (first["type"], second["type"]) == ("render", "render")
    assert (third["type"], third["code"], third["ref"]) == ("error", "rate_limited", "3")
    assert fourth["type"] == "render"


async def test_closing_the_socket_ends_every_joined_component(app: ComponentASGI) -> None:
    manager = WebSocketManager(hub=app.hub)
    async with _page_socket(app, "chat") as ws:
        await _join(ws, "counter", "1")
        await _join(ws, "counter", "2")
        assert await manager.broadcast(component_name="counter", event="notice") == 2
    assert await manager.broadcast(component_name="counter", event="notice") == 0


async def test_a_joined_component_that_cannot_keep_up_ends_alone() -> None:
    app = make_app(ws_inbox_messages=2)
    manager = WebSocketManager(hub=app.hub)
    async with _page_socket(app) as ws:
        sleeper = await _join(ws, "sleeper", "j")
        await ws.send_json(
            {"type": "event", "event": "wait", "component_id": sleeper["component_id"], "tag": "t"}
        )
        await eventually(lambda: journal.has("start", "t"))
        for _ in range(4):  # queued behind the running handler: past the queue's two places
            await manager.broadcast(component_name="sleeper", event="note", payload={"text": "x"})
        ended = await ws.receive_json()
        await eventually(lambda: journal.has("finally", "t"))
        own = await _event(ws, "increment")
    assert (ended["type"], ended["code"]) == ("error", "slow_consumer")
    assert ended["component_id"] == sleeper["component_id"]
    assert own["state"] == {"count": 1}
    assert await manager.broadcast(component_name="sleeper", event="note") == 0


async def test_leave_cancels_the_running_handler_of_that_component_only(
    app: ComponentASGI,
) -> None:
    async with _page_socket(app) as ws:
        sleeper = await _join(ws, "sleeper", "j")
        await ws.send_json(
            {"type": "event", "event": "wait", "component_id": sleeper["component_id"], "tag": "t"}
        )
        await eventually(lambda: journal.has("start", "t"))
        await ws.send_json({"type": "leave", "component_id": sleeper["component_id"]})
        left = await ws.receive_json()
        await eventually(lambda: journal.has("finally", "t"))
        own = await _event(ws, "increment")
    assert left["type"] == "left"
    assert own["state"] == {"count": 1}


async def test_htmx_answers_of_a_joined_component_go_into_its_target(app: ComponentASGI) -> None:
    query = {"format": "html", "target": "own-box"}
    async with websocket_connect(app, ws_path("counter"), query=query) as ws:
        assert 'id="own-box"' in await ws.receive_text()
        join = {"type": "join", "component": "counter", "target": "other-box", "ref": "j"}
        await ws.send_json(join)
        joined = await ws.receive_text()
        component_id = re.findall(r'id="([^"]+)"', joined)[1]  # its root, inside the target
        await ws.send_json({"event": "increment", "component_id": component_id, "HEADERS": {}})
        clicked = await ws.receive_text()
        await ws.send_json({**join, "target": "not an id!", "ref": "bad"})
        refused = await ws.receive_json()
    assert joined.startswith('<div id="other-box" hx-swap-oob="innerHTML">')
    assert clicked.startswith('<div id="other-box" hx-swap-oob="innerHTML">')
    assert '<span class="count">1</span>' in clicked
    assert (refused["code"], refused["ref"]) == ("malformed_request", "bad")


async def test_each_join_costs_a_request_of_the_clients_budget_as_a_handshake_does() -> None:
    app = make_app(http_rate=0.001, http_burst=2)
    async with _page_socket(app) as ws:  # the handshake: the first of the two
        joined = await _join(ws, "counter", "1")
        refused = await _join(ws, "counter", "2")
        own = await _event(ws, "increment")
    assert joined["type"] == "render"
    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "rate_limited", "2")
    assert own["state"] == {"count": 1}
