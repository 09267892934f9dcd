"""The apps the real-uvicorn WebSocket tests serve: ``uvicorn tests.websocket_uvicorn.ws_app:X``.

One registry of small components, served by every host the guide documents:

* ``standalone``: ``ComponentASGI`` at its default prefix ``/components`` (also run behind
  ``uvicorn --root-path /app``);
* ``litestar_routes``: Litestar pattern B, ``create_component_routes(app)``;
* ``litestar_endpoints``: Litestar with the guide's endpoint list
  (``component_endpoint``, ``component_stream_endpoint``, ``component_websocket_endpoint``);
* ``starlette_mount``: ``Mount("/components", app=ComponentASGI(...))``;
* ``middleware``: ``ComponentASGI(app=inner)`` around a Starlette app with its own lifespan;
* ``limited``: standalone with ``ws_max_message_bytes=1024`` and ``ws_join_timeout=0.5``.

Settings come from the environment (``COMPONENT_FRAMEWORK_SECRET_KEY``, passed by the tests),
every app uses the process-wide hub, so a bare ``WebSocketManager()`` in a handler reaches
every live component of the server process. Broadcasts are triggered from outside through the
``announcer`` component; ``inspector`` reports ``WebSocketManager().connections(name)``;
``progress`` reports how many ``busy_viewer`` broadcast handlers of a room have run.

Only the server processes import this module: building the apps touches process-wide state
(the default hub, the Litestar adapter's shared app), so the tests take their constants from
:mod:`tests.websocket_uvicorn.wsclient`.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from typing import Any, Final

from litestar import Litestar
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.adapters.litestar import (
    component_endpoint,
    component_stream_endpoint,
    component_websocket_endpoint,
    configure_components,
    create_component_routes,
)
from component_framework.core.component import Component
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager
from tests.websocket_uvicorn.wsclient import (
    DELIBERATE_FAILURE,
    LIMITED_JOIN_TIMEOUT,
    LIMITED_MAX_MESSAGE_BYTES,
)

__all__ = [
    "limited",
    "litestar_endpoints",
    "litestar_routes",
    "middleware",
    "registry",
    "room_topic",
    "standalone",
    "starlette_mount",
]

INNER_TEXT = "inner app says hello"

TEMPLATES = {
    "counter.html": '<div class="counter"><span class="count">{{ count }}</span></div>',
    "ticker.html": ('<div class="ticker"><b class="ticks">{{ ticks }}</b><i>{{ last }}</i></div>'),
    "announcer.html": "<p>reached {{ reached }}</p>",
    "inspector.html": "<p>{{ connections }}</p>",
    "sentinel.html": "<p>sentinel {{ seen }}</p>",
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


@registry.register("counter")
class Counter(Component):
    """The guide's counter."""

    template_name = "counter.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_increment(self) -> None:
        self.state["count"] += 1


def room_topic(room: str) -> str:
    return f"room:{room}"


@registry.register("ticker")
class Ticker(Component):
    """Receives broadcasts (``tick``) in its room (a topic, so that each test has its own
    audience); also a live SSE subscription."""

    template_name = "ticker.html"
    live_updates = True

    def mount(self, room: str = "lobby") -> None:
        self.state.update({"room": room, "ticks": 0, "last": ""})

    def topics(self) -> list[str]:
        return [room_topic(self.state["room"])]

    def on_tick(self, text: str) -> None:
        self.state["ticks"] += 1
        self.state["last"] = text


@registry.register("announcer")
class Announcer(Component):
    """Broadcasts from inside the server process, as application code would."""

    template_name = "announcer.html"

    def mount(self) -> None:
        self.state["reached"] = None

    async def on_announce(self, text: str, room: str) -> None:
        """``tick`` to the tickers of ``room`` (a handler runs there)."""
        manager = WebSocketManager()
        reached = await manager.broadcast("ticker", "tick", {"text": text}, topic=room_topic(room))
        self.state["reached"] = reached

    async def on_work(self, room: str) -> None:
        """``work`` to the ``busy_viewer`` pages of ``room``: a long fan-out."""
        manager = WebSocketManager()
        reached = await manager.broadcast("busy_viewer", "work", topic=room_topic(room))
        self.state["reached"] = reached

    async def on_shout(self, text: str, room: str) -> None:
        """``note`` to the tickers of ``room``: no handler, so forwarded as a ``broadcast``."""
        manager = WebSocketManager()
        reached = await manager.broadcast("ticker", "note", {"text": text}, topic=room_topic(room))
        self.state["reached"] = reached


@registry.register("inspector")
class Inspector(Component):
    """Reports how many live instances of a component this process holds."""

    template_name = "inspector.html"

    def mount(self) -> None:
        self.state["connections"] = None

    def on_count(self, name: str) -> None:
        self.state["connections"] = WebSocketManager().connections(name)


#: CPU time each ``busy_viewer`` broadcast handler takes (as a heavy render would).
BUSY_HANDLER_SECONDS: Final = 0.02
#: ``busy_viewer`` broadcast handlers run so far, per room.
busy_runs: Tally[str] = Tally()


@registry.register("busy_viewer")
class BusyViewer(Component):
    """A page of ``room`` whose broadcast handler keeps the CPU busy for a while."""

    template_name = "sentinel.html"

    def mount(self, room: str = "lobby") -> None:
        self.state.update({"room": room, "seen": 0})

    def topics(self) -> list[str]:
        return [room_topic(self.state["room"])]

    def on_work(self) -> None:
        deadline = time.perf_counter() + BUSY_HANDLER_SECONDS
        while time.perf_counter() < deadline:
            pass
        busy_runs[self.state["room"]] += 1
        self.state["seen"] += 1


@registry.register("progress")
class Progress(Component):
    """An unrelated request: how many ``busy_viewer`` handlers of ``room`` have run."""

    template_name = "sentinel.html"

    def mount(self, room: str) -> None:
        self.state["seen"] = busy_runs[room]


@registry.register("sentinel")
class Sentinel(Component):
    """Held only by the disconnect test, so its instance count is that test's alone."""

    template_name = "sentinel.html"

    def mount(self) -> None:
        self.state["seen"] = 0

    def on_poke(self) -> None:
        self.state["seen"] += 1


@registry.register("fragile")
class Fragile(Component):
    """A mount that fails in user code when asked to."""

    template_name = "sentinel.html"

    def mount(self, fail: bool = False) -> None:
        if fail:
            raise RuntimeError(DELIBERATE_FAILURE)
        self.state["seen"] = 0

    def on_poke(self) -> None:
        self.state["seen"] += 1


def components(app: Any = None, **overrides: Any) -> ComponentASGI:
    """A ``ComponentASGI`` over :data:`registry` with settings from the environment."""
    return ComponentASGI(
        app, registry=registry, renderer=renderer, settings=Settings.from_env(**overrides)
    )


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(INNER_TEXT)


standalone = components()
limited = components(
    ws_max_message_bytes=LIMITED_MAX_MESSAGE_BYTES, ws_join_timeout=LIMITED_JOIN_TIMEOUT
)
starlette_mount = Starlette(routes=[Mount("/components", app=components())])
middleware = components(Starlette(routes=[Route("/hello", hello)]))

# The Litestar module-level endpoints serve the shared app that configure_components builds.
configure_components(registry=registry, renderer=renderer, settings=Settings.from_env())
litestar_routes = Litestar()
create_component_routes(litestar_routes)
litestar_endpoints = Litestar(
    route_handlers=[component_endpoint, component_stream_endpoint, component_websocket_endpoint]
)
