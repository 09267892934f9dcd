"""Components of the fault-injection suite, in a registry of their own.

Every handler that can be interrupted records ``start`` and ``finally`` (keyed by a tag) in
:data:`journal`, so a test can check that each one that started also ran its ``finally`` block;
:data:`gates` lets a test hold a handler at a named point. The suite's autouse fixture resets
both. In a uvicorn process the journal also appends to the file named by ``FAULTS_JOURNAL``.

Failure components raise with :data:`SECRET_DETAIL` in the message: it must never reach a
client (no traceback, no exception text).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any, ClassVar, Final

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.registry import ComponentRegistry
from tests.journal import Journal

__all__ = ["JOURNAL_FILE_VARIABLE", "SECRET", "SECRET_DETAIL", "gates", "journal", "registry"]

SECRET: Final = "faults-test-secret-0123456789abcdef"
SECRET_DETAIL: Final = "db-password=hunter2"
JOURNAL_FILE_VARIABLE: Final = "FAULTS_JOURNAL"

TEMPLATES: Final = {
    "counter.html": '<div class="counter">{{ count }} {{ saved }}</div>',
    "story.html": (
        '<div class="story"><p data-stream="out"></p><b>{{ tag }}</b> step {{ step }}</div>'
    ),
    "chat.html": (
        '<div class="chat"><h1>{{ room }}</h1><ul>{% for line in lines %}<li>{{ line }}</li>'
        '{% endfor %}</ul><p data-stream="reply">{{ reply }}</p></div>'
    ),
    # Integer division by (3 - step): the third render raises ZeroDivisionError in Jinja.
    "fragile.html": '<div class="fragile">step {{ step }} ratio {{ 6 // (3 - step) }}</div>',
    "plain.html": '<div class="plain">{{ step }} {{ text }}</div>',
    "board.html": '<div class="board">{{ room }}: {{ count }} ticks, last {{ last }}</div>',
    "probe.html": '<pre class="probe">{{ state }}</pre>',  # for tests.faults.uvicorn_app
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


class Gates:
    """Named gates a handler waits at until the test opens them."""

    def __init__(self) -> None:
        self._gates: dict[str, asyncio.Event] = {}

    def _gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    async def wait(self, name: str) -> None:
        await self._gate(name).wait()

    def open(self, name: str) -> None:
        self._gate(name).set()

    def reset(self) -> None:
        self._gates.clear()


journal = Journal(JOURNAL_FILE_VARIABLE)
gates = Gates()


@registry.register("counter")
class Counter(Component):
    """Sync and async events (HTTP, WebSocket)."""

    template_name = "counter.html"

    def mount(self) -> None:
        self.state.update({"count": 0, "saved": ""})

    def on_increment(self) -> None:
        self.state["count"] += 1

    async def on_save(self, text: str, tag: str = "save") -> None:
        journal.record("start", tag)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            self.state["saved"] = text
        finally:
            journal.record("finally", tag)


@registry.register("story")
class Story(StreamingComponent):
    """A generator handler with stream operations: per step a ``start``/``text``/``done``
    batch, then a render. Step ``n`` >= 2 waits for the gate ``<tag>-<n>`` when ``gated``."""

    template_name = "story.html"

    def mount(self) -> None:
        self.state.update({"tag": "", "step": 0})

    async def on_tell(self, tag: str, steps: int = 2, gated: bool = False) -> AsyncIterator[None]:
        self.state["tag"] = tag
        journal.record("start", tag)
        try:
            for step in range(1, steps + 1):
                if gated and step > 1:
                    await gates.wait(f"{tag}-{step}")
                await self.stream_start("out")
                await self.stream_text("out", f"part {step};")
                await self.stream_done("out")
                self.state["step"] = step
                yield
            journal.record("complete", tag)
        finally:
            journal.record("finally", tag)


@registry.register("chat")
class Chat(Component):
    """A live component: client events, a generator event with stream operations, broadcast
    handlers (one that fails on request) and topics; also a live SSE subscription."""

    template_name = "chat.html"
    live_updates = True

    def mount(self, room: str = "lobby") -> None:
        self.state.update({"room": room, "lines": [], "reply": ""})

    def topics(self) -> Iterable[str]:
        return [f"room:{self.state['room']}"]

    def on_say(self, text: str) -> None:
        self.state["lines"].append(text)

    def on_heard(self, text: str) -> None:
        """A broadcast handler."""
        self.state["lines"].append(f"heard {text}")

    def on_explode(self, text: str = "") -> None:
        """A broadcast handler that always fails."""
        raise RuntimeError(f"broadcast handler failed ({SECRET_DETAIL})")

    async def on_hold(self, tag: str) -> None:
        """A client event that waits at the gate ``tag``."""
        journal.record("start", tag)
        try:
            await gates.wait(tag)
            self.state["lines"].append(f"held {tag}")
        finally:
            journal.record("finally", tag)

    async def on_answer(self, tag: str, parts: int = 2) -> AsyncIterator[None]:
        """A generator event: stream operations, a render per part."""
        journal.record("start", tag)
        try:
            for part in range(1, parts + 1):
                await self.stream_start("reply")
                await self.stream_text("reply", f"token {part};")
                await self.stream_done("reply")
                self.state["reply"] += f"token {part};"
                yield
        finally:
            journal.record("finally", tag)

    async def on_endless(self, tag: str) -> AsyncIterator[None]:
        """A generator event that runs until cancelled (a render per turn of the loop)."""
        journal.record("start", tag)
        try:
            while True:
                await asyncio.sleep(0.01)
                self.state["reply"] = tag
                yield
        finally:
            journal.record("finally", tag)


@registry.register("fragile")
class Fragile(StreamingComponent):
    """Its template fails on the third render (step 3)."""

    template_name = "fragile.html"
    stream_event = "count"

    def mount(self) -> None:
        self.state["step"] = 0

    async def on_count(self, tag: str, steps: int = 5) -> AsyncIterator[None]:
        journal.record("start", tag)
        try:
            for step in range(1, steps + 1):
                self.state["step"] = step
                yield
        finally:
            journal.record("finally", tag)


@registry.register("failing")
class Failing(StreamingComponent):
    """Generator handlers that fail part-way (``explode``), that report an error inline and go
    on (``recover``), and that leave a task behind which keeps streaming after the handler
    failed (``orphan``)."""

    template_name = "plain.html"
    stream_event = "explode"
    orphans: ClassVar[list[asyncio.Task[Any]]] = []

    def mount(self) -> None:
        self.state.update({"step": 0, "text": ""})

    async def on_explode(self, tag: str) -> AsyncIterator[None]:
        journal.record("start", tag)
        try:
            await self.stream_start("out")
            for step in (1, 2):
                await self.stream_text("out", f"part {step};")
                self.state["step"] = step
                yield
            raise RuntimeError(f"cannot reach the database ({SECRET_DETAIL})")
        finally:
            journal.record("finally", tag)

    async def on_recover(self, tag: str) -> AsyncIterator[None]:
        journal.record("start", tag)
        try:
            await self.stream_start("out")
            await self.stream_text("out", "before;")
            await self.stream_error("out", "the lookup failed")
            await self.stream_text("out", "after;")
            await self.stream_done("out")
            self.state["text"] = "recovered"
            yield
        finally:
            journal.record("finally", tag)

    async def on_orphan(self, tag: str, texts: int = 50) -> AsyncIterator[None]:
        """Starts a task that calls ``stream_text`` ``texts`` times after the handler failed."""
        journal.record("start", tag)

        async def keep_streaming() -> None:
            await gates.wait(f"{tag}-orphan")
            for index in range(texts):
                await self.stream_text("out", f"late {index};" + "x" * 200)
                await asyncio.sleep(0)
            journal.record("orphan-done", tag)

        type(self).orphans.append(asyncio.get_running_loop().create_task(keep_streaming()))
        try:
            await self.stream_start("out")
            self.state["step"] = 1
            yield
            raise RuntimeError(f"model crashed ({SECRET_DETAIL})")
        finally:
            journal.record("finally", tag)


@registry.register("board")
class Board(Component):
    """Counts broadcasts in its room without growing: for load tests."""

    template_name = "board.html"
    live_updates = True

    def mount(self, room: str = "lobby") -> None:
        self.state.update({"room": room, "count": 0, "last": None})

    def topics(self) -> Iterable[str]:
        return [f"room:{self.state['room']}"]

    def on_tick(self, n: int) -> None:
        self.state["count"] += 1
        self.state["last"] = n

    async def on_slow_tick(self, n: int) -> None:
        """An async broadcast handler: broadcasts queue while it runs."""
        await asyncio.sleep(0)
        self.state["count"] += 1
        self.state["last"] = n


@registry.register("flood")
class Flood(StreamingComponent):
    """A generator that produces ``frames`` renders of ``size`` characters each, plus a
    ``stream_text`` per frame, ``pause`` seconds apart, whoever reads them."""

    template_name = "plain.html"

    def mount(self) -> None:
        self.state.update({"step": 0, "text": ""})

    async def on_pour(
        self, tag: str, frames: int = 100, size: int = 1000, pause: float = 0.0
    ) -> AsyncIterator[None]:
        journal.record("start", tag)
        try:
            await self.stream_start("out")
            for step in range(1, frames + 1):
                await self.stream_text("out", "t" * size)
                self.state.update({"step": step, "text": f"{step}" + "x" * size})
                yield
                await asyncio.sleep(pause)
            journal.record("complete", tag)
        finally:
            journal.record("finally", tag)
