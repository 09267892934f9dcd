"""Fixtures of the SSE transport tests: apps over the stream components, exchanges that are
always stopped, a clean journal and pacer per test, and a check for tasks left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from component_framework import ComponentASGI, Settings
from component_framework.core.hub import Hub
from tests.streaming import stream_components
from tests.streaming.exchange import Exchange

SETTLE_TIMEOUT = 2.0


class Streams:
    """Builds apps and exchanges for one test and cleans them all up afterwards."""

    def __init__(self) -> None:
        self.apps: list[ComponentASGI] = []
        self.exchanges: list[Exchange] = []

    def app(self, inner: Any = None, *, hub: Hub | None = None, **settings: Any) -> ComponentASGI:
        """A standalone (or, with ``inner``, middleware) app over the stream components.

        ``hub``: its hub (default: the process's). ``settings`` override :class:`Settings`
        fields. Signals are never hooked: this is the
        test process (``test_signals`` hooks them in a subprocess)."""
        values: dict[str, Any] = {"secret_keys": (stream_components.SECRET,), **settings}
        app = ComponentASGI(
            inner,
            registry=stream_components.registry,
            renderer=stream_components.renderer,
            settings=Settings(**values),
            shutdown_on_signals=False,
            hub=hub,
        )
        self.apps.append(app)
        return app

    def open(self, app: Any, name: str, **kwargs: Any) -> Exchange:
        """A started stream request (see :meth:`Exchange.stream`)."""
        exchange = Exchange.stream(app, name, **kwargs)
        self.exchanges.append(exchange)
        return exchange

    def track(self, exchange: Exchange) -> Exchange:
        self.exchanges.append(exchange)
        return exchange

    async def close(self) -> None:
        for app in self.apps:
            await app.shutdown()
        for exchange in self.exchanges:
            exchange.cancel()
        tasks = [e.task for e in self.exchanges if e.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=SETTLE_TIMEOUT)


@pytest.fixture(autouse=True)
def clean_components() -> Iterator[None]:
    """A fresh journal and pacer for every test."""
    stream_components.journal.reset()
    stream_components.pacer.reset()
    yield
    stream_components.journal.reset()
    stream_components.pacer.reset()


@pytest.fixture
async def streams() -> AsyncIterator[Streams]:
    helper = Streams()
    try:
        yield helper
    finally:
        await helper.close()
