"""Server-Sent Events framing: an encoder for the frames we send and an incremental decoder.

Owns the ``text/event-stream`` wire format (DESIGN.md section 4): how one event becomes bytes
(field order ``event``, ``id``, ``retry``, then one ``data:`` line per line of data, LF line
ends, a blank line to finish), the frames a stream sends (the builders below mirror the message
builders of ``protocol.websocket``: render, stream, done, error, effects, broadcast, plus the
stream's own heartbeat and shutdown frames, and the ``retry:`` hint put on a stream's first
frame), and how a byte stream becomes events, following the WHATWG "interpreting an event
stream" rules. Does not own when frames or heartbeats are sent (``asgi.sse``) nor a run's
sequence numbers and replay (``core.stream_run``, which names each frame's ``id``). A frame id
is ``<run id>.<seq>``: :class:`StreamFramer` writes it, :func:`parse_frame_id` reads one a
client sends back, :data:`RUN_ID` says what a run id looks like. Pure: no I/O, no clock.

Stream operations travel as ``event: stream`` frames whose data is the JSON list of the batch,
except the most common batch, one plain text append, which is a compact ``event:t`` frame whose
data is ``<stream> <text>`` (:func:`text_frame`; about 60 bytes less per frame, which is most
of a token stream's wire bytes); :func:`stream_ops` reads both back into the operations.

Every frame carries at least one ``data:`` line, because ``EventSource`` drops frames without
data. The decoder is what tests and Python clients read our streams with, so it accepts anything
a browser accepts and never raises on malformed input.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from component_framework.protocol.answer import AnswerFormat, Rendered, render_text
from component_framework.protocol.compact import compact_json
from component_framework.protocol.request import MAX_NUMBER_DIGITS

__all__ = [
    "HEARTBEAT_FRAME",
    "LOST_ID_SUFFIX",
    "RUN_ID",
    "SHUTDOWN_FRAME",
    "SSE_CONTENT_TYPE",
    "TEXT_EVENT",
    "SSEDecoder",
    "SSEEncodeError",
    "SSEEvent",
    "StreamFramer",
    "broadcast_frame",
    "done_frame",
    "effects_frame",
    "encode_comment",
    "encode_event",
    "error_frame",
    "listening_frame",
    "lost_frame",
    "parse_frame_id",
    "render_frame",
    "stream_frame",
    "stream_ops",
    "text_frame",
    "with_retry",
]

SSE_CONTENT_TYPE: Final = "text/event-stream; charset=utf-8"
DEFAULT_EVENT_TYPE: Final = "message"
#: The event type of a compact text frame (:func:`text_frame`).
TEXT_EVENT: Final = "t"
#: The operation a compact text frame stands for has exactly these keys.
_TEXT_KEYS: Final = frozenset({"op", "stream", "text", "mode"})

#: The three line ends of the format; ``str.splitlines`` would also split on U+2028 and friends.
_LINE_END: Final = re.compile(r"\r\n|\r|\n")
_BOM: Final = "\ufeff"


class SSEEncodeError(ValueError):
    """A field cannot be framed: it would break the frame or is not a valid value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"SSE field {field!r}: {message}")
        self.field = field


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event, as ``EventSource`` would see it."""

    data: str = ""
    event: str = DEFAULT_EVENT_TYPE
    id: str | None = None
    retry: int | None = None


# -- encoding ---------------------------------------------------------------------------------


def _check_single_line(field: str, value: str, *, forbid_nul: bool = False) -> None:
    if "\r" in value or "\n" in value:
        raise SSEEncodeError(field, f"must not contain CR or LF, got {value!r}")
    if forbid_nul and "\0" in value:
        raise SSEEncodeError(field, f"must not contain NUL, got {value!r}")


def _check_retry(retry: object) -> None:
    if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
        raise SSEEncodeError("retry", f"expected a non-negative int, got {retry!r}")


def _data_lines(data: str) -> str:
    if "\r" not in data and "\n" not in data:  # the common case: one line, no regex
        return f"data: {data}\n"
    return "".join(f"data: {line}\n" for line in _LINE_END.split(data))


def _to_utf8(text: str, fields: dict[str, str | None]) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Rare path: find which field carries the lone surrogate, to name it.
        for name, value in fields.items():
            if value is not None:
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise SSEEncodeError(
                        name, f"is not encodable as UTF-8 (lone surrogate at index {exc.start})"
                    ) from None
        raise  # pragma: no cover - every character of ``text`` comes from one of the fields


def encode_event(
    data: str = "",
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """One UTF-8 frame. ``data`` may hold CR, LF or CRLF line ends; each line gets its own
    ``data:`` line. Raises :class:`SSEEncodeError` for a field that would break the frame."""
    head = ""
    if event is not None:
        _check_single_line("event", event)
        head = f"event: {event}\n"
    if id is not None:
        _check_single_line("id", id, forbid_nul=True)
        head += f"id: {id}\n"
    if retry is not None:
        _check_retry(retry)
        head += f"retry: {retry}\n"
    frame = f"{head}{_data_lines(data)}\n"
    return _to_utf8(frame, {"event": event, "id": id, "data": data})


def encode_comment(text: str = "") -> bytes:
    """A comment frame (a heartbeat: ``encode_comment("keep-alive") == b": keep-alive\\n\\n"``).
    Each line of ``text`` becomes its own comment line; an empty line is a bare ``:``."""
    lines = "".join(f": {line}\n" if line else ":\n" for line in _LINE_END.split(text))
    return _to_utf8(lines + "\n", {"text": text})


# -- the frames a stream sends ------------------------------------------------------------------


def render_frame(rendered: Rendered, answer_format: AnswerFormat, frame_id: str) -> bytes:
    """One render, with no ``event:`` line (its type is ``message``, which htmx 2's
    ``sse-swap="message"`` and htmx 4 both swap): the fragment, or the render document. A
    fragment whose render has effects is followed by their :func:`effects_frame` (one entry
    of the run, so a replay sends both); the document carries them itself."""
    frame = encode_event(render_text(rendered, answer_format), id=frame_id)
    effects = rendered.effects
    if effects and answer_format == "html":
        frame += effects_frame(effects, rendered.component_id)
    return frame


def effects_frame(effects: Mapping[str, Any], component_id: str) -> bytes:
    """Navigation and client effects for the client runtime: ``event: effects`` with
    ``{"component_id", "effects"}``; no ``id`` (it belongs to the render before it)."""
    document = {"component_id": component_id, "effects": dict(effects)}
    return encode_event(compact_json(document), event="effects")


def _compact_text(ops: list[dict[str, object]]) -> tuple[str, str] | None:
    """``(stream, text)`` when ``ops`` is one plain text append that a compact frame carries
    losslessly (no target; no CR, which SSE would turn into LF), else ``None``."""
    if len(ops) != 1:
        return None
    (op,) = ops
    if op.get("op") != "text" or op.get("mode", "append") != "append" or op.keys() - _TEXT_KEYS:
        return None
    stream, text = op.get("stream"), op.get("text")
    if not isinstance(stream, str) or not isinstance(text, str) or "\r" in text:
        return None
    if not stream or " " in stream or "\n" in stream:
        return None
    return stream, text


def text_frame(stream: str, text: str, frame_id: str) -> bytes:
    """One text append to ``stream``, compact: ``event:t``, the ``id``, and ``data:<stream>
    <text>`` (a ``data:`` line per line of text). No spaces after the colons (the format
    allows none, and a token stream sends one such frame per display frame), except on a
    further line of text, which may itself start with a space. ``text`` must
    not hold CR (:func:`stream_frame` checks; it sends JSON then)."""
    _check_single_line("id", frame_id, forbid_nul=True)
    data = f"{stream} {text}".replace("\n", "\ndata: ")  # a space: a line may start with one
    frame = f"event:{TEXT_EVENT}\nid:{frame_id}\ndata:{data}\n\n"
    return _to_utf8(frame, {"id": frame_id, "data": text})


def stream_frame(ops: list[dict[str, object]], frame_id: str) -> bytes:
    """A batch of stream operations (their wire form), in order: ``event: stream`` with the
    JSON list, or :func:`text_frame` when the batch is one text append it carries as is."""
    compact = _compact_text(ops)
    if compact is not None:
        return text_frame(*compact, frame_id)
    return encode_event(compact_json(ops), event="stream", id=frame_id)


def stream_ops(event: SSEEvent) -> list[dict[str, object]] | None:
    """The stream operations an ``event: stream`` or compact text frame carries, in their
    wire form (``{"op", "stream", ...}``); ``None`` for any other frame. Raises
    ``ValueError`` for such a frame whose data is malformed."""
    if event.event == TEXT_EVENT:
        stream, space, text = event.data.partition(" ")
        if not space or not stream:
            raise ValueError(f"text frame: expected '<stream> <text>', got {event.data[:40]!r}")
        return [{"op": "text", "stream": stream, "text": text, "mode": "append"}]
    if event.event != "stream":
        return None
    ops = json.loads(event.data)
    if not isinstance(ops, list):
        raise ValueError(f"stream frame: expected a JSON list, got {event.data[:40]!r}")
    return ops


class StreamFramer:
    """The :func:`stream_frame` of one run, with the ``event`` and ``id`` prefix encoded
    once (a token stream sends one such frame per display frame): ``frame(ops, seq) ==
    stream_frame(ops, f"{run_id}.{seq}")``, byte for byte."""

    __slots__ = ("_head", "_run_id", "_text_head")

    def __init__(self, run_id: str) -> None:
        _check_single_line("id", run_id, forbid_nul=True)
        self._run_id = run_id
        self._head = _to_utf8(f"event: stream\nid: {run_id}.", {"id": run_id})
        self._text_head = _to_utf8(f"event:{TEXT_EVENT}\nid:{run_id}.", {"id": run_id})

    def frame(self, ops: list[dict[str, object]], seq: int) -> bytes:
        """The frame of ``ops`` numbered ``seq``."""
        compact = _compact_text(ops)
        if compact is not None:
            return self.text(*compact, seq)
        data = compact_json(ops)  # one line: JSON escapes CR and LF
        try:
            body = data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: the general path names the field
            return stream_frame(ops, f"{self._run_id}.{seq}")
        return b"%s%d\ndata: %s\n\n" % (self._head, seq, body)

    def text(self, stream: str, text: str, seq: int) -> bytes:
        """The frame of one plain text append (no target) to ``stream`` numbered ``seq``,
        ``frame([{"op": "text", "stream": stream, "text": text, "mode": "append"}], seq)``
        byte for byte, without building that list (a token stream's common frame)."""
        if "\r" in text or not stream or " " in stream or "\n" in stream:
            op: dict[str, object] = {"op": "text", "stream": stream, "text": text, "mode": "append"}
            return stream_frame([op], f"{self._run_id}.{seq}")  # JSON: compact cannot carry it
        if "\n" in text:
            return text_frame(stream, text, f"{self._run_id}.{seq}")
        try:
            body = f"{stream} {text}".encode()
        except UnicodeEncodeError:  # a lone surrogate: the general path names the field
            return text_frame(stream, text, f"{self._run_id}.{seq}")
        return b"%s%d\ndata:%s\n\n" % (self._text_head, seq, body)


def done_frame(rendered: Rendered, frame_id: str) -> bytes:
    """The end of a run that completed: ``event: done`` with ``{"component_id", "snapshot"}``,
    so a client can go on from the last state."""
    done = {"component_id": rendered.component_id, "snapshot": rendered.snapshot}
    return encode_event(compact_json(done), event="done", id=frame_id)


def error_frame(document: Mapping[str, Any], frame_id: str) -> bytes:
    """The end of a run that failed: ``event: error`` with the error document."""
    return encode_event(compact_json(document), event="error", id=frame_id)


#: The end of a ``Last-Event-ID`` that a ``lost`` frame answered: a reconnect with it is told
#: "nothing to resume" (``204``) instead of "lost" again.
LOST_ID_SUFFIX: Final = ".lost"
#: What a run id looks like (``core.stream_run`` issues them with ``secrets.token_urlsafe``):
#: a resume point's run id of another shape was not ours, and is echoed as ``unknown``.
RUN_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def parse_frame_id(value: str) -> tuple[str, int] | None:
    """The run id and sequence number of a frame id ``<run id>.<seq>`` as a client sends it
    back (``Last-Event-ID``, a page entry's resume point); ``None`` when it is not one. The
    number is ASCII digits only (``"²".isdigit()`` is true) and at most
    ``request.MAX_NUMBER_DIGITS`` of them, as a numeric header (``int()`` refuses huge
    ones); the run id is checked against :data:`RUN_ID` by the caller that would look for
    it elsewhere."""
    run_id, _, seq = value.rpartition(".")
    if not run_id or not seq.isascii() or not seq.isdigit() or len(seq) > MAX_NUMBER_DIGITS:
        return None
    return run_id, int(seq)


def lost_frame(document: Mapping[str, Any], run_id: str) -> bytes:
    """The whole answer to a resume of a stream the server does not have: ``event: lost``
    with the error document, and an ``id`` whose reconnect is answered ``204`` (so a plain
    ``EventSource`` stops after it instead of asking again)."""
    return encode_event(compact_json(document), event="lost", id=run_id + LOST_ID_SUFFIX)


def broadcast_frame(event: str, payload: Mapping[str, Any], frame_id: str) -> bytes:
    """A broadcast the component has no handler for, forwarded: ``event: broadcast`` with
    ``{"event", "payload"}``."""
    forwarded = {"event": event, "payload": dict(payload)}
    return encode_event(compact_json(forwarded), event="broadcast", id=frame_id)


def listening_frame(page: str, frame_id: str) -> bytes:
    """A live subscription hears the events emitted on ``page`` (``core.events``), so the
    client runtime leaves its component out of the batches it sends: ``event: listening``
    with ``{"page"}``, the stream's first frame."""
    return encode_event(compact_json({"page": page}), event="listening", id=frame_id)


def with_retry(frame: bytes, milliseconds: int) -> bytes:
    """``frame`` (one frame of the builders above, not a comment) with the reconnection delay
    on its first line: a stream sends it on its first frame, because a ``retry:`` block of its
    own is an event to some clients (httpx-sse hands it over as an empty message with an empty
    ``id``, and a client resuming from that id would start a new run)."""
    _check_retry(milliseconds)
    if not frame.endswith(b"\n\n") or frame.startswith(b":"):
        raise SSEEncodeError("retry", f"needs a frame with fields to go on, got {frame[:40]!r}")
    return b"retry: %d\n%s" % (milliseconds, frame)


#: What an idle stream sends now and then, so proxies keep it open.
HEARTBEAT_FRAME: Final = encode_comment("keep-alive")
#: The last frame of every open stream when the server shuts down (no ``id``: it is no part
#: of the run, and a reconnecting client must not resume after it).
SHUTDOWN_FRAME: Final = encode_event(
    compact_json({"code": "server_shutdown", "message": "the server is shutting down"}),
    event="shutdown",
)


# -- decoding ---------------------------------------------------------------------------------


class SSEDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the events completed by those bytes.

    Chunk boundaries never change the result: UTF-8 sequences and CRLF pairs split across chunks
    decode as if whole. Invalid UTF-8 becomes U+FFFD; malformed lines are ignored, as a browser
    does. ``last_event_id`` is the spec's "last event ID string" (it persists across events and
    is reset by an empty ``id:``); ``retry`` the last reconnection time the stream set;
    ``comments`` how many comment lines were seen.
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []  # text of the line not yet ended
        self._bom_checked = False
        self._after_cr = False  # the last line ended with CR: a leading LF belongs to it
        self._closed = False
        self._discarded = False
        self._reset_event()
        self._id_buffer = ""
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments = 0

    def _reset_event(self) -> None:
        self._data: list[str] = []
        self._event_type = ""
        self._frame_id: str | None = None
        self._frame_retry: int | None = None
        self._in_event = False

    @property
    def pending(self) -> bool:
        """True when a partial line or an undispatched event is buffered (or was, at close)."""
        if self._closed:
            return self._discarded
        return bool(self._partial or self._in_event or self._utf8.getstate()[0])

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode the next bytes of the stream; returns the events they complete, in order."""
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() called after close()")
        return self._feed_text(self._utf8.decode(chunk))

    def close(self) -> list[SSEEvent]:
        """End of stream: an incomplete event is discarded (WHATWG), so this returns ``[]``;
        :attr:`pending` tells whether anything was discarded."""
        if not self._closed:
            self._discarded = self.pending
            self._closed = True
            self._partial = []
            self._reset_event()
        return []

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if not self._bom_checked:
            self._bom_checked = True
            if text.startswith(_BOM):
                text = text[1:]
        if self._after_cr and text:
            self._after_cr = False
            if text.startswith("\n"):
                text = text[1:]
        if "\r" not in text and "\n" not in text:
            if text:
                self._partial.append(text)
            return []
        self._partial.append(text)
        lines = _LINE_END.split("".join(self._partial))
        rest = lines.pop()
        self._partial = [rest] if rest else []
        self._after_cr = not rest and text.endswith("\r")
        events = []
        for line in lines:
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    def _process_line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._in_event = True
        self._apply_field(name, value)
        return None

    def _apply_field(self, name: str, value: str) -> None:
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
                self._frame_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._set_retry(value)

    def _set_retry(self, digits: str) -> None:
        try:
            milliseconds = int(digits)
        except ValueError:  # more digits than ``sys.get_int_max_str_digits()``: no sane delay
            return
        self.retry = self._frame_retry = milliseconds

    def _dispatch(self) -> SSEEvent | None:
        self.last_event_id = self._id_buffer
        event = None
        if self._data:
            event = SSEEvent(
                data="\n".join(self._data),
                event=self._event_type or DEFAULT_EVENT_TYPE,
                id=self._frame_id,
                retry=self._frame_retry,
            )
        self._reset_event()
        return event
