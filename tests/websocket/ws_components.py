"""Components of the WebSocket transport tests, in their own registry.

The sample components (counter, sentiment, typed, greeter, broken, report) are registered here
too, under the same names, so one app serves them all. The components of this module record
what happened to their handlers in :data:`journal` (``start``, ``finally`` keyed by a tag), so a
test can tell that a cancelled handler's ``finally`` block ran. The suite's autouse fixture
resets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext
from component_framework.core.component import Component, StreamingComponent, rate_limit
from component_framework.core.registry import ComponentRegistry
from tests import sample_components

__all__ = ["Gates", "Journal", "gates", "journal", "registry", "renderer"]

TEMPLATES: Final = {
    **sample_components.TEMPLATES,
    "chat.html": (
        '<div class="chat"><h1>{{ room }}</h1>'
        "<ul>{% for m in messages %}<li>{{ m }}</li>{% endfor %}</ul></div>"
    ),
    "writer.html": '<div class="writer"><p data-stream="out">{{ text }}</p></div>',
    "sleeper.html": '<div class="sleeper">{{ tag }}</div>',
    "live.html": '<div class="live">{{ count }}</div>',
    "ticker.html": '<div class="ticker">{{ ticks }}</div>',
    "board.html": '<div class="board">{{ posts }}</div>',
    "owned.html": '<div class="owned">{{ owner }}: {{ notes }}</div>',
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()

for _name, _cls in (
    ("counter", sample_components.CounterComponent),
    ("sentiment", sample_components.SentimentComponent),
    ("typed", sample_components.TypedComponent),
    ("greeter", sample_components.GreeterComponent),
    ("broken", sample_components.BrokenComponent),
    ("report", sample_components.ReportComponent),
):
    registry.register(_name)(_cls)


class Journal:
    """What the handlers went through, as ``(kind, tag)`` entries in order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def record(self, kind: str, tag: str) -> None:
        self.entries.append((kind, tag))

    def has(self, kind: str, tag: str) -> bool:
        return (kind, tag) in self.entries

    def reset(self) -> None:
        self.entries.clear()


journal = Journal()


class Gates:
    """Named gates an async handler waits at until the test opens them."""

    def __init__(self) -> None:
        self._gates: dict[str, asyncio.Event] = {}

    def _gate(self, tag: str) -> asyncio.Event:
        return self._gates.setdefault(tag, asyncio.Event())

    async def wait(self, tag: str) -> None:
        await self._gate(tag).wait()

    def open(self, tag: str) -> None:
        self._gate(tag).set()

    def reset(self) -> None:
        self._gates.clear()


gates = Gates()


@registry.register("chat")
class ChatComponent(Component):
    """A chat room: subscribed to the topic ``room:<room>`` of its current room."""

    template_name = "chat.html"

    def mount(self, room: str = "lobby") -> None:
        self.state.update({"room": room, "messages": []})

    def topics(self) -> Iterable[str]:
        return [f"room:{self.state['room']}"]

    def on_switch(self, room: str) -> None:
        self.state["room"] = room

    def on_message(self, text: str) -> None:
        self.state["messages"].append(text)


@registry.register("writer")
class WriterComponent(Component):
    """An async handler that streams text piece by piece, then sets the final text."""

    template_name = "writer.html"

    def mount(self) -> None:
        self.state["text"] = ""

    async def on_write(self, parts: int) -> None:
        await self.stream_start("out")
        pieces = [f"piece-{index};" for index in range(parts)]
        for piece in pieces:
            await self.stream_text("out", piece)
        await self.stream_done("out")
        self.state["text"] = "".join(pieces)

    async def on_endless(self, tag: str) -> None:
        """Streams until cancelled."""
        journal.record("start", tag)
        try:
            await self.stream_start("out")
            while True:
                await self.stream_text("out", "x")
                await asyncio.sleep(0.001)
        finally:
            journal.record("finally", tag)


@registry.register("sleeper")
class SleeperComponent(Component):
    """An async handler that waits until it is cancelled."""

    template_name = "sleeper.html"

    def mount(self) -> None:
        self.state["tag"] = ""

    async def on_wait(self, tag: str) -> None:
        journal.record("start", tag)
        try:
            await asyncio.Event().wait()
        finally:
            journal.record("finally", tag)
        self.state["tag"] = tag

    async def on_hold(self, tag: str) -> None:
        """Waits until the test opens the gate ``tag``."""
        journal.record("start", tag)
        await gates.wait(tag)
        self.state["tag"] = tag

    def on_note(self, text: str) -> None:
        self.state["tag"] = text


@registry.register("live")
class LiveComponent(Component):
    """A live SSE subscription target: no generator handler, ``live_updates`` on."""

    template_name = "live.html"
    live_updates = True

    def mount(self) -> None:
        self.state["count"] = 0

    def on_bump(self, by: int = 1) -> None:
        self.state["count"] += by


@registry.register("ticker")
class TickerComponent(StreamingComponent):
    """A generator handler: one render per tick."""

    template_name = "ticker.html"

    def mount(self) -> None:
        self.state["ticks"] = 0

    async def on_tick(self, times: int) -> Any:
        for _ in range(times):
            await asyncio.sleep(0)
            self.state["ticks"] += 1
            yield


@registry.register("gated")
class GatedComponent(StreamingComponent):
    """One tick, then one more once the gate ``tag`` opens (a run that stays alive)."""

    template_name = "ticker.html"

    def mount(self) -> None:
        self.state["ticks"] = 0

    async def on_run(self, tag: str) -> Any:
        self.state["ticks"] += 1
        yield
        await gates.wait(tag)
        self.state["ticks"] += 1
        yield


@registry.register("board")
class BoardComponent(Component):
    """A shared board: each client may post once (a declared rate that never refills in a
    test); broadcasts run the same handler."""

    template_name = "board.html"

    def mount(self) -> None:
        self.state["posts"] = 0

    @rate_limit(per_second=0.001, burst=1)
    def on_post(self) -> None:
        self.state["posts"] += 1


@registry.register("owned")
class OwnedComponent(Component):
    """One user's component: whoever mounts it owns it (the ``X-User`` header of the
    connection); nobody else may open or act on it."""

    template_name = "owned.html"

    def mount(self) -> None:
        self.state["owner"] = self.request.headers.get("x-user", "")
        self.state["notes"] = 0

    def authorize(self, context: AccessContext, event: str) -> bool:
        owner = self.state.get("owner")  # None: being mounted, by whoever connects
        return owner is None or context.headers.get("x-user", "") == owner

    def on_note(self) -> None:
        self.state["notes"] += 1


@registry.register("slowstart")
class SlowStartComponent(StreamingComponent):
    """A stream whose mount waits at the gate ``mount`` (a join still running)."""

    template_name = "ticker.html"

    async def mount(self) -> None:
        journal.record("mount", "slowstart")
        await gates.wait("mount")
        self.state["ticks"] = 0

    async def on_run(self) -> Any:
        self.state["ticks"] = 1
        yield
