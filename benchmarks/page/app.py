"""The app under test of the page-connection benchmark.

``GET /components/ticks/stream/?frames=F&every=E&hold=H`` runs :meth:`Ticks.on_run`: one
render per tick (``F`` of them, ``E`` seconds apart), then ``done``; with ``H`` it first holds
the stream open and idle for ``H`` seconds after its first render (the memory scenario). The
page connection asks for the same streams by the same query. :func:`build_page_app` is the
uvicorn factory: no per-client stream caps and no request rate (one client opens every
stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from benchmarks.common.probes import raise_open_files
from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry

__all__ = ["COMPONENT", "Ticks", "build_page_app"]

COMPONENT: Final = "ticks"
REGISTRY: Final = ComponentRegistry()
TEMPLATE: Final = '<div class="ticks"><b>{{ label }}</b> tick {{ tick }}</div>'


@REGISTRY.register(COMPONENT)
class Ticks(StreamingComponent):
    """``frames`` renders ``every`` seconds apart (after ``hold`` idle seconds), then done."""

    template_name = "ticks.html"

    def mount(self) -> None:
        self.state.update({"label": "", "tick": 0})

    async def on_run(
        self, frames: int = 10, every: float = 0.01, hold: float = 0.0, label: str = ""
    ) -> AsyncIterator[None]:
        self.state["label"] = label
        yield
        if hold:
            await asyncio.sleep(hold)
        for tick in range(1, frames + 1):
            await asyncio.sleep(every)
            self.state["tick"] = tick
            yield


def build_page_app() -> ComponentASGI:
    """The uvicorn factory."""
    raise_open_files(65_536)
    settings = Settings(
        secret_keys=("page-benchmark-key-0123456789abcdef",),
        max_streams_per_client=100_000,
        max_page_streams_per_client=100_000,
        http_rate=None,
    )
    return ComponentASGI(
        registry=REGISTRY,
        renderer=Jinja2Renderer.from_strings({"ticks.html": TEMPLATE}),
        settings=settings,
        shutdown_on_signals=False,
    )
