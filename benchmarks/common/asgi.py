"""ASGI pieces the benchmark apps share: a bare lifespan, a cProfile wrapper, load settings.

Owns :func:`serve_lifespan` (answer startup and shutdown, nothing else), :func:`profiled` (run
an app under cProfile and dump the profile after the lifespan shutdown) with
:func:`profile_table` (the dump as a table, for the ``profile`` diagnostics) and
:func:`one_client_load` (settings for a load generator that is one client address), so every
benchmark server answers the lifespan, is profiled and is configured the same way.
"""

from __future__ import annotations

import cProfile
import dataclasses
import io
import pstats
from pathlib import Path
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

from component_framework.core.config import Settings

__all__ = ["ProfiledApp", "one_client_load", "profile_table", "profiled", "serve_lifespan"]


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


def profile_table(
    profile: Path, top: int, order: str = "tottime", restriction: str | None = None
) -> str:
    """The ``top`` functions of a dumped profile by ``order``, only those whose path matches
    ``restriction`` when given."""
    out = io.StringIO()
    stats = pstats.Stats(str(profile), stream=out)
    stats.sort_stats(order)
    if restriction is None:
        stats.print_stats(top)
    else:
        stats.print_stats(restriction, top)
    text = out.getvalue()
    return text[text.find("   ncalls") :]


def one_client_load(settings: Settings) -> Settings:
    """``settings`` for a load generator that is one client address: the per-client limits
    stay on (so their checks are part of what is measured) but so high they never refuse."""
    return dataclasses.replace(
        settings,
        http_rate=1e9,
        http_burst=1_000_000_000,
        max_streams_per_client=1_000_000,
        max_sockets_per_client=1_000_000,
        max_page_streams_per_client=1_000_000,
    )
