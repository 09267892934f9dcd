"""Events sent without a payload on a held component: each one runs its handler with what an
empty payload binds to (defaults; a required parameter or a form that does not bind refused),
gets its checks (authorization, declared rates) every time, and starts with no errors and no
submission of the last event's, as any event does; an event with a payload still binds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.core.hub import Hub
from component_framework.core.ratelimit import rate_limit
from component_framework.core.registry import ComponentRegistry
from component_framework.testing import WebSocketTestSession, websocket_connect
from tests.websocket.helpers import ws_path

KEY = "payloadless-events-key-0123456789abcdef"

registry = ComponentRegistry()


@dataclass
class Note:
    text: str


@registry.register("box")
class Box(Component):
    template_name = "box.html"

    def mount(self) -> None:
        self.state.update(count=0, step=0, note="")

    def on_bump(self) -> None:
        self.state["count"] += 1
        if self.state["count"] == 2:
            self.add_error("count", "two is too many")

    def on_step(self, by: int = 5) -> None:
        self.state["step"] += by

    def on_need(self, amount: int) -> None:
        self.state["step"] = amount

    def on_save(self, note: Note) -> None:
        self.state["note"] = note.text

    @rate_limit(per_second=0.001, burst=2)
    def on_rare(self) -> None:
        self.state["count"] += 100


@registry.register("guarded")
class Guarded(Component):
    template_name = "box.html"

    def mount(self) -> None:
        self.state.update(count=0, step=0, note="")

    def authorize(self, context: AccessContext, event: str) -> bool:
        return event != "bump" or self.state["count"] < 2

    def on_bump(self) -> None:
        self.state["count"] += 1


def make_app() -> ComponentASGI:
    renderer = Jinja2Renderer.from_strings(
        {"box.html": "<p>{{ count }} {{ step }} {{ note }} {{ errors }} {{ form }}</p>"}
    )
    settings = Settings(secret_keys=(KEY,))
    return ComponentASGI(registry=registry, renderer=renderer, settings=settings, hub=Hub())


async def opened(ws: WebSocketTestSession) -> dict[str, Any]:
    first = await ws.receive_json()
    assert first["type"] == "render", first
    return first


async def test_each_payloadless_event_runs_and_starts_without_the_last_ones_errors() -> None:
    async with websocket_connect(make_app(), ws_path("box")) as ws:
        await opened(ws)
        first = await ws.event("bump", ref=1)
        second = await ws.event("bump", ref=2)
        third = await ws.event("bump", ref=3)

    assert [answer["state"]["count"] for answer in (first, second, third)] == [1, 2, 3]
    assert "two is too many" in second["html"]
    assert "two is too many" not in third["html"]
    assert third["html"].endswith(">3 0  {} {}</p>")  # no errors, no form shown again


async def test_an_empty_payload_binds_defaults_and_refuses_a_required_parameter() -> None:
    async with websocket_connect(make_app(), ws_path("box")) as ws:
        await opened(ws)
        defaulted = await ws.event("step", ref="a")
        again = await ws.event("step", ref="b")
        given = await ws.event("step", {"by": "2"}, ref="c")
        refused = await ws.event("need", ref="d")
        refused_again = await ws.event("need", ref="e")

    assert [defaulted["state"]["step"], again["state"]["step"], given["state"]["step"]] == [
        5,
        10,
        12,
    ]
    for answer, ref in ((refused, "d"), (refused_again, "e")):
        assert answer["type"] == "error"
        assert answer["code"] == "validation_error"
        assert answer["field"] == "amount"
        assert answer["ref"] == ref


async def test_an_empty_payload_of_a_form_handler_shows_the_forms_errors() -> None:
    async with websocket_connect(make_app(), ws_path("box")) as ws:
        await opened(ws)
        empty = await ws.event("save", ref="s")
        saved = await ws.event("save", {"text": "hello"}, ref="t")

    assert empty["type"] == "render"
    assert "text" in empty["html"]  # the form's error names the missing field
    assert empty["state"]["note"] == ""
    assert saved["state"]["note"] == "hello"


async def test_a_payloadless_event_is_authorized_every_time() -> None:
    async with websocket_connect(make_app(), ws_path("guarded")) as ws:
        await opened(ws)
        allowed = [await ws.event("bump", ref=n) for n in (1, 2)]
        denied = await ws.event("bump", ref=3)

    assert [answer["state"]["count"] for answer in allowed] == [1, 2]
    assert denied["type"] == "error"
    assert denied["code"] == "forbidden"
    assert denied["ref"] == 3


async def test_a_payloadless_event_counts_against_its_declared_rate() -> None:
    async with websocket_connect(make_app(), ws_path("box")) as ws:
        await opened(ws)
        answers = [await ws.event("rare", ref=n) for n in (1, 2, 3)]

    assert [answer["type"] for answer in answers] == ["render", "render", "error"]
    assert answers[2]["code"] == "rate_limited"
