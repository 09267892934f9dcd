"""A live component's inbox: its work, taken one piece at a time, in order.

Owns the bounded queue of what a connection asks of its component (joins, events,
broadcasts) and the task that works it off: the task exists only while there is work, runs
one piece at a time (so a component never sees two at once, and answers leave in order), and
yields a turn of the event loop between pieces while a backlog lasts, so that one busy
connection cannot hold the worker. An idle inbox can also lend its turn to the caller
(:meth:`Inbox.run_now`): the piece runs in the caller's own task, with no task created for
it, and anything queued meanwhile waits behind it as usual. What a piece of work means
(``process``) and what happens once the queue runs dry (``drained``) belong to the owner
(:class:`InboxOwner`: the inbox holds the owner itself, not two bound methods, which would
cost every idle connection 128 bytes).
Pure (its loop through ``core.aio``): no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Literal, Protocol, TypeVar

from component_framework.core import aio

__all__ = ["Inbox", "InboxOwner"]

W = TypeVar("W")
W_contra = TypeVar("W_contra", contravariant=True)
P = TypeVar("P")  # the piece :meth:`Inbox.run_now` runs (a kind of work its step knows)


class InboxOwner(Protocol[W_contra]):
    """What an inbox asks of its owner."""

    async def process(self, work: W_contra) -> None:
        """Do one piece of work (in order, never two at once)."""
        ...

    def drained(self) -> None:
        """The last queued piece is done (still on the inbox's task)."""
        ...


class Inbox(Generic[W]):
    """At most ``limit`` pieces of work, each handed to ``owner.process`` in order;
    ``owner.drained`` is called when the last one is done (still on the inbox's task:
    :attr:`task` is set)."""

    __slots__ = ("_borrowed", "_items", "_limit", "_owner", "task")

    def __init__(self, limit: int, owner: InboxOwner[W]) -> None:
        self._items: deque[W] | None = None  # only while there is work (see ``Outbox``)
        self._limit = limit
        self._owner = owner
        #: The task working the inbox off; ``None`` when idle.
        self.task: aio.Task | None = None
        self._borrowed = False  # ``task`` is a caller's own, lent by :meth:`run_now`

    @property
    def idle(self) -> bool:
        """Whether nothing is queued or running."""
        return self.task is None and not self._items

    def put(self, work: W) -> bool:
        """Queue ``work`` without waiting (the task starts if idle); False when full."""
        items = self._items
        if items is None:
            items = self._items = deque()
        elif len(items) >= self._limit:
            return False
        items.append(work)
        if self.task is None:
            self.task = aio.running_loop().create_task(self._work_off())
        return True

    def __len__(self) -> int:
        return 0 if self._items is None else len(self._items)

    def run_now(
        self, work: P, task: aio.Task, step: Callable[[P], Coroutine[Any, Any, None] | None]
    ) -> Coroutine[Any, Any, None] | Literal[False] | None:
        """Process ``work`` in the calling task ``task``, now, when the inbox is :attr:`idle`;
        else ``False`` and nothing done (the caller queues it: it waits behind the work
        before it). ``step`` runs it up to its first wait and hands back the rest, if any:
        then so does this, and the caller awaits it at once (nothing waits at all for most
        work: no coroutine is made). Work queued meanwhile waits behind it and is worked off
        by the inbox's own task after. (The caller names its task, which it knows.)"""
        if self.task is not None or self._items:  # (idle's test: no call for it)
            return False
        self.task, self._borrowed = task, True
        try:
            rest = step(work)
        except BaseException:
            self.task, self._borrowed = None, False
            raise
        if rest is not None:
            return self._run_rest(rest)
        self._ran_now()
        return None

    async def _run_rest(self, rest: Coroutine[Any, Any, None]) -> None:
        try:
            await rest
        except BaseException:
            self.task, self._borrowed = None, False
            raise
        self._ran_now()

    def _ran_now(self) -> None:
        """The piece of :meth:`run_now` is done: ``drained``, the turn given back, and a task
        for what was queued meanwhile."""
        try:
            if not self._items:
                self._owner.drained()
        finally:
            self.task, self._borrowed = None, False
        if self._items:
            self.task = aio.running_loop().create_task(self._work_off())
        else:
            self._items = None

    async def _work_off(self) -> None:
        try:
            items, process = self._items, self._owner.process
            assert items is not None
            while items:
                await process(items.popleft())
                if items:  # a backlog must not hold the event loop: one piece a turn
                    await aio.checkpoint()
            self._owner.drained()
        finally:
            self.task = None
            if not self._items:
                self._items = None

    def close(self) -> None:
        """Drop the queued work and cancel the running piece (its ``finally`` blocks run)."""
        self._items = None
        if self.task is not None and not self._borrowed:  # a lent task is the caller's own
            self.task.cancel()
