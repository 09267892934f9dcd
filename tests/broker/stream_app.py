"""The app the multi-worker resume tests serve: ``uvicorn tests.broker.stream_app:app``.

Every worker reads ``COMPONENT_FRAMEWORK_BROKER_URL`` (the default hub's broker, whose resume
store keeps the streams) and ``COMPONENT_FRAMEWORK_SECRET_KEY``. ``counter`` streams ``steps``
renders ``interval`` seconds apart and appends its ``tag`` to the file named by
``CF_TEST_RUNS_FILE`` when its handler starts, so a test can count handler runs across workers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import StreamingComponent
from component_framework.core.registry import ComponentRegistry

__all__ = ["RUNS_FILE_VARIABLE", "app"]

RUNS_FILE_VARIABLE = "CF_TEST_RUNS_FILE"
renderer = Jinja2Renderer.from_strings({"counter.html": "<p>{{ tag }} {{ count }}</p>"})
registry = ComponentRegistry()


def _record_run(tag: str) -> None:
    """One line per handler run (a short append: it does not hold the loop for long)."""
    with Path(os.environ[RUNS_FILE_VARIABLE]).open("a", encoding="utf-8") as runs:
        runs.write(f"{tag} {os.getpid()}\n")


@registry.register("counter")
class CounterComponent(StreamingComponent):
    """Counts to ``steps``, one render per step."""

    template_name = "counter.html"

    def mount(self) -> None:
        self.state.update({"tag": "", "count": 0})

    async def on_count(
        self, tag: str, steps: int = 10, interval: float = 0.1
    ) -> AsyncIterator[None]:
        self.state["tag"] = tag
        _record_run(tag)
        for count in range(1, steps + 1):
            if count > 1:
                await asyncio.sleep(interval)
            self.state["count"] = count
            yield


app = ComponentASGI(registry=registry, renderer=renderer, settings=Settings())
