"""Resume stores: where a stream's frames live so that any worker can resume it.

Owns the seam between a stream run (``core.stream_run``) and what lets a reconnect that lands on
another worker go on: the :class:`ResumeStore` protocol (a run publishes its frames into the store
through a :class:`RunLog`; another worker finds the run by id and follows it as a
:class:`RemoteRun`), and :class:`MemoryResumeStore`, the in-process side, which every app sharing
one :class:`~component_framework.core.broker.MemoryBroker` shares (so tests and docs model several
workers in one process). The Redis side (Redis Streams) is
``adapters.redis_resume.RedisResumeStore``; the broker in use picks the store
(:func:`resume_store_of`). Without a broker there is no store: a run is resumable on its own
worker only, and an unknown id anywhere is ``lost``.

A run always keeps its own bounded replay buffer (local readers are served from it, as fast as
without a store); the store mirrors that buffer, within the same bounds, for the other workers.
Frames are opaque encoded SSE frames, numbered by the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from component_framework.core import aio

__all__ = [
    "MemoryResumeStore",
    "PublishedRun",
    "RemoteRun",
    "ResumeStore",
    "ResumeStoreProvider",
    "RunLog",
    "resume_store_of",
]

#: One frame: ``(sequence number, encoded SSE frame)`` (``core.stream_run.Frame``).
Frame = tuple[int, bytes]


class PublishedRun(Protocol):
    """What a store reads from the run it mirrors (``core.stream_run.StreamRun``)."""

    id: str
    component_name: str
    grace: float
    finished: bool
    next_seq: int
    max_frames: int
    last_render: Frame | None

    @property
    def closed(self) -> bool: ...

    @property
    def first_kept(self) -> int:
        """The sequence number of the oldest frame the run keeps (``0`` with none)."""
        ...

    def frames_after(self, seq: int) -> list[Frame]: ...

    def attach(self) -> aio.Event: ...

    def detach(self, wakeup: aio.Event) -> None: ...


class RunLog(Protocol):
    """The producing worker's side of one run in a store."""

    async def opened(self) -> None:
        """Make the run known to the store before any client learns its id (awaited before
        the first frame goes out, so a reconnect elsewhere never finds it missing only
        because its frames are on their way); bounded, never raises."""
        ...

    def notify(self) -> None:
        """New frames (or the end) are in the run's buffer; must return at once."""
        ...

    async def followed(self) -> bool:
        """Whether a reader on another worker follows the run right now (asked when the
        run's grace is over: a followed run keeps running, as it would for a local reader)."""
        ...

    def close(self) -> None:
        """The run is gone: a finished run's frames stay for its grace; an unfinished one
        (cancelled) is removed, so that its followers are told it is lost."""
        ...


class RemoteRun(Protocol):
    """A run produced by another worker, as one resuming reader follows it."""

    def done_after(self, seq: int) -> bool:
        """Whether the run finished and has no frame after ``seq`` (a resume gets ``204``)."""
        ...

    @property
    def ended(self) -> bool:
        """Whether :meth:`read` returned the run's final frame."""
        ...

    async def read(self, after: int, wait: float) -> list[Frame] | None:
        """The frames after ``after`` (the latest render first when the reader fell behind
        the kept frames), waiting at most about ``wait`` seconds for one; ``[]`` when none
        came, ``None`` when the run is gone (expired, cancelled, or lost with the store)."""
        ...

    async def close(self) -> None:
        """The reader left (idempotent)."""
        ...


@runtime_checkable
class ResumeStore(Protocol):
    """Where runs are published so that every worker of a deployment can resume them."""

    def publish(self, run: PublishedRun) -> RunLog:
        """Start mirroring ``run`` (just opened, no frames yet)."""
        ...

    async def find(self, component_name: str, run_id: str) -> RemoteRun | None:
        """The run ``run_id`` of ``component_name`` if some worker published it and it is not
        gone; ``None`` otherwise (also while the store cannot be reached)."""
        ...


@runtime_checkable
class ResumeStoreProvider(Protocol):
    """A broker that comes with a resume store (an optional capability of a broker)."""

    def resume_store(self) -> ResumeStore:
        """The store of this broker's deployment (one per broker)."""
        ...


def resume_store_of(broker: object) -> ResumeStore | None:
    """The resume store ``broker`` provides, or ``None`` (a broker without one, or none)."""
    if isinstance(broker, ResumeStoreProvider):
        return broker.resume_store()
    return None


class _MemoryLog:
    """A run's entry in a :class:`MemoryResumeStore`: the run itself is what followers read."""

    __slots__ = ("_forget", "run")

    def __init__(self, run: PublishedRun, forget: Callable[[PublishedRun], None]) -> None:
        self.run = run
        self._forget = forget

    async def opened(self) -> None:
        pass  # published synchronously

    def notify(self) -> None:
        pass  # followers wait on the run's own wakeups

    async def followed(self) -> bool:
        return False  # a follower attaches to the run: it is one of its readers

    def close(self) -> None:
        self._forget(self.run)


class _MemoryFollower:
    """A reader of another app's run in the same process: a reader of that run."""

    def __init__(self, run: PublishedRun) -> None:
        self.run = run
        self.wakeup: aio.Event | None = run.attach()
        self._ended = False

    def done_after(self, seq: int) -> bool:
        return self.run.finished and not self.run.frames_after(seq)

    @property
    def ended(self) -> bool:
        return self._ended

    async def read(self, after: int, wait: float) -> list[Frame] | None:
        run, wakeup = self.run, self.wakeup
        if wakeup is None:
            return None
        wakeup.clear()
        frames = run.frames_after(after)
        if not frames and not run.finished:
            try:
                async with aio.timeout(wait):
                    await wakeup.wait()
            except TimeoutError:
                return []
            frames = run.frames_after(after)
        if frames:
            self._ended = run.finished and frames[-1][0] == run.next_seq - 1
            return frames
        if run.closed:
            return None
        self._ended = run.finished
        return []

    async def close(self) -> None:
        wakeup, self.wakeup = self.wakeup, None
        if wakeup is not None:
            self.run.detach(wakeup)


class MemoryResumeStore:
    """Runs of every app in this process that shares one broker: the in-memory reference.

    A follower reads the producing run's own buffer and counts as one of its readers, so the
    run's grace and bounds apply unchanged."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], PublishedRun] = {}

    def publish(self, run: PublishedRun) -> RunLog:
        self._runs[run.component_name, run.id] = run
        return _MemoryLog(run, self._forget)

    def _forget(self, run: PublishedRun) -> None:
        self._runs.pop((run.component_name, run.id), None)

    async def find(self, component_name: str, run_id: str) -> RemoteRun | None:
        run = self._runs.get((component_name, run_id))
        if run is None or run.closed:
            return None
        return _MemoryFollower(run)

    def __len__(self) -> int:
        return len(self._runs)
