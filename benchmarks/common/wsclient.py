"""A minimal RFC 6455 client on asyncio, for the benchmarks that open thousands of sockets.

:class:`WsProtocol` is an :class:`asyncio.Protocol` (uvloop in the clients) doing the HTTP
upgrade, parsing server frames, masking its own (:func:`mask_frame`) and answering pings: an
idle connection costs the client a few KiB, so one process opens 10,000 of them and still
reads fast enough not to be the bottleneck. Every message is stamped in ``data_received``,
when its last byte was read; the bytes each way are counted (``sent_bytes``,
``received_bytes``: the handshake and frame heads included). :class:`Arrivals` counts the
messages of many connections (pass its ``on_message``) and waits until a number arrived.
:class:`WrongAnswer` is what a client raises for a message that is not the expected answer.
Used by the WebSocket benchmark, the soak run, the fairness benchmark and the page socket
benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from typing import Final, cast

__all__ = ["HOST", "Arrivals", "WrongAnswer", "WsProtocol", "mask_frame"]

HOST: Final = "127.0.0.1"
_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_ANSWER_TIMEOUT: Final = 30.0
_OP_TEXT: Final = 0x1
_OP_CLOSE: Final = 0x8
_OP_PING: Final = 0x9


class WrongAnswer(Exception):
    """A message that is not the expected answer, or no message at all."""


class Arrivals:
    """Counts messages over many connections (:meth:`on_message` is each one's callback);
    :meth:`wait` until ``target`` of them arrived in all."""

    def __init__(self) -> None:
        self.total = 0
        self.target = 0
        self.reached: asyncio.Event = asyncio.Event()

    def on_message(self) -> None:
        self.total += 1
        if self.total >= self.target:
            self.reached.set()

    async def wait(self, target: int, within: float) -> bool:
        """Until ``target`` messages arrived in all; False when ``within`` seconds ran out."""
        self.target = target
        if self.total >= target:
            return True
        self.reached.clear()
        try:
            async with asyncio.timeout(within):
                await self.reached.wait()
        except TimeoutError:
            return False
        return True


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """One client frame (FIN set, masked with a random key, as RFC 6455 requires)."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    key = os.urandom(4)
    if not length:
        return head + key
    mask = (key * (length // 4 + 1))[:length]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")
    return head + key + masked.to_bytes(length, "big")


class WsProtocol(asyncio.Protocol):
    """One client connection. Messages are ``(clock(), bytes)``, kept in :attr:`messages`
    (:meth:`receive` takes them from there or waits for the next); ``on_message`` is called
    for each."""

    def __init__(
        self,
        path: str,
        port: int,
        *,
        clock: Callable[[], float] = time.perf_counter,
        on_message: Callable[[], None] | None = None,
    ) -> None:
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode("ascii")
        self.clock = clock
        self.on_message = on_message
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.fragments: bytearray | None = None
        self.handshaken = False
        self.messages: list[tuple[float, bytes]] = []
        self.count = 0
        self.sent_bytes = 0  # on the wire, handshake and frame heads included
        self.received_bytes = 0
        self.close_code: int | None = None
        self._waiter: asyncio.Future[tuple[float, bytes]] | None = None
        self._sent_close = False

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.sent_bytes += len(self.request)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = self.clock()
        self.received_bytes += len(data)
        self.buffer += data
        if not self.handshaken and not self._handshake():
            return
        self._frames(now)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self._waiter):
            if future is not None and not future.done():
                future.set_exception(ConnectionError(f"connection lost ({self.close_code})"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- the wire ----------------------------------------------------------------------------

    def _handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).lower()
        del self.buffer[: end + 4]
        if not head.startswith(b"http/1.1 101") or self.accept.lower() not in head:
            if not self.opened.done():
                self.opened.set_exception(WrongAnswer(f"handshake refused: {head[:200]!r}"))
            self.abort()
            return False
        self.handshaken = True
        self.opened.set_result(None)
        return True

    def _frames(self, now: float) -> None:
        buffer = self.buffer
        size, position = len(buffer), 0
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - position < 4:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if size - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            if size - position < head + length:
                break
            start = position + head
            payload = bytes(buffer[start : start + length])
            position = start + length
            self._frame(now, first, payload)
        if position:
            del buffer[:position]

    def _frame(self, now: float, first: int, payload: bytes) -> None:
        opcode, final = first & 0x0F, first & 0x80
        if opcode >= _OP_CLOSE:
            if opcode == _OP_PING:
                self._write(mask_frame(0xA, payload))
            elif opcode == _OP_CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                self.close(self.close_code if self.close_code != 1005 else 1000)
            return
        if opcode != 0:  # a new data message
            self.fragments = bytearray()
        if self.fragments is None:
            return
        self.fragments += payload
        if final:
            message, self.fragments = bytes(self.fragments), None
            self._message(now, message)

    def _message(self, now: float, message: bytes) -> None:
        self.count += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result((now, message))
        else:
            self.messages.append((now, message))
        if self.on_message is not None:
            self.on_message()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.sent_bytes += len(data)
            self.transport.write(data)

    # -- the API -----------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send one text message."""
        self._write(mask_frame(_OP_TEXT, text.encode()))

    async def receive(self) -> tuple[float, bytes]:
        """The next message and the time it arrived."""
        if self.messages:
            return self.messages.pop(0)
        self._waiter = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(_ANSWER_TIMEOUT):
            return await self._waiter

    def close(self, code: int = 1000) -> None:
        """Send a close frame (once); the server then closes the TCP connection."""
        if not self._sent_close:
            self._sent_close = True
            self._write(mask_frame(_OP_CLOSE, code.to_bytes(2, "big")))

    def abort(self) -> None:
        """Drop the TCP connection."""
        if self.transport is not None:
            self.transport.abort()
