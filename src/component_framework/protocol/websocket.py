"""The WebSocket message envelopes: client messages in, server messages out.

Owns the WebSocket half of the wire protocol (DESIGN.md section 4), sans-IO: text in, a
:class:`ClientMessage` or a :class:`MessageError` out; server messages are built as compact
JSON text by the builders below (render, stream, done, error, effects, broadcast, pong: the
mirror of ``protocol.sse``'s frame builders). Two client dialects are understood:

- the framework's own: ``{"type": "event" | "join" | "leave" | "ping", ...}`` with ``event``,
  ``payload``, ``params``, ``snapshot`` and an optional ``ref`` echoed in the answer; a
  ``join`` may carry ``url``, the URL of the page (read by URL state, ``core.url_state``), and
  ``component``, the name of another component to hold on the same socket (the page's
  socket); a ``leave`` names the ``component_id`` of such a component, or the ``join_ref`` of
  its join while the join's answer has not arrived;
- ``{"type": "stream", "key", "name", "query" | "resume"}``: one entry of the page connection
  (``protocol.page``; ``"frames": "compact"`` asks for its compact frames) carried by the
  socket, and ``{"type": "unstream", "key"}`` to stop one;
- htmx's ws extension: an object of form values plus its request headers (no ``type``):
  ``HEADERS`` from htmx 2's htmx-ext-ws, ``headers`` from htmx 4's hx-ws. Its ``event``
  field names the handler, every other non-reserved field joins the payload, and the answer is
  an HTML fragment (:func:`htmx_fragment`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from component_framework.protocol.answer import Rendered, render_document, render_fragment
from component_framework.protocol.compact import compact_json, json_string
from component_framework.protocol.fragment import annotate_root
from component_framework.protocol.page import MAX_KEY_CHARS, PageEntry, parse_page_entry
from component_framework.protocol.request import (
    DEFAULT_MAX_FIELDS,
    RequestError,
    RequestProblem,
    decode_json_object,
    fields_from_mapping,
    is_valid_target,
    quoted,
)

__all__ = [
    "CLIENT_TYPES",
    "ClientMessage",
    "MessageError",
    "PlainEvent",
    "Ref",
    "broadcast_message",
    "done_message",
    "effects_message",
    "error_message",
    "htmx_child_message",
    "htmx_fragment",
    "htmx_render_message",
    "is_valid_target",
    "left_message",
    "parse_client_message",
    "pong_message",
    "read_client_message",
    "render_message",
    "stream_message",
    "unstreamed_message",
]

ClientType = Literal["event", "join", "leave", "ping", "stream", "unstream"]
CLIENT_TYPES: Final = ("event", "join", "leave", "ping", "stream", "unstream")
#: What a client may put in ``ref`` (echoed unchanged in the answer).
Ref = str | int | None
_MAX_REF_LENGTH: Final = 128
_MAX_PAGE_URL_LENGTH: Final = 8192
_MAX_NAME_LENGTH: Final = 128
#: Where htmx's ws extension puts its request headers: htmx 2 ``HEADERS``, htmx 4 ``headers``.
_HTMX_HEADER_KEYS: Final = ("HEADERS", "headers")
_ENVELOPE_KEYS: Final = frozenset({"type", "ref"})
#: The keys of the common event message, read without the general field rules.
_PLAIN_EVENT_KEYS: Final = frozenset({"type", "event", "payload", "ref"})


class MessageError(ValueError):
    """A client message that cannot be understood; ``problem`` says how it is wrong (as for a
    request body: ``malformed``, ``too_deep`` or ``too_many_fields``)."""

    def __init__(self, problem: RequestProblem, message: str, ref: Ref) -> None:
        super().__init__(message)
        self.problem = problem
        self.ref = ref


@dataclass(slots=True)
class ClientMessage:
    """One understood client message."""

    type: ClientType
    event: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    snapshot: str | None = None
    ref: Ref = None
    #: Sent by htmx's ws extension: answer with an HTML fragment.
    htmx: bool = False
    #: Form fields to validate as the person types (``validate``), without running the handler.
    validate: tuple[str, ...] = ()
    #: A join's children snapshots; an event's held child (``core.nesting``).
    children: tuple[str, ...] = ()
    component_id: str | None = None
    #: A join's ``url``: the URL of the page the component is on.
    url: str | None = None
    #: A join's ``component``: another component to hold on this socket (its name), and
    #: ``target``: the id of the element its HTML renders go into (htmx answers).
    component: str | None = None
    target: str | None = None
    #: A leave's ``join_ref``: the ``ref`` of the join it undoes (before its answer came).
    join_ref: Ref = None
    #: A ``stream``'s page-connection entry; an ``unstream``'s ``key`` (also ``entry.key``).
    entry: PageEntry | None = None
    key: str | None = None


def _ref_of(document: dict[str, Any], name: str = "ref", ref: Ref = None) -> Ref:
    value = document.get(name)
    if value is None or type(value) is int:
        return value
    if isinstance(value, str) and len(value) <= _MAX_REF_LENGTH:
        return value
    expected = f"a string of at most {_MAX_REF_LENGTH} characters or an int"
    raise MessageError("malformed", f"{name!r} must be {expected}", ref)


#: The common client message as :func:`read_client_message` hands it back: an event's name,
#: its payload and its ``ref`` (a message of nothing but ``type``, ``event``, ``payload`` and
#: ``ref``).
PlainEvent = tuple[str, dict[str, Any], Ref]


def parse_client_message(
    text: str, *, max_depth: int, max_fields: int = DEFAULT_MAX_FIELDS
) -> ClientMessage:
    """Parse one text frame (at most ``max_fields`` JSON object keys, at all levels). Raises
    :class:`MessageError` (with the ``ref`` when it could be read, so the error answer can
    carry it)."""
    message = read_client_message(text, max_depth=max_depth, max_fields=max_fields)
    if isinstance(message, tuple):
        event, payload, ref = message
        return ClientMessage("event", event, payload, ref=ref)
    return message


def read_client_message(
    text: str, *, max_depth: int, max_fields: int = DEFAULT_MAX_FIELDS
) -> ClientMessage | PlainEvent:
    """:func:`parse_client_message`, the same rules and errors, except that the common message
    (an event of nothing but ``type``, ``event``, ``payload`` and ``ref``) comes back as a
    :data:`PlainEvent`, ``(event, payload, ref)``: the reader of a socket builds its work
    from these three, and a :class:`ClientMessage` (sixteen fields, two of them new dicts)
    would cost it about 2 % of an event's instructions."""
    try:
        document = decode_json_object(text, max_depth, "message", max_fields=max_fields)
    except RequestError as exc:
        raise MessageError(exc.problem, str(exc), None) from None
    ref = document.get("ref")
    if ref is not None and type(ref) is not int:  # (no call for the common ref: an int)
        ref = _ref_of(document)
    if "type" not in document:
        for headers in _HTMX_HEADER_KEYS:  # htmx 4's hx-ws: headers
            if isinstance(document.get(headers), dict):
                return _htmx_message(document, ref, headers)
    kind = document.get("type")
    if kind not in CLIENT_TYPES:
        expected = ", ".join(repr(name) for name in CLIENT_TYPES)
        got = quoted(kind)
        raise MessageError("malformed", f"'type' must be one of {expected}, got {got}", ref)
    if kind == "event" and document.keys() <= _PLAIN_EVENT_KEYS:
        # The common message: what the general rules below make of it, without copying it
        # into a body and through the request fields (anything unusual takes them).
        event, payload = document.get("event"), document.get("payload")
        if type(event) is str and event and (payload is None or type(payload) is dict):
            return event, {} if payload is None else payload, ref
    body = {key: value for key, value in document.items() if key not in _ENVELOPE_KEYS}
    if kind in ("stream", "unstream"):
        return _stream_message(kind, body, ref)
    join_ref = _ref_of(body, "join_ref", ref) if kind == "leave" else None
    body.pop("join_ref", None)
    url = _page_url_of(body, ref) if kind == "join" else None
    component = _component_of(body, ref) if kind == "join" else None
    target = _target_of(body, ref) if component is not None else None
    try:
        fields = fields_from_mapping(body, loose_to_payload=kind == "event")
    except RequestError as exc:
        raise MessageError("malformed", str(exc), ref) from None
    if fields.state is not None:
        raise MessageError("malformed", "'state' is not accepted over WebSocket", ref)
    if kind == "event" and fields.event is None:
        raise MessageError("malformed", "an event message needs an 'event' name", ref)
    if kind == "leave" and (fields.component_id is None) == (join_ref is None):
        expected = "a 'component_id' or the 'join_ref' of its join (one of them)"
        raise MessageError("malformed", f"a leave message needs {expected}", ref)
    return ClientMessage(
        kind,
        fields.event,
        fields.payload,
        fields.params,
        fields.snapshot,
        ref,
        htmx=False,
        validate=fields.validate,
        children=fields.children,
        component_id=fields.component_id,
        url=url,
        component=component,
        target=target,
        join_ref=join_ref,
    )


def _stream_message(kind: ClientType, body: dict[str, Any], ref: Ref) -> ClientMessage:
    """A ``stream`` (the page connection's entry, the same fields and rules) or an
    ``unstream`` (its ``key`` alone)."""
    if kind == "stream":
        try:
            entry = parse_page_entry(body)
        except RequestError as exc:
            raise MessageError("malformed", str(exc), ref) from None
        return ClientMessage(kind, ref=ref, entry=entry, key=entry.key)
    key = body.get("key")
    if set(body) != {"key"} or not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS:
        expected = f"only a 'key' of 1 to {MAX_KEY_CHARS} characters"
        raise MessageError("malformed", f"an unstream message takes {expected}", ref)
    return ClientMessage(kind, ref=ref, key=key)


def _component_of(body: dict[str, Any], ref: Ref) -> str | None:
    """A join's ``component`` (taken out of ``body``, so it is no mount parameter)."""
    name = body.pop("component", None)
    if name is None or (isinstance(name, str) and 0 < len(name) <= _MAX_NAME_LENGTH):
        return name
    expected = f"a component name of at most {_MAX_NAME_LENGTH} characters"
    raise MessageError("malformed", f"'component' must be {expected}", ref)


def _target_of(body: dict[str, Any], ref: Ref) -> str | None:
    """A joined component's ``target`` (taken out of ``body``, as in a socket's URL)."""
    target = body.pop("target", None)
    if target is None or (isinstance(target, str) and is_valid_target(target)):
        return target
    raise MessageError("malformed", "'target' must be an element id", ref)


def _page_url_of(body: dict[str, Any], ref: Ref) -> str | None:
    """A join's ``url`` (taken out of ``body``, so it is no mount parameter)."""
    url = body.pop("url", None)
    if url is None or (isinstance(url, str) and len(url) <= _MAX_PAGE_URL_LENGTH):
        return url
    expected = f"a string of at most {_MAX_PAGE_URL_LENGTH} characters"
    raise MessageError("malformed", f"'url' must be {expected}", ref)


def _htmx_message(document: dict[str, Any], ref: Ref, headers: str) -> ClientMessage:
    body = {key: value for key, value in document.items() if key not in (headers, "ref")}
    body.pop("snapshot", None)  # the connection holds the state; the page's copy may be stale
    try:
        fields = fields_from_mapping(body, loose_to_payload=True)
    except RequestError as exc:
        raise MessageError("malformed", str(exc), ref) from None
    if fields.event is None:
        raise MessageError(
            "malformed",
            "htmx message without an 'event' field: add hx-vals='{\"event\": \"...\"}' to the "
            "element with ws-send",
            ref,
        )
    return ClientMessage(
        "event",
        fields.event,
        fields.payload,
        ref=ref,
        htmx=True,
        validate=fields.validate,
        component_id=fields.component_id,
    )


#: One string as JSON text, as the compact encoder writes strings.
_string: Final = json_string


#: A message as compact JSON text (the compact encoder itself: no call in front of it).
_encode: Final = compact_json


def render_message(rendered: Rendered, ref: Ref) -> str:
    """``{"type": "render", "html", "state", "snapshot", "component_id", "ref"}``, with
    ``errors`` before ``ref`` when the render shows form errors.

    The common render (state in the document, no errors, no effects: every push render of a
    fan-out) is written from its encoded parts, with no document dicts in between, and the
    state's text that the snapshot holds when there is one; the text is the same as that of
    the whole document encoded at once. The HTML's and the id's JSON texts too, when the
    render has them (``html_text``, ``component_id_text``), and a snapshot that needs no
    escaping (``snapshot_plain``) in quotes as it is: a shared render's HTML is quoted once
    per state, the id was quoted for the snapshot, and a signed token never needs escaping,
    where the string encoder reads every character twice."""
    if rendered.server_held or rendered.effects or rendered.errors:
        return _encode({"type": "render", **render_document(rendered), "ref": ref})
    state_text = rendered.state_text  # (the snapshot's: the state is encoded once)
    html_text, id_text = rendered.html_text, rendered.component_id_text
    snapshot, plain = rendered.snapshot, rendered.snapshot_plain
    if ref is None:
        ref_text = "null"
    elif type(ref) is int:  # the text the encoder writes for an int: no encoder call
        ref_text = str(ref)
    else:
        ref_text = _encode(ref)
    return "".join(
        (
            '{"type":"render","html":',
            _string(rendered.html) if html_text is None else html_text,
            ',"state":',
            _encode(rendered.state) if state_text is None else state_text,
            ',"snapshot":"' if plain else ',"snapshot":',
            snapshot if plain else _string(snapshot),
            '","component_id":' if plain else ',"component_id":',
            _string(rendered.component_id) if id_text is None else id_text,
            ',"ref":',
            ref_text,
            "}",
        )
    )


def htmx_render_message(rendered: Rendered, target: str | None) -> str:
    """A render for htmx's ws extension: the annotated fragment, placed by
    :func:`htmx_fragment`."""
    return htmx_fragment(render_fragment(rendered), target)


def htmx_child_message(rendered: Rendered) -> str:
    """The render of a nested component held with its parent, for htmx's ws extension: its
    fragment marked ``hx-swap-oob="outerHTML"``, so htmx 2 and htmx 4 alike replace the
    element of the same id and nothing else."""
    return annotate_root(render_fragment(rendered), {"hx-swap-oob": "outerHTML"})


def _tagged(message: dict[str, Any], component_id: str | None) -> dict[str, Any]:
    """``message``, naming the joined component it is about (a socket's own component's
    messages name none, as before the page's socket)."""
    if component_id is not None:
        message["component_id"] = component_id
    return message


def stream_message(op: dict[str, object], component_id: str | None = None) -> str:
    """One stream operation: ``{"type": "stream", "op", "stream", ...}`` (``component_id``:
    of a joined component)."""
    return _encode(_tagged({"type": "stream", **op}, component_id))


def error_message(document: Mapping[str, Any], ref: Ref, component_id: str | None = None) -> str:
    """``{"type": "error", "code", "message", "ref"}`` plus the rest of the error document
    (``field``, ``reason``, ``retry_after``, ``debug``), in that order, then the
    ``component_id`` of a joined component."""
    message = {
        "type": "error",
        "code": document["code"],
        "message": document["message"],
        "ref": ref,
    }
    message.update(document)  # code and message keep their places; the rest follows ref
    return _encode(_tagged(message, component_id))


def done_message(rendered: Rendered, ref: Ref) -> str:
    """The end of a generator handler's renders: ``{"type": "done", "ref", "component_id",
    "snapshot"}``."""
    return _encode(
        {
            "type": "done",
            "ref": ref,
            "component_id": rendered.component_id,
            "snapshot": rendered.snapshot,
        }
    )


def effects_message(effects: Mapping[str, Any], component_id: str, ref: Ref) -> str:
    """Navigation and client effects for the client runtime, sent after the HTML render of
    the same answer (a JSON render carries them in its document instead): ``{"type":
    "effects", "component_id", "effects": {redirect?, push_url? | replace_url?, trigger?},
    "ref"}``."""
    return _encode(
        {"type": "effects", "component_id": component_id, "effects": dict(effects), "ref": ref}
    )


def broadcast_message(
    event: str, payload: Mapping[str, Any], component_id: str | None = None
) -> str:
    """A broadcast the component has no handler for, forwarded to the client."""
    message = {"type": "broadcast", "event": event, "payload": dict(payload)}
    return _encode(_tagged(message, component_id))


def left_message(component_id: str | None, ref: Ref, join_ref: Ref = None) -> str:
    """The answer to a ``leave``: ``{"type": "left", "component_id", "ref"}``; a leave by
    ``join_ref`` gets it back (``component_id`` is ``null`` when the join had no answer yet)."""
    message: dict[str, Any] = {"type": "left", "component_id": component_id, "ref": ref}
    if join_ref is not None:
        message["join_ref"] = join_ref
    return _encode(message)


def unstreamed_message(key: str, ref: Ref) -> str:
    """The answer to an ``unstream``: ``{"type": "unstreamed", "key", "ref"}`` (the socket
    carries that entry's run no more)."""
    return _encode({"type": "unstreamed", "key": key, "ref": ref})


def pong_message(ref: Ref) -> str:
    """The answer to ``{"type": "ping"}``."""
    return _encode({"type": "pong", "ref": ref})


def htmx_fragment(fragment: str, target: str | None) -> str:
    """An answer for htmx's ws extension, which swaps every top-level element by its id
    (out of band). With ``target`` (the id of an element of the page, usually the one with
    ``ws-connect``) the fragment is placed inside that element instead, which also works
    before the page holds an element with the component's id."""
    if target is None:
        return fragment
    if not is_valid_target(target):
        raise ValueError(f"invalid target id {target[:64]!r}")
    return f'<div id="{target}" hx-swap-oob="innerHTML">{fragment}</div>'
