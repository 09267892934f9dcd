"""The benchmarks' control requests to a server under test (its stats, a broadcast, its memory).

:func:`control_request` is one HTTP/1.1 exchange on a fresh loopback connection
(``Connection: close``), read until the server closes it, that must answer ``200`` with a
JSON document; anything else raises :class:`~benchmarks.common.wsclient.WrongAnswer`. Raw
asyncio streams rather than an HTTP client library, so a request costs the client process
little beside the load it drives. Owns no path: each benchmark's app names its own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from benchmarks.common.wsclient import HOST, WrongAnswer

__all__ = ["control_request"]


async def control_request(
    port: int, method: str, path: str, body: bytes = b"", *, within: float = 30.0
) -> dict[str, Any]:
    """``method path`` with the JSON ``body`` on ``HOST:port``; the answer's JSON document.
    Raises ``WrongAnswer`` on a status other than 200, ``TimeoutError`` after ``within`` seconds."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        async with asyncio.timeout(within):
            answer = await reader.read()
    finally:
        writer.close()
    status, _, rest = answer.partition(b"\r\n")
    if not status.startswith(b"HTTP/1.1 200"):
        raise WrongAnswer(f"{method} {path}: {status!r}")
    document: dict[str, Any] = json.loads(rest.partition(b"\r\n\r\n")[2])
    return document
