"""The app the multi-process presence tests serve: ``uvicorn tests.presence.presence_app:app``.

Every process reads ``COMPONENT_FRAMEWORK_BROKER_URL`` (one real Redis) and beats every
``CF_TEST_PRESENCE_HEARTBEAT`` seconds (short, so that a killed process's members expire
quickly). ``viewer`` is present in ``doc:<doc>`` under the name it was mounted with, and lists
everyone there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.hub import ENV_BROKER_URL, Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["app"]

registry = ComponentRegistry()
renderer = Jinja2Renderer.from_strings(
    {"viewer.html": '<p class="viewers">{{ viewers | join(",") }}</p>'}
)


@registry.register("viewer")
class Viewer(Component):
    """Present in its document's topic as ``name``; re-rendered when someone comes or goes."""

    template_name = "viewer.html"
    presence = True

    def mount(self, name: str = "", doc: str = "readme") -> None:
        self.state.update({"name": name, "doc": doc})

    def topics(self) -> list[str]:
        return [f"doc:{self.state['doc']}"]

    def presence_meta(self) -> Mapping[str, Any]:
        return {"name": self.state["name"]}

    def on_presence(self) -> None:
        """Nothing to keep: the render lists who is there now."""

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["viewers"] = [entry["name"] for entry in self.present()]
        return context


hub = Hub(
    os.environ[ENV_BROKER_URL],
    presence_heartbeat=float(os.environ.get("CF_TEST_PRESENCE_HEARTBEAT", "2")),
)
app = ComponentASGI(registry=registry, renderer=renderer, settings=Settings(), hub=hub)
