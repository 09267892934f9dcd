"""The Redis resume store: every stream's frames in a Redis Stream, so any worker resumes it.

Owns the Redis side of :class:`~component_framework.core.resume_store.ResumeStore`. Per run,
three keys under ``component_framework:stream:<component>:<run id>``:

- the key itself, a Redis Stream: one entry per frame, with the frame's number as its entry id
  (``0-<seq>``, so ``XREAD`` after ``0-<n>`` is exactly "the frames after n"), the encoded frame
  in field ``w`` and ``e`` on the final one; trimmed with ``MINID`` to the frames the producing
  run still keeps, so its bounds (``stream_replay_frames`` / ``stream_replay_bytes``) hold here;
- ``…:meta``, a hash: the latest render (``rs``, ``r``: a reader that fell behind the kept
  frames gets it first, as locally) and ``end``, the number of the final frame once finished;
- ``…:follow``, the heartbeat of readers on other workers: each sets it (``PX``, three refresh
  periods) while it follows; when the producing run's resume grace is over (no local reader
  left), it looks at the key and, while it exists, keeps running for another grace.

The producer writes from one task per run (:class:`_RunWriter`): it wakes on new frames, sends
every frame not yet in Redis in one pipeline, and otherwise refreshes the keys' expiry every
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

    ``refresh``: seconds between a producer's expiry refreshes while its run is idle, and
    between a follower's heartbeats. ``patience``: seconds a follower waits for
    a run whose keys disappeared, or for a Redis it cannot reach, before telling its client the
    stream is lost. ``timeout``: seconds a connection attempt or a command may take.
    """

    def __init__(
        self, url: str, *, refresh: float = 1.0, patience: float = 10.0, timeout: float = 2.0
    ) -> None:
        self.url = url
        self.refresh = refresh
        self.patience = patience
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis: Any = None
        self._writers: set[asyncio.Task[None]] = set()
        self.outage = False

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
                pipe.exists(key)
                pipe.hmget(f"{key}:meta", ["end", "gone"])
                present, (end, gone) = await pipe.execute()
        except _LINK_ERRORS as exc:
            self.link_failed(exc)
            return None
        self.link_works()
        if gone or not (present or end):
            return None
        return _Follower(self, key, None if end is None else int(end))

    async def close(self) -> None:
        """Stop the writers and close the connections (idempotent; at process end)."""
        writers = [task for task in self._writers if not task.done()]
        for task in writers:
            task.cancel()
        if writers:
            await asyncio.gather(*writers, return_exceptions=True)
        redis, self._redis = self._redis, None
        if redis is not None and self._loop is asyncio.get_running_loop():
            try:
                await redis.aclose()
            except (*_LINK_ERRORS, RuntimeError):
                logger.debug("closing the resume store's connections failed", exc_info=True)

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a writer task referenced until it ends."""
        self._writers.add(task)
        task.add_done_callback(self._writers.discard)


class _RunWriter:
    """The producer's side of one run: mirrors its buffer into Redis from one task."""

    def __init__(self, store: RedisResumeStore, run: PublishedRun) -> None:
        self.store = store
        self.run = run
        self.key = store.key(run.component_name, run.id)
        self.sent = 0  # the newest frame Redis has
        self.render_sent = 0
        self.resync = False
        self._followed = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
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

    def notify(self) -> None:
        self._wake.set()
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(
                self._write_loop(), name=f"component-stream-store-{self.run.id}"
            )
            self.store.track(self._task)

    def close(self) -> None:
        self._closed = True
        if self.run.finished:
            self._wake.set()  # the writer writes the end, sets the grace expiry, and stops
            return
        # Cancelled before its end: remove it, so that its followers are told it is lost.
        if self._task is not None:
            self._task.cancel()
        if self._task is not None or self.sent:
            task = asyncio.get_running_loop().create_task(self._remove())
            self.store.track(task)

    async def _remove(self) -> None:
        meta = f"{self.key}:meta"
        try:
            async with asyncio.timeout(self.store.timeout):
                pipe = self.store.client().pipeline(transaction=False)
                pipe.delete(self.key, meta)
                pipe.hset(meta, "gone", 1)  # followers: lost now, not after their patience
                pipe.pexpire(meta, int(1000 * max(self.run.grace, 3 * self.store.refresh)))
                await pipe.execute()
        except _LINK_ERRORS as exc:
            logger.debug("removing stream %s from Redis failed: %s", self.key, exc)

    async def _write_loop(self) -> None:
        store, backoff = self.store, 0.05
        while True:
            try:
                async with asyncio.timeout(store.refresh):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                async with asyncio.timeout(store.timeout):
                    finished = await self._flush()
            except _LINK_ERRORS as exc:
                store.link_failed(exc)
                self.resync = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, store.refresh)
                continue
            store.link_works()
            backoff = 0.05
            if finished:
                return

    async def _flush(self) -> bool:
        """Write what Redis misses; True once the run's end is written."""
        client, run, key, meta = self.store.client(), self.run, self.key, f"{self.key}:meta"
        if self.resync:  # after a failure: which frame does Redis have last (none: restarted)?
            newest = await client.xrevrange(key, count=1)
            self.sent = _seq(newest[0][0]) if newest else 0
            self.render_sent = 0  # a restarted Redis lost it: write it again
            self.resync = False
        finished = run.finished
        frames = run.frames_after(self.sent)
        last = run.next_seq - 1
        pipe = client.pipeline(transaction=False)
        for seq, wire in frames:
            fields: dict[str, bytes] = {"w": wire}
            if finished and seq == last:
                fields["e"] = b"1"
            pipe.xadd(key, fields, id=f"0-{seq}")
        if frames and run.frames:  # once per write: trim to what the run still keeps
            pipe.xtrim(key, minid=f"0-{run.frames[0][0]}")
        render = run.last_render
        if render is not None and render[0] > self.render_sent:
            pipe.hset(meta, mapping={"rs": render[0], "r": render[1]})
        if finished:
            pipe.hset(meta, "end", last)
        grace_ms = max(1, int(run.grace * 1000))
        ttl = grace_ms if finished else grace_ms + int(3000 * self.store.refresh)
        pipe.pexpire(key, ttl)
        pipe.pexpire(meta, ttl)
        await pipe.execute()
        if frames:
            self.sent = frames[-1][0]
        if render is not None:
            self.render_sent = max(self.render_sent, render[0])
        return finished


class _Follower:
    """One reader on another worker, following a run through ``XREAD BLOCK``."""

    def __init__(self, store: RedisResumeStore, key: str, end: int | None) -> None:
        self.store = store
        self.key = key
        self.end = end
        self._ended = False
        self._beat_due = 0.0
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
                if now >= self._beat_due:
                    await client.set(f"{key}:follow", b"1", px=int(3000 * store.refresh))
                    self._beat_due = now + store.refresh
                block = max(1, int(wait * 1000))
                answer = await client.xread({key: f"0-{after}"}, count=_READ_COUNT, block=block)
                if answer:
                    return await self._frames(client, answer[0][1], after)
                pipe = client.pipeline(transaction=False)
                pipe.exists(key)
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
