"""Components used across the test suite, registered in an isolated registry.

Each exercises one part of the public surface: the guide's counter (sync handlers), an async
handler, typed payload binding, mount parameters, a failing handler and a streaming handler.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar, Literal

import anyio
import anyio.lowlevel

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry
from component_framework.errors import PayloadValidationError

SECRET = "test-secret-key-0123456789abcdef"
SETTINGS = Settings(secret_keys=(SECRET,))

TEMPLATES = {
    "counter.html": (
        '<div class="counter"><span class="count">{{ count }}</span>'
        '<button hx-post="/components/counter/" hx-vals=\'{"event": "increment"}\'>+</button>'
        '<button hx-post="/components/counter/" hx-vals=\'{"event": "decrement"}\'>-</button>'
        "</div>"
    ),
    "sentiment.html": ('<div class="sentiment"><p>{{ text }}</p><b>{{ score }}</b></div>'),
    "typed.html": "<div>{{ state | tojson }}</div>",
    "greeter.html": "<p>Hello {{ name }}{% if excited %}!{% endif %}</p>",
    "broken.html": "<div>{{ value }}</div>",
    "report.html": (
        "<section>{% for s in sections %}<h2>{{ s }}</h2>{% endfor %}"
        "{% if done %}<p>done</p>{% endif %}</section>"
    ),
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


@registry.register("counter")
class CounterComponent(Component):
    """The guide's counter."""

    template_name = "counter.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_increment(self) -> None:
        self.state["count"] += 1

    def on_decrement(self) -> None:
        self.state["count"] = max(0, self.state["count"] - 1)

    def _secret(self) -> None:  # never an event
        self.state["count"] = -1


def _asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running the caller; ``None`` under trio."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@registry.register("sentiment")
class SentimentComponent(Component):
    """An async handler; records which thread and loop ran it."""

    template_name = "sentiment.html"
    seen: ClassVar[list[tuple[int, Any]]] = []

    def mount(self) -> None:
        self.state.update({"text": "", "score": None})

    async def on_analyze(self, text: str) -> None:
        await anyio.lowlevel.checkpoint()  # user code that runs on asyncio and trio alike
        type(self).seen.append((threading.get_ident(), _asyncio_loop()))
        self.state["text"] = text
        self.state["score"] = round(len(text) / 10, 2)


@registry.register("typed")
class TypedComponent(Component):
    """Handlers with every supported parameter type."""

    template_name = "typed.html"

    def mount(self) -> None:
        self.state["last"] = None

    def on_numbers(self, count: int, ratio: float, flag: bool = False) -> None:
        self.state["last"] = {"count": count, "ratio": ratio, "flag": flag}

    def on_choice(self, mode: Literal["a", "b"], limit: int | None = None) -> None:
        self.state["last"] = {"mode": mode, "limit": limit}

    def on_collect(self, ids: list[int], meta: dict[str, Any] | None = None) -> None:
        self.state["last"] = {"ids": ids, "meta": meta}

    def on_validate(self, text: str) -> None:
        if not text.strip():
            raise PayloadValidationError("text", "must not be empty")
        self.state["last"] = text


@registry.register("greeter")
class GreeterComponent(Component):
    """Mount parameters bound to the signature."""

    template_name = "greeter.html"

    def mount(self, name: str, excited: bool = False) -> None:
        self.state.update({"name": name, "excited": excited})


@registry.register("broken")
class BrokenComponent(Component):
    """Handlers that fail in user code."""

    template_name = "broken.html"

    def mount(self) -> None:
        self.state["value"] = 1

    def on_boom(self) -> None:
        raise RuntimeError("secret internal detail")

    def on_unserialisable(self) -> None:
        self.state["value"] = object()


@registry.register("report")
class ReportComponent(StreamingComponent):
    """The guide's report, shortened: a generator handler."""

    template_name = "report.html"

    def mount(self) -> None:
        self.state.update({"sections": [], "done": False})

    async def on_generate(self, report_id: int) -> Any:
        for title in ("Summary", "Revenue", "Forecast"):
            await anyio.lowlevel.checkpoint()
            self.state["sections"].append(f"{title} #{report_id}")
            yield
        self.state["done"] = True
        yield
