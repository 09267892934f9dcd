"""What the many members of one broadcast share, and what each keeps to itself.

The members of one class are handed the same bound arguments when every one is an immutable
scalar (the payload is bound once per broadcast); anything else is bound per member, so no
member's handler can change what another member is handed or holds.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from component_framework import ComponentASGI
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


def _app() -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=StateRenderer(),
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
