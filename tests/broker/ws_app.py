"""The app the multi-process broadcast tests serve: ``uvicorn tests.broker.ws_app:app``.

Every process reads ``COMPONENT_FRAMEWORK_BROKER_URL`` (the default hub's broker) and
``COMPONENT_FRAMEWORK_SECRET_KEY``. ``ticker`` shows a price that broadcasts update;
``announcer`` triggers such a broadcast from an HTTP (or WebSocket) event, through a bare
``WebSocketManager()`` as application code would.
"""

from __future__ import annotations

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager

__all__ = ["app"]

renderer = Jinja2Renderer.from_strings(
    {
        "ticker.html": (
            '<div class="ticker"><b class="symbol">{{ ticker }}</b>'
            '<span class="price">{{ price }}</span></div>'
        ),
        "announcer.html": '<p class="announcer">reached {{ reached }}</p>',
    }
)
registry = ComponentRegistry()


@registry.register("ticker")
class TickerComponent(Component):
    """A live price for one symbol."""

    template_name = "ticker.html"

    def mount(self, ticker: str = "ACME") -> None:
        self.state.update({"ticker": ticker, "price": None})

    def on_price_update(self, ticker: str, price: float) -> None:
        if ticker == self.state["ticker"]:
            self.state["price"] = price


@registry.register("announcer")
class AnnouncerComponent(Component):
    """Broadcasts a price to every ticker of every process."""

    template_name = "announcer.html"

    def mount(self) -> None:
        self.state["reached"] = None

    async def on_announce(self, ticker: str, price: float) -> None:
        self.state["reached"] = await WebSocketManager().broadcast(
            component_name="ticker",
            event="price_update",
            payload={"ticker": ticker, "price": price},
        )


app = ComponentASGI(registry=registry, renderer=renderer, settings=Settings())
