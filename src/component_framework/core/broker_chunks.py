"""Broker messages as text payloads under a size limit: for brokers that carry text only.

PostgreSQL ``NOTIFY`` carries a text payload shorter than 8,000 bytes, without NUL characters;
brokers carry opaque bytes of any length. This module owns the translation, sans-IO:
:func:`encode_chunks` turns one message into one or more text payloads, each at most ``limit``
UTF-8 bytes, and a :class:`ChunkAssembler` turns payloads back into messages. It does no I/O
and knows nothing of PostgreSQL: the brokers that need it (``adapters.postgres_broker``,
``adapters.litestar_channels_broker`` on a PostgreSQL backend) publish what it produces.

Formats (the first character says which):

- ``t<text>``: the whole message, which is UTF-8 text without NUL;
- ``b<base64>``: the whole message, any other bytes;
- ``c<id>:<index>:<count>:<t|b><piece>``: piece ``index`` (from 0) of ``count`` of a message
  too long for one payload; ``id`` is random per message, so pieces of messages from several
  publishers may interleave and still come together.

A message whose pieces do not all arrive (a listener that lost its link half-way) is dropped:
at most ``max_pending`` partial messages are kept, the oldest going first. Every piece of one
message should travel in one database transaction, whose notifications PostgreSQL delivers
together and in order; the assembler does not rely on it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections import OrderedDict
from typing import Final

__all__ = ["NOTIFY_PAYLOAD_LIMIT", "ChunkAssembler", "encode_chunks"]

#: PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more ("payload string too long").
NOTIFY_PAYLOAD_LIMIT: Final = 7999
#: Room for ``c<16 hex>:<index>:<count>:<mode>`` with indexes below 10**9.
_HEADER_ROOM: Final = 1 + 16 + 1 + 9 + 1 + 9 + 1 + 1
_MAX_PIECES: Final = 10**9 - 1


def _as_text(data: bytes) -> tuple[str, str]:
    """``(mode, text)``: the message itself when it is UTF-8 without NUL, else base64."""
    if b"\x00" not in data:
        try:
            return "t", data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return "b", base64.b64encode(data).decode("ascii")


def _split_utf8(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of at most ``size`` UTF-8 bytes, never inside a character."""
    raw = text.encode("utf-8")
    pieces: list[str] = []
    start = 0
    while start < len(raw):
        end = min(start + size, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # a continuation byte: back off
            end -= 1
        pieces.append(raw[start:end].decode("utf-8"))
        start = end
    return pieces


def encode_chunks(data: bytes, limit: int = NOTIFY_PAYLOAD_LIMIT) -> list[str]:
    """Text payloads of at most ``limit`` UTF-8 bytes that carry ``data``, in order: one for
    most messages, several (to publish together, in this order) for long ones."""
    if limit < _HEADER_ROOM + 4:
        smallest = _HEADER_ROOM + 4
        raise ValueError(f"payload limit {limit} is too small: expected at least {smallest}")
    mode, text = _as_text(data)
    if len(text) + 1 <= limit and len(text.encode("utf-8")) + 1 <= limit:
        return [mode + text]
    pieces = _split_utf8(text, limit - _HEADER_ROOM)
    if len(pieces) > _MAX_PIECES:  # pragma: no cover - about 8 TB at the PostgreSQL limit
        raise ValueError("message too long for the broker")
    message_id = secrets.token_hex(8)
    count = len(pieces)
    return [f"c{message_id}:{index}:{count}:{mode}{piece}" for index, piece in enumerate(pieces)]


def _decode_whole(mode: str, text: str) -> bytes:
    if mode == "t":
        return text.encode("utf-8")
    if mode == "b":
        try:
            return base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError(f"invalid base64 broker payload: {exc}") from None
    raise ValueError(f"unknown broker payload mode {mode!r}: expected 't' or 'b'")


class ChunkAssembler:
    """Turns the payloads of :func:`encode_chunks` back into messages.

    :meth:`feed` returns the message a payload completes, or ``None`` while pieces are
    missing; a payload that is none of the formats raises ``ValueError`` (the caller logs and
    drops it). ``max_pending``: partial messages kept at most; beyond it the oldest is dropped
    and counted in :attr:`dropped`.
    """

    def __init__(self, max_pending: int = 64) -> None:
        self.max_pending = max_pending
        self.dropped = 0
        #: message id -> (mode, piece count, pieces received by index)
        self._pending: OrderedDict[str, tuple[str, int, dict[int, str]]] = OrderedDict()

    def __len__(self) -> int:
        """How many partial messages are waiting for pieces."""
        return len(self._pending)

    def feed(self, payload: str) -> bytes | None:
        kind, body = payload[:1], payload[1:]
        if kind in ("t", "b"):
            return _decode_whole(kind, body)
        if kind != "c":
            raise ValueError(f"unknown broker payload kind {kind!r}: expected 't', 'b' or 'c'")
        message_id, index, count, mode, piece = self._parse_piece(body)
        entry = self._pending.get(message_id)
        if entry is None:
            # a dict, not a list of ``count`` slots: a forged count costs nothing
            entry = (mode, count, {})
            self._pending[message_id] = entry
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
                self.dropped += 1
        stored_mode, stored_count, pieces = entry
        if (stored_mode, stored_count) != (mode, count):
            raise ValueError(f"piece {index} of message {message_id} disagrees with its others")
        pieces[index] = piece
        if len(pieces) < count:
            return None
        del self._pending[message_id]
        return _decode_whole(mode, "".join(pieces[i] for i in range(count)))

    @staticmethod
    def _parse_piece(body: str) -> tuple[str, int, int, str, str]:
        parts = body.split(":", 3)
        if len(parts) != 4 or len(parts[0]) != 16 or not parts[3]:
            raise ValueError("malformed broker payload piece: expected c<id>:<index>:<count>:")
        message_id, index_text, count_text, rest = parts
        if not (index_text.isdecimal() and count_text.isdecimal()):
            raise ValueError("malformed broker payload piece: index and count must be numbers")
        index, count = int(index_text), int(count_text)
        if not 0 <= index < count <= _MAX_PIECES or len(index_text) > 9 or len(count_text) > 9:
            raise ValueError(f"broker payload piece {index} of {count} is out of range")
        return message_id, index, count, rest[0], rest[1:]
