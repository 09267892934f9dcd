"""The Redis resume store: every stream's frames in a Redis Stream, so any worker resumes it.

Owns the Redis side of :class:`~component_framework.core.resume_store.ResumeStore`. Per run,
three keys under ``component_framework:stream:<component>:<run id>``:

- the key itself, a Redis Stream: one entry per frame, with the frame's number as its entry id
  (``0-<seq>``, so ``XREAD`` after ``0-<n>`` is exactly "the frames after n"), the encoded frame
  in field ``w`` and ``e`` on the final one; trimmed with ``MINID`` to the frames the producing
  run still keeps, so its bounds (``stream_replay_frames`` / ``stream_replay_bytes``) hold here;
- ``…:meta``, a hash: ``open``, written before the run's first frame goes out (so a reconnect
  elsewhere finds the run even while its frames are still on their way to Redis), the latest
  render (``rs``, ``r``: a reader that fell behind the kept frames gets it first, as locally)
  and ``end``, the number of the final frame once finished;
- ``…:follow``, the heartbeat of readers on other workers: each sets it (``PX``, three refresh
  periods) while it follows; when the producing run's resume grace is over (no local reader
  left), it looks at the key and, while it exists, keeps running for another grace.

A process writes from one task for all its runs (each run's state is a :class:`_RunWriter`):
it wakes on new frames and sends what every run has new in one pipeline (an ``XADD`` per frame;
the trim, the latest render and the expiry only when they changed or are due), so under load
the frames of many streams share a round trip; it refreshes idle runs' expiry every
``refresh`` seconds (a run that is still running expires ``grace + 3 * refresh`` seconds after
its producer died; a finished one ``grace`` seconds after it finished). A write that fails is not
retried frame by frame: once Redis answers again, the writer asks which frame Redis has last
and writes the rest from the run's own buffer, so a restarted (empty) Redis is filled again with
everything the producer still keeps. A run cancelled before its end (its grace ran out with
nobody following, or its worker shut down) is removed and marked ``gone``, so that followers
are told at once that it is lost. Readers elsewhere follow with ``XREAD BLOCK``
(:class:`_Follower`); a run whose keys stay missing for ``patience`` seconds (or that the store
cannot reach for as long) is gone for them. Outages are logged once when they start and once
when they end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

try:
    from redis import asyncio as redis_asyncio
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("redis", "redis") from exc

from component_framework.core.resume_store import PublishedRun, RemoteRun, RunLog

__all__ = ["KEY_PREFIX", "RedisResumeStore"]

logger = logging.getLogger("component_framework")
KEY_PREFIX: Final = "component_framework:stream:"
_LINK_ERRORS: Final = (RedisError, OSError, TimeoutError)
#: Most entries one ``XREAD`` returns.
_READ_COUNT: Final = 256
Frame = tuple[int, bytes]


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.rpartition("-")[2])


class RedisResumeStore:
    """Redis Streams as the resume store of a deployment (one per :class:`RedisBroker`).

    ``refresh``: seconds between expiry refreshes of an idle run's keys, and between a
    follower's heartbeats. ``patience``: seconds a follower waits for a run whose keys
    disappeared, or for a Redis it cannot reach, before telling its client the stream is lost.
    ``timeout``: seconds a connection attempt or a command may take.
    """

    def __init__(
        self, url: str, *, refresh: float = 1.0, patience: float = 10.0, timeout: float = 2.0
    ) -> None:
        self.url = url
        self.refresh = refresh
        self.patience = patience
        self.timeout = timeout
        self.outage = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis: Any = None
        self._live: set[_RunWriter] = set()  # runs whose end is not in Redis yet
        self._dirty: set[_RunWriter] = set()  # ... with something new to write
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<RedisResumeStore {self.url!r}>"

    def client(self) -> Any:
        """The connection pool of the running event loop (a new loop starts over)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._redis is None:
            self._loop = loop
            self._redis = redis_asyncio.Redis.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout + 1.0,
                retry_on_error=[],
            )
        return self._redis

    @staticmethod
    def key(component_name: str, run_id: str) -> str:
        """The Redis Stream of run ``run_id`` of ``component_name``."""
        return f"{KEY_PREFIX}{component_name}:{run_id}"

    def link_failed(self, exc: BaseException) -> None:
        """Log the start of an outage once."""
        if not self.outage:
            self.outage = True
            logger.warning(
                "the Redis resume store %s is unavailable (%s): streams resume on their own "
                "worker only until it is back",
                self.url,
                exc or type(exc).__name__,
            )

    def link_works(self) -> None:
        """Log the end of an outage once."""
        if self.outage:
            self.outage = False
            logger.warning("the Redis resume store %s is back", self.url)

    # -- the ResumeStore protocol ---------------------------------------------------------

    def publish(self, run: PublishedRun) -> RunLog:
        return _RunWriter(self, run)

    async def find(self, component_name: str, run_id: str) -> RemoteRun | None:
        key = self.key(component_name, run_id)
        try:
            async with asyncio.timeout(self.timeout):
                pipe = self.client().pipeline(transaction=False)
                pipe.exists(key, f"{key}:meta")
                pipe.hmget(f"{key}:meta", ["end", "gone"])
                # The follower's heartbeat, before its client hears anything: the producer
                # may ask for it at any moment from now on.
                pipe.set(f"{key}:follow", b"1", px=int(3000 * self.refresh))
                present, (end, gone), _ = await pipe.execute()
        except _LINK_ERRORS as exc:
            self.link_failed(exc)
            return None
        self.link_works()
        if gone or not present:
            return None
        follower = _Follower(self, key, None if end is None else int(end))
        follower.beat_due = asyncio.get_running_loop().time() + self.refresh
        return follower

    # -- writing: one task for every run of the process -----------------------------------

    def dirty(self, writer: _RunWriter) -> None:
        """``writer``'s run has something new for Redis."""
        self._live.add(writer)
        self._dirty.add(writer)
        loop = asyncio.get_running_loop()
        if self._flusher is None or self._flusher.done() or self._loop is not loop:
            self.client()  # binds the store to this loop
            self._wake = asyncio.Event()
            self._flusher = loop.create_task(self._flush_loop(), name=f"resume-store-{self.url}")
        self._wake.set()

    def forget(self, writer: _RunWriter) -> None:
        """``writer``'s run is gone before its end: nothing more to write for it."""
        self._live.discard(writer)
        self._dirty.discard(writer)

    def spawn(self, work: Any) -> None:
        """Run ``work`` (a coroutine) as a task this store keeps until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_loop(self) -> None:
        """Write every run's news in one pipeline per turn (frames of many runs share it);
        push back idle runs' expiry every ``refresh`` seconds; on failure, back off and
        write everything again once Redis answers."""
        loop, backoff = asyncio.get_running_loop(), 0.05
        while self._live:
            if not self._dirty:
                try:
                    async with asyncio.timeout(self.refresh / 2):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            now = loop.time()
            batch = [w for w in self._live if w in self._dirty or now >= w.expiry_due]
            self._dirty.clear()
            if not batch:
                continue
            try:
                async with asyncio.timeout(self.timeout):
                    await self._write(batch, now)
            except _LINK_ERRORS as exc:
                self.link_failed(exc)
                for writer in batch:
                    writer.resync = True
                self._dirty.update(w for w in batch if w in self._live)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.refresh)
                continue
            self.link_works()
            backoff = 0.05

    async def _write(self, batch: list[_RunWriter], now: float) -> None:
        client = self.client()
        behind = [writer for writer in batch if writer.resync]
        if behind:  # after a failure: which frame does Redis have last (none: restarted)?
            pipe = client.pipeline(transaction=False)
            for writer in behind:
                pipe.xrevrange(writer.key, count=1)
            for writer, newest in zip(behind, await pipe.execute(), strict=True):
                writer.restart_from(_seq(newest[0][0]) if newest else 0)
        pipe = client.pipeline(transaction=False)
        commits = [writer.add_to(pipe, now) for writer in batch]
        await pipe.execute()
        for writer, commit in zip(batch, commits, strict=True):
            commit()
            if writer.end_written:
                self._live.discard(writer)

    @property
    def writing(self) -> int:
        """How many runs have something Redis does not have yet (their end at least)."""
        return len(self._live)

    async def close(self) -> None:
        """Stop writing and close the connections (idempotent; at process end)."""
        tasks = [task for task in (self._flusher, *self._tasks) if task and not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._live.clear()
        self._dirty.clear()
        redis, self._redis = self._redis, None
        if redis is not None and self._loop is asyncio.get_running_loop():
            try:
                await redis.aclose()
            except (*_LINK_ERRORS, RuntimeError):
                logger.debug("closing the resume store's connections failed", exc_info=True)


class _RunWriter:
    """The producer's side of one run: what of it Redis has, and what to write next."""

    def __init__(self, store: RedisResumeStore, run: PublishedRun) -> None:
        self.store = store
        self.run = run
        self.key = store.key(run.component_name, run.id)
        self.sent = 0  # the newest frame Redis has
        self.render_sent = 0
        self.trimmed = 0  # Redis keeps no frame before this one
        self.expiry_due = 0.0  # when the keys' expiry must be pushed back again
        self.end_written = False
        self.resync = False
        self._followed = False
        self._closed = False

    async def followed(self) -> bool:
        """Whether the heartbeat key of a follower exists; during an outage, what it was
        last time Redis answered (a run is not cancelled because Redis is away)."""
        try:
            async with asyncio.timeout(self.store.timeout):
                self._followed = bool(await self.store.client().exists(f"{self.key}:follow"))
        except _LINK_ERRORS as exc:
            self.store.link_failed(exc)
        return self._followed

    async def opened(self) -> None:
        """The run's meta hash exists (``open``) with the running expiry; skipped while the
        store is known to be down, so an outage does not delay every stream start."""
        if self.store.outage:
            return
        meta, store = f"{self.key}:meta", self.store
        ttl = int(1000 * (self.run.grace + 3 * store.refresh))
        try:
            async with asyncio.timeout(store.timeout):
                pipe = store.client().pipeline(transaction=False)
                pipe.hset(meta, "open", 1)
                pipe.pexpire(meta, ttl)
                await pipe.execute()
        except _LINK_ERRORS as exc:
            store.link_failed(exc)

    def notify(self) -> None:
        if not self._closed:
            self.store.dirty(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.run.finished:
            if not self.end_written:
                self.store.dirty(self)  # the end, with the grace expiry
            return
        # Cancelled before its end: remove it, so that its followers are told it is lost.
        self.store.forget(self)
        self.store.spawn(self._remove())

    async def _remove(self) -> None:
        meta, store = f"{self.key}:meta", self.store
        try:
            async with asyncio.timeout(store.timeout):
                pipe = store.client().pipeline(transaction=False)
                pipe.delete(self.key, meta)
                pipe.hset(meta, "gone", 1)  # followers: lost now, not after their patience
                pipe.pexpire(meta, int(1000 * max(self.run.grace, 3 * store.refresh)))
                await pipe.execute()
        except _LINK_ERRORS as exc:
            logger.debug("removing stream %s from Redis failed: %s", self.key, exc)

    def restart_from(self, newest: int) -> None:
        """Redis has frames up to ``newest`` (0: none, e.g. a restarted Redis): write the
        rest again from the run's buffer, with the latest render, trim and expiry."""
        self.sent = newest
        self.render_sent = self.trimmed = 0
        self.expiry_due = 0.0
        self.end_written = False
        self.resync = False

    def add_to(self, pipe: Any, now: float) -> Callable[[], None]:
        """Queue in ``pipe`` what Redis misses; returns what to record once it succeeded."""
        run, key, meta = self.run, self.key, f"{self.key}:meta"
        finished = run.finished
        frames = run.frames_after(self.sent)
        last = run.next_seq - 1
        for seq, wire in frames:
            fields: dict[str, bytes] = {"w": wire}
            if finished and seq == last:
                fields["e"] = b"1"
            pipe.xadd(key, fields, id=f"0-{seq}")
        first_kept = run.first_kept
        if frames and first_kept > self.trimmed:  # to what the run still keeps
            pipe.xtrim(key, minid=f"0-{first_kept}", approximate=False)
        render = run.last_render
        if render is not None and render[0] > self.render_sent:
            pipe.hset(meta, mapping={"rs": render[0], "r": render[1]})
        if finished:
            pipe.hset(meta, "end", last)
        expire = finished or now >= self.expiry_due
        if expire:
            grace_ms = max(1, int(run.grace * 1000))
            ttl = grace_ms if finished else grace_ms + int(3000 * self.store.refresh)
            pipe.pexpire(key, ttl)
            pipe.pexpire(meta, ttl)

        def commit() -> None:
            if frames:
                self.sent = max(self.sent, frames[-1][0])
                self.trimmed = max(self.trimmed, first_kept)
            if render is not None:
                self.render_sent = max(self.render_sent, render[0])
            if expire:
                self.expiry_due = now + self.store.refresh
            self.end_written = finished

        return commit


class _Follower:
    """One reader on another worker, following a run through ``XREAD BLOCK``."""

    def __init__(self, store: RedisResumeStore, key: str, end: int | None) -> None:
        self.store = store
        self.key = key
        self.end = end
        self._ended = False
        self.beat_due = 0.0
        self._trouble_since: float | None = None  # keys missing, or Redis unreachable

    def done_after(self, seq: int) -> bool:
        return self.end is not None and seq >= self.end

    @property
    def ended(self) -> bool:
        return self._ended

    def _patience_over(self, now: float) -> bool:
        if self._trouble_since is None:
            self._trouble_since = now
        return now - self._trouble_since > self.store.patience

    async def read(self, after: int, wait: float) -> list[Frame] | None:
        store, key = self.store, self.key
        loop = asyncio.get_running_loop()
        now = loop.time()
        try:
            async with asyncio.timeout(wait + store.timeout):
                client = store.client()
                if now >= self.beat_due:
                    await client.set(f"{key}:follow", b"1", px=int(3000 * store.refresh))
                    self.beat_due = now + store.refresh
                block = max(1, int(wait * 1000))
                answer = await client.xread({key: f"0-{after}"}, count=_READ_COUNT, block=block)
                if answer:
                    return await self._frames(client, answer[0][1], after)
                pipe = client.pipeline(transaction=False)
                pipe.exists(key, f"{key}:meta")
                pipe.hmget(f"{key}:meta", ["end", "gone"])
                present, (end, gone) = await pipe.execute()
        except _LINK_ERRORS as exc:
            store.link_failed(exc)
            if self._patience_over(now):
                return None
            await asyncio.sleep(min(wait, 0.1))
            return []
        store.link_works()
        if gone:
            return None
        if end is not None:
            self.end = int(end)
            if after >= self.end:
                self._ended = True
                return []
        if present:
            self._trouble_since = None
            return []
        return None if self._patience_over(now) else []

    async def _frames(self, client: Any, entries: list[Any], after: int) -> list[Frame]:
        self._trouble_since = None
        frames = [(_seq(entry_id), fields[b"w"]) for entry_id, fields in entries]
        if b"e" in entries[-1][1]:
            self._ended = True
            self.end = frames[-1][0]
        if frames[0][0] > after + 1:  # fell behind the kept frames: the latest render first
            seq, wire = await client.hmget(f"{self.key}:meta", ["rs", "r"])
            if seq is not None and after < int(seq) < frames[0][0]:
                frames.insert(0, (int(seq), wire))
        return frames

    async def close(self) -> None:
        pass  # the heartbeat key expires by itself: the producer's grace starts then
