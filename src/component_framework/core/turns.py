"""Fair turns on the event loop for work that one action causes on many connections.

Owns :class:`LoopSlice`, the time a loop of work may run before it yields a turn of the event
loop, and :class:`TurnQueue`: plain callables queued by anyone and run in order by one task
(which exists only while there is work), yielding a turn whenever a slice of
:data:`SLICE_SECONDS` is spent. A broadcast to thousands of live components, and the push
renders it causes, thus interleave with every other connection of the worker instead of
holding the loop until they are all done. Pure (its loop through ``core.aio``): no I/O, no
transports.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import Final

from component_framework.core import aio

__all__ = ["SLICE_SECONDS", "LoopSlice", "TurnQueue"]

#: Longest run of fan-out work between two turns of the event loop.
SLICE_SECONDS: Final = 0.002
logger = logging.getLogger("component_framework")


class LoopSlice:
    """The time spent since the last turn of the loop: check :meth:`spent` after each piece of
    work, and ``await`` :meth:`next_turn` when it says so. A loop that runs once per member of
    a fan-out compares ``perf_counter()`` with :attr:`ends` itself instead (the same test
    without a call: a call per member costs more than the clock's reading)."""

    __slots__ = ("ends", "seconds")

    def __init__(self, seconds: float = SLICE_SECONDS) -> None:
        self.seconds = seconds
        #: When this slice has run its time (``perf_counter()``'s clock).
        self.ends = perf_counter() + seconds

    def spent(self) -> bool:
        """Whether this slice has run its time."""
        return perf_counter() >= self.ends

    async def next_turn(self) -> None:
        """Let every other ready task and callback run once, then start a new slice."""
        await aio.checkpoint()
        self.ends = perf_counter() + self.seconds


class TurnQueue:
    """Jobs run in order, in slices of ``slice_seconds`` with a turn of the loop between.

    A job is a callable taking no arguments that must not block; its exceptions are logged
    and the next job runs. Jobs belong to the event loop that queued them: work left behind
    by a loop that shut down (a test's) is dropped."""

    def __init__(self, slice_seconds: float = SLICE_SECONDS) -> None:
        self.slice_seconds = slice_seconds
        self._jobs: deque[Callable[[], None]] = deque()
        self._task: aio.Task | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job``; it runs in a later turn of the running loop."""
        loop = aio.asyncio_loop() or aio.running_loop()  # (one call per member of a fan-out)
        task = self._task
        if task is not None and task.get_loop() is not loop:
            self._jobs.clear()
            task = self._task = None
        self._jobs.append(job)
        if task is None:
            self._task = loop.create_task(self._run())

    def __len__(self) -> int:
        return len(self._jobs)

    async def _run(self) -> None:
        jobs, budget = self._jobs, LoopSlice(self.slice_seconds)
        try:
            while jobs:
                job = jobs.popleft()
                try:
                    job()
                except Exception:  # one broken job must not stop the others
                    logger.exception("a queued fan-out job failed: %r", job)
                if jobs and perf_counter() >= budget.ends:  # (budget.spent(), no call)
                    await budget.next_turn()
        except aio.cancellation():  # the loop is shutting down: its jobs go with it
            jobs.clear()
            raise
        finally:
            if self._task is aio.current_task():
                self._task = None
