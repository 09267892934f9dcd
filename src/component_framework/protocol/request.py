"""Parsing of component requests: bodies and query strings into :class:`RequestFields`.

Owns the request half of the HTTP wire protocol (DESIGN.md section 4): which content types are
accepted, the reserved fields, how loose form or JSON fields join the payload, and the JSON
nesting limit. Pure: bytes and strings in, a value or a :class:`RequestError` out.

Reserved fields: ``event``, ``payload``, ``params``, ``snapshot``, ``state``. Every other field
is *loose*: it joins ``payload`` for an event, or ``params`` for a mount (a request without an
event, or with ``"mount"``, and without a snapshot).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

__all__ = [
    "MOUNT_EVENT",
    "RESERVED_FIELDS",
    "RequestError",
    "RequestFields",
    "decode_json_object",
    "fields_from_mapping",
    "json_depth",
    "parse_body",
    "parse_query",
]

MOUNT_EVENT: Final = "mount"
RESERVED_FIELDS: Final = frozenset({"event", "payload", "params", "snapshot", "state"})
_RESERVED_TYPES: Final = (
    ("event", str),
    ("snapshot", str),
    ("payload", dict),
    ("params", dict),
    ("state", dict),
)
JSON_TYPES: Final = frozenset({"application/json"})
FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded"})

RequestProblem = Literal["malformed", "unsupported_media_type", "too_deep"]


class RequestError(ValueError):
    """The request body or query string cannot be turned into fields."""

    def __init__(self, problem: RequestProblem, message: str) -> None:
        super().__init__(message)
        self.problem: RequestProblem = problem


@dataclass(slots=True)
class RequestFields:
    """The protocol fields of one request, before any component is involved."""

    event: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    snapshot: str | None = None
    state: dict[str, Any] | None = None

    @property
    def is_mount(self) -> bool:
        """True when the request asks for a (re-)render rather than an event."""
        return self.event is None or self.event == MOUNT_EVENT


def json_depth(value: Any) -> int:
    """Nesting depth of decoded JSON: a scalar is 0, ``[]`` is 1, ``[[1]]`` is 2."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def _media_type(content_type: str) -> tuple[str, str | None]:
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
    content_type: str | None, body: bytes, *, max_depth: int, loose_to_payload: bool = False
) -> RequestFields:
    """Parse a POST body. An empty body is an empty request (a mount) whatever its type.

    ``loose_to_payload``: loose fields always join ``payload`` (streams: the fields of
    ``?report_id=7`` are the handler's, and ``params`` go to ``mount``)."""
    if not body or body.isspace():
        return RequestFields()
    if content_type == "application/json":  # the common spelling, without parameter parsing
        return _fields_from_json(_decode_text(body), max_depth, loose_to_payload)
    media, charset = _media_type(content_type or "")
    if charset not in (None, "utf-8", "utf8"):
        raise RequestError("unsupported_media_type", f"expected charset utf-8, got {charset!r}")
    if media in JSON_TYPES:
        return _fields_from_json(_decode_text(body), max_depth, loose_to_payload)
    if media in FORM_TYPES:
        return _fields_from_pairs(_form_pairs(_decode_text(body)), max_depth, loose_to_payload)
    expected = ", ".join(sorted(JSON_TYPES | FORM_TYPES))
    raise RequestError(
        "unsupported_media_type", f"expected content type {expected}, got {media or 'none'!r}"
    )


def parse_query(
    query_string: bytes, *, max_depth: int, loose_to_payload: bool = False
) -> RequestFields:
    """Parse the query string of a GET request with the same rules as a form body."""
    if not query_string:
        return RequestFields()
    try:
        text = query_string.decode("ascii")
    except UnicodeDecodeError:
        raise RequestError("malformed", "query string is not ASCII (percent-encode it)") from None
    return _fields_from_pairs(_form_pairs(text), max_depth, loose_to_payload)


def _form_pairs(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("malformed", f"form data is not valid: {exc}") from None


def _reject_constant(name: str) -> Any:
    """JSON has no NaN or Infinity; Python's parser accepts them unless told otherwise."""
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """``1e999`` would become infinity, which no answer or snapshot could carry."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


#: One decoder for every body: ``json.loads`` with an option would build a new one per call.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _exceeds_depth(document: dict[str, Any], max_depth: int) -> bool:
    """Whether an object nests deeper than ``max_depth``; walks only container values."""
    for value in document.values():
        if isinstance(value, dict | list) and json_depth(value) + 1 > max_depth:
            return True
    return max_depth < 1


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


def decode_json_object(text: str, max_depth: int, what: str = "body") -> dict[str, Any]:
    """Decode ``text`` as one JSON object no deeper than ``max_depth`` (NaN and Infinity
    refused); ``what`` names the text in error messages."""
    try:
        document = _DECODER.decode(text)
    except RecursionError:
        raise RequestError("too_deep", f"JSON nesting exceeds the limit of {max_depth}") from None
    except ValueError as exc:
        raise RequestError("malformed", f"{what} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestError("malformed", f"expected a JSON object, got {type(document).__name__}")
    if _exceeds_depth(document, max_depth):
        raise RequestError("too_deep", f"JSON nesting exceeds the limit of {max_depth}")
    _refuse_lone_surrogates(text, document)
    return document


def _fields_from_json(text: str, max_depth: int, loose_to_payload: bool) -> RequestFields:
    return fields_from_mapping(decode_json_object(text, max_depth), loose_to_payload)


def _fields_from_pairs(
    pairs: list[tuple[str, str]], max_depth: int, loose_to_payload: bool
) -> RequestFields:
    merged: dict[str, Any] = {}
    for name, value in pairs:
        if name in RESERVED_FIELDS and name in merged:
            raise RequestError("malformed", f"field {name!r} appears more than once")
        if name in ("payload", "params", "state"):
            merged[name] = _embedded_object(name, value, max_depth)
        elif name in merged:
            previous = merged[name]
            merged[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            merged[name] = value
    return fields_from_mapping(merged, loose_to_payload)


def _embedded_object(name: str, value: str, max_depth: int) -> dict[str, Any]:
    """A reserved object field sent as a form value carries JSON text."""
    try:
        decoded = _DECODER.decode(value) if value else {}
    except RecursionError:
        raise RequestError("too_deep", f"JSON nesting exceeds the limit of {max_depth}") from None
    except ValueError:
        raise RequestError("malformed", f"form field {name!r} must be a JSON object") from None
    if not isinstance(decoded, dict):
        raise RequestError("malformed", f"form field {name!r} must be a JSON object")
    if json_depth(decoded) + 1 > max_depth:
        raise RequestError("too_deep", f"JSON nesting exceeds the limit of {max_depth}")
    _refuse_lone_surrogates(value, decoded)
    return decoded


def _check_types(document: dict[str, Any]) -> None:
    """Reserved fields have fixed types: strings for ``event``/``snapshot``, objects else."""
    for name, expected in _RESERVED_TYPES:
        value = document.get(name)
        if value is not None and not isinstance(value, expected):
            label = "a string" if expected is str else "an object"
            raise RequestError(
                "malformed", f"field {name!r} must be {label}, got {type(value).__name__}"
            )


def fields_from_mapping(document: dict[str, Any], loose_to_payload: bool) -> RequestFields:
    """The fields of a decoded JSON object or form: reserved fields checked, loose fields
    moved into ``payload`` (or ``params`` at a mount, unless ``loose_to_payload``)."""
    _check_types(document)
    event = document.get("event") or None
    snapshot = document.get("snapshot") or None
    payload = document.get("payload") or {}
    params = document.get("params") or {}
    if not document.keys() <= RESERVED_FIELDS:
        mounting = (event is None or event == MOUNT_EVENT) and snapshot is None
        mounting = mounting and not loose_to_payload
        target = params if mounting else payload
        for key, value in document.items():
            if key in RESERVED_FIELDS:
                continue
            if key in target:
                raise RequestError("malformed", f"field {key!r} is given twice")
            target[key] = value
    return RequestFields(event, payload, params, snapshot, document.get("state"))
