"""Stream operations as data, and the coalescer that batches them into frames.

Owns the djust-style stream operations (``start``, ``text``, ``insert``, ``replace``, ``delete``,
``error``, ``done``): their validation, their wire shape (:meth:`StreamOp.to_wire` /
:meth:`StreamOp.from_wire`) and :class:`StreamCoalescer`, which merges rapid operations into at
most about 60 frames per second without losing any of them. Does not own sending: the SSE
transport writes ``to_wire()`` as the JSON data of an ``event: stream`` frame, the WebSocket
transport as ``{"type": "stream", **to_wire()}``; nor the ``Component.stream_*`` methods, which
call the factories here. Pure: no asyncio, no I/O, no clock except the ``now`` passed in.

Wire shape: ``{"op": ..., "stream": ..., }`` plus only the fields that are set, for example
``{"op": "text", "stream": "response", "text": "Hel", "mode": "append"}``. Invalid operations
raise ``ValueError`` naming the component method, the field, what was expected and what arrived
(``stream_text: expected text to be str, got int``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

__all__ = [
    "InsertAt",
    "StreamCoalescer",
    "StreamOp",
    "StreamOpKind",
    "TextMode",
    "checked_text_op",
    "delete_op",
    "done_op",
    "error_op",
    "insert_op",
    "replace_op",
    "start_op",
    "text_op",
]

StreamOpKind = Literal["start", "text", "insert", "replace", "delete", "error", "done"]
TextMode = Literal["append", "replace"]
InsertAt = Literal["append", "prepend"]

_KINDS: Final[tuple[str, ...]] = get_args(StreamOpKind)
_TEXT_MODES: Final[tuple[str, ...]] = get_args(TextMode)
_INSERT_AT: Final[tuple[str, ...]] = get_args(InsertAt)
_STREAM_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The ``Component`` method behind each kind, so that errors name what the user called.
_METHOD: Final[dict[str, str]] = {
    "start": "stream_start",
    "text": "stream_text",
    "insert": "stream_insert",
    "replace": "stream_to",
    "delete": "stream_delete",
    "error": "stream_error",
    "done": "stream_done",
}
#: The optional fields, in wire order.
_FIELDS: Final = ("text", "html", "mode", "at", "target", "selector")
#: Per kind: (required fields, further allowed fields).
_SHAPES: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "start": (frozenset(), frozenset()),
    "text": (frozenset({"text"}), frozenset({"mode", "target"})),
    "insert": (frozenset({"html"}), frozenset({"at", "target"})),
    "replace": (frozenset({"html"}), frozenset({"target"})),
    "delete": (frozenset({"selector"}), frozenset()),
    "error": (frozenset({"text"}), frozenset()),
    "done": (frozenset(), frozenset()),
}
#: Fields whose value must be one of a fixed set.
_CHOICES: Final[dict[str, tuple[str, ...]]] = {"mode": _TEXT_MODES, "at": _INSERT_AT}
#: Fields that hold CSS selectors: an empty one selects nothing, so it is refused.
_SELECTORS: Final = frozenset({"target", "selector"})
#: Lifecycle ops leave the coalescer without waiting for the interval.
_LIFECYCLE: Final = frozenset({"start", "done", "error"})
# Rough JSON cost of an op's frame (braces, keys, quotes), for the coalescer's byte budget.
_OP_OVERHEAD: Final = 24
_FIELD_OVERHEAD: Final = 10
#: ``checked_text_op(stream, text).size()`` less the lengths of ``stream`` and ``text``.
_TEXT_APPEND_SIZE: Final = _OP_OVERHEAD + len("text") + 2 * _FIELD_OVERHEAD + len("append")


def _type_name(value: object) -> str:
    return type(value).__name__


def _quoted(choices: tuple[str, ...]) -> str:
    return ", ".join(map(repr, choices[:-1])) + f" or {choices[-1]!r}"


@dataclass(slots=True)
class StreamOp:
    """One stream operation; validated on construction (see :meth:`validate`).

    ``stream`` names the target element marked ``data-stream="<name>"`` in the template.
    ``text``: plain text of a ``text`` op (never HTML), or the message of an ``error`` op.
    ``html``: markup of an ``insert`` or ``replace`` op. ``mode``: ``text`` appends (the default,
    also when ``None``) or replaces. ``at``: where an ``insert`` goes (``None`` = append).
    ``target``: optional CSS selector inside the stream element (``text``/``insert``/``replace``).
    ``selector``: CSS selector of the element a ``delete`` removes.
    """

    op: StreamOpKind
    stream: str
    text: str | None = None
    html: str | None = None
    mode: TextMode | None = None
    at: InsertAt | None = None
    target: str | None = None
    selector: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` unless this op is well formed for its kind."""
        if not isinstance(self.op, str) or self.op not in _KINDS:
            raise ValueError(
                f"stream op: expected op to be one of {_quoted(_KINDS)}, got {self.op!r}"
            )
        where = _METHOD[self.op]
        _check_stream_name(where, self.stream)
        required, allowed = _SHAPES[self.op]
        for name in _FIELDS:
            _check_field(where, self.op, name, getattr(self, name), required, allowed)

    def to_wire(self) -> dict[str, object]:
        """The JSON object sent for this op: ``op``, ``stream`` and every field that is set."""
        wire: dict[str, object] = {"op": self.op, "stream": self.stream}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None:
                wire[name] = value
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> StreamOp:
        """Parse and validate a decoded wire object; raises ``ValueError`` on bad input.

        ``null`` counts as absent. Keys this version does not know (such as the WebSocket
        envelope's ``type``) are ignored, so a newer server's extra fields do not break a client.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"stream op: expected a JSON object, got {_type_name(data)}")
        kind = data.get("op")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"stream op: expected op to be one of {_quoted(_KINDS)}, got {kind!r}")
        if "stream" not in data:
            raise ValueError(f"{_METHOD[kind]}: missing stream")
        # Types are checked by validate() in the constructor, which names field and type.
        values: dict[str, Any] = {name: data.get(name) for name in _FIELDS}
        values["stream"] = data["stream"]
        return cls(op=cast(StreamOpKind, kind), **values)

    def size(self) -> int:
        """Approximate size on the wire: characters of every field plus a fixed overhead.

        Cheap by design (no JSON encoding, characters rather than UTF-8 bytes); the coalescer
        uses it for its byte budget.
        """
        total = _OP_OVERHEAD + len(self.op) + len(self.stream)
        # Unrolled: the first op of every frame of a token stream is sized here.
        if self.text is not None:
            total += _FIELD_OVERHEAD + len(self.text)
        if self.html is not None:
            total += _FIELD_OVERHEAD + len(self.html)
        if self.mode is not None:
            total += _FIELD_OVERHEAD + len(self.mode)
        if self.at is not None:
            total += _FIELD_OVERHEAD + len(self.at)
        if self.target is not None:
            total += _FIELD_OVERHEAD + len(self.target)
        if self.selector is not None:
            total += _FIELD_OVERHEAD + len(self.selector)
        return total


def _check_stream_name(where: str, stream: object) -> None:
    if not isinstance(stream, str):
        raise ValueError(f"{where}: expected stream to be str, got {_type_name(stream)}")
    if _STREAM_NAME.fullmatch(stream) is None:
        shown = stream if len(stream) <= 40 else stream[:37] + "..."
        raise ValueError(
            f"{where}: expected stream to be 1-64 characters of A-Z, a-z, 0-9, '_' or '-', "
            f"got {shown!r}"
        )


def _check_field(
    where: str,
    kind: str,
    name: str,
    value: object,
    required: frozenset[str],
    allowed: frozenset[str],
) -> None:
    if value is None:
        if name in required:
            raise ValueError(f"{where}: missing {name}")
        return
    if name not in required and name not in allowed:
        raise ValueError(f"{where}: a {kind} op takes no {name}, got {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected {name} to be str, got {_type_name(value)}")
    choices = _CHOICES.get(name)
    if choices is not None and value not in choices:
        raise ValueError(f"{where}: expected {name} to be {_quoted(choices)}, got {value!r}")
    if name in _SELECTORS and not value.strip():
        raise ValueError(f"{where}: expected {name} to be a CSS selector, got {value!r}")


# -- factories used by the Component.stream_* methods -------------------------------------------


def start_op(stream: str) -> StreamOp:
    """``stream_start``: the client marks the stream active and fires ``stream:start``."""
    return StreamOp("start", stream)


def text_op(
    stream: str, text: str, mode: TextMode = "append", target: str | None = None
) -> StreamOp:
    """``stream_text``: plain text appended to (or replacing) the stream's text.

    The common case (a ``str`` appended to a well-named stream, no target) is checked in
    two tests and built without the general validation: token streams call this per token."""
    if (
        mode == "append"
        and target is None
        and type(text) is str
        and type(stream) is str
        and _STREAM_NAME.fullmatch(stream) is not None
    ):
        return checked_text_op(stream, text)
    return StreamOp("text", stream, text=text, mode=mode, target=target)


def checked_text_op(stream: str, text: str) -> StreamOp:
    """``text_op(stream, text)`` built without validation, for fields already known to be
    valid: ``text`` a ``str`` and ``stream`` a name an op has carried before (every op is
    checked when it is made), such as the merge of two appends or a stream sink's next token
    to a stream it has seen."""
    op = _new_op(StreamOp)
    op.op = "text"
    op.stream = stream
    op.text = text
    op.mode = "append"
    op.html = op.at = op.target = op.selector = None
    return op


_new_op: Final = object.__new__


def insert_op(
    stream: str, html: str, at: InsertAt = "append", target: str | None = None
) -> StreamOp:
    """``stream_insert``: HTML added at the end (or start) without replacing what is there."""
    return StreamOp("insert", stream, html=html, at=at, target=target)


def replace_op(stream: str, html: str, target: str | None = None) -> StreamOp:
    """``stream_to``: HTML that replaces the content of the stream (or of ``target`` in it)."""
    return StreamOp("replace", stream, html=html, target=target)


def delete_op(stream: str, selector: str) -> StreamOp:
    """``stream_delete``: remove the element matching ``selector``."""
    return StreamOp("delete", stream, selector=selector)


def error_op(stream: str, error: str) -> StreamOp:
    """``stream_error``: show ``error`` inline, keeping the partial content already streamed."""
    if not isinstance(error, str):
        raise ValueError(f"stream_error: expected error to be str, got {_type_name(error)}")
    return StreamOp("error", stream, text=error)


def done_op(stream: str) -> StreamOp:
    """``stream_done``: the client clears the active mark and fires ``stream:done``."""
    return StreamOp("done", stream)


# -- coalescing ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Queued:
    """A queued op; ``more`` holds text appended to it, joined once at flush (no O(n^2)
    concat), made at the first append. ``own``: the coalescer made ``op`` itself
    (:meth:`StreamCoalescer.start_text`) and nobody else holds it, so the joined text
    goes into it instead of a new op."""

    op: StreamOp
    size: int
    more: list[str] | None = None
    own: bool = False

    def build(self) -> StreamOp:
        if self.more is None:
            return self.op
        op = self.op
        text = (op.text or "") + "".join(self.more)
        if self.own:
            op.text = text
            return op
        if op.mode == "append" and op.target is None:  # merged from valid ops: still valid
            return checked_text_op(op.stream, text)
        return dataclasses.replace(op, text=text)


def _same_place(a: StreamOp, b: StreamOp) -> bool:
    return a.stream == b.stream and a.target == b.target


class StreamCoalescer:
    """Lossless batching of stream ops into frames for one connection.

    ``push`` queues an op, merging it into the op queued just before it when that loses nothing:

    - a ``text`` append onto a ``text`` op (append or replace) for the same stream and target
      concatenates (the merged op keeps the first op's mode);
    - a ``replace`` after a ``replace`` for the same stream and target supersedes it: the second
      overwrites the whole content, so the final DOM is the same (the client sees one
      ``stream:update`` event instead of two).

    Nothing else merges, and only with the immediately preceding op, so global order is strict.

    A flush is due (:meth:`ready`) when ``interval`` has passed since the last flush that
    carried more than lifecycle ops (so the first text after ``start`` is not held back),
    when the oldest queued op has waited ``max_delay``, when ``max_batch_bytes`` are queued, or
    at once when a lifecycle op (``start``, ``done``, ``error``) is queued; it still leaves
    behind the ops queued before it. The first op after creation is due at once. A transport
    pushes, flushes when ready, and otherwise sleeps until :meth:`next_deadline`. Ops are not
    copied: an unmerged op comes back from :meth:`flush` as the same object.

    A batch that :meth:`start_text` began (a plain text append, the first token of a frame of a
    token stream) is held in fields of the coalescer while nothing else is queued: the stream's
    name, one list of texts kept for the coalescer's life (cleared at each flush) and the size,
    so a paced token stream makes no object that waits across the frame (which the garbage
    collector would promote, see docs/benchmarks.md); its op is built at :meth:`flush`. Any
    other op pushed behind it turns it into a queued op first, so everything else behaves as
    for ops pushed one by one.
    """

    def __init__(
        self, *, interval: float = 1 / 60, max_batch_bytes: int = 64 * 1024, max_delay: float = 0.05
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"StreamCoalescer: expected interval > 0, got {interval!r}")
        if not (math.isfinite(max_delay) and max_delay >= interval):
            raise ValueError(
                f"StreamCoalescer: expected max_delay >= interval ({interval!r}), got {max_delay!r}"
            )
        if isinstance(max_batch_bytes, bool) or not max_batch_bytes > 0:
            raise ValueError(
                f"StreamCoalescer: expected max_batch_bytes > 0, got {max_batch_bytes!r}"
            )
        self._interval = interval
        self._max_delay = max_delay
        self._max_batch_bytes = max_batch_bytes
        self._queue: list[_Queued] = []
        self._bytes = 0
        self._urgent = False
        self._content = False  # a queued op that is not a lifecycle op
        self._oldest_at = 0.0
        self._last_flush: float | None = None
        #: The stream of the batch :meth:`start_text` began, held in ``_texts`` while the queue
        #: is empty (``None``: no such batch); its size is ``_bytes``.
        self._text_stream: str | None = None
        self._texts: list[str] = []

    @property
    def pending(self) -> int:
        """Number of queued ops, after merging."""
        return 1 if self._text_stream is not None else len(self._queue)

    @property
    def pending_bytes(self) -> int:
        """Approximate wire size of the queued ops (see :meth:`StreamOp.size`)."""
        return self._bytes

    def push(self, op: StreamOp, now: float) -> None:
        """Queue ``op`` at time ``now``, merging it into the previous op where lossless."""
        stream = self._text_stream
        if stream is not None:
            if (
                op.op == "text"
                and op.mode != "replace"
                and op.stream == stream
                and op.target is None
            ):
                text = op.text or ""
                self._texts.append(text)
                self._bytes += len(text)
                return
            self._queue_text_batch(stream)
        elif not self._queue:
            self._oldest_at = now
        elif self._merge(self._queue[-1], op):
            return
        size = op.size()
        self._queue.append(_Queued(op, size))
        self._bytes += size
        if op.op in _LIFECYCLE:
            self._urgent = True
        else:
            self._content = True

    def append_text(self, stream: str, text: str) -> bool:
        """Append ``text`` to the queued op when that is a ``text`` op of ``stream`` with no
        target and the batch stays as due as it was (no lifecycle op, under the byte budget):
        ``push(text_op(stream, text), now)`` without building the op (``stream`` is that of
        an op already checked). ``False``: nothing was queued, push the op instead."""
        if self._text_stream is not None:
            if stream != self._text_stream or self._bytes + len(text) >= self._max_batch_bytes:
                return False
            self._texts.append(text)
            self._bytes += len(text)
            return True
        queue = self._queue
        if not queue or self._urgent:
            return False
        last = queue[-1]
        op = last.op
        size = len(text)
        if (
            op.op != "text"
            or op.stream != stream
            or op.target is not None
            or self._bytes + size >= self._max_batch_bytes
        ):
            return False
        if last.more is None:
            last.more = [text]
        else:
            last.more.append(text)
        last.size += size
        self._bytes += size
        return True

    def start_text(self, stream: str, text: str, now: float) -> float | None:
        """Start a batch with a plain text append of ``text`` to ``stream`` (a name an op has
        carried, so valid) at time ``now``: ``push(checked_text_op(stream, text), now)`` into
        an empty queue, returning :meth:`next_deadline` (the first token of each frame of a
        token stream comes here). ``None``: nothing was queued, push the op instead (ops
        wait, or the text alone fills the byte budget, which makes the batch pressing)."""
        size = _TEXT_APPEND_SIZE + len(stream) + len(text)
        if self._queue or self._text_stream is not None or size >= self._max_batch_bytes:
            return None
        self._text_stream = stream  # no op, no _Queued: see the class's docstring
        self._texts.append(text)
        self._bytes = size
        self._content = True
        self._oldest_at = now
        # next_deadline()'s rule for this state, written out: the call costs about 500
        # instructions per token of a paced stream (docs/benchmarks.md, "Issue 16, eighth
        # pass"); test_start_text_queues_what_pushing_the_op_queues and
        # test_a_batch_begun_by_start_text_behaves_as_its_ops_pushed_one_by_one tie the two.
        last = self._last_flush
        if last is None:
            return now
        return max(now, min(last + self._interval, now + self._max_delay))

    def _queue_text_batch(self, stream: str) -> None:
        """Turn the batch held in fields into the queued op it stands for (another op comes
        behind it); the list of texts stays for the next batch."""
        texts = self._texts
        op = checked_text_op(stream, texts[0])
        more = texts[1:] if len(texts) > 1 else None
        self._queue.append(_Queued(op, self._bytes, more, True))
        texts.clear()
        self._text_stream = None

    def _merge(self, last: _Queued, op: StreamOp) -> bool:
        if not _same_place(last.op, op) or last.op.op != op.op:
            return False
        if op.op == "text" and op.mode != "replace":
            text = op.text or ""
            if last.more is None:
                last.more = [text]
            else:
                last.more.append(text)
            last.size += len(text)
            self._bytes += len(text)
            return True
        if op.op == "replace":
            size = op.size()
            self._bytes += size - last.size
            last.op, last.size, last.own = op, size, False  # the caller's op now
            return True
        return False

    def next_deadline(self) -> float | None:
        """When a flush becomes due by time alone (``None`` when nothing is queued).

        It may be at or before the current time, meaning due now.
        """
        if not self._queue and self._text_stream is None:
            return None
        if self._urgent or self._bytes >= self._max_batch_bytes or self._last_flush is None:
            return self._oldest_at
        by_rate = self._last_flush + self._interval
        return max(self._oldest_at, min(by_rate, self._oldest_at + self._max_delay))

    def pressing(self) -> bool:
        """Whether a flush is due whatever the time: a lifecycle op or a full batch waits."""
        return self._urgent or self._bytes >= self._max_batch_bytes

    def ready(self, now: float) -> bool:
        """Whether a flush is due at ``now``: ``now >= next_deadline()`` (or pressing), in one
        call (the frame clock asks every stream it ticks for)."""
        if not self._queue and self._text_stream is None:
            return False
        if self._urgent or self._bytes >= self._max_batch_bytes:
            return True
        oldest, last = self._oldest_at, self._last_flush
        if now < oldest:
            return False
        return last is None or now >= last + self._interval or now >= oldest + self._max_delay

    def flush(self, now: float) -> list[StreamOp]:
        """Return every queued op in order, merged, and empty the queue.

        ``now`` becomes the last flush time, unless nothing was queued: an empty flush sends no
        frame, so it does not hold back the next one.
        """
        stream = self._text_stream
        if stream is not None:  # the batch start_text began, nothing behind it
            texts = self._texts
            ops = [checked_text_op(stream, texts[0] if len(texts) == 1 else "".join(texts))]
            texts.clear()
            self._text_stream = None
        else:
            queue = self._queue
            if not queue:
                return []
            ops = [queue[0].build()] if len(queue) == 1 else [queued.build() for queued in queue]
            queue.clear()  # kept for the next batch: one list less per frame
            self._urgent = False  # (only a queued op makes a batch urgent)
        self._bytes = 0
        if self._content:  # a frame of lifecycle ops alone does not hold the next one back
            self._last_flush = now
            self._content = False
        return ops
