"""The resume-elsewhere contract: what every resume store (``Hub.resume_store``) lets a second
worker do with a run a first worker produces, checked once here and run for each store
(in memory: ``tests/streaming/test_resume_elsewhere.py``; Redis Streams:
``tests/broker/test_resume_store.py``), at the ASGI message level.

A check takes :class:`Deployment`: the test's ``Streams`` helper whose :meth:`worker` starts
an app sharing the store under test with every other worker of the test. The stream
components' journal and pacer drive and record the runs. Store-specific checks stay in the
test modules.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from component_framework import ComponentASGI
from component_framework.testing import sse_request
from tests.streaming.conftest import Streams
from tests.streaming.exchange import eventually
from tests.streaming.stream_components import journal, pacer
from tests.streaming.test_resume import assert_told_lost, run_of, seq_of

__all__ = ["CHECKS", "Deployment", "check_ids"]

#: How long a run whose client left is watched for a wrong cancellation (its grace is 0.2 s).
PAST_GRACE: Final = 1.0


class Deployment(Streams):
    """Apps of one test that share a resume store (each :meth:`worker` is another worker)."""

    def worker(self, **settings: Any) -> ComponentASGI:
        raise NotImplementedError


async def a_resume_on_another_worker_replays_the_missed_frames_then_follows_live(
    workers: Deployment,
) -> None:
    worker_a, worker_b = workers.worker(), workers.worker()
    first = workers.open(worker_a, "paced", query={"tag": "hop", "steps": 5})
    pacer.grant("hop", 2)
    await first.events_count(2)
    first.disconnect()
    await first.finished()
    pacer.grant("hop", 3)  # frame 3 is produced while the client is away
    await eventually(lambda: pacer.waiting("hop"))

    second = workers.open(worker_b, "paced", headers={"Last-Event-ID": first.last_id})
    await second.events_count(1)
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


async def a_run_finished_on_one_worker_answers_204_on_another(workers: Deployment) -> None:
    worker_a, worker_b = workers.worker(), workers.worker()
    pacer.grant("over", 2)
    done = await workers.open(worker_a, "paced", query={"tag": "over", "steps": 2}).run_to_end()

    async def finished_elsewhere() -> bool:
        answer = await sse_request(
            worker_b, "/components/paced/stream/", headers={"Last-Event-ID": done.last_id}
        )
        return (answer.status, answer.body) == (204, b"")

    for _ in range(50):  # a store may write the end just after the frame: bounded, not timed
        if await finished_elsewhere():
            break
        await asyncio.sleep(0.02)
    assert await finished_elsewhere()
    assert journal.tags("start") == ["over"]


async def an_id_no_worker_has_is_still_lost(workers: Deployment) -> None:
    worker_b = workers.worker()
    answer = await sse_request(
        worker_b, "/components/paced/stream/", headers={"Last-Event-ID": "nosuchrun.4"}
    )
    assert_told_lost(answer, "nosuchrun")


async def a_run_of_another_component_is_lost_for_this_one(workers: Deployment) -> None:
    worker_a, worker_b = workers.worker(), workers.worker()
    first = workers.open(worker_a, "paced", query={"tag": "named", "steps": 2})
    await first.events_count(1)

    answer = await sse_request(
        worker_b, "/components/tokens/stream/", headers={"Last-Event-ID": first.last_id}
    )

    assert_told_lost(answer, run_of(first.last_id))


async def a_run_followed_from_another_worker_outlives_its_grace(workers: Deployment) -> None:
    worker_a, worker_b = workers.worker(), workers.worker()
    first = workers.open(worker_a, "quick-grace", query={"tag": "kept", "steps": 3})
    await first.events_count(1)
    follower = workers.open(worker_b, "quick-grace", headers={"Last-Event-ID": first.last_id})
    await follower.body_started()
    first.disconnect()
    await first.finished()

    await asyncio.sleep(PAST_GRACE)
    assert journal.tags("cancelled") == [], "the follower on B keeps the run alive"
    pacer.grant("kept", 3)
    await follower.run_to_end()

    assert [seq_of(e.id) for e in follower.events] == [2, 3, 4]
    assert follower.events[-1].event == "done"


async def a_follower_is_told_lost_when_the_producing_worker_stops(workers: Deployment) -> None:
    worker_a, worker_b = workers.worker(), workers.worker()
    first = workers.open(worker_a, "paced", query={"tag": "stopped", "steps": 4})
    await first.events_count(1)
    first.disconnect()
    follower = workers.open(worker_b, "paced", headers={"Last-Event-ID": first.last_id})
    await follower.body_started()

    await worker_a.shutdown()
    await follower.run_to_end()

    (lost,) = follower.events
    assert (lost.event, lost.id) == ("lost", f"{run_of(first.last_id)}.lost")
    assert json.loads(lost.data)["code"] == "stream_lost"
    assert journal.tags("cancelled") == ["stopped"]


#: Every check of the contract, run by each store's test module.
CHECKS: Final[tuple[Callable[[Deployment], Awaitable[None]], ...]] = (
    a_resume_on_another_worker_replays_the_missed_frames_then_follows_live,
    a_run_finished_on_one_worker_answers_204_on_another,
    an_id_no_worker_has_is_still_lost,
    a_run_of_another_component_is_lost_for_this_one,
    a_run_followed_from_another_worker_outlives_its_grace,
    a_follower_is_told_lost_when_the_producing_worker_stops,
)


def check_ids(check: Callable[..., Any]) -> str:
    """A check's test id: its name, which says the behaviour."""
    return check.__name__
