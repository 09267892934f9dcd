"""The app the real-server stream tests run: ``uvicorn tests.streaming.uvicorn_app:app``.

``ComponentASGI`` in middleware mode over a tiny inner app that answers ``GET /probe`` with the
stream components' journal (JSON list of ``[kind, tag]``), so a test can see from outside when a
run started, completed, was cancelled and ran its ``finally`` block. The inner app has its own
lifespan, so a SIGTERM goes through the middleware's lifespan path too.
"""

from __future__ import annotations

import json
from typing import Any

from component_framework import ComponentASGI, Settings
from tests.streaming import stream_components

__all__ = ["app"]


async def inner(scope: Any, receive: Any, send: Any) -> None:
    """Lifespan, ``GET /probe``, and 404 for anything else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/probe":
        status, body = 200, json.dumps(stream_components.journal.entries).encode()
    else:
        status, body = 404, b'{"error": "not found"}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


app = ComponentASGI(
    inner,
    registry=stream_components.registry,
    renderer=stream_components.renderer,
    settings=Settings(secret_keys=(stream_components.SECRET,)),
)
