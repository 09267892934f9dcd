"""ASGI pieces the benchmark apps share: a bare lifespan and a cProfile wrapper.

Owns :func:`serve_lifespan` (answer startup and shutdown, nothing else) and :func:`profiled`
(run an app under cProfile and dump the profile after the lifespan shutdown), so every
benchmark server answers the lifespan and is profiled the same way.
"""

from __future__ import annotations

import cProfile
import dataclasses
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

from component_framework.core.config import Settings

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


def one_client_load(settings: Settings) -> Settings:
    """``settings`` for a load generator that is one client address: the per-client limits
    stay on (so their checks are part of what is measured) but so high they never refuse."""
    return dataclasses.replace(
        settings,
        http_rate=1e9,
        http_burst=1_000_000_000,
        max_streams_per_client=1_000_000,
        max_sockets_per_client=1_000_000,
    )
