"""Jinja2 integration: the default renderer and the ``component()`` page global.

Owns :class:`Jinja2Renderer` (templates from a directory, a ``Path`` or an existing
``jinja2.Environment``, autoescaped) and :func:`register_component_global`, which puts
``{{ component("counter", start=3) }}`` into any Jinja environment, including the one inside
Litestar's ``JinjaTemplateEngine``. Requires the ``litestar`` extra (it brings Jinja2).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    import jinja2
    from markupsafe import Markup
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("jinja2", "litestar") from exc

from component_framework.asgi.app import ComponentASGI
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher
from component_framework.errors import ConfigurationError

__all__ = ["Jinja2Renderer", "register_component_global"]


class Jinja2Renderer:
    """Renders component templates with Jinja2; autoescaping is on for HTML templates.

    ``source``: a template directory (``str`` or ``Path``), several directories, or a ready
    ``jinja2.Environment`` (used as is). ``auto_reload``: re-read changed template files (handy
    while developing; off by default, so each template is compiled once).
    """

    def __init__(
        self,
        source: str | Path | list[str | Path] | jinja2.Environment,
        *,
        auto_reload: bool = False,
    ) -> None:
        self._templates: dict[str, jinja2.Template] = {}
        if isinstance(source, jinja2.Environment):
            self.environment = source
        else:
            self.environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(source),
                autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                auto_reload=auto_reload,
            )

    @classmethod
    def from_strings(cls, templates: Mapping[str, str]) -> Jinja2Renderer:
        """A renderer over in-memory templates (handy in tests and examples)."""
        environment = jinja2.Environment(
            loader=jinja2.DictLoader(dict(templates)),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            auto_reload=False,
        )
        return cls(environment)

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        """Render ``template_name`` with ``context``.

        Compiled templates are kept per name unless the environment auto-reloads (then Jinja's
        own cache checks the files for changes on every call, as configured)."""
        template = self._templates.get(template_name)
        if template is None:
            template = self.environment.get_template(template_name)
            if not self.environment.auto_reload:
                self._templates[template_name] = template
        return template.render(context)


class _ComponentGlobal:
    """The callable behind ``{{ component(name, **params) }}``."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def __call__(self, component_name: str, /, **params: Any) -> Markup:
        # Positional-only, so a mount parameter may itself be called ``component_name``.
        result = self.dispatcher.dispatch(ComponentCall(component_name, params=params))
        return Markup(result.fragment())


def _environment_of(target: Any) -> jinja2.Environment:
    if isinstance(target, jinja2.Environment):
        return target
    engine = getattr(target, "engine", None)  # Litestar's JinjaTemplateEngine
    if isinstance(engine, jinja2.Environment):
        return engine
    raise ConfigurationError(
        f"expected a jinja2.Environment or a JinjaTemplateEngine, got {type(target).__name__}"
    )


def register_component_global(
    target: Any,
    components: ComponentASGI | Dispatcher | None = None,
    *,
    name: str = "component",
) -> None:
    """Make ``{{ component("counter") }}`` available in ``target``'s templates.

    ``target``: a ``jinja2.Environment`` or Litestar's ``JinjaTemplateEngine`` (so it works as
    ``TemplateConfig(engine_callback=register_component_global)``). ``components``: the
    ``ComponentASGI`` whose registry, renderer and keys to use; by default the default registry
    with settings from the environment, which matches a default ``ComponentASGI``.
    The global mounts the component and returns its annotated fragment, so the page can send
    events right away; components with an ``async def mount`` cannot be rendered this way.
    """
    if isinstance(components, ComponentASGI):
        dispatcher = components.dispatcher
    elif components is None:
        dispatcher = Dispatcher(settings=Settings.from_env())
    else:
        dispatcher = components
    _environment_of(target).globals[name] = _ComponentGlobal(dispatcher)
