"""Decoding and checking one recorded SSE response of the streaming benchmark.

:class:`ResponseReader` takes the bytes a client socket received, chunk by chunk with the time
each chunk was read, and decodes them: the HTTP/1.1 status line and headers, the chunked
transfer coding, the SSE frames (with :class:`component_framework.protocol.sse.SSEDecoder`) and
the op lists of ``event: stream`` and compact ``event:t`` frames
(:func:`component_framework.protocol.sse.stream_ops`). It checks that the response is exactly what
:class:`benchmarks.streaming.app.TokenStream` sends: status 200, a ``start`` op, tokens ``0..N-1``
each once and in order, a ``done`` op, then an ``event: done`` frame, and no ``error`` frame;
or, with ``plain=True``, what the sse-starlette contender (:mod:`benchmarks.streaming.contender`)
sends: one message frame per token, ``0..N-1`` each once and in order, then an ``event: done``
frame. With ``page=True`` the response is a page connection's carrying that one stream, in
compact frames (:class:`component_framework.protocol.page.PageDecoder` reads them): its
control frame must say the entry joined, then the same frames. A token's arrival time is the
read time of the chunk that completed its frame.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from typing import Final

from component_framework.protocol.page import PAGE_EVENT, PageDecoder
from component_framework.protocol.sse import SSEDecoder, SSEEvent, stream_ops

__all__ = ["ResponseReader", "WrongStream"]

_HEAD_END: Final = b"\r\n\r\n"
_CRLF: Final = b"\r\n"
_MAX_HEAD: Final = 64 * 1024


class WrongStream(Exception):
    """A stream lost tokens, reordered them or carried wrong data."""


class _Dechunker:
    """Incremental decoder of the HTTP/1.1 chunked transfer coding."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._left = 0  # bytes of the current chunk still to come; -1 = its CRLF
        self.complete = False

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer
        buffer += data
        out = bytearray()
        while buffer and not self.complete:
            if self._left > 0:
                take = min(self._left, len(buffer))
                out += buffer[:take]
                del buffer[:take]
                self._left -= take
                if self._left == 0:
                    self._left = -1
            elif self._left < 0:
                if len(buffer) < 2:
                    break
                if buffer[:2] != _CRLF:
                    raise WrongStream("chunked body: missing CRLF after a chunk")
                del buffer[:2]
                self._left = 0
            else:
                end = buffer.find(_CRLF)
                if end < 0:
                    break
                size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
                del buffer[: end + 2]
                try:
                    self._left = int(size_text, 16)
                except ValueError:
                    raise WrongStream(f"chunked body: bad chunk size {size_text!r}") from None
                if self._left == 0:
                    self.complete = True  # trailers are not used by uvicorn
        return bytes(out)


def _ops(event: SSEEvent) -> list[dict[str, object]] | None:
    """The ops of a ``stream`` or compact text frame (``None`` for other frames)."""
    try:
        return stream_ops(event)
    except ValueError as exc:
        raise WrongStream(str(exc)) from None


class ResponseReader:
    """One stream's response, decoded and checked as its chunks are fed."""

    def __init__(
        self, *, expected_tokens: int, stamped: bool, plain: bool = False, page: bool = False
    ) -> None:
        self.expected_tokens = expected_tokens
        self.stamped = stamped
        self.plain = plain
        self.page = page
        self.joined = False
        self.status: int | None = None
        self.wire_bytes = 0
        self.body_bytes = 0
        self.events: Counter[str] = Counter()
        self.started = False
        self.stream_done = False
        self.finished = False
        #: Per token, in order: the server's send stamp (stamped streams) and the arrival time.
        self.sent = array("d")
        self.arrived = array("d")
        self._head = bytearray()
        self._chunked: _Dechunker | None = None
        self._in_body = False
        self._sse = PageDecoder() if page else SSEDecoder()
        self._next = 0

    @property
    def tokens(self) -> int:
        """Tokens received so far."""
        return self._next

    @property
    def heartbeats(self) -> int:
        """Comment lines (keep-alives) seen."""
        return self._sse.comments

    def feed(self, at: float, data: bytes) -> None:
        """Decode ``data``, read from the socket at time ``at``."""
        self.wire_bytes += len(data)
        if not self._in_body:
            data = self._read_head(data)
            if not self._in_body:
                return
        if self._chunked is not None:
            data = self._chunked.feed(data)
        if not data:
            return
        self.body_bytes += len(data)
        for event in self._sse.feed(data):
            self._on_event(at, event)

    def _read_head(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(_HEAD_END)
        if end < 0:
            if len(self._head) > _MAX_HEAD:
                raise WrongStream("response head too long")
            return b""
        head = bytes(self._head[:end]).decode("latin-1")
        rest = bytes(self._head[end + len(_HEAD_END) :])
        self._head.clear()
        self._in_body = True
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if self.status != 200:
            raise WrongStream(f"expected status 200, got {status_line!r}")
        if not headers.get("content-type", "").startswith("text/event-stream"):
            raise WrongStream(f"expected text/event-stream, got {headers.get('content-type')!r}")
        if "chunked" in headers.get("transfer-encoding", ""):
            self._chunked = _Dechunker()
        return rest

    def _on_event(self, at: float, event: SSEEvent) -> None:
        self.events[event.event] += 1
        if self.finished:
            raise WrongStream(f"a {event.event!r} frame after the done frame")
        if self.page and event.event == PAGE_EVENT:
            self._on_control(event)
        elif self.page and not self.joined:
            raise WrongStream(f"a {event.event!r} frame before the entry joined")
        elif self.plain:
            self._on_plain_event(at, event)
        elif (ops := _ops(event)) is not None:
            for op in ops:
                self._on_op(at, op)
        elif event.event == "done":
            if not self.stream_done:
                raise WrongStream("done frame before the stream's done op")
            self.finished = True
        elif event.event != "message":
            raise WrongStream(f"unexpected {event.event!r} frame: {event.data[:200]!r}")

    def _on_control(self, event: SSEEvent) -> None:
        """The page connection's control frame: the one entry joined."""
        control = json.loads(event.data)
        if self.joined or "run" not in control:
            raise WrongStream(f"unexpected control frame: {event.data[:200]!r}")
        self.joined = True

    def _on_plain_event(self, at: float, event: SSEEvent) -> None:
        """The contender's frames: one token per message, then ``event: done``."""
        if event.event == "message":
            self.started = True
            self._on_text(at, event.data)
        elif event.event == "done" and event.data == "done":
            if self._next != self.expected_tokens:
                raise WrongStream(f"done after {self._next} of {self.expected_tokens} tokens")
            self.stream_done = self.finished = True
        else:
            raise WrongStream(f"unexpected {event.event!r} frame: {event.data[:200]!r}")

    def _on_op(self, at: float, op: object) -> None:
        if not isinstance(op, dict) or op.get("stream") != "out":
            raise WrongStream(f"unexpected op {op!r:.200}")
        kind = op.get("op")
        if kind == "start":
            if self.started:
                raise WrongStream("start op twice")
            self.started = True
        elif kind == "text":
            if not self.started or self.stream_done:
                raise WrongStream("text op outside start..done")
            text = op.get("text")
            if not isinstance(text, str) or op.get("mode", "append") != "append":
                raise WrongStream(f"bad text op {op!r:.200}")
            self._on_text(at, text)
        elif kind == "done":
            if self._next != self.expected_tokens:
                raise WrongStream(f"done op after {self._next} of {self.expected_tokens} tokens")
            self.stream_done = True
        else:
            raise WrongStream(f"unexpected op {op!r:.200}")

    def _on_text(self, at: float, text: str) -> None:
        if not text.endswith(" "):
            raise WrongStream(f"text does not end with a whole token: {text[-40:]!r}")
        for token in text[:-1].split(" "):
            index_text, _, stamp = token.partition("@")
            if not self.stamped:
                index_text = index_text.removeprefix("t")
            if not index_text.isdigit() or int(index_text) != self._next:
                raise WrongStream(f"expected token {self._next}, got {token[:40]!r}")
            if self.stamped:
                try:
                    self.sent.append(float(stamp))
                except ValueError:
                    raise WrongStream(f"token {token[:40]!r} has no send stamp") from None
            self.arrived.append(at)
            self._next += 1

    def check_complete(self) -> None:
        """Raise :class:`WrongStream` unless every token and the final frame arrived."""
        if self.status is None:
            raise WrongStream("no response")
        if self._chunked is not None and not self._chunked.complete:
            raise WrongStream(f"response cut after {self._next} of {self.expected_tokens} tokens")
        if not self.finished:
            raise WrongStream(f"no done frame ({self._next} of {self.expected_tokens} tokens)")
