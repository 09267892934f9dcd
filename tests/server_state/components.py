"""Components of the server-held state tests: a vault whose state must never reach a client.

``vault`` keeps its state on the server (``state_on_server = True``) and holds a secret it
never renders; ``plain_counter`` travels as a signed snapshot as usual; ``shelf`` (client-held)
and ``drawer`` (server-held) nest one in the other. :func:`app` builds a ``ComponentASGI`` over
them with a store the test chooses.
"""

from __future__ import annotations

from typing import Any

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.state_store import StateStore

SECRET = "server-state-secret-0123456789abcdef"
PASSWORD = "hunter2-never-sent"

TEMPLATES = {
    "vault.html": '<div class="vault"><b>{{ opened }}</b></div>',
    "plain.html": '<div class="plain"><b>{{ count }}</b></div>',
    "shelf.html": ('<div class="shelf"><i>{{ count }}</i>{{ component("drawer", key="d") }}</div>'),
    "drawer.html": '<div class="drawer"><u>{{ items }}</u></div>',
    "lobby.html": '<div class="lobby">{{ component("vault", lazy=True) }}</div>',
    "ticker.html": '<div class="ticker"><b>{{ ticks }}</b></div>',
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


@registry.register("vault")
class Vault(Component):
    """Counts openings; its password stays on the server."""

    template_name = "vault.html"
    state_on_server = True
    listens = ("knock",)

    def mount(self) -> None:
        self.state["opened"] = 0
        self.state["password"] = PASSWORD

    def on_open(self) -> None:
        self.state["opened"] += 1

    def on_knock(self) -> None:
        self.state["opened"] += 10


@registry.register("plain_counter")
class PlainCounter(Component):
    """A client-held component beside it."""

    template_name = "plain.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_add(self) -> None:
        self.state["count"] += 1


@registry.register("shelf")
class Shelf(Component):
    """A client-held parent of a server-held child."""

    template_name = "shelf.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_add(self) -> None:
        self.state["count"] += 1


@registry.register("drawer")
class Drawer(Component):
    """A server-held child."""

    template_name = "drawer.html"
    state_on_server = True

    def mount(self) -> None:
        self.state["items"] = 0
        self.state["key"] = PASSWORD

    def on_put(self) -> None:
        self.state["items"] += 1


@registry.register("lobby")
class Lobby(Component):
    """A client-held page part that loads a vault lazily."""

    template_name = "lobby.html"


@registry.register("ticker")
class Ticker(StreamingComponent):
    """A server-held stream: three renders, one per yield."""

    template_name = "ticker.html"
    state_on_server = True

    def mount(self) -> None:
        self.state["ticks"] = 0
        self.state["token"] = PASSWORD

    async def on_run(self) -> Any:
        for _ in range(3):
            self.state["ticks"] += 1
            yield


def app(store: StateStore | None = None, **settings: Any) -> ComponentASGI:
    """The components app over ``store`` (default: from the settings, memory)."""
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), **settings),
        state_store=store,
        hub=Hub(),
        shutdown_on_signals=False,
    )
