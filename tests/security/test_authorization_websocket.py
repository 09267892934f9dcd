"""Authorization over WebSocket: the join at connect (a denial closes with 1008 and its reason,
before anything of the component was sent), every client event (a denial is an ``error``
message and the socket stays open), and broadcasts, which the server sends and which are not
checked."""

from __future__ import annotations

import asyncio
from typing import Any

from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import WebSocketTestSession
from tests.security.components import journal
from tests.security.wire import WAIT, make_app, post, socket


async def _closed_right_after_accept(ws: WebSocketTestSession) -> dict[str, Any]:
    """The first message after the accept; it must be the close."""
    message = await ws.receive()
    assert message["type"] == "websocket.close", message
    return message


async def test_join_without_a_user_closes_with_1008_and_the_reason():
    app = make_app()
    async with socket(app, "members") as ws:
        closed = await _closed_right_after_accept(ws)
    assert closed["code"] == 1008
    assert closed["reason"] == "authentication required"
    assert journal.of("members") == []


async def test_join_denied_closes_with_1008_and_nothing_was_sent_before():
    app = make_app()
    async with socket(app, "vault", user="ada") as ws:
        closed = await _closed_right_after_accept(ws)
        assert closed["code"] == 1008
        assert closed["reason"] == "not allowed: component 'vault'"
        await ws.close()
    assert journal.of("vault") == []
    assert app.guard.open_count("socket") == 0
    assert len(app.sockets) == 0


async def test_join_with_a_snapshot_is_checked_against_the_restored_state():
    seen: list[tuple[str, str, Any]] = []

    def hook(context: AccessContext, component: Component, event: str) -> bool:
        seen.append((context.transport, event, component.state.get("owner")))
        return getattr(context.user, "name", None) == "ada"

    app = make_app(authorize=hook)
    mounted = await post(app, "document", {"params": {"owner": "ada"}}, user="ada")
    snapshot = mounted.json()["snapshot"]
    async with socket(app, "document", query={"snapshot": snapshot}, user="bob") as ws:
        closed = await _closed_right_after_accept(ws)
    assert closed["code"] == 1008
    assert seen[-1] == ("websocket", "mount", "ada")  # the hook saw the restored state


async def test_hook_sees_the_websocket_transport_at_join_and_at_each_event():
    seen: list[tuple[str, str]] = []

    def hook(context: AccessContext, component: Component, event: str) -> bool:
        seen.append((context.transport, event))
        return True

    app = make_app(authorize=hook)
    async with socket(app, "public") as ws:
        assert (await ws.receive_json())["type"] == "render"
        assert (await ws.event("click"))["type"] == "render"
    assert seen == [("websocket", "mount"), ("websocket", "click")]


async def test_denied_event_is_an_error_message_and_the_socket_stays_open():
    app = make_app()
    query = {"params": '{"owner": "ada"}'}
    async with socket(app, "document", query=query, user="bob") as ws:
        first = await ws.receive_json()
        assert first["type"] == "render"
        denied = await ws.event("delete", ref=7)
        assert denied == {
            "type": "error",
            "code": "forbidden",
            "ref": 7,
            "message": "not allowed: event 'delete' of 'document'",
        }
        edited = await ws.event("edit", {"text": "still here"}, ref=8)
        assert edited["type"] == "render"
        assert edited["state"]["text"] == "still here"
        assert edited["state"]["deleted"] is False
    assert "delete" not in journal.of("document")
    checks = [what for what in journal.of("document") if what.startswith("authorize")]
    assert checks == [
        "authorize mount over websocket",
        "authorize delete over websocket",
        "authorize edit over websocket",
    ]


async def test_owner_may_run_the_event_that_others_may_not():
    app = make_app()
    async with socket(app, "document", query={"params": '{"owner": "ada"}'}, user="ada") as ws:
        await ws.receive_json()
        deleted = await ws.event("delete")
    assert deleted["type"] == "render"
    assert deleted["state"]["deleted"] is True


async def test_event_checks_see_the_connections_user_not_one_per_message():
    # The user is the connection's (its scope); a message cannot claim to be someone else.
    app = make_app()
    async with socket(app, "document", query={"params": '{"owner": "ada"}'}, user="bob") as ws:
        await ws.receive_json()
        await ws.send_json(
            {"type": "event", "event": "delete", "payload": {}, "user": "ada", "ref": 1}
        )
        answer = await ws.receive_json()
    assert answer["type"] == "error"
    assert answer["code"] in {"forbidden", "malformed_request", "validation_error"}
    assert "delete" not in journal.of("document")


async def test_denied_event_by_the_hook_keeps_the_socket():
    def hook(context: AccessContext, component: Component, event: str) -> bool:
        return event != "click"

    app = make_app(authorize=hook)
    async with socket(app, "public") as ws:
        await ws.receive_json()
        denied = await ws.event("click")
        assert denied["code"] == "forbidden"
        await ws.send_json({"type": "ping", "ref": "p"})
        assert (await ws.receive_json())["type"] == "pong"
    assert journal.of("public") == ["mount"]


async def test_broadcasts_are_not_checked_but_the_same_event_from_the_client_is():
    app = make_app()
    manager = WebSocketManager(hub=app.hub)
    async with socket(app, "document", query={"params": '{"owner": "ada"}'}, user="ada") as ws:
        await ws.receive_json()
        denied = await ws.event("tick")
        assert denied["code"] == "forbidden"
        reached = await manager.broadcast("document", "tick", topic="document:ada")
        assert reached == 1
        pushed = await asyncio.wait_for(ws.receive_json(), WAIT)
    assert pushed["type"] == "render"
    assert pushed["state"]["ticks"] == 1
    assert journal.of("document").count("tick") == 1
