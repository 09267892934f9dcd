"""Broadcasts through ``WebSocketManager`` to live WebSocket connections."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import WebSocketTestSession, websocket_connect
from tests.streaming.exchange import eventually
from tests.websocket.helpers import make_app, ws_path
from tests.websocket.ws_components import gates, journal


async def _open(
    stack: AsyncExitStack, app: ComponentASGI, name: str, **query: Any
) -> tuple[WebSocketTestSession, dict[str, Any]]:
    ws = await stack.enter_async_context(websocket_connect(app, ws_path(name), query=query))
    first = await ws.receive_json()
    assert first["type"] == "render", first
    return ws, first


async def test_broadcast_by_name_runs_the_handler_on_every_instance_and_pushes_renders(
    app: ComponentASGI,
):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        sockets = [(await _open(stack, app, "counter"))[0] for _ in range(3)]
        reached = await manager.broadcast(component_name="counter", event="increment")
        pushes = [await ws.receive_json() for ws in sockets]
    assert reached == 3
    for push in pushes:
        assert push["type"] == "render"
        assert push["ref"] is None
        assert push["state"] == {"count": 1}
    assert len({push["component_id"] for push in pushes}) == 3


async def test_broadcast_payload_is_bound_to_the_handler(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "chat", room="a")
        await manager.broadcast(component_name="chat", event="message", payload={"text": "hi"})
        push = await ws.receive_json()
    assert push["state"]["messages"] == ["hi"]
    assert "<li>hi</li>" in push["html"]


async def test_broadcast_without_a_handler_is_forwarded_to_the_client(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "counter")
        payload = {"level": "info", "items": [1, 2]}
        await manager.broadcast(component_name="counter", event="notice", payload=payload)
        message = await ws.receive_json()
        after = await ws.event("increment", ref="after")
    assert message == {"type": "broadcast", "event": "notice", "payload": payload}
    assert after["state"] == {"count": 1}


async def test_broadcast_to_a_component_id_reaches_only_that_instance(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        target, target_first = await _open(stack, app, "counter")
        other, _ = await _open(stack, app, "counter")
        reached = await manager.send_to(target_first["component_id"], "increment")
        push = await target.receive_json()
        # the other instance's queue would hold the broadcast before this event
        answer = await other.event("increment", ref="o")
    assert reached == 1
    assert push["component_id"] == target_first["component_id"]
    assert push["state"] == {"count": 1}
    assert answer["ref"] == "o"
    assert answer["state"] == {"count": 1}


async def test_component_id_and_name_targets_combine(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        _, first = await _open(stack, app, "counter")
        reached = await manager.broadcast(
            component_name="chat", event="increment", component_id=first["component_id"]
        )
    assert reached == 0


async def test_topic_broadcast_reaches_only_the_room(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        room_a, _ = await _open(stack, app, "chat", room="a")
        room_b, _ = await _open(stack, app, "chat", room="b")
        reached = await manager.publish("room:a", "message", {"text": "for a"})
        push = await room_a.receive_json()
        answer = await room_b.event("message", {"text": "own"}, ref="b")
    assert reached == 1
    assert push["state"]["messages"] == ["for a"]
    assert answer["state"]["messages"] == ["own"]


async def test_topics_follow_an_event_that_switches_room(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        mover, _ = await _open(stack, app, "chat", room="a")
        stayer, _ = await _open(stack, app, "chat", room="b")
        switched = await mover.event("switch", {"room": "b"}, ref="s")
        reached_a = await manager.publish("room:a", "message", {"text": "to a"})
        reached_b = await manager.publish("room:b", "message", {"text": "to b"})
        mover_push = await mover.receive_json()
        stayer_push = await stayer.receive_json()
    assert switched["state"]["room"] == "b"
    assert reached_a == 0
    assert reached_b == 2
    assert mover_push["state"]["messages"] == ["to b"]
    assert stayer_push["state"]["messages"] == ["to b"]


async def test_topic_and_name_targets_combine(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        await _open(stack, app, "chat", room="a")
        assert await manager.publish("room:a", "message", {"text": "x"},
                                     component_name="counter") == 0  # fmt: skip
        assert await manager.publish("room:a", "message", {"text": "x"},
                                     component_name="chat") == 1  # fmt: skip


async def test_broadcast_payload_that_does_not_fit_is_logged_and_skipped(
    app: ComponentASGI, caplog: pytest.LogCaptureFixture
):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "typed")
        with caplog.at_level(logging.ERROR, logger="component_framework"):
            await manager.broadcast(
                component_name="typed", event="numbers", payload={"count": "many", "ratio": 1}
            )
        answer = await ws.event("numbers", {"count": 2, "ratio": 0.5}, ref="ok")
    assert answer["type"] == "render"  # no error and no push render came first
    assert answer["ref"] == "ok"
    assert answer["state"]["last"] == {"count": 2, "ratio": 0.5, "flag": False}
    assert any("numbers" in record.getMessage() for record in caplog.records)


async def test_async_broadcast_handler_runs_and_pushes_a_render(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "sentiment")
        await manager.broadcast(component_name="sentiment", event="analyze",
                                payload={"text": "broadcast"})  # fmt: skip
        push = await ws.receive_json()
    assert push["type"] == "render"
    assert push["ref"] is None
    assert push["state"]["text"] == "broadcast"


async def test_queued_broadcasts_are_coalesced_into_one_push_render(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "sentiment")
        for index in range(5):  # async handler: queued, applied in order, rendered once
            await manager.broadcast(component_name="sentiment", event="analyze",
                                    payload={"text": f"t{index}"})  # fmt: skip
        push = await ws.receive_json()
        answer = await ws.event("analyze", {"text": "mine"}, ref="m")
    assert push["ref"] is None
    assert push["state"]["text"] == "t4"
    assert answer["ref"] == "m"  # no second push render before the answer


async def test_broadcast_waits_behind_a_running_event_and_is_applied_after_it(
    app: ComponentASGI,
):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "sleeper")
        await ws.send_json({"type": "event", "event": "hold", "payload": {"tag": "event"},
                            "ref": "e"})  # fmt: skip
        await eventually(lambda: journal.has("start", "event"))
        await manager.broadcast(component_name="sleeper", event="note",
                                payload={"text": "broadcast"})  # fmt: skip
        gates.open("event")
        answer = await ws.receive_json()
        push = await ws.receive_json()
    assert answer["ref"] == "e"
    assert answer["state"]["tag"] == "event"
    assert push["ref"] is None
    assert push["state"]["tag"] == "broadcast"


async def test_broadcast_to_a_failing_handler_sends_handler_error_and_the_socket_goes_on(
    app: ComponentASGI,
):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "broken")
        assert await manager.broadcast(component_name="broken", event="boom") == 1
        error = await ws.receive_json()
        await ws.send_json({"type": "ping", "ref": "p"})
        pong = await ws.receive_json()
    assert error["type"] == "error"
    assert error["code"] == "handler_error"
    assert error["ref"] is None
    assert "secret internal detail" not in error["message"]
    assert pong == {"type": "pong", "ref": "p"}


async def test_broadcast_to_a_generator_handler_pushes_a_render_per_yield(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "ticker")
        await manager.broadcast(component_name="ticker", event="tick", payload={"times": 3})
        pushes = [await ws.receive_json() for _ in range(3)]
        answer = await ws.event("tick", {"times": 1}, ref="t")
    assert [push["ref"] for push in pushes] == [None, None, None]
    assert [push["state"]["ticks"] for push in pushes] == [1, 2, 3]
    assert answer["ref"] == "t"
    assert answer["state"]["ticks"] == 4


async def test_broadcast_without_any_target_is_a_value_error(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    with pytest.raises(ValueError, match="target"):
        await manager.broadcast(event="increment")


@pytest.mark.parametrize("event", ["", "1st", "_private", "has space", "dash-ed"])
async def test_broadcast_with_an_invalid_event_name_is_a_value_error(
    app: ComponentASGI, event: str
):
    manager = WebSocketManager(hub=app.hub)
    with pytest.raises(ValueError, match="event"):
        await manager.broadcast(component_name="counter", event=event)


async def test_non_json_payload_is_a_type_error_before_any_delivery(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "chat", room="a")
        with pytest.raises(TypeError):
            await manager.broadcast(component_name="chat", event="message",
                                    payload={"text": object()})  # fmt: skip
        with pytest.raises(TypeError):
            await manager.broadcast(component_name="chat", event="notice",
                                    payload={"when": {1, 2}})  # fmt: skip
        answer = await ws.event("message", {"text": "own"}, ref="c")
    assert answer["ref"] == "c"
    assert answer["state"]["messages"] == ["own"]


async def test_broadcast_returns_the_number_of_local_instances_reached(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        for _ in range(3):
            await _open(stack, app, "counter")
        await _open(stack, app, "chat")
        assert await manager.broadcast(component_name="counter", event="notice") == 3
        assert await manager.broadcast(component_name="chat", event="notice") == 1
        assert await manager.broadcast(component_name="greeter", event="notice") == 0
        assert await manager.broadcast(component_id="counter-none", event="notice") == 0
        assert manager.connections() == 4
        assert manager.connections("counter") == 3


async def test_instance_no_longer_receives_after_its_client_disconnected(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        stays, _ = await _open(stack, app, "counter")
        leaving = await websocket_connect(app, ws_path("counter")).connect()
        left = await leaving.receive_json()
        await leaving.close()
        assert await manager.send_to(left["component_id"], "increment") == 0
        assert await manager.broadcast(component_name="counter", event="increment") == 1
        push = await stays.receive_json()
    assert push["state"] == {"count": 1}
    assert manager.connections("counter") == 0


async def test_instances_of_another_app_hub_are_not_reached(app: ComponentASGI):
    other = make_app()
    async with AsyncExitStack() as stack:
        await _open(stack, other, "counter")
        reached = await WebSocketManager(hub=app.hub).broadcast(
            component_name="counter", event="increment"
        )
    assert reached == 0


async def test_broadcast_to_an_htmx_connection_pushes_an_html_fragment(app: ComponentASGI):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws = await stack.enter_async_context(
            websocket_connect(app, ws_path("counter"), query={"format": "html", "target": "c"})
        )
        await ws.receive_text()
        await manager.broadcast(component_name="counter", event="increment")
        push = await ws.receive_text()
    assert push.startswith('<div id="c" hx-swap-oob="innerHTML">')
    assert '<span class="count">1</span>' in push


async def test_broadcasts_applied_before_the_push_render_had_its_turn_push_one_render(
    app: ComponentASGI,
):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "counter")
        for _ in range(3):  # delivered one after the other, before the loop turns
            await manager.broadcast(component_name="counter", event="increment")
        push = await ws.receive_json()
        answer = await ws.event("increment", ref="after")
    assert push["ref"] is None
    assert push["state"] == {"count": 3}
    assert answer["ref"] == "after"  # no second push render came first
    assert answer["state"] == {"count": 4}


async def test_a_forwarded_broadcast_arrives_after_the_render_of_the_one_before(
    app: ComponentASGI,
):
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "counter")
        await manager.broadcast(component_name="counter", event="increment")
        await manager.broadcast(component_name="counter", event="notice", payload={"n": 1})
        first, second = await ws.receive_json(), await ws.receive_json()
    assert (first["type"], first["state"]) == ("render", {"count": 1})
    assert second == {"type": "broadcast", "event": "notice", "payload": {"n": 1}}


async def test_broadcasts_run_a_rate_limited_handler_every_time(app: ComponentASGI):
    """The declared rate bounds what a client asks for; the server's own broadcasts are not
    counted against anyone."""
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        ws, _ = await _open(stack, app, "board")
        own = await ws.event("post", ref="mine")
        for _ in range(3):
            await manager.broadcast(component_name="board", event="post")
            push = await ws.receive_json()
        refused = await ws.event("post", ref="again")
    assert own["state"] == {"posts": 1}
    assert push["state"] == {"posts": 4}
    assert refused["type"] == "error"
    assert refused["code"] == "rate_limited"
    assert refused["ref"] == "again"
