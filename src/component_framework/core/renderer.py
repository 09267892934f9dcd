"""The renderer seam: how a component's template and context become HTML.

Owns only the :class:`Renderer` protocol and its optional hooks: :class:`ReloadingRenderer`
(debug reload) and :class:`NestingRenderer` (which templates may render nested children).
The default implementation, ``Jinja2Renderer``, lives in ``adapters.jinjax_renderer`` so that the
core never imports Jinja; ``component_framework.testing`` has renderers that need no files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["NestingRenderer", "ReloadingRenderer", "Renderer"]


@runtime_checkable
class Renderer(Protocol):
    """Anything with ``render(template_name, context) -> str``.

    The returned HTML must be safe to send: the renderer escapes values from ``context``.
    """

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        """Render ``template_name`` with ``context`` and return HTML."""
        ...


@runtime_checkable
class ReloadingRenderer(Protocol):
    """A renderer that can start re-reading edited templates. A dispatcher whose
    ``Settings.debug`` is on calls :meth:`enable_reload` on its renderer and on
    ``Component.renderer`` as it is created, so debug mode picks up template edits without a
    restart while a production app never pays for the checks."""

    def enable_reload(self) -> None:
        """Re-read templates that changed on disk from now on (unless told never to)."""
        ...


@runtime_checkable
class NestingRenderer(Protocol):
    """A renderer that can tell that a template renders no nested children. The dispatcher
    renders each component inside a ``core.nesting`` frame, so that ``component()`` in its
    template can render a child there; for a template this renderer answers ``False`` for,
    it renders without one (a render of a renderer without this method always has one)."""

    def may_render_children(self, template_name: str) -> bool:
        """False only when rendering ``template_name`` can never render a nested child: when
        unsure (a template that cannot be read, a dynamic include), True. The answer follows
        template edits whenever the renderer re-reads them."""
        ...
