"""Components of the URL state tests, in their own registry: ``search`` keeps ``q`` (a
change replaces the history entry) and ``page`` (a change pushes one) in the page's query
string; ``filters`` has a key of each type a URL value is read as; ``pager`` changes its
page when it hears an emitted event; ``shelf`` nests a ``search``; ``feed`` streams its page
changes over SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["SECRET", "make_app", "registry", "renderer"]

SECRET: Final = "url-state-test-secret-0123456789abcdef"
renderer = Jinja2Renderer.from_strings(
    {
        "search.html": "<div>{{ q }}|{{ page }}</div>",
        "filters.html": "<div>{{ state }}</div>",
        "feed.html": "<div>{{ page }}</div>",
        "pager.html": "<div>{{ page }}</div>",
        "shelf.html": '<section>{{ component("search", key="s") }}</section>',
    }
)
registry = ComponentRegistry()


@registry.register("search")
class Search(Component):
    template_name = "search.html"
    url_state = ("q", "page")
    url_history = ("page",)

    def mount(self) -> None:
        self.state.update({"q": "", "page": 1, "hits": 0})

    def on_search(self, q: str) -> None:
        self.state.update({"q": q, "page": 1})

    def on_page(self, page: int) -> None:
        self.state["page"] = page

    def on_other(self) -> None:
        self.state["hits"] += 1

    def on_elsewhere(self) -> None:
        self.state["page"] += 1
        self.push_url("/elsewhere")


@registry.register("filters")
class Filters(Component):
    template_name = "filters.html"
    url_state = ("text", "count", "ratio", "fresh", "tags", "maybe")

    def mount(self) -> None:
        self.state.update(
            {"text": "a", "count": 3, "ratio": 0.5, "fresh": False, "tags": ["x"], "maybe": None}
        )


@registry.register("pager")
class Pager(Component):
    """Hears ``filtered`` from other components of the page: back to page 1."""

    template_name = "pager.html"
    url_state = ("page",)
    url_history = ("page",)
    listens = ("filtered",)

    def mount(self) -> None:
        self.state["page"] = 1

    def on_page(self, page: int) -> None:
        self.state["page"] = page

    def on_filtered(self) -> None:
        self.state["page"] = 1


@registry.register("shelf")
class Shelf(Component):
    """A parent whose nested ``search`` child keeps its keys in the URL."""

    template_name = "shelf.html"


@registry.register("feed")
class Feed(StreamingComponent):
    template_name = "feed.html"
    url_state = ("page",)
    url_history = ("page",)

    def mount(self) -> None:
        self.state["page"] = 1

    async def on_run(self) -> AsyncIterator[None]:
        self.state["page"] = 2
        yield
        self.state["page"] = 3
        yield


def make_app(**settings: Any) -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), **settings),
        hub=Hub(),
        shutdown_on_signals=False,
    )
