"""Components of the nesting tests, in their own registry: ``shelf`` renders a keyed ``item``
per product and one keyless ``note``; ``item`` takes ``label`` as a prop; ``vault`` is a
child its parent's client may not see; ``feed`` is loaded lazily; ``ticker`` streams renders
of its children; ``board`` is a parent held by a socket.

``shelf``, ``item``, ``note`` and ``feed`` are also the components of the nesting browser
pages (``tests/browser/nesting_app.py`` registers these classes with templates of its own):
``via`` (``"http"`` or ``"ws"``, kept in the state only when given) tells those templates
which transport their buttons use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["SECRET", "Feed", "Item", "Note", "Shelf", "make_app", "registry", "renderer"]

SECRET: Final = "nesting-test-secret-0123456789abcdef"
renderer = Jinja2Renderer.from_strings(
    {
        "shelf.html": (
            "<section><h1>{{ label }} {{ renders }}</h1>"
            "{% for product in products %}"
            '{{ component("item", key=product, product_id=product, label=label) }}'
            "{% endfor %}"
            '{{ component("note") }}'
            '{% if vault %}{{ component("vault") }}{% endif %}'
            "</section>"
        ),
        "item.html": "<article>{{ label }} #{{ product_id }}: {{ count }}</article>",
        "note.html": "<aside>note {{ count }}</aside>",
        "vault.html": "<p>secret</p>",
        "feed.html": "<ul><li>{{ topic }} {{ count }}</li></ul>",
        "page.html": '<main>{{ component("feed", key="f", lazy=True, topic=topic) }}</main>',
        "ticker.html": (
            '<div>tick {{ tick }}<p data-stream="box">{{ component("note") }}</p></div>'
        ),
        "rack.html": '<div>rack {{ renders }}{{ component("shelf", key="s") }}</div>',
        "basket.html": (
            "<div>total {{ total }}"
            '{% for key in [1, 2] %}{{ component("pick", key=key) }}{% endfor %}</div>'
        ),
        "pick.html": "<b>pick {{ count }}</b>",
    }
)
registry = ComponentRegistry()


@registry.register("shelf")
class Shelf(Component):
    template_name = "shelf.html"

    def mount(
        self, products: list[int] | None = None, vault: bool = False, via: str | None = None
    ) -> None:
        products = products or [1, 2]
        self.state.update(products=products, label="Shelf", renders=0, vault=vault)
        self.state["next"] = max(products) + 1  # a product added without a number
        _keep_via(self, via)

    def on_bump(self) -> None:
        self.state["renders"] += 1

    def on_remove(self, product: int) -> None:
        self.state["products"].remove(product)

    def on_add(self, product: int | None = None) -> None:
        """Add ``product``, or a new one (never a number the shelf had before)."""
        added = self.state["next"] if product is None else product
        self.state["products"].append(added)
        self.state["next"] = max(self.state["next"], added + 1)

    def on_rename(self, label: str) -> None:
        self.state["label"] = label


@registry.register("item")
class Item(Component):
    template_name = "item.html"
    props = ("label",)

    def mount(self, product_id: int, label: str, via: str | None = None) -> None:
        self.state.update(product_id=product_id, label=label, count=0)
        _keep_via(self, via)

    def on_inc(self) -> None:
        self.state["count"] += 1

    def on_flash(self) -> None:
        self.trigger("flash", {"product": self.state["product_id"]})


@registry.register("note")
class Note(Component):
    template_name = "note.html"

    def mount(self, via: str | None = None) -> None:
        self.state["count"] = 0
        _keep_via(self, via)

    def on_inc(self) -> None:
        self.state["count"] += 1


def _keep_via(component: Component, via: str | None) -> None:
    if via is not None:
        component.state["via"] = via


@registry.register("vault")
class Vault(Component):
    template_name = "vault.html"

    def authorize(self, context: AccessContext, event: str) -> bool:
        return context.headers.get("x-role") == "owner"


@registry.register("feed")
class Feed(Component):
    template_name = "feed.html"

    @classmethod
    def placeholder(cls) -> str:
        return '<p class="loading">Loading the feed</p>'

    def mount(self, topic: str, via: str | None = None) -> None:
        self.state.update(topic=topic, count=0)
        _keep_via(self, via)

    def on_inc(self) -> None:
        self.state["count"] += 1


@registry.register("page")
class Page(Component):
    template_name = "page.html"

    def mount(self, topic: str = "news") -> None:
        self.state["topic"] = topic


@registry.register("ticker")
class Ticker(StreamingComponent):
    template_name = "ticker.html"

    def mount(self) -> None:
        self.state["tick"] = 0

    async def on_run(self) -> AsyncIterator[None]:
        for _ in range(3):
            self.state["tick"] += 1
            yield

    async def on_redraw(self) -> AsyncIterator[None]:
        yield
        await self.stream_to("box")  # re-rendered here, children included


@registry.register("rack")
class Rack(Component):
    """A grandparent: a ``shelf`` inside, whose items are its grandchildren."""

    template_name = "rack.html"

    def mount(self) -> None:
        self.state["renders"] = 0

    def on_bump(self) -> None:
        self.state["renders"] += 1


@registry.register("basket")
class Basket(Component):
    """A parent that hears its children's ``picked`` events and emits ``reset`` to them."""

    template_name = "basket.html"
    listens = ("picked",)

    def mount(self) -> None:
        self.state["total"] = 0

    def on_picked(self, qty: int) -> None:
        self.state["total"] += qty

    def on_clear(self) -> None:
        self.state["total"] = 0
        self.emit("reset")


@registry.register("pick")
class Pick(Component):
    """A child that emits ``picked`` and hears ``reset``."""

    template_name = "pick.html"
    listens = ("reset",)

    def mount(self) -> None:
        self.state["count"] = 0

    def on_take(self) -> None:
        self.state["count"] += 1
        self.emit("picked", qty=1)

    def on_reset(self) -> None:
        self.state["count"] = 0


def make_app(**settings: Any) -> ComponentASGI:
    """An app over this registry with a fixed key (and a hub of its own)."""
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), **settings),
        hub=Hub(),
    )
