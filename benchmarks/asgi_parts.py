"""ASGI pieces the benchmark apps share: a bare lifespan and a cProfile wrapper.

Owns :func:`serve_lifespan` (answer startup and shutdown, nothing else) and :func:`profiled`
(run an app under cProfile and dump the profile after the lifespan shutdown), so every
benchmark server answers the lifespan and is profiled the same way.
"""

from __future__ import annotations

import cProfile
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

__all__ = ["ProfiledApp", "profiled", "serve_lifespan"]


async def serve_lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Complete the lifespan startup and shutdown of a bare ASGI app."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class ProfiledApp:
    """Passes everything to ``app``; stops the profiler and dumps it after lifespan shutdown."""

    def __init__(self, app: Any, profiler: cProfile.Profile, target: str) -> None:
        self.app = app
        self.profiler = profiler
        self.target = target

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "lifespan":
            self.profiler.disable()
            self.profiler.dump_stats(self.target)


def profiled(app: Any, target: str) -> ProfiledApp:
    """``app`` with a cProfile profiler running from now on, dumped to ``target`` at the
    lifespan shutdown."""
    profiler = cProfile.Profile()
    profiler.enable()
    return ProfiledApp(app, profiler, target)
