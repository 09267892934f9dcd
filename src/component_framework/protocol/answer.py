"""What a rendered component becomes on the wire, whatever the transport carries it.

Owns the two forms of a render (DESIGN.md section 4): the render document
``{"html", "state", "snapshot", "component_id"}`` (the JSON answer of HTTP, the body of a
WebSocket ``render`` message and of a JSON SSE render frame) and the annotated HTML fragment
(the htmx answer of HTTP, the data of an HTML SSE render frame, what htmx's ws extension
swaps, what a page embeds). Also the two answer formats a request may ask for. Does not own
the framing around them (``protocol.sse``, ``protocol.websocket``, ``asgi.responses``).

Fed by anything shaped like :class:`Rendered` (``core.dispatch.DispatchResult`` is one), so
this layer still imports nothing of ours. Pure.
"""

from __future__ import annotations

from typing import Any, Final, Literal, Protocol

from component_framework.protocol.compact import compact_json
from component_framework.protocol.fragment import annotate_root, wire_attributes

__all__ = [
    "ANSWER_FORMATS",
    "AnswerFormat",
    "Rendered",
    "render_document",
    "render_fragment",
    "render_text",
]

#: How a stream or socket answers: the annotated HTML fragment, or the render document as JSON.
AnswerFormat = Literal["html", "json"]
ANSWER_FORMATS: Final[tuple[AnswerFormat, AnswerFormat]] = ("html", "json")


class Rendered(Protocol):
    """A rendered component, as the wire sees it."""

    @property
    def html(self) -> str:
        """The template's output, as rendered."""
        ...

    @property
    def state(self) -> dict[str, Any]:
        """The component's state after the call."""
        ...

    @property
    def snapshot(self) -> str:
        """The signed token of that state."""
        ...

    @property
    def component_id(self) -> str:
        """The component's stable id."""
        ...

    @property
    def component_name(self) -> str:
        """The registered name of the component."""
        ...


def render_document(rendered: Rendered) -> dict[str, Any]:
    """The render document: ``{"html", "state", "snapshot", "component_id"}``."""
    return {
        "html": rendered.html,
        "state": rendered.state,
        "snapshot": rendered.snapshot,
        "component_id": rendered.component_id,
    }


def render_fragment(rendered: Rendered) -> str:
    """The HTML with the wire attributes (id, htmx target and swap, snapshot in ``hx-vals``)
    on its root element: what htmx swaps in and what a page embeds."""
    attributes = wire_attributes(rendered.component_name, rendered.component_id, rendered.snapshot)
    return annotate_root(rendered.html, attributes)


def render_text(rendered: Rendered, answer_format: AnswerFormat) -> str:
    """The render in ``answer_format``: the fragment, or the render document as JSON text."""
    if answer_format == "json":
        return compact_json(render_document(rendered))
    return render_fragment(rendered)
