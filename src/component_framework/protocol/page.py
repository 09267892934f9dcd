"""The page connection's wire format (``docs/protocol.md``): ``POST {prefix}/_page/``.

Owns the request's shape::

    {"page": "<the page id>",
     "streams": [{"key": "3", "name": "report", "query": "topic=x&_page=..."},
                 {"key": "4", "name": "ticker", "resume": "<run id>.<seq>"},
                 {"key": "5", "name": "answer", "method": "POST", "query": "",
                  "body": "question=hi"}, ...]}

one item a component stream: ``key`` is the client's name for it (echoed, never trusted),
``name`` the component, and either ``query`` (exactly the query string its own
``sse-connect`` URL would send: a new run) or ``resume`` (the id of the last frame it got:
the run goes on after it). A stream its own request would start with ``POST`` says so
(``"method": "POST"``, default ``"GET"``) and carries that request's form body as text
(``body``, ``application/x-www-form-urlencoded``; ``query`` is then its URL's query string);
a resume takes neither. Its limits (entries, key length: counts beside the byte limit of
every body), and the control frames of the answer (``event: page``), one per entry before any
of its run's frames: ``{"key", "run"}`` (joined: the frames whose id starts with ``<run>.``
are this entry's), ``{"key", "end": "finished"}`` (a resume of a run that has nothing more:
what ``204`` says to a stream of its own), ``{"key", "end": "lost", "error"}`` (a resume
of a run the server does not have) and ``{"key", "end": "refused", "status", "error"}``
(what the stream of its own would have been refused with). The runs' frames themselves are
``protocol.sse``'s, written unchanged, except on a connection that asked for compact frames
(``"frames": "compact"`` beside ``streams``, or in a socket's ``stream`` entry: the client
runtime's opt-in): there a joined entry's control frame also carries ``"short": <n>``, a number
of that connection, and its run's compact text frames go out as ``t:<n>.<seq>`` and their
``data:`` line (no ``event:`` line, no run id: :class:`ShortFrames`, the head cut off the
stored frame); :class:`PageDecoder` reads both forms back to full events. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from component_framework.protocol.compact import compact_json
from component_framework.protocol.request import RequestError, decode_json_object, quoted
from component_framework.protocol.sse import TEXT_EVENT, SSEDecoder, SSEEvent, encode_event

__all__ = [
    "COMPACT_FRAMES",
    "MAX_KEY_CHARS",
    "MAX_PAGE_ENTRIES",
    "PAGE_EVENT",
    "PageDecoder",
    "PageEntry",
    "PageRequest",
    "ShortFrames",
    "ended_frame",
    "joined_frame",
    "lost_entry_frame",
    "parse_page_entry",
    "parse_page_request",
    "refused_frame",
]

#: The event name of the page connection's own frames.
PAGE_EVENT: Final = "page"
#: Most entries one request may list (the shape's bound; the server joins at most the
#: client's open-stream limit of them and refuses the others one by one).
MAX_PAGE_ENTRIES: Final = 256
#: The longest entry key (a socket's ``unstream`` names one).
MAX_KEY_CHARS: Final = 64
_MAX_NAME_CHARS: Final = 128
_MAX_RESUME_CHARS: Final = 96
_MAX_METHOD_CHARS: Final = 16
_FIELDS: Final = frozenset({"key", "name", "query", "resume", "method", "body", "frames"})
#: The value of ``frames`` that asks for compact frames (the only value there is besides
#: ``"full"``, the default).
COMPACT_FRAMES: Final = "compact"
_FRAME_FORMS: Final = ("full", COMPACT_FRAMES)
#: The field of a compact text frame: ``t:<n>.<seq>``.
SHORT_FIELD: Final = "t"


@dataclass(frozen=True, slots=True)
class PageEntry:
    """One component stream of the page: a new run (``query``) or a resumed one (``resume``)."""

    key: str
    name: str
    query: bytes | None = None
    resume: str | None = None
    method: str = "GET"
    body: bytes | None = None
    #: Its run's text frames go out compact (a socket's entry asked so).
    compact: bool = False


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The parsed request: the page id (checked by ``core.events``), the entries in order,
    and whether the connection asked for compact frames."""

    page: object
    entries: tuple[PageEntry, ...]
    compact: bool = False


def _compact(document: Mapping[str, Any], where: str) -> bool:
    """Whether ``document`` asks for compact frames (``"frames"``: ``"full"`` or
    ``"compact"``); ``RequestError`` for any other value."""
    if "frames" not in document:
        return False
    value = document["frames"]
    if not isinstance(value, str) or value not in _FRAME_FORMS:
        raise RequestError(
            "malformed",
            f'{where}\'s \'frames\' must be "full" or "compact", got {quoted(value)}',
        )
    return value == COMPACT_FRAMES


def _text(item: Mapping[str, Any], key: str, limit: int) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise RequestError(
            "malformed",
            f"a page stream's {key!r} must be a string of 1 to {limit} characters, "
            f"got {quoted(value)}",
        )
    return value


def parse_page_entry(item: object) -> PageEntry:
    """One entry (a JSON object) of ``streams``, or the body of a socket's ``stream`` message;
    ``RequestError`` for anything else."""
    if not isinstance(item, dict):
        raise RequestError(
            "malformed", f"every item of 'streams' must be an object, got {quoted(item)}"
        )
    unknown = set(item) - _FIELDS
    if unknown:
        raise RequestError(
            "malformed", f"a page stream: unexpected field {quoted(sorted(unknown)[0])}"
        )
    key, name = _text(item, "key", MAX_KEY_CHARS), _text(item, "name", _MAX_NAME_CHARS)
    compact = _compact(item, f"page stream {quoted(key)}")
    if ("query" in item) == ("resume" in item):
        raise RequestError(
            "malformed", f"page stream {quoted(key)}: give either 'query' or 'resume'"
        )
    if "resume" in item:
        if "method" in item or "body" in item:
            raise RequestError(
                "malformed", f"page stream {quoted(key)}: a resume takes no 'method' or 'body'"
            )
        resume = _text(item, "resume", _MAX_RESUME_CHARS)
        return PageEntry(key, name, resume=resume, compact=compact)
    query = item["query"]
    if not isinstance(query, str):
        raise RequestError("malformed", f"page stream {quoted(key)}: 'query' must be a string")
    method = _text(item, "method", _MAX_METHOD_CHARS) if "method" in item else "GET"
    body = item.get("body")
    if "body" in item and (method != "POST" or not isinstance(body, str)):
        raise RequestError(
            "malformed", f"page stream {quoted(key)}: 'body' is a POST stream's form text"
        )
    return PageEntry(
        key,
        name,
        query=query.encode("utf-8", "surrogatepass"),
        method=method,
        body=None if body is None else body.encode("utf-8", "surrogatepass"),
        compact=compact,
    )


def parse_page_request(
    text: str, *, max_depth: int, max_fields: int, max_entries: int
) -> PageRequest:
    """The request in the JSON body ``text``; ``RequestError`` for anything else (no JSON
    object, missing or ill-typed fields, no entry or more than ``max_entries``, a key given
    twice, a run resumed by two entries, a ``frames`` other than ``"full"`` or ``"compact"``,
    or one given in an entry rather than once beside ``streams``)."""
    document = decode_json_object(text, max_depth, "page connection", max_fields=max_fields)
    unknown = set(document) - {"page", "streams", "frames"}
    if unknown:
        raise RequestError("malformed", f"unexpected field {quoted(sorted(unknown)[0])}")
    items = document.get("streams")
    if not isinstance(items, list) or not items:
        raise RequestError("malformed", f"'streams' must be a non-empty list, got {quoted(items)}")
    if len(items) > max_entries:
        raise RequestError(
            "too_many_fields", f"'streams' holds {len(items)} items, over {max_entries}"
        )
    compact = _compact(document, "the page connection")
    entries = tuple(parse_page_entry(item) for item in items)
    if any(isinstance(item, dict) and "frames" in item for item in items):
        raise RequestError(
            "malformed", "give 'frames' once, beside 'streams', not in a page stream"
        )
    if len({entry.key for entry in entries}) != len(entries):
        raise RequestError("malformed", "every page stream needs a 'key' of its own")
    _check_runs_resumed_once(entries)
    return PageRequest(document.get("page"), entries, compact)


def _check_runs_resumed_once(entries: tuple[PageEntry, ...]) -> None:
    """A run is one entry's: resumed by two, each of its frames would be sent twice on the
    connection (and the client's routing by run id could only give them to one)."""
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.resume is None:
            continue
        run = entry.resume.rpartition(".")[0] or entry.resume
        if run in seen:
            raise RequestError(
                "malformed",
                f"page streams {quoted(seen[run])} and {quoted(entry.key)} resume the same run "
                f"{quoted(run)}: a run is resumed once, not twice",
            )
        seen[run] = entry.key


def joined_frame(key: str, run_id: str, short: int | None = None) -> bytes:
    """Entry ``key`` is run ``run_id``: the frames whose id starts with ``<run_id>.``, and on
    a connection with compact frames (``short``) the ``t:<short>.<seq>`` frames too."""
    data: dict[str, object] = {"key": key, "run": run_id}
    if short is not None:
        data["short"] = short
    return encode_event(compact_json(data), event=PAGE_EVENT)


def ended_frame(key: str) -> bytes:
    """Entry ``key`` resumed a run that has nothing more to send (a stream of its own: 204)."""
    return encode_event(compact_json({"key": key, "end": "finished"}), event=PAGE_EVENT)


def lost_entry_frame(key: str, document: Mapping[str, Any]) -> bytes:
    """Entry ``key`` resumed a run the server does not have (expired, gone, never ours)."""
    data = {"key": key, "end": "lost", "error": dict(document)}
    return encode_event(compact_json(data), event=PAGE_EVENT)


def refused_frame(key: str, status: int, document: Mapping[str, Any]) -> bytes:
    """Entry ``key`` was refused as a stream of its own would be (``status`` and the error
    document its answer would carry)."""
    data = {"key": key, "end": "refused", "status": status, "error": dict(document)}
    return encode_event(compact_json(data), event=PAGE_EVENT)


class ShortFrames:
    """One run's frames as a connection with compact frames writes them: a compact text frame
    (``event:t``, ``id:<run>.<seq>``, ``data:<stream> <text>``: ``protocol.sse.text_frame``)
    loses its head up to the sequence number for ``t:<short>.``, which says the same on that
    connection (``t``: a text frame; ``<short>``: the run, announced by its entry's control
    frame); every other frame goes as it is (its ``id`` names the run in full). The heads are
    built once per run, so a frame costs a prefix test and a copy of its bytes."""

    __slots__ = ("_cut", "_long", "_short")

    def __init__(self, run_id: str, short: int) -> None:
        self._long = f"event:{TEXT_EVENT}\nid:{run_id}.".encode()
        self._short = f"{SHORT_FIELD}:{short}.".encode("ascii")
        self._cut = len(self._long)

    def frame(self, wire: bytes) -> bytes:
        """``wire`` (one entry of the run's frames) as this connection writes it."""
        if wire.startswith(self._long):
            return self._short + wire[self._cut :]
        return wire


class PageDecoder(SSEDecoder):
    """:class:`~component_framework.protocol.sse.SSEDecoder` for a page connection's answer
    in either form: a compact text frame (``t:<short>.<seq>``) comes out as the ``event:t``
    frame it stands for, its ``id`` the full ``<run>.<seq>`` (the run its control frame
    announced for ``short``); everything else as ``SSEDecoder`` reads it. A ``t:`` of a number
    no control frame announced keeps its short id as the ``id`` (the caller's to reject)."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, str] = {}
        self._short: str | None = None

    def _apply_field(self, name: str, value: str) -> None:
        if name == SHORT_FIELD:
            self._short = value
        else:
            super()._apply_field(name, value)

    def _dispatch(self) -> SSEEvent | None:
        short, self._short = self._short, None
        event = super()._dispatch()
        if event is None:
            return None
        if short is not None:
            number, _, seq = short.partition(".")
            run = self.runs.get(number)
            event.event = TEXT_EVENT
            event.id = f"{run}.{seq}" if run is not None else short
        elif event.event == PAGE_EVENT:
            self._announce(event.data)
        return event

    def _announce(self, data: str) -> None:
        try:
            control = json.loads(data)
        except ValueError:
            return
        if isinstance(control, dict) and "short" in control and "run" in control:
            self.runs[str(control["short"])] = str(control["run"])
