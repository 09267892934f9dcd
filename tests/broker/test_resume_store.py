"""Resume on another worker through Redis Streams, in one process: two apps, each with its own
``RedisBroker`` on a real Redis (as two workers would have), at the ASGI message level. The
contract every store keeps (``tests/streaming/resume_contract.py``, which the in-memory store
runs too), plus what only Redis has: keys, expiry, the follower heartbeat and a Redis restart
mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from redis import asyncio as redis_asyncio

from component_framework import ComponentASGI
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.adapters.redis_resume import RedisResumeStore
from component_framework.core.hub import Hub
from component_framework.testing import sse_request
from tests.broker.redis_server import RedisServer
from tests.streaming import stream_components
from tests.streaming.exchange import eventually
from tests.streaming.resume_contract import CHECKS, Deployment, check_ids
from tests.streaming.stream_components import journal, pacer
from tests.streaming.test_resume import assert_told_lost, run_of, seq_of


@pytest.fixture(autouse=True)
def clean_components() -> Iterator[None]:
    stream_components.journal.reset()
    stream_components.pacer.reset()
    yield
    stream_components.journal.reset()
    stream_components.pacer.reset()


class Workers(Deployment):
    """Apps on one Redis, each with a broker of its own; hubs closed afterwards."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.hubs: list[Hub] = []

    def worker(self, **settings: object) -> ComponentASGI:
        broker = RedisBroker(self.url, reconnect_initial=0.05, reconnect_max=0.5)
        hub = Hub(broker)
        self.hubs.append(hub)
        return self.app(hub=hub, **settings)

    def store_of(self, app: ComponentASGI) -> RedisResumeStore:
        store = app.hub.resume_store
        assert isinstance(store, RedisResumeStore)
        return store

    async def close(self) -> None:
        await super().close()
        for hub in self.hubs:
            await hub.close()


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[Workers]:
    helper = Workers(redis_server.url)
    try:
        yield helper
    finally:
        await helper.close()


async def redis_keys(url: str, pattern: str) -> list[bytes]:
    client = redis_asyncio.Redis.from_url(url)
    try:
        return sorted(await client.keys(pattern))
    finally:
        await client.aclose()


@pytest.mark.parametrize("check", CHECKS, ids=check_ids)
async def test_the_redis_store_keeps_the_resume_contract(
    workers: Workers, check: Callable[[Deployment], Awaitable[None]]
) -> None:
    await check(workers)


async def test_a_run_is_kept_in_redis_under_its_component_and_run_id(workers: Workers) -> None:
    worker_a = workers.worker()
    pacer.grant("kept", 2)

    done = await workers.open(worker_a, "paced", query={"tag": "kept", "steps": 2}).run_to_end()
    await eventually(lambda: workers.store_of(worker_a).writing == 0)

    pattern = f"component_framework:stream:paced:{run_of(done.last_id)}*"
    assert await redis_keys(workers.url, pattern)


async def test_a_reader_behind_the_kept_frames_gets_what_a_local_one_gets(
    workers: Workers,
) -> None:
    worker_a, worker_b = workers.worker(stream_replay_frames=3), workers.worker()
    first = workers.open(worker_a, "burst", query={"tag": "far", "ops": 8})
    await first.events_count(1)
    first.disconnect()
    await first.finished()
    pacer.grant("far", 3)
    run_id = run_of(first.last_id)
    await eventually(lambda: (run := worker_a.streams.get(run_id)) is not None and run.finished)
    await eventually(lambda: workers.store_of(worker_a).writing == 0)  # Redis caught up

    local = await workers.open(
        worker_a, "burst", headers={"Last-Event-ID": first.last_id}
    ).run_to_end()
    remote = await workers.open(
        worker_b, "burst", headers={"Last-Event-ID": first.last_id}
    ).run_to_end()

    seqs = [seq_of(e.id) for e in local.events]
    assert seqs[0] == 2, "the latest render first"
    assert seqs[1] > 3, "then the frames still kept"
    assert "step 2" in local.events[0].data
    assert [(e.id, e.event, e.data) for e in remote.events] == [
        (e.id, e.event, e.data) for e in local.events
    ]


async def test_a_run_nobody_follows_is_cancelled_after_its_grace_and_lost_everywhere(
    workers: Workers,
) -> None:
    worker_a, worker_b = workers.worker(), workers.worker()
    first = workers.open(worker_a, "quick-grace", query={"tag": "left", "steps": 3})
    await first.events_count(1)
    first.disconnect()

    await eventually(lambda: journal.has("cancelled", "left"))
    run_id = run_of(first.last_id)
    for _ in range(100):
        answer = await sse_request(
            worker_b, "/components/quick-grace/stream/", headers={"Last-Event-ID": first.last_id}
        )
        if answer.events and answer.events[0].event == "lost":
            break
        await asyncio.sleep(0.02)
    assert_told_lost(answer, run_id)


@pytest.mark.timeout(90)
async def test_a_follower_rides_out_a_redis_restart_with_every_frame_once(
    fresh_redis: RedisServer,
) -> None:
    workers = Workers(fresh_redis.url)
    try:
        worker_a, worker_b = workers.worker(), workers.worker()
        first = workers.open(worker_a, "paced", query={"tag": "restart", "steps": 6})
        await first.events_count(1)
        first.disconnect()
        follower = workers.open(worker_b, "paced", headers={"Last-Event-ID": first.last_id})
        pacer.grant("restart", 2)
        await follower.events_count(1)

        fresh_redis.stop()  # no persistence: Redis comes back empty
        pacer.grant("restart", 4)  # produced while Redis is away
        await eventually(lambda: pacer.waiting("restart"))
        await asyncio.sleep(0.3)
        fresh_redis.start()
        pacer.grant("restart", 6)
        await follower.run_to_end(within=30)
    finally:
        await workers.close()

    received = first.events + follower.events
    run_id = run_of(first.last_id)
    assert [e.id for e in received] == [f"{run_id}.{seq}" for seq in range(1, 8)]
    assert received[-1].event == "done"
    assert journal.tags("start") == ["restart"]


@pytest.mark.timeout(60)
async def test_a_resume_on_another_worker_while_redis_is_down_is_told_lost(
    fresh_redis: RedisServer,
) -> None:
    workers = Workers(fresh_redis.url)
    try:
        worker_a, worker_b = workers.worker(), workers.worker()
        first = workers.open(worker_a, "paced", query={"tag": "outage", "steps": 3})
        await first.events_count(1)
        fresh_redis.stop()

        elsewhere = await sse_request(
            worker_b, "/components/paced/stream/", headers={"Last-Event-ID": first.last_id}
        )
        here = workers.open(worker_a, "paced", headers={"Last-Event-ID": first.last_id})
        pacer.grant("outage", 3)
        await here.run_to_end()
    finally:
        await workers.close()

    assert_told_lost(elsewhere, run_of(first.last_id))
    assert [seq_of(e.id) for e in here.events] == [2, 3, 4], "its own worker still resumes it"


@pytest.mark.timeout(60)
async def test_a_follower_tells_its_client_lost_when_redis_stays_away_past_its_patience(
    fresh_redis: RedisServer,
) -> None:
    workers = Workers(fresh_redis.url)
    try:
        worker_a, worker_b = workers.worker(), workers.worker()
        first = workers.open(worker_a, "paced", query={"tag": "away", "steps": 3})
        await first.events_count(1)
        first.disconnect()
        follower = workers.open(worker_b, "paced", headers={"Last-Event-ID": first.last_id})
        await follower.body_started()
        workers.store_of(worker_b).patience = 0.5

        fresh_redis.stop()
        await follower.run_to_end()
        assert journal.tags("cancelled") == [], "Redis being away cancels nothing on A"
    finally:
        await workers.close()

    (lost,) = follower.events
    assert (lost.event, lost.id) == ("lost", f"{run_of(first.last_id)}.lost")
