"""Resume on another worker through the in-memory resume store: two apps whose hubs share one
``MemoryBroker`` stand for two workers of a deployment (the Redis store runs the same checks in
``tests/broker/test_resume_store.py``), at the ASGI message level."""

from __future__ import annotations

import asyncio
import json

from component_framework import ComponentASGI
from component_framework.core.broker import MemoryBroker
from component_framework.core.hub import Hub
from component_framework.testing import sse_request
from tests.streaming.conftest import Streams
from tests.streaming.exchange import eventually
from tests.streaming.stream_components import journal, pacer
from tests.streaming.test_resume import assert_told_lost, run_of, seq_of


def two_workers(streams: Streams, **settings: object) -> tuple[ComponentASGI, ComponentASGI]:
    broker = MemoryBroker()
    return (
        streams.app(hub=Hub(broker), **settings),
        streams.app(hub=Hub(broker), **settings),
    )


async def test_a_resume_on_another_worker_gets_the_missed_frames_then_the_rest(
    streams: Streams,
) -> None:
    worker_a, worker_b = two_workers(streams)
    first = streams.open(worker_a, "paced", query={"tag": "hop", "steps": 5})
    await first.events_count(1)
    first.disconnect()
    await first.finished()
    pacer.grant("hop", 3)  # frames 2 and 3 are produced while the client is away
    await eventually(lambda: pacer.waiting("hop"))

    second = streams.open(worker_b, "paced", headers={"Last-Event-ID": first.last_id})
    await second.events_count(2)
    pacer.grant("hop", 5)
    await second.run_to_end()

    received = first.events + second.events
    run_id = run_of(first.last_id)
    assert [e.id for e in received] == [f"{run_id}.{seq}" for seq in range(1, 7)]
    assert [e.event for e in received] == ["message"] * 5 + ["done"]
    for step, event in enumerate(received[:5], start=1):
        assert f"<p>step {step}</p>" in event.data
    assert journal.tags("start") == ["hop"], "the handler ran once, on worker A"
    assert len(worker_b.streams) == 0, "worker B started no run of its own"


async def test_a_run_finished_on_one_worker_answers_204_on_another(streams: Streams) -> None:
    worker_a, worker_b = two_workers(streams)
    pacer.grant("over", 2)
    done = await streams.open(worker_a, "paced", query={"tag": "over", "steps": 2}).run_to_end()

    again = await sse_request(
        worker_b, "/components/paced/stream/", headers={"Last-Event-ID": done.last_id}
    )

    assert (again.status, again.body) == (204, b"")
    assert journal.tags("start") == ["over"]


async def test_an_id_no_worker_has_is_still_lost(streams: Streams) -> None:
    _, worker_b = two_workers(streams)
    answer = await sse_request(
        worker_b, "/components/paced/stream/", headers={"Last-Event-ID": "nosuchrun.4"}
    )
    assert_told_lost(answer, "nosuchrun")


async def test_a_run_of_another_component_is_lost_for_this_one(streams: Streams) -> None:
    worker_a, worker_b = two_workers(streams)
    first = streams.open(worker_a, "paced", query={"tag": "named", "steps": 2})
    await first.events_count(1)

    answer = await sse_request(
        worker_b, "/components/tokens/stream/", headers={"Last-Event-ID": first.last_id}
    )

    assert_told_lost(answer, run_of(first.last_id))


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


async def test_a_run_followed_from_another_worker_outlives_its_grace(streams: Streams) -> None:
    worker_a, worker_b = two_workers(streams)
    first = streams.open(worker_a, "quick-grace", query={"tag": "kept", "steps": 3})
    await first.events_count(1)
    follower = streams.open(worker_b, "quick-grace", headers={"Last-Event-ID": first.last_id})
    await follower.body_started()
    first.disconnect()
    await first.finished()

    await asyncio.sleep(0.6)  # three times the component's 0.2 s grace
    assert journal.tags("cancelled") == [], "the follower on B keeps the run alive"
    pacer.grant("kept", 3)
    await follower.run_to_end()

    assert [seq_of(e.id) for e in follower.events] == [2, 3, 4]
    assert follower.events[-1].event == "done"


async def test_a_follower_is_told_lost_when_the_producing_worker_stops(streams: Streams) -> None:
    worker_a, worker_b = two_workers(streams)
    first = streams.open(worker_a, "paced", query={"tag": "stopped", "steps": 4})
    await first.events_count(1)
    first.disconnect()
    follower = streams.open(worker_b, "paced", headers={"Last-Event-ID": first.last_id})
    await follower.body_started()

    await worker_a.shutdown()
    await follower.run_to_end()

    (lost,) = follower.events
    assert (lost.event, lost.id) == ("lost", f"{run_of(first.last_id)}.lost")
    assert json.loads(lost.data)["code"] == "stream_lost"
    assert journal.tags("cancelled") == ["stopped"]
