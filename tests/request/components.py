"""Components of the request tests, in their own registry. ``greeting`` records what
``self.request`` said in every hook (into :data:`seen`, never into its state) and renders
``request.user`` and ``request.transport`` from its template; it is a live component, so a
stream or socket holds it and broadcasts reach it."""

from __future__ import annotations

from typing import Any, Final

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.registry import ComponentRegistry

__all__ = ["SECRET", "registry", "renderer", "seen"]

SECRET: Final = "request-test-secret-0123456789abcdef"
TEMPLATES: Final = {
    "greeting.html": (
        "<p>Hello {{ request.user.display_name if request.user and request.user.is_authenticated"
        " else 'stranger' }} over {{ request.transport }}"
        " ({{ count }})</p>"
    ),
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()
#: (hook, user, transport) as each hook of ``greeting`` saw ``self.request``.
seen: list[tuple[str, str | None, str]] = []


@registry.register("greeting")
class Greeting(Component):
    template_name = "greeting.html"
    live_updates = True

    def _saw(self, hook: str) -> None:
        user = self.request.user
        name = getattr(user, "display_name", None) if getattr(user, "is_authenticated", 0) else None
        seen.append((hook, name, self.request.transport))

    def mount(self) -> None:
        self._saw("mount")
        self.state["count"] = 0

    def hydrate(self, state: dict[str, Any]) -> None:
        self._saw("hydrate")
        super().hydrate(state)

    def on_ping(self) -> None:
        self._saw("on_ping")
        self.state["count"] += 1

    def on_tick(self) -> None:  # a broadcast's handler
        self._saw("on_tick")
        self.state["count"] += 10

    def before_render(self) -> None:
        self._saw("before_render")

    def get_context(self) -> dict[str, Any]:
        self._saw("get_context")
        return super().get_context()
