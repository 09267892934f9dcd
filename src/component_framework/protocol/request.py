"""Parsing of component requests: bodies and query strings into :class:`RequestFields`.

Owns the request half of the HTTP wire protocol (DESIGN.md section 4): which content types are
accepted, the reserved fields, how loose form or JSON fields join the payload, and the limits
of what a request may hold: JSON nesting depth and the number of fields (form fields plus the
keys of every JSON object, at any depth). Pure: bytes and strings in, a value or a
:class:`RequestError` out. Every step is linear in the size of its input (a body of a million
repeated fields costs what a million-character string costs), and client text quoted in an
error is cut short.

JSON is read strictly: ``NaN``, ``Infinity``, numbers beyond float range, lone surrogate
escapes and an object holding one key twice are refused (two readers of one request could
otherwise disagree about it, as a form repeating a reserved field is refused too).

Reserved fields: ``event``, ``payload``, ``params``, ``snapshot``, ``state``, ``validate``, and
the three of nested and lazy components: ``children`` (the signed snapshots of the target
component's descendants: a JSON array of strings, or its JSON text in a form),
``component_id`` (over a socket: the held child component an event is for) and ``lazy`` (the
signed token of a lazy component's mount). Every
other field is *loose*: it joins ``payload`` for an event, or ``params`` for a mount (a request
without an event, or with ``"mount"``, and without a snapshot). ``validate`` names the form
fields to check as a person types (a string, or a list: a JSON array or the field repeated in a
form), without running the event's handler.

Also owns how a request chooses its answer, one function per transport: the HTTP answer
format (``HX-Request`` and ``Accept``, :func:`http_answer_format`), a stream's ``format``
(:func:`stream_format`) and a WebSocket URL's ``format``, ``target`` and ``join``
(:func:`socket_options`); those fields are taken out of the loose fields, so no handler sees
them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NoReturn
from urllib.parse import parse_qsl

from component_framework.protocol.answer import ANSWER_FORMATS, AnswerFormat

__all__ = [
    "DEFAULT_MAX_FIELDS",
    "MAX_NUMBER_DIGITS",
    "MOUNT_EVENT",
    "PAGE_FIELD",
    "RESERVED_FIELDS",
    "UTF8_CHARSETS",
    "RequestError",
    "RequestFields",
    "RequestProblem",
    "SocketOptions",
    "child_snapshots",
    "decode_json_object",
    "fields_from_form",
    "fields_from_mapping",
    "http_answer_format",
    "is_mount_event",
    "is_multipart",
    "is_valid_target",
    "json_depth",
    "media_type",
    "merge_loose",
    "parse_body",
    "parse_query",
    "quoted",
    "socket_options",
    "stream_format",
]

MOUNT_EVENT: Final = "mount"
#: The most digits a whole number a client writes as text may have: a numeric header
#: (``Content-Length``, ``Upload-Offset``; ``asgi.incoming.header_number``) and a frame id's
#: sequence number (``Last-Event-ID``; ``protocol.sse.parse_frame_id``). 18 digits stay below
#: 10**18, past any limit and any sequence, and a longer value is refused without converting
#: it (``int()`` of a long digit string costs, and refuses one past 4,300 digits).
MAX_NUMBER_DIGITS: Final = 18
#: The charsets a text body may declare (none: UTF-8, as JSON and HTML forms are).
UTF8_CHARSETS: Final = frozenset({None, "utf-8", "utf8"})
RESERVED_FIELDS: Final = frozenset(
    {
        "event",
        "payload",
        "params",
        "snapshot",
        "state",
        "validate",
        "children",
        "component_id",
        "lazy",
    }
)
#: The reserved field that may be repeated in a form (a list of field names).
_VALIDATE: Final = "validate"
#: The reserved fields with a fixed type (``validate`` and ``children`` are checked apart).
_TYPE_OF: Final[dict[str, type]] = {
    "event": str,
    "snapshot": str,
    "component_id": str,
    "lazy": str,
    "payload": dict,
    "params": dict,
    "state": dict,
}
_OBJECT_FIELDS: Final = frozenset({"payload", "params", "state"})
JSON_TYPES: Final = frozenset({"application/json"})
FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded"})
MULTIPART_TYPE: Final = "multipart/form-data"
#: Most fields (form fields plus JSON object keys) one request may hold (``Settings.max_fields``).
DEFAULT_MAX_FIELDS: Final = 1000

_TARGET_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,127}")
#: The formats of a WebSocket answer, its default first (a stream's default is ``html``).
_SOCKET_FORMATS: Final[tuple[AnswerFormat, AnswerFormat]] = ("json", "html")

#: How a request is wrong: ``invalid_field`` is a field whose value is refused (its name in
#: :attr:`RequestError.field`), the others concern the body or query string as a whole.
RequestProblem = Literal[
    "malformed", "unsupported_media_type", "too_deep", "too_many_fields", "invalid_field"
]


#: The URL field of a socket or live stream naming the page load (``core.events``); it starts
#: with ``_`` so that no component's mount parameter (``page=2``) is taken for it.
PAGE_FIELD: Final = "_page"


def is_mount_event(event: str | None) -> bool:
    """Whether a request naming ``event`` asks for a (re-)render rather than a handler."""
    return event is None or event == MOUNT_EVENT


class RequestError(ValueError):
    """The request body or query string cannot be turned into fields, or a field's value is
    refused (``field`` names it)."""

    def __init__(self, problem: RequestProblem, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.problem: RequestProblem = problem
        self.field = field


@dataclass(slots=True)
class RequestFields:
    """The protocol fields of one request, before any component is involved."""

    event: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    snapshot: str | None = None
    state: dict[str, Any] | None = None
    #: Form fields to validate as the person types, without running the handler (``validate``).
    validate: tuple[str, ...] = ()
    #: Signed snapshots of the target component's descendants (``children``).
    children: tuple[str, ...] = ()
    #: The held child an event over a socket is for (``component_id``); ``None``: the root.
    component_id: str | None = None
    #: The signed mount of a lazy component (``lazy``).
    lazy: str | None = None

    @property
    def is_mount(self) -> bool:
        """True when the request asks for a (re-)render rather than an event."""
        return is_mount_event(self.event)


def _shape(value: Any) -> tuple[int, int]:
    """Nesting depth and the number of object keys (at every level) of decoded JSON (plain
    dicts and lists), in one pass without recursion; only containers are visited."""
    if type(value) is not dict and not isinstance(value, dict | list):  # an object: one test
        return 0, 0
    if isinstance(value, dict):  # the common request: no stack needed for an object of
        depth, keys = 1, len(value)  # scalars and of objects of scalars (a message's payload)
        for child in value.values():
            kind = type(child)
            if kind is dict:
                for grandchild in child.values():
                    if type(grandchild) is dict or type(grandchild) is list:
                        break
                else:
                    depth, keys = 2, keys + len(child)
                    continue
                break
            if kind is list:
                break
        else:
            return depth, keys
    deepest, keys = 0, 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    push = stack.append
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
        children: Iterable[Any] = item
        if isinstance(item, dict):
            keys += len(item)
            children = item.values()
        depth += 1
        for child in children:  # a plain loop: a generator per container costs 3x as much
            if type(child) is dict or type(child) is list:  # what a JSON decoder makes
                push((child, depth))
    return deepest, keys


def json_depth(value: Any) -> int:
    """Nesting depth of decoded JSON: a scalar is 0, ``[]`` is 1, ``[[1]]`` is 2."""
    return _shape(value)[0]


def quoted(value: object, limit: int = 64, *, scalars: bool = False) -> str:
    """How an error message quotes a client's value: the ``repr`` of a string cut to ``limit``
    characters, only the type of anything else (a list or object may be huge). ``scalars``:
    numbers, booleans and ``None`` by their ``repr`` too, cut likewise. The protocol layer's
    counterpart of ``errors.shown`` (which is ``quoted(..., scalars=True)``), which it may not
    import."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."
    if scalars and (value is None or isinstance(value, int | float)):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    return type(value).__name__


def _too_deep(max_depth: int) -> RequestError:
    return RequestError("too_deep", f"JSON nesting exceeds the limit of {max_depth}")


def _too_many_fields(what: str, count: int, max_fields: int) -> RequestError:
    return RequestError(
        "too_many_fields",
        f"{what} holds {count} fields, over the limit of {max_fields} "
        "(each form field and each key of a JSON object counts)",
    )


def media_type(content_type: str) -> tuple[str, str | None]:
    """``Content-Type`` -> (media type, charset), both lower case (``None``: no charset)."""
    media, _, rest = content_type.partition(";")
    charset = None
    for parameter in rest.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("malformed", f"body is not valid UTF-8 (byte {exc.start})") from None


def parse_body(
    content_type: str | None,
    body: bytes,
    *,
    max_depth: int,
    max_fields: int = DEFAULT_MAX_FIELDS,
    loose_to_payload: bool = False,
) -> RequestFields:
    """Parse a POST body. An empty body is an empty request (a mount) whatever its type.

    ``loose_to_payload``: loose fields always join ``payload`` (streams: the fields of
    ``?report_id=7`` are the handler's, and ``params`` go to ``mount``)."""
    if not body or body.isspace():
        return RequestFields()
    if content_type == "application/json":  # the common spelling, without parameter parsing
        try:  # (``_decode_text`` written out: one call less on every request)
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_text(body)  # raises, with the words
        document = decode_json_object(text, max_depth, max_fields=max_fields)
        return fields_from_mapping(document, loose_to_payload)
    media, charset = media_type(content_type or "")
    if charset not in UTF8_CHARSETS:
        raise RequestError(
            "unsupported_media_type", f"expected charset utf-8, got {quoted(charset)}"
        )
    if media in JSON_TYPES:
        document = decode_json_object(_decode_text(body), max_depth, max_fields=max_fields)
        return fields_from_mapping(document, loose_to_payload)
    if media in FORM_TYPES:
        pairs = _form_pairs(_decode_text(body), max_fields, "form data")
        return _fields_from_pairs(pairs, max_depth, max_fields, loose_to_payload, "form data")
    if media == MULTIPART_TYPE:
        raise RequestError(
            "unsupported_media_type",
            "multipart/form-data (a file upload) is accepted only by POST /{name}/, for an "
            "event whose handler takes files; this request takes application/json or "
            "application/x-www-form-urlencoded",
        )
    expected = ", ".join(sorted(JSON_TYPES | FORM_TYPES))
    raise RequestError(
        "unsupported_media_type", f"expected content type {expected}, got {quoted(media or 'none')}"
    )


def is_multipart(content_type: str | None) -> bool:
    """Whether a body of ``content_type`` is multipart: read as it streams in (the upload
    reader), never by :func:`parse_body`."""
    return content_type is not None and content_type[:10].lower() == "multipart/"


def fields_from_form(
    pairs: list[tuple[str, str]],
    *,
    max_depth: int,
    max_fields: int = DEFAULT_MAX_FIELDS,
    what: str = "form data",
) -> RequestFields:
    """The fields of form ``pairs`` read elsewhere (the text fields of a multipart body), by
    the rules of a form-urlencoded body: reserved fields, repeats become lists."""
    return _fields_from_pairs(pairs, max_depth, max_fields, False, what)


def parse_query(
    query_string: bytes,
    *,
    max_depth: int,
    max_fields: int = DEFAULT_MAX_FIELDS,
    loose_to_payload: bool = False,
) -> RequestFields:
    """Parse the query string of a GET request with the same rules as a form body."""
    if not query_string:
        return RequestFields()
    try:
        text = query_string.decode("ascii")
    except UnicodeDecodeError:
        raise RequestError("malformed", "query string is not ASCII (percent-encode it)") from None
    pairs = _form_pairs(text, max_fields, "query string")
    return _fields_from_pairs(pairs, max_depth, max_fields, loose_to_payload, "query string")


def _form_pairs(text: str, max_fields: int, what: str) -> list[tuple[str, str]]:
    """The name/value pairs of form text; more than ``max_fields`` of them are refused before
    any is decoded (empty segments, as in ``a&&b``, are no fields)."""
    if text.count("&") >= max_fields:  # perhaps too many: count them, in C
        segments = text.split("&")
        count = len(segments) - segments.count("")
        if count > max_fields:
            raise _too_many_fields(what, count, max_fields)
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("malformed", f"{what} is not valid: {exc}") from None


def _reject_constant(name: str) -> Any:
    """JSON has no NaN or Infinity; Python's parser accepts them unless told otherwise."""
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """``1e999`` would become infinity, which no answer or snapshot could carry."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


class _RepeatedKey(ValueError):
    """A JSON object holds one key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build one JSON object, refusing a repeated key."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return document


#: One decoder for every body (``json.loads`` with an option would build a new one per call),
#: and one that also refuses a repeated key, for the texts that may hold one.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_REPEAT_DECODER: Final = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
)


#: The decoder's scanner (an instance attribute typeshed does not declare): one JSON value
#: read from an index, returning it and the index after it (``StopIteration``: none there).
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = vars(_DECODER)["scan_once"]


def _load(text: str, max_depth: int) -> Any:
    """Decode JSON ``text``: nesting deeper than the parser can follow is a ``RequestError``
    here; any other ``ValueError`` is the caller's to word.

    A text that is exactly one JSON value (what clients send) is scanned directly; anything
    else (surrounding whitespace, extra data, no value at all) goes through the decoder's
    full path, which accepts the whitespace and words the error."""
    try:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            return _DECODER.decode(text)
        if end != len(text):
            return _DECODER.decode(text)
        return value
    except RecursionError:
        raise _too_deep(max_depth) from None


def _refuse_ambiguous(text: str, keys: int, document: Any, what: str) -> None:
    """Refuse decoded JSON ``document`` of ``text`` that two readers could take differently:
    an object holding a key twice, or a lone surrogate escape (one call: a hot path)."""
    if text.count(":") > keys:
        _refuse_repeated_keys(text, what)
    if "\\u" in text:  # a plain scan first: the pattern below needs one of these
        _refuse_lone_surrogates(text, document)


def _refuse_repeated_keys(text: str, what: str) -> None:
    """Refuse a JSON object of ``text`` that holds a key twice (Python's parser keeps the
    last one, another reader may keep the first). Called when ``text`` has more ``:`` than
    the decoded objects have keys at all levels: each key the text spells is followed by a
    ``:`` outside strings, so any other text spells no key twice; only a text with a ``:``
    inside a string, or a repeat, is decoded again, by the decoder that sees every key
    (linear too)."""
    try:
        _REPEAT_DECODER.decode(text)
    except _RepeatedKey as exc:
        raise RequestError(
            "malformed", f"{what} holds the key {quoted(exc.key)} twice in one JSON object"
        ) from None


#: ``\ud800``..``\udfff`` escapes: JSON allows them, but alone they are not Unicode text and
#: could not be encoded again (answers, snapshots). Only texts that hold one are checked.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(text: str, document: Any) -> None:
    if _SURROGATE_ESCAPE.search(text) is None:
        return
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(
            "malformed", "JSON holds a lone surrogate escape (\\ud800-\\udfff): not valid text"
        ) from None


def decode_json_object(
    text: str, max_depth: int, what: str = "body", *, max_fields: int = DEFAULT_MAX_FIELDS
) -> dict[str, Any]:
    """Decode ``text`` as one JSON object no deeper than ``max_depth`` and with at most
    ``max_fields`` keys at all levels (NaN, Infinity and repeated keys refused); ``what`` names
    the text in error messages."""
    try:
        document = _load(text, max_depth)
    except RequestError:
        raise
    except ValueError as exc:
        raise RequestError("malformed", f"{what} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestError("malformed", f"expected a JSON object, got {type(document).__name__}")
    depth, keys = _shape(document)
    if depth > max_depth:
        raise _too_deep(max_depth)
    if keys > max_fields:
        raise _too_many_fields(what, keys, max_fields)
    if text.count(":") > keys or "\\u" in text:  # what ``_refuse_ambiguous`` looks at first
        _refuse_ambiguous(text, keys, document, what)
    return document


def _fields_from_pairs(
    pairs: list[tuple[str, str]],
    max_depth: int,
    max_fields: int,
    loose_to_payload: bool,
    what: str,
) -> RequestFields:
    """Merge form pairs: a repeated loose field becomes a list (appended in place: linear), a
    repeated reserved field is refused, object fields are decoded. The keys of those objects
    count against ``max_fields`` with the form fields."""
    merged: dict[str, Any] = {}
    spare = max_fields - len(pairs)
    for name, value in pairs:
        if name in RESERVED_FIELDS and name in merged and name != _VALIDATE:
            raise RequestError("malformed", f"field {name!r} appears more than once")
        if name in _OBJECT_FIELDS:
            merged[name], keys = _embedded_object(name, value, max_depth)
            spare -= keys
            if spare < 0:
                raise _too_many_fields(what, max_fields - spare, max_fields)
        elif name in merged:
            previous = merged[name]
            if type(previous) is list:  # only this loop makes lists of form values
                previous.append(value)
            else:
                merged[name] = [previous, value]
        else:
            merged[name] = value
    return fields_from_mapping(merged, loose_to_payload)


def _embedded_object(name: str, value: str, max_depth: int) -> tuple[dict[str, Any], int]:
    """A reserved object field sent as a form value carries JSON text: the object (one level
    below the form) and its number of keys at all levels."""
    what = f"form field {name!r}"
    try:
        decoded = _load(value, max_depth) if value else {}
    except RequestError:
        raise
    except ValueError:
        raise RequestError("malformed", f"{what} must be a JSON object") from None
    if not isinstance(decoded, dict):
        raise RequestError("malformed", f"{what} must be a JSON object")
    depth, keys = _shape(decoded)
    if depth + 1 > max_depth:
        raise _too_deep(max_depth)
    _refuse_ambiguous(value, keys, decoded, what)
    return decoded, keys


def _refuse_type(name: str, expected: type, value: object) -> NoReturn:
    label = "a string" if expected is str else "an object"
    raise RequestError("malformed", f"field {name!r} must be {label}, got {type(value).__name__}")


def _validated_names(value: Any) -> tuple[str, ...]:
    """The ``validate`` field: one name or a list of names (empty ones dropped)."""
    if value is None:
        return ()
    names = value if isinstance(value, list) else [value]
    if not all(isinstance(name, str) for name in names):
        raise RequestError("malformed", "field 'validate' must be a field name or a list of them")
    return tuple(name for name in names if name)


def child_snapshots(value: Any, max_fields: int) -> tuple[str, ...]:
    """The ``children`` field: a list of snapshot strings, or its JSON text (a form field)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = _DECODER.decode(value)
        except (ValueError, RecursionError):
            raise RequestError("malformed", "field 'children' must be a JSON array") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RequestError("malformed", "field 'children' must be an array of snapshot strings")
    if len(value) > max_fields:
        raise _too_many_fields("field 'children'", len(value), max_fields)
    return tuple(value)


def merge_loose(target: dict[str, Any], loose: Mapping[str, Any]) -> None:
    """Add loose (non-reserved) fields to ``target``, a request's ``params`` or ``payload``;
    a field that is already there is given twice (``malformed``)."""
    for key, value in loose.items():
        if key in target:
            raise RequestError("malformed", f"field {quoted(key)} is given twice")
        target[key] = value


def fields_from_mapping(document: dict[str, Any], loose_to_payload: bool) -> RequestFields:
    """The fields of a decoded JSON object or form: reserved fields checked, loose fields
    moved into ``payload`` (or ``params`` at a mount, unless ``loose_to_payload``).

    One pass over the fields checks the reserved ones' fixed types (strings for ``event``,
    ``snapshot``, ``component_id`` and ``lazy``, objects for ``payload``, ``params`` and
    ``state``) and notes whether any field is loose."""
    loose_fields = False
    type_of = _TYPE_OF
    for name, value in document.items():
        expected = type_of.get(name)
        if expected is None:
            if name not in RESERVED_FIELDS:
                loose_fields = True
        elif value is not None and not isinstance(value, expected):
            _refuse_type(name, expected, value)
    event = document.get("event") or None
    snapshot = document.get("snapshot") or None
    payload = document.get("payload") or {}
    params = document.get("params") or {}
    if loose_fields:
        mounting = (event is None or event == MOUNT_EVENT) and snapshot is None
        mounting = mounting and not loose_to_payload
        loose = {key: value for key, value in document.items() if key not in RESERVED_FIELDS}
        merge_loose(params if mounting else payload, loose)
    named = document.get(_VALIDATE)
    validate = () if named is None else _validated_names(named)
    fields = RequestFields(event, payload, params, snapshot, document.get("state"), validate)
    if "children" in document or "component_id" in document or "lazy" in document:
        fields.children = child_snapshots(document.get("children"), DEFAULT_MAX_FIELDS)
        fields.component_id = document.get("component_id") or None
        fields.lazy = document.get("lazy") or None
    return fields


# -- how a request chooses its answer -----------------------------------------------------------


def _invalid(field: str, message: str) -> RequestError:
    return RequestError("invalid_field", message, field)


def _answer_format(requested: object, formats: tuple[AnswerFormat, AnswerFormat]) -> AnswerFormat:
    """``requested`` (``None``: not given, the first of ``formats``) as an answer format."""
    if requested is None:
        return formats[0]
    if requested not in formats:
        expected = f"{formats[0]!r} or {formats[1]!r}"
        raise _invalid("format", f"expected {expected}, got {quoted(requested, scalars=True)}")
    return "json" if requested == "json" else "html"


def http_answer_format(post: bool, htmx: bool, accept: bytes | None) -> AnswerFormat:
    """The form of an HTTP answer: the annotated fragment for htmx (``HX-Request``) and for a
    ``GET``/``HEAD`` that does not accept ``application/json`` (a page loading a component),
    the render document as JSON otherwise."""
    if htmx or not (post or (accept is not None and b"application/json" in accept)):
        return "html"
    return "json"


def stream_format(fields: RequestFields, query_string: bytes = b"") -> AnswerFormat:
    """The ``format`` a stream request asks for, ``html`` (default) or ``json``: a reserved
    field of streams, taken out of ``fields.payload`` (where their loose fields land), else
    read from ``query_string``, the URL of a ``POST`` (so ``POST /stream/?format=json``
    works; a ``GET``'s query string is ``fields`` already). ``invalid_field`` otherwise."""
    requested = fields.payload.pop("format", None)
    if requested is None and query_string:
        requested = dict(parse_qsl(query_string.decode("latin-1"))).get("format")
    return _answer_format(requested, ANSWER_FORMATS)


def is_valid_target(target: str) -> bool:
    """Whether ``target`` can be an element id in an htmx answer (a letter, then up to 127
    letters, digits, ``_``, ``.``, ``:`` or ``-``)."""
    return _TARGET_ID.fullmatch(target) is not None


@dataclass(slots=True, frozen=True)
class SocketOptions:
    """What a WebSocket URL asks for besides its component's mount or resume."""

    #: ``json`` messages (default) or htmx ``html`` fragments.
    format: AnswerFormat
    #: The id of the page element an htmx answer is placed in.
    target: str | None
    #: ``join=message``: nothing is mounted at connect, the client sends a ``join`` message.
    join_by_message: bool
    #: ``_page``: the page load's id the client runtime sends (``core.events`` checks it).
    page: object = None


def socket_options(fields: RequestFields) -> SocketOptions:
    """The options of a WebSocket URL's ``fields`` (parsed with :func:`parse_query`), taken
    out of its loose fields; what stays is the join: ``params`` to mount, or the ``snapshot``
    to resume (which takes no other field). No event and no raw state in a URL; ``join`` is
    ``message`` or absent, and with it the URL holds no mount arguments nor snapshot."""
    if fields.event is not None or fields.validate:
        raise RequestError("malformed", "events are sent as messages, not in the URL")
    if fields.state is not None:
        raise RequestError("malformed", "'state' is not accepted over WebSocket")
    if fields.children or fields.component_id is not None or fields.lazy is not None:
        raise RequestError(
            "malformed", "'children', 'component_id' and 'lazy' go in messages, not in the URL"
        )
    loose = fields.params if fields.snapshot is None else fields.payload
    requested = loose.pop("format", None)
    target = loose.pop("target", None)
    by_message = loose.pop("join", None)
    page = loose.pop(PAGE_FIELD, None)
    if by_message is not None and by_message != "message":
        raise _invalid("join", f"expected 'message', got {quoted(by_message, scalars=True)}")
    if by_message is not None and (fields.snapshot is not None or fields.params):
        raise RequestError(
            "malformed", "with join=message, mount arguments and the snapshot go in the join"
        )
    if fields.payload:
        name = next(iter(fields.payload))
        raise _invalid(name, "unexpected field at connect (resuming takes none)")
    answer_format = _answer_format(requested, _SOCKET_FORMATS)
    if target is not None and (not isinstance(target, str) or not is_valid_target(target)):
        raise _invalid("target", "expected the id of an element of the page")
    return SocketOptions(answer_format, target, by_message is not None, page)
