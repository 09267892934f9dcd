"""The renderer seam: how a component's template and context become HTML.

Owns only the :class:`Renderer` protocol. The default implementation, ``Jinja2Renderer``, lives in
``adapters.jinjax_renderer`` so that the core never imports Jinja; ``component_framework.testing``
has renderers that need no files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Renderer"]


@runtime_checkable
class Renderer(Protocol):
    """Anything with ``render(template_name, context) -> str``.

    The returned HTML must be safe to send: the renderer escapes values from ``context``.
    """

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        """Render ``template_name`` with ``context`` and return HTML."""
        ...
