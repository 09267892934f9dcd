"""The components the Django test site serves, with their registry, renderer and settings.

``counter`` (the sample counter, public), ``report`` (the sample report stream, for signed-in
users), ``badge`` (``IsAuthenticated`` and staff only: shows who the Django user is) and
``staff_report`` (needs the Django permission ``auth.view_user``, checked with
``user.has_perm`` in ``authorize``). Importing this module needs no Django setup.
"""

from __future__ import annotations

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext, IsAuthenticated
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry
from tests import sample_components

__all__ = ["SETTINGS", "registry", "renderer"]

SETTINGS = Settings(secret_keys=("django-site-components-key-0123456789abcdef",))
renderer = Jinja2Renderer.from_strings(
    {
        **sample_components.TEMPLATES,
        "badge.html": '<p class="badge">signed in as <b>{{ username }}</b></p>',
        "staff_report.html": "<p>{{ users }} users</p>",
    }
)
registry = ComponentRegistry()
registry.register("counter")(sample_components.CounterComponent)


@registry.register("report")
class Report(sample_components.ReportComponent):
    """The sample report stream, for signed-in users only."""

    permission_classes = (IsAuthenticated,)


@registry.register("badge")
class Badge(Component):
    """Who is signed in, as the component's authorization sees the Django user."""

    template_name = "badge.html"
    permission_classes = (IsAuthenticated,)

    def authorize(self, context: AccessContext, event: str) -> bool:
        user = context.user
        self._username = user.get_username()
        return bool(user.is_staff)

    def mount(self) -> None:
        self.state["username"] = self._username

    def on_refresh(self) -> None:
        self.state["username"] = self._username


@registry.register("staff_report")
class StaffReport(Component):
    """Needs a Django model permission (loaded by ``DjangoSessionAuth(load_permissions=True)``)."""

    template_name = "staff_report.html"
    permission_classes = (IsAuthenticated,)

    def authorize(self, context: AccessContext, event: str) -> bool:
        return bool(context.user.has_perm("auth.view_user"))

    def mount(self) -> None:
        self.state["users"] = 3
