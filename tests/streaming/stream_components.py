"""Components of the SSE transport tests, in their own registry.

Each streaming handler records what happened to it in :data:`journal` (``start``, ``complete``,
``cancelled``, ``finally``, keyed by the ``tag`` the test passes), so tests can tell when a run
was cancelled and whether its ``finally`` block ran. :data:`pacer` lets an in-process test
release a generator one frame at a time. Both are reset by the suite's autouse fixture.

In a uvicorn process the journal also appends each entry to the file named by the
``STREAM_TEST_JOURNAL`` environment variable, so it can be read after the server has exited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

import anyio

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.registry import ComponentRegistry
from tests.journal import Journal

__all__ = [
    "JOURNAL_FILE_VARIABLE",
    "SECRET",
    "SECRET_DETAIL",
    "Journal",
    "Pacer",
    "journal",
    "pacer",
    "registry",
    "renderer",
]

SECRET: Final = "stream-test-secret-0123456789abcdef"
#: Text a failing handler puts in its exception; it must never reach a client.
SECRET_DETAIL: Final = "db-password=hunter2"
JOURNAL_FILE_VARIABLE: Final = "STREAM_TEST_JOURNAL"

TEMPLATES: Final = {
    # Several lines on purpose: the render frames must carry multi-line data.
    "paced.html": '<div class="paced">\n<p>{{ tag }}</p>\n<p>step {{ step }}</p>\n</div>',
    "tokens.html": '<div class="tokens"><p data-stream="answer">{{ answer }}</p></div>',
    "writer.html": '<div class="writer"><ul data-stream="out"></ul><p>{{ text }}</p></div>',
    "failing.html": '<div class="failing">{{ step }}</div>',
    "burst.html": '<div class="burst">step {{ step }}</div>',
    "ticker.html": '<div class="ticker">{{ tag }} tick {{ tick }}</div>',
    "plain.html": '<div class="plain">{{ clicks }}</div>',
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


class Pacer:
    """Releases generators frame by frame: frame 1 is always allowed, frame ``n`` once a test
    called ``grant(tag, n)`` (or more)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._granted: dict[str, int] = {}
        self._waiting: set[str] = set()
        self._changed = asyncio.Event()

    def grant(self, tag: str, frames: int) -> None:
        """Allow the run tagged ``tag`` to produce frames up to number ``frames``."""
        self._granted[tag] = max(frames, self._granted.get(tag, 1))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def waiting(self, tag: str) -> bool:
        """Whether the run tagged ``tag`` is blocked waiting for a grant."""
        return tag in self._waiting

    async def wait(self, tag: str, frame: int) -> None:
        """Return once frame number ``frame`` of ``tag`` may be produced."""
        self._waiting.add(tag)
        try:
            while self._granted.get(tag, 1) < frame:
                await self._changed.wait()
        finally:
            self._waiting.discard(tag)


journal = Journal(JOURNAL_FILE_VARIABLE)
pacer = Pacer()


@registry.register("paced")
class PacedComponent(StreamingComponent):
    """One render per step; step ``n`` (from 2 on) waits for ``pacer.grant(tag, n)``."""

    template_name = "paced.html"

    def mount(self) -> None:
        self.state.update({"tag": "", "step": 0, "bumps": 0})

    async def on_run(self, tag: str, steps: int = 3) -> AsyncIterator[None]:
        self.state["tag"] = tag
        journal.record("start", tag)
        try:
            for step in range(1, steps + 1):
                await pacer.wait(tag, step)
                self.state["step"] = step
                yield
            journal.record("complete", tag)
        except asyncio.CancelledError:
            journal.record("cancelled", tag)
            raise
        finally:
            journal.record("finally", tag)

    def on_bump(self) -> None:
        self.state["bumps"] += 1


@registry.register("quick-grace")
class QuickGraceComponent(PacedComponent):
    """:class:`PacedComponent` with its own short resume grace."""

    stream_resume_grace = 0.2


@registry.register("no-grace")
class NoGraceComponent(PacedComponent):
    """:class:`PacedComponent` cancelled as soon as its reader leaves."""

    stream_resume_grace = 0.0


@registry.register("tokens")
class TokensComponent(StreamingComponent):
    """A token streamer: ``text`` goes out in pieces of ``size`` through ``stream_text``,
    ``delay`` seconds apart; with a ``tag`` it then waits for ``pacer.grant(tag, 2)``."""

    template_name = "tokens.html"

    def mount(self) -> None:
        self.state["answer"] = ""

    async def on_generate(
        self, text: str, size: int = 1, delay: float = 0.0, tag: str = ""
    ) -> AsyncIterator[None]:
        await self.stream_start("answer")
        for index in range(0, len(text), size):
            await self.stream_text("answer", text[index : index + size])
            if delay:
                await asyncio.sleep(delay)
        if tag:  # hold the run open (ops sent, no yield yet) until the test grants frame 2
            await pacer.wait(tag, 2)
        await self.stream_done("answer")
        self.state["answer"] = text
        yield


@registry.register("writer")
class WriterComponent(StreamingComponent):
    """A plain ``async def`` stream handler (no ``yield``) that uses stream operations."""

    template_name = "writer.html"
    stream_event = "write"

    def mount(self) -> None:
        self.state["text"] = ""

    async def on_write(self, text: str) -> None:
        await self.stream_start("out")
        await self.stream_text("out", text)
        await self.stream_insert("out", "<li>item</li>")
        await self.stream_done("out")
        self.state["text"] = text


@registry.register("failing")
class FailingComponent(StreamingComponent):
    """Renders once, then raises an exception whose message holds a secret."""

    template_name = "failing.html"

    def mount(self) -> None:
        self.state["step"] = 0

    async def on_explode(self) -> AsyncIterator[None]:
        self.state["step"] = 1
        yield
        raise RuntimeError(f"cannot reach the database ({SECRET_DETAIL})")


@registry.register("burst")
class BurstComponent(StreamingComponent):
    """Two renders, then ``ops`` stream operations that each leave as a frame of their own
    (``stream_start`` is a lifecycle op: never held back). The second render waits for
    ``pacer.grant(tag, 2)``, the operations for ``pacer.grant(tag, 3)``."""

    template_name = "burst.html"

    def mount(self) -> None:
        self.state["step"] = 0

    async def on_run(self, tag: str, ops: int = 8) -> AsyncIterator[None]:
        self.state["step"] = 1
        yield
        await pacer.wait(tag, 2)
        self.state["step"] = 2
        yield
        await pacer.wait(tag, 3)
        for index in range(ops):
            await self.stream_start(f"part-{index}")


@registry.register("ticker")
class TickerComponent(StreamingComponent):
    """For real servers: ``count`` renders, ``interval`` seconds apart; 1 s resume grace."""

    template_name = "ticker.html"
    stream_resume_grace = 1.0

    def mount(self) -> None:
        self.state.update({"tag": "", "tick": 0})

    async def on_tick(self, tag: str, count: int = 4, interval: float = 0.3) -> AsyncIterator[None]:
        self.state["tag"] = tag
        journal.record("start", tag)
        try:
            for tick in range(1, count + 1):
                if tick > 1:
                    await anyio.sleep(interval)  # the real-server tests run it on trio too
                self.state["tick"] = tick
                yield
            journal.record("complete", tag)
        except anyio.get_cancelled_exc_class():
            journal.record("cancelled", tag)
            raise
        finally:
            journal.record("finally", tag)


@registry.register("patient-ticker")
class PatientTickerComponent(TickerComponent):
    """The ticker with a resume grace no loaded machine outlasts, and each tick's frame in the
    journal once it is kept (``tick``, ``"<tag> <n>"``): a test waits until frames were
    produced while its client was away instead of sleeping for a time it hopes is enough."""

    stream_resume_grace = 30.0

    async def on_tick(self, tag: str, count: int = 4, interval: float = 0.3) -> AsyncIterator[None]:
        async for _ in super().on_tick(tag, count, interval):
            yield
            journal.record("tick", f"{tag} {self.state['tick']}")


@registry.register("plain")
class PlainComponent(Component):
    """No generator handler: not a stream."""

    template_name = "plain.html"

    def mount(self) -> None:
        self.state["clicks"] = 0

    def on_click(self) -> None:
        self.state["clicks"] += 1
