"""Resume on another worker through the in-memory resume store: two apps whose hubs share one
``MemoryBroker`` stand for two workers of a deployment, at the ASGI message level. The checks
every store keeps are ``tests/streaming/resume_contract.py`` (the Redis store runs them in
``tests/broker/test_resume_store.py``); what is particular to memory stays here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.core.broker import MemoryBroker
from component_framework.core.hub import Hub
from component_framework.testing import sse_request
from tests.streaming.conftest import Streams
from tests.streaming.resume_contract import CHECKS, Deployment, check_ids
from tests.streaming.test_resume import assert_told_lost, run_of


class SharedBroker(Deployment):
    """Workers whose hubs share one ``MemoryBroker`` (so its resume store)."""

    def __init__(self) -> None:
        super().__init__()
        self.broker = MemoryBroker()

    def worker(self, **settings: Any) -> ComponentASGI:
        return self.app(hub=Hub(self.broker), **settings)


@pytest.fixture
async def workers() -> AsyncIterator[SharedBroker]:
    helper = SharedBroker()
    try:
        yield helper
    finally:
        await helper.close()


@pytest.mark.parametrize("check", CHECKS, ids=check_ids)
async def test_the_memory_store_keeps_the_resume_contract(
    workers: SharedBroker, check: Callable[[Deployment], Awaitable[None]]
) -> None:
    await check(workers)


async def test_workers_without_a_shared_broker_do_not_resume_each_others_runs(
    streams: Streams,
) -> None:
    worker_a = streams.app(hub=Hub(MemoryBroker()))
    worker_b = streams.app(hub=Hub(MemoryBroker()))
    first = streams.open(worker_a, "paced", query={"tag": "apart", "steps": 2})
    await first.events_count(1)

    answer = await sse_request(
        worker_b, "/components/paced/stream/", headers={"Last-Event-ID": first.last_id}
    )

    assert_told_lost(answer, run_of(first.last_id))
