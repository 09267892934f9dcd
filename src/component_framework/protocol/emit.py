"""The batch of emitted events a browser sends to ``POST {prefix}/_emit/``, and its answer.

Owns the request's shape (``docs/protocol.md``)::

    {"events": [{"event": "added", "payload": {"qty": 1}}, ...],
     "listeners": [{"component": "cart", "id": "cart-x1", "snapshot": "v2..."}, ...],
     "page": "<the page id>", "depth": 1, "format": "html"}

its limits (events, listeners, chain depth: counts beside the byte limit of every body), and
the answer ``{"results": [...]}``, one item a listener in the request's order: the listener's
render (``format`` ``html``: ``{"component_id", "html"}`` with the annotated fragment, which
the client runtime swaps by id; ``json``: the render document), each with ``effects`` when
the handler asked for some, or ``{"component_id", "component", "error"}`` for a listener that
failed (the others still ran). Pure: fed parsed bytes and anything shaped like a render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from component_framework.protocol.answer import (
    ANSWER_FORMATS,
    AnswerFormat,
    Rendered,
    render_document,
    render_fragment,
)
from component_framework.protocol.request import (
    RequestError,
    child_snapshots,
    decode_json_object,
    quoted,
)

__all__ = [
    "MAX_BATCH_LISTENERS",
    "EmitBatch",
    "Listener",
    "emit_result",
    "failed_result",
    "parse_emit_batch",
]

#: Most listeners one batch names (a page with more listeners of one event sends several).
MAX_BATCH_LISTENERS: Final = 64
_MAX_ID_CHARS: Final = 128


@dataclass(frozen=True, slots=True)
class Listener:
    """A component of the page to run the events on: its name, the id the page shows it
    under (echoed in its result, never trusted: the snapshot says which component it is),
    its signed snapshot and those of the components inside it (``children``: its re-render
    keeps them, see ``core.nesting``)."""

    component: str
    id: str
    snapshot: str
    children: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EmitBatch:
    """The parsed batch: events in order, listeners in order, the page and chain depth."""

    events: tuple[tuple[str, dict[str, Any]], ...]
    listeners: tuple[Listener, ...]
    page: object
    depth: int
    answer_format: AnswerFormat


def _text(item: dict[str, Any], key: str, where: str, limit: int | None = None) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or (limit is not None and len(value) > limit):
        raise RequestError("malformed", f"{where}: {key!r} must be a non-empty string")
    return value


def _items(document: dict[str, Any], key: str, limit: int) -> list[dict[str, Any]]:
    items = document.get(key)
    if not isinstance(items, list) or not items:
        raise RequestError("malformed", f"{key!r} must be a non-empty list, got {quoted(items)}")
    if len(items) > limit:
        raise RequestError("too_many_fields", f"{key!r} holds {len(items)} items, over {limit}")
    if not all(isinstance(item, dict) for item in items):
        raise RequestError("malformed", f"every item of {key!r} must be an object")
    return items


def parse_emit_batch(
    text: str, *, max_depth: int, max_fields: int, max_events: int, max_chain: int
) -> EmitBatch:
    """The batch in the JSON body ``text``; ``RequestError`` for anything else (a body that
    is no JSON object, missing or ill-typed fields, more than ``max_events`` events or
    :data:`MAX_BATCH_LISTENERS` listeners, a ``depth`` past ``max_chain``). Event names and
    payloads are the dispatcher's to check, per listener, as for a client's event."""
    document = decode_json_object(text, max_depth, "emit batch", max_fields=max_fields)
    unknown = set(document) - {"events", "listeners", "page", "depth", "format"}
    if unknown:
        raise RequestError("malformed", f"unexpected field {quoted(sorted(unknown)[0])}")
    events = []
    for item in _items(document, "events", max_events):
        payload = item.get("payload", {})
        if not isinstance(payload, dict):
            raise RequestError("malformed", "an event's 'payload' must be an object")
        events.append((_text(item, "event", "an event"), payload))
    listeners = tuple(
        Listener(
            _text(item, "component", "a listener", _MAX_ID_CHARS),
            _text(item, "id", "a listener", _MAX_ID_CHARS),
            _text(item, "snapshot", "a listener"),
            child_snapshots(item.get("children"), max_fields),
        )
        for item in _items(document, "listeners", MAX_BATCH_LISTENERS)
    )
    depth = document.get("depth", 1)
    if type(depth) is not int or not 1 <= depth <= max_chain:
        raise RequestError(
            "malformed",
            f"'depth' must be a whole number from 1 to {max_chain} (a chain of "
            f"events stops there), got {quoted(depth, scalars=True)}",
        )
    answer_format = document.get("format", "html")
    if answer_format not in ANSWER_FORMATS:
        raise RequestError(
            "malformed", f"'format' must be 'html' or 'json', got {quoted(answer_format)}"
        )
    return EmitBatch(tuple(events), listeners, document.get("page"), depth, answer_format)


def emit_result(rendered: Rendered, answer_format: AnswerFormat) -> dict[str, Any]:
    """One listener's render in the batch's answer (see the module docstring)."""
    if answer_format == "json":
        return render_document(rendered)
    result: dict[str, Any] = {
        "component_id": rendered.component_id,
        "html": render_fragment(rendered),
    }
    if rendered.effects:
        result["effects"] = rendered.effects
    return result


def failed_result(listener: Listener, error: dict[str, Any]) -> dict[str, Any]:
    """One listener's failure in the batch's answer: its error document."""
    return {"component_id": listener.id, "component": listener.component, "error": error}
