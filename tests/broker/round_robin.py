"""A round-robin TCP proxy on loopback: each new connection goes to the next backend.

Stands for a load balancer without sticky sessions in the multi-worker tests: it copies bytes
both ways and closes each side when the other does, so a client that drops a stream drops it on
the worker too. Runs on the test's event loop; :meth:`RoundRobinProxy.close` stops it and every
connection it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from tests.servers import LOOPBACK

__all__ = ["RoundRobinProxy"]

_CHUNK = 65536


class RoundRobinProxy:
    """Listens on a free loopback port; connection ``n`` goes to ``backends[n % len]``."""

    def __init__(self, backends: Sequence[int]) -> None:
        self.backends = list(backends)
        self.connections = 0
        self.chosen: list[int] = []  # the backend port of each connection, in order
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def start(self) -> RoundRobinProxy:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = self.backends[self.connections % len(self.backends)]
        self.connections += 1
        self.chosen.append(backend)
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, backend)
        except OSError:
            writer.close()
            return
        pipes = [
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
                self._pipes.discard(pipe)
            for side in (writer, up_writer):
                side.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()
