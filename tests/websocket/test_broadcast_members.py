"""What the many members of one broadcast share, and what each keeps to itself.

The members of one class are handed the same bound arguments when every one is an immutable
scalar (the payload is bound once per broadcast); anything else is bound per member, so no
member's handler can change what another member is handed or holds. Every member's push
render is its own: HTML, state and snapshot from its own state and its own connection's
request, never another member's, however alike the members are.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import StateRenderer, WebSocketTestSession, websocket_connect
from tests.sample_components import SECRET
from tests.websocket.helpers import ws_path

registry = ComponentRegistry()


@registry.register("board")
class Board(Component):
    """Keeps what broadcasts hand it; ``on_pin`` changes the list it is handed."""

    template_name = "board.html"

    def mount(self) -> None:
        self.state.update({"label": "", "level": 0, "pins": []})

    def on_label(self, text: str, level: int = 0) -> None:
        self.state["label"] = f"{text}@{self.id}"
        self.state["level"] = level

    def on_pin(self, pins: list[Any]) -> None:
        pins.append(self.id)
        self.state["pins"] = pins


@registry.register("badge")
class Badge(Component):
    """Shows its own count and its connection's ``X-Viewer`` header; ``on_tick`` adds one."""

    template_name = "badge.html"

    def mount(self, start: int = 0) -> None:
        self.state["count"] = start

    def on_tick(self) -> None:
        self.state["count"] += 1


BADGE_TEMPLATE = (
    '<p id="{{ component_id }}">{{ count }} for {{ request.headers.get("x-viewer", "") }}</p>'
)


def _app(renderer: Any = None) -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer or StateRenderer(),
        settings=Settings(secret_keys=(SECRET,)),
        hub=Hub(),
        shutdown_on_signals=False,
    )


async def _boards(stack: AsyncExitStack, app: ComponentASGI, count: int) -> list[Any]:
    sockets: list[WebSocketTestSession] = []
    for _ in range(count):
        ws = await stack.enter_async_context(websocket_connect(app, ws_path("board")))
        assert (await ws.receive_json())["type"] == "render"
        sockets.append(ws)
    return sockets


async def test_each_member_changes_only_its_own_copy_of_a_list_argument():
    app = _app()
    manager = WebSocketManager(hub=app.hub)
    payload = {"pins": ["shared"]}
    async with AsyncExitStack() as stack:
        sockets = await _boards(stack, app, 3)
        await manager.broadcast(component_name="board", event="pin", payload=payload)
        pushes = [await ws.receive_json() for ws in sockets]
    for push in pushes:
        assert push["state"]["pins"] == ["shared", push["component_id"]]
    assert payload == {"pins": ["shared"]}


async def test_every_broadcast_binds_its_own_payload_for_every_member():
    app = _app()
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        sockets = await _boards(stack, app, 3)
        for level in (1, 2):
            await manager.broadcast(
                component_name="board", event="label", payload={"text": "v", "level": level}
            )
            pushes = [await ws.receive_json() for ws in sockets]
            for push in pushes:
                assert push["state"]["level"] == level
                assert push["state"]["label"] == f"v@{push['component_id']}"


async def test_each_member_gets_the_render_of_its_own_state_and_its_own_request():
    app = _app(Jinja2Renderer.from_strings({"badge.html": BADGE_TEMPLATE}))
    manager = WebSocketManager(hub=app.hub)
    # Pairs alike in all but one input: the same count for two viewers, two counts for one.
    members = [(5, "ann"), (5, "bob"), (7, "bob"), (5, "ann")]
    async with AsyncExitStack() as stack:
        sockets = []
        for start, viewer in members:
            ws = await stack.enter_async_context(
                websocket_connect(
                    app, ws_path("badge"), query={"start": start}, headers={"x-viewer": viewer}
                )
            )
            assert (await ws.receive_json())["type"] == "render"
            sockets.append(ws)
        await manager.broadcast(component_name="badge", event="tick", payload={})
        pushes = [await ws.receive_json() for ws in sockets]
    assert len({push["component_id"] for push in pushes}) == len(members)
    for (start, viewer), push in zip(members, pushes, strict=True):
        own_id = push["component_id"]
        assert push["html"] == f'<p id="{own_id}">{start + 1} for {viewer}</p>'
        assert push["state"] == {"count": start + 1}
        snapshot = app.dispatcher.signer.verify(push["snapshot"], "badge")
        assert (snapshot.component_id, snapshot.state) == (own_id, {"count": start + 1})
