"""What a rendered component becomes on the wire, whatever the transport carries it.

Owns the two forms of a render (DESIGN.md section 4): the render document
``{"html", "state", "snapshot", "component_id"}``, plus ``errors`` (dotted field name ->
messages) when the render shows a form's errors (the JSON answer of HTTP, the body of a
WebSocket ``render`` message and of a JSON SSE render frame) and the annotated HTML fragment
(the htmx answer of HTTP, the data of an HTML SSE render frame, what htmx's ws extension
swaps, what a page embeds). Also the two answer formats a request may ask for. Does not own
the framing around them (``protocol.sse``, ``protocol.websocket``, ``asgi.responses``).

Fed by anything shaped like :class:`Rendered` (``core.dispatch.DispatchResult`` is one), so
this layer still imports nothing of ours. Pure.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal, Protocol
from urllib.parse import quote

from component_framework.protocol.compact import compact_json
from component_framework.protocol.fragment import annotate_root, wire_attributes

__all__ = [
    "ANSWER_FORMATS",
    "EMIT_EVENT",
    "AnswerFormat",
    "Rendered",
    "effect_headers",
    "render_document",
    "render_fragment",
    "render_text",
]

#: How a stream or socket answers: the annotated HTML fragment, or the render document as JSON.
AnswerFormat = Literal["html", "json"]
ANSWER_FORMATS: Final[tuple[AnswerFormat, AnswerFormat]] = ("html", "json")
#: What a URL keeps as is in a header: printable ASCII (non-ASCII is percent-encoded).
_URL_SAFE: Final = "".join(chr(code) for code in range(0x21, 0x7F))


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

    @property
    def errors(self) -> dict[str, list[str]]:
        """The form errors the render shows (dotted field name -> messages), often none."""
        ...

    @property
    def listens(self) -> tuple[str, ...]:
        """The events of other components of the page this component handles."""
        ...

    @property
    def server_held(self) -> bool:
        """Whether the state stays on the server (``snapshot`` is a reference to it): then
        the document carries no ``state``."""
        ...

    @property
    def state_text(self) -> str | None:
        """``state`` as compact JSON text when the render wrote it already (inside its
        snapshot), else ``None``: a builder that carries the state encodes it then."""
        ...

    @property
    def html_text(self) -> str | None:
        """``html`` as a JSON string (``compact.json_string``'s text) when the render has it
        already (a shared render quotes its parts once), else ``None``."""
        ...

    @property
    def snapshot_plain(self) -> bool:
        """Whether ``snapshot`` needs no JSON escaping (a signed token's characters,
        base64url and dots, never do): a message writes it in quotes as it is."""
        ...

    @property
    def component_id_text(self) -> str | None:
        """``component_id`` as a JSON string when the render wrote it already, else
        ``None``."""
        ...

    @property
    def effects(self) -> dict[str, Any] | None:
        """Navigation and client effects for the browser (``redirect``, ``push_url`` or
        ``replace_url``, ``trigger``), or ``None``."""
        ...


def render_document(rendered: Rendered) -> dict[str, Any]:
    """The render document: ``{"html", "state", "snapshot", "component_id"}``, and
    ``errors`` when the render shows form errors and ``effects`` when the handler asked for
    some. A component whose state stays on the server has no ``state`` key: its secrets
    never leave the server, and ``snapshot`` is only a reference."""
    document: dict[str, Any]
    if rendered.server_held:
        document = {
            "html": rendered.html,
            "snapshot": rendered.snapshot,
            "component_id": rendered.component_id,
        }
    else:
        document = {
            "html": rendered.html,
            "state": rendered.state,
            "snapshot": rendered.snapshot,
            "component_id": rendered.component_id,
        }
    errors = rendered.errors
    if errors:
        document["errors"] = errors
    effects = rendered.effects
    if effects:
        document["effects"] = effects
    return document


#: The DOM event (fired through ``HX-Trigger``) that hands emitted events to the runtime.
EMIT_EVENT: Final = "component:emit"
#: The htmx response header of each effect (htmx 2 and htmx 4 read the same ones).
_EFFECT_HEADERS: Final = (
    ("redirect", b"hx-redirect"),
    ("push_url", b"hx-push-url"),
    ("replace_url", b"hx-replace-url"),
)


def effect_headers(effects: dict[str, Any], component_id: str) -> list[tuple[bytes, bytes]]:
    """The htmx response headers of ``effects``: ``HX-Redirect``, ``HX-Push-Url`` /
    ``HX-Replace-Url`` (URLs with non-ASCII characters percent-encoded) and ``HX-Trigger``,
    JSON ``{name: detail}`` (emitted events as :data:`EMIT_EVENT`, detail ``{"events"}``,
    which the client runtime delivers) where each detail is an object (else
    ``{"value": detail}``, as htmx does) carrying ``target``, the component root's
    selector: htmx 2 fires the event before its swap and htmx 4 after it, on the element
    that sent the request, which the swap may have detached; both fire on ``target``
    instead, so the event reaches the component (and bubbles to the page) on either."""
    headers = [
        (header, quote(effects[key], safe=_URL_SAFE).encode("ascii"))
        for key, header in _EFFECT_HEADERS
        if key in effects
    ]
    triggers, emitted = effects.get("trigger"), effects.get("emit")
    if triggers or emitted:
        selector = '[id="' + component_id.replace("\\", "\\\\").replace('"', '\\"') + '"]'
        fired = {
            name: {**_as_object(detail), "target": selector}
            for name, detail in (triggers or {}).items()
        }
        if emitted:  # the client runtime delivers them to the page's listeners
            fired[EMIT_EVENT] = {"events": emitted, "target": selector}
        headers.append((b"hx-trigger", json.dumps(fired, ensure_ascii=True).encode("ascii")))
    return headers


def _as_object(detail: Any) -> dict[str, Any]:
    """An event's detail as htmx gives it: an object as is, anything else as ``value``."""
    return detail if isinstance(detail, dict) else {"value": detail}


def render_fragment(rendered: Rendered) -> str:
    """The HTML with the wire attributes (id, htmx target and swap, snapshot in ``hx-vals``)
    on its root element: what htmx swaps in and what a page embeds."""
    attributes = wire_attributes(
        rendered.component_name, rendered.component_id, rendered.snapshot, rendered.listens
    )
    return annotate_root(rendered.html, attributes)


def render_text(rendered: Rendered, answer_format: AnswerFormat) -> str:
    """The render in ``answer_format``: the fragment, or the render document as JSON text."""
    if answer_format == "json":
        return compact_json(render_document(rendered))
    return render_fragment(rendered)
