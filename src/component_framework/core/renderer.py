"""The renderer seam: how a component's template and context become HTML.

Owns only the :class:`Renderer` protocol and its optional debug hook, :class:`ReloadingRenderer`.
The default implementation, ``Jinja2Renderer``, lives in ``adapters.jinjax_renderer`` so that the
core never imports Jinja; ``component_framework.testing`` has renderers that need no files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["ReloadingRenderer", "Renderer"]


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
