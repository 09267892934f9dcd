"""The renderer seam: how a component's template and context become HTML.

Owns only the :class:`Renderer` protocol and its optional hooks: :class:`ReloadingRenderer`
(debug reload), :class:`NestingRenderer` (which templates may render nested children) and
:class:`SharingRenderer` (one render shared by every component in the same state).
The default implementation, ``Jinja2Renderer``, lives in ``adapters.jinjax_renderer`` so that the
core never imports Jinja; ``component_framework.testing`` has renderers that need no files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["NestingRenderer", "ReloadingRenderer", "Renderer", "SharingRenderer"]


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


@runtime_checkable
class SharingRenderer(Protocol):
    """A renderer that can render a template once for every component in the same state (the
    members of a broadcast that all end in it) and write each one's id into a copy.
    The dispatcher asks it only for a component rendered with the default context
    (``Component.get_context`` and ``Component.render`` not overridden)."""

    def may_share(self, template_name: str) -> bool:
        """False when no render of ``template_name`` can be shared (then the dispatcher does
        not prepare the key); read once per template, like the answer of
        :class:`NestingRenderer`. Must be False for a template that may render a nested
        child (the dispatcher renders a shared one without a nesting frame)."""
        ...

    def render_shared(
        self,
        template_name: str,
        state: Mapping[str, Any],
        state_text: str,
        component_name: str,
        component_id: str,
    ) -> tuple[str, str] | None:
        """The HTML of ``template_name`` for the default context of a component named
        ``component_name`` with ``component_id`` and ``state``, byte for byte what
        :meth:`Renderer.render` returns for it, and that HTML as a JSON string, byte for byte
        what ``protocol.compact.json_string`` writes for it (a message carries that text; a
        renderer that shares a render can quote its shared parts once); ``None`` when it
        cannot tell that the output depends on nothing but these (the caller then renders as
        usual). ``state_text``: the state's strict JSON text, a key that tells equal states
        apart (``1``, ``1.0`` and ``true`` included); the caller guarantees that the state
        holds only ``dict`` (with ``str`` keys), ``list``, ``str``, ``int``, ``float``,
        ``bool`` and ``None``, of exactly these types. The dispatcher
        asks only from the second render in a state on (a state's first render is the usual
        one, and its text is only noted)."""
        ...
