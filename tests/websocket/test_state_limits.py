"""A live component whose state grows past ``max_snapshot_bytes``: the client gets
``snapshot_too_large``, and the held component goes back to the state of the last render it
was sent, so the server and the client still agree (issue 11, point 6)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import StreamingComponent
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import websocket_connect
from tests.sample_components import SECRET

LIMIT = 1500
PATH = "/components/notes/ws/"
registry = ComponentRegistry()
renderer = Jinja2Renderer.from_strings({"notes.html": "<ul>{{ notes | length }}</ul>"})


@registry.register("notes")
class Notes(StreamingComponent):
    template_name = "notes.html"

    def mount(self) -> None:
        self.state["notes"] = []

    def on_add(self, text: str) -> None:
        self.state["notes"].append(text)

    def on_shout(self, text: str) -> None:  # broadcast to every viewer
        self.state["notes"].append(text.upper())

    async def on_fill(self, size: int, times: int) -> AsyncIterator[None]:
        for _ in range(times):
            self.state["notes"].append("f" * size)
            yield


@pytest.fixture
def app() -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), max_snapshot_bytes=LIMIT),
        hub=Hub(),
        shutdown_on_signals=False,
    )


def _assert_only_warnings(caplog: pytest.LogCaptureFixture) -> None:
    records = [(r.levelno, r.exc_info) for r in caplog.records if r.name == "component_framework"]
    assert records, "the refusal is logged"
    assert all(level <= logging.WARNING and info is None for level, info in records), records


async def test_an_event_growing_the_state_too_far_is_refused_and_not_kept(
    app: ComponentASGI, caplog: pytest.LogCaptureFixture
) -> None:
    async with websocket_connect(app, PATH) as ws:
        await ws.receive_json()
        kept = await ws.event("add", {"text": "first"}, ref=1)

        refused = await ws.event("add", {"text": "x" * LIMIT}, ref=2)
        after = await ws.event("add", {"text": "second"}, ref=3)

    assert kept["state"] == {"notes": ["first"]}
    assert refused["type"] == "error"
    assert (refused["code"], refused["ref"]) == ("snapshot_too_large", 2)
    assert "not applied" in refused["message"]
    assert after["state"] == {"notes": ["first", "second"]}
    _assert_only_warnings(caplog)


async def test_a_broadcast_growing_the_state_too_far_is_refused_and_not_kept(
    app: ComponentASGI, caplog: pytest.LogCaptureFixture
) -> None:
    manager = WebSocketManager(hub=app.hub)
    async with websocket_connect(app, PATH) as ws:
        await ws.receive_json()

        await manager.broadcast(
            component_name="notes", event="shout", payload={"text": "y" * LIMIT}
        )
        refused = await ws.receive_json()
        after = await ws.event("add", {"text": "next"}, ref="after")

    assert (refused["type"], refused["code"], refused["ref"]) == (
        "error",
        "snapshot_too_large",
        None,
    )
    assert after["state"] == {"notes": ["next"]}
    _assert_only_warnings(caplog)


async def test_a_generator_growing_the_state_too_far_goes_back_to_its_last_render(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, PATH) as ws:
        await ws.receive_json()
        await ws.send_json(
            {"type": "event", "event": "fill", "payload": {"size": 400, "times": 10}, "ref": "f"}
        )
        renders: list[dict[str, Any]] = []
        while (message := await ws.receive_json())["type"] == "render":
            renders.append(message)
        after = await ws.event("add", {"text": "z"}, ref="after")

    assert (message["type"], message["code"], message["ref"]) == (
        "error", "snapshot_too_large", "f",
    )  # fmt: skip
    assert renders, "the renders that fitted went out"
    last = renders[-1]["state"]["notes"]
    assert after["state"] == {"notes": [*last, "z"]}
