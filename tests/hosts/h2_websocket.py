"""A WebSocket client over HTTP/2 (RFC 8441, extended CONNECT), built from ``h2`` and
``wsproto``: no browser or library in the suite speaks it otherwise.

Owns one h2c connection (prior knowledge) to a server on loopback: the server's SETTINGS
(whether it offers ``SETTINGS_ENABLE_CONNECT_PROTOCOL``), the ``CONNECT`` with
``:protocol: websocket`` on one stream, then WebSocket frames (wsproto, without its HTTP/1.1
handshake) carried in that stream's DATA frames, and a clean close.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Message, TextMessage

__all__ = ["H2WebSocket"]

ENABLE_CONNECT_PROTOCOL = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL


class H2WebSocket:
    """One WebSocket on one stream of an h2c connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.ws = Connection(ConnectionType.CLIENT)
        self.stream_id = 0
        self.status: int | None = None
        self.offers_websocket = False
        self.stream_ended = False
        self.close_code: int | None = None
        self.settings_received = False
        self._texts: list[str] = []
        self._partial = ""

    @classmethod
    async def open(cls, host: str, port: int) -> H2WebSocket:
        """Connect and read the server's SETTINGS (``offers_websocket``)."""
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        client.h2.initiate_connection()
        await client._flush()
        while not client.settings_received:
            await client._pump()
        client.offers_websocket = client.h2.remote_settings.get(ENABLE_CONNECT_PROTOCOL) == 1
        return client

    async def connect(self, authority: str, path: str) -> int:
        """The extended CONNECT; returns the answer's status (200: the socket is open)."""
        self.stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", path),
            (":authority", authority),
            ("sec-websocket-version", "13"),
        ]
        self.h2.send_headers(self.stream_id, headers)
        await self._flush()
        while self.status is None and not self.stream_ended:
            await self._pump()
        return self.status or 0

    async def send_json(self, message: Any) -> None:
        self.h2.send_data(self.stream_id, self.ws.send(Message(data=json.dumps(message))))
        await self._flush()

    async def receive_json(self) -> dict[str, Any]:
        while not self._texts:
            if self.stream_ended or self.close_code is not None:
                raise ConnectionError(f"closed ({self.close_code}) while waiting for a message")
            await self._pump()
        message: dict[str, Any] = json.loads(self._texts.pop(0))
        return message

    async def close(self, code: int = 1000) -> int | None:
        """Send a close and read until the server's close answers it; its code. Our half of
        the stream is not ended afterwards, as RFC 8441 would have it: hypercorn 0.18 forgets
        the stream once the closes crossed, and the empty DATA frame that ends it then raises
        in hypercorn's h2 code (logged by its asyncio worker, fatal to its trio worker; see
        docs/hosts.md). :meth:`aclose` ends the connection instead."""
        self.h2.send_data(self.stream_id, self.ws.send(CloseConnection(code=code)))
        await self._flush()
        while self.close_code is None:
            await self._pump()
        return self.close_code

    async def aclose(self) -> None:
        self.h2.close_connection()
        await self._flush()
        self.writer.close()
        await self.writer.wait_closed()

    async def _flush(self) -> None:
        self.writer.write(self.h2.data_to_send())
        await self.writer.drain()

    async def _pump(self) -> None:
        """Read once from the socket and handle what it carried."""
        data = await self.reader.read(65536)
        if not data:
            raise ConnectionError(
                f"the server closed the connection (close {self.close_code}, "
                f"stream ended: {self.stream_ended})"
            )
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.settings_received = True
            elif (
                isinstance(event, h2.events.ResponseReceived) and event.stream_id == self.stream_id
            ):
                self.status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream_id:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                self._frames(event.data)
            elif (
                isinstance(event, h2.events.StreamEnded | h2.events.StreamReset)
                and event.stream_id == self.stream_id
            ):
                self.stream_ended = True
        await self._flush()

    def _frames(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self._partial += event.data
                if event.message_finished:
                    self._texts.append(self._partial)
                    self._partial = ""
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
