"""The app the two-process server-held state tests serve: ``uvicorn tests.broker.state_app:app``.

Every process reads ``COMPONENT_FRAMEWORK_BROKER_URL`` (so its server-held state lives in that
Redis) and ``COMPONENT_FRAMEWORK_SECRET_KEY``. ``safe`` keeps its state on the server and
counts the events it served, with the process that served each.
"""

from __future__ import annotations

import os

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.registry import ComponentRegistry

__all__ = ["SECRET_COMBINATION", "app"]

SECRET_COMBINATION = "4-8-15-16-23-42"
renderer = Jinja2Renderer.from_strings(
    {"safe.html": '<div class="safe"><b>{{ turns }}</b><i>{{ served_by }}</i></div>'}
)
registry = ComponentRegistry()


@registry.register("safe")
class Safe(Component):
    """Server-held: the combination never reaches a client."""

    template_name = "safe.html"
    state_on_server = True

    def mount(self) -> None:
        self.state.update(turns=0, combination=SECRET_COMBINATION, served_by=[os.getpid()])

    def on_turn(self) -> None:
        self.state["turns"] += 1
        self.state["served_by"].append(os.getpid())


app = ComponentASGI(registry=registry, renderer=renderer, settings=Settings.from_env())
