"""Fair turns: fan-out work runs in slices with a turn of the event loop between them.

Whether a slice is spent is made certain, not timed: a slice of 0 s is spent after every job,
one of an hour never within a test, and a member that works for longer than a whole slice has
spent it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from time import perf_counter

import pytest

from component_framework.core.hub import Broadcast, Hub
from component_framework.core.turns import SLICE_SECONDS, TurnQueue

HOUR = 3600.0


async def drained(queue: TurnQueue) -> None:
    """Wait until every job queued so far has run (jobs run in order)."""
    finished = asyncio.Event()
    queue.submit(finished.set)
    await finished.wait()


async def ticking(seen: list[str], stop: asyncio.Event) -> None:
    """Another connection of the worker: notes every turn of the loop it gets."""
    while not stop.is_set():
        seen.append("tick")
        await asyncio.sleep(0)


def note(seen: list[str], text: str) -> Callable[[], None]:
    return lambda: seen.append(text)


async def test_jobs_run_once_each_in_the_order_they_were_queued() -> None:
    queue, seen = TurnQueue(), []
    for index in range(5):
        queue.submit(note(seen, f"job {index}"))

    await drained(queue)

    assert seen == [f"job {index}" for index in range(5)]


async def test_a_failing_job_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, seen = TurnQueue(), []

    def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="component_framework"):
        queue.submit(broken)
        queue.submit(note(seen, "after"))
        await drained(queue)

    assert seen == ["after"]
    assert "fan-out job failed" in caplog.text


@pytest.mark.parametrize(("slice_seconds", "interleaved"), [(0.0, True), (HOUR, False)])
async def test_other_tasks_run_between_slices_of_jobs(
    slice_seconds: float, interleaved: bool
) -> None:
    queue, seen, stop = TurnQueue(slice_seconds), [], asyncio.Event()
    for index in range(3):
        queue.submit(note(seen, f"job {index}"))
    other = asyncio.get_running_loop().create_task(ticking(seen, stop))

    await drained(queue)
    stop.set()
    await other

    jobs = [index for index, entry in enumerate(seen) if entry.startswith("job")]
    between = [entry for entry in seen[jobs[0] : jobs[-1]] if entry == "tick"]
    assert bool(between) is interleaved, seen


def test_jobs_left_by_a_loop_that_is_gone_are_dropped() -> None:
    queue, seen = TurnQueue(0.0), []

    async def queue_and_leave() -> None:
        queue.submit(note(seen, "first loop, first job"))
        queue.submit(note(seen, "first loop, left behind"))  # the loop ends before its turn

    async def queue_and_wait() -> None:
        queue.submit(note(seen, "from the second loop"))
        await drained(queue)

    asyncio.run(queue_and_leave())
    asyncio.run(queue_and_wait())

    assert seen == ["first loop, first job", "from the second loop"]


class SlowMember:
    """A live component whose broadcast handler works longer than a whole slice."""

    component_id = ""
    topics: frozenset[str] = frozenset()

    def __init__(self, index: int, seen: list[str]) -> None:
        self.component_name = "slow"
        self.index = index
        self.seen = seen

    def deliver(self, broadcast: Broadcast) -> None:
        deadline = perf_counter() + SLICE_SECONDS * 1.5
        while perf_counter() < deadline:  # CPU work, as a heavy render would be
            pass
        self.seen.append(f"member {self.index}")


async def deliver_to_slow_members(hub: Hub) -> list[str]:
    """A broadcast to four slow members of ``hub`` while another task ticks: what happened,
    in order (``member i`` and ``tick`` entries)."""
    seen: list[str] = []
    stop = asyncio.Event()
    for index in range(4):
        hub.join(SlowMember(index, seen))
    other = asyncio.get_running_loop().create_task(ticking(seen, stop))
    await asyncio.sleep(0)

    reached = await hub.deliver(Broadcast("tick", {}, component_name="slow"))
    stop.set()
    await other

    assert reached == 4
    return seen


def members_at(seen: list[str]) -> list[int]:
    return [index for index, entry in enumerate(seen) if entry.startswith("member")]


async def test_a_broadcast_to_slow_members_lets_other_tasks_run_between_them() -> None:
    seen = await deliver_to_slow_members(Hub())

    members = members_at(seen)
    assert len(members) == 4
    for first, second in itertools.pairwise(members):
        assert "tick" in seen[first:second], seen


async def test_a_broadcast_is_delivered_in_slices_as_long_as_the_hubs_turn_queue() -> None:
    hub = Hub()
    hub.turns.slice_seconds = HOUR  # no slow member spends an hour

    seen = await deliver_to_slow_members(hub)

    members = members_at(seen)
    assert members == list(range(members[0], members[0] + 4)), seen
