"""Components of the effects tests, in their own registry: ``checkout`` changes its state and
then asks for an effect named by the event's payload (so the tests can feed it any URL or
event name, as a handler echoing a ``next=`` parameter would), and ``report`` streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["SECRET", "make_app", "registry", "renderer"]

SECRET: Final = "effects-test-secret-0123456789abcdef"
renderer = Jinja2Renderer.from_strings(
    {
        "checkout.html": "<div>paid {{ count }}</div>",
        "report.html": "<div>part {{ part }}</div>",
    }
)
registry = ComponentRegistry()


@registry.register("checkout")
class Checkout(Component):
    template_name = "checkout.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_pay(self, url: str = "/thanks") -> None:
        self.state["count"] += 1
        self.redirect(url)

    def on_page(self, url: str, replace: bool = False) -> None:
        self.state["count"] += 1
        if replace:
            self.replace_url(url)
        else:
            self.push_url(url)

    def on_flash(self, name: str = "flash", text: str = "Added") -> None:
        self.state["count"] += 1
        self.trigger(name, {"text": text})

    def on_everything(self) -> None:
        self.trigger("flash", {"text": "Paid"})
        self.trigger("total", 3)
        self.push_url("/shop?page=2")
        self.redirect("/thanks")

    def on_trigger_then_pay(self, url: str) -> None:
        self.trigger("flash", {"text": "before"})
        self.state["count"] += 1
        self.redirect(url)

    def on_detail(self, detail: Any = None) -> None:
        self.trigger("custom", detail)


@registry.register("report")
class Report(StreamingComponent):
    template_name = "report.html"

    def mount(self) -> None:
        self.state["part"] = 0

    async def on_run(self) -> AsyncIterator[None]:
        self.state["part"] = 1
        self.trigger("progress", {"part": 1})
        yield
        self.state["part"] = 2
        self.push_url("/reports/7")
        yield


@registry.register("closing")
class Closing(StreamingComponent):
    """Asks for an effect after its last ``yield`` without changing what it shows."""

    template_name = "report.html"

    def mount(self) -> None:
        self.state["part"] = 0

    async def on_run(self) -> AsyncIterator[None]:
        self.state["part"] = 1
        yield
        self.trigger("finished", {"parts": 1})


def make_app(**settings: Any) -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), **settings),
        hub=Hub(),
        shutdown_on_signals=False,
    )
