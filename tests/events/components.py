"""Components of the events tests, in their own registry: ``item`` emits (``added``, with the
payload a test gives it), ``cart`` and ``badge`` listen to ``added`` (``cart`` to
``removed`` too), ``locked`` lists ``added`` but its ``authorize`` refuses it, ``bystander``
has an ``on_added`` handler but does not list the event, ``relay`` passes ``added`` on as
``relayed`` (which ``tally`` hears), ``echo`` emits ``ping`` whenever it hears ``ping`` (a
cycle), ``live_cart`` is ``cart`` with live SSE updates, and ``packer``'s stream handler
emits ``added``."""

from __future__ import annotations

from typing import Any, Final

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["PAGE", "SECRET", "make_app", "registry", "renderer"]

SECRET: Final = "events-test-secret-0123456789abcdef"
PAGE: Final = "page-0123456789"
renderer = Jinja2Renderer.from_strings(
    {
        "item.html": "<div>added {{ count }}</div>",
        "cart.html": "<div>total {{ total }}</div>",
        "echo.html": "<div>pings {{ pings }}</div>",
    }
)
registry = ComponentRegistry()


@registry.register("item")
class Item(Component):
    template_name = "item.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_add(self, qty: int = 1) -> None:
        self.state["count"] += 1
        self.emit("added", qty=qty)

    def on_send(self, event: str, payload: Any = None) -> None:
        """Emits what the test names (bad names and payloads included)."""
        self.state["count"] += 1
        self.emit(event, **(payload or {}))

    def on_many(self, times: int) -> None:
        for _ in range(times):
            self.emit("added", qty=1)


class _Cart(Component):
    template_name = "cart.html"

    def mount(self) -> None:
        self.state["total"] = 0

    def on_added(self, qty: int) -> None:
        self.state["total"] += qty


@registry.register("cart")
class Cart(_Cart):
    listens = ("added", "removed")

    def on_removed(self, qty: int) -> None:
        self.state["total"] -= qty


@registry.register("badge")
class Badge(_Cart):
    listens = ("added",)


@registry.register("locked")
class Locked(_Cart):
    listens = ("added",)

    def authorize(self, context: AccessContext, event: str) -> bool:
        return event != "added"


@registry.register("bystander")
class Bystander(_Cart):
    """Has ``on_added`` (a client event) but does not list it: emits never run it."""


@registry.register("relay")
class Relay(_Cart):
    listens = ("added",)

    def on_added(self, qty: int) -> None:
        super().on_added(qty)
        self.emit("relayed", qty=qty)


@registry.register("tally")
class Tally(_Cart):
    listens = ("relayed",)

    def on_relayed(self, qty: int) -> None:
        self.state["total"] += qty


@registry.register("echo")
class Echo(Component):
    template_name = "echo.html"
    listens = ("ping",)

    def mount(self) -> None:
        self.state["pings"] = 0

    def on_ping(self) -> None:
        self.state["pings"] += 1
        self.emit("ping")

    def on_start(self) -> None:
        self.emit("ping")


@registry.register("live_cart")
class LiveCart(Cart):
    live_updates = True


@registry.register("packer")
class Packer(StreamingComponent):
    template_name = "item.html"

    def mount(self) -> None:
        self.state["count"] = 0

    async def on_pack(self, qty: int = 1) -> Any:
        self.state["count"] += 1
        self.emit("added", qty=qty)
        yield


def make_app(hub: Hub | None = None, **settings: Any) -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), **settings),
        hub=Hub() if hub is None else hub,
        shutdown_on_signals=False,
    )
