"""The Redis broker: broadcasts across processes and machines through Redis pub/sub.

Owns the Redis side of :class:`~component_framework.core.broker.Broker` with redis-py's asyncio
client: one connection for publishing (each publish bounded by a timeout, so an outage fails
fast instead of stalling the caller) and one listener task per event loop that holds the
subscriptions and keeps reconnecting with exponential backoff and jitter while Redis is away.
An outage is logged once when it starts and once when it ends, never raised into the app:
the hub keeps delivering locally. Redis pub/sub is at most once: messages published while a
process is disconnected do not reach it. The broker also provides the deployment's resume store
(``adapters.redis_resume``), on the same Redis.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Final

try:
    from redis import asyncio as redis_asyncio
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("redis", "redis") from exc

from component_framework.adapters._asyncio_only import running_asyncio_loop
from component_framework.adapters.redis_resume import RedisResumeStore
from component_framework.core.broker import BrokerUnavailable, MessageCallback

__all__ = ["RedisBroker"]

logger = logging.getLogger("component_framework")
#: How long the listener waits for a message before it looks at subscription changes.
_POLL_SECONDS: Final = 0.25
_LINK_ERRORS: Final = (RedisError, OSError, TimeoutError)


class RedisBroker:
    """Redis pub/sub as a :class:`~component_framework.core.broker.Broker`.

    ``url``: ``redis://host:6379/0`` (also ``rediss://`` and ``unix://``). ``publish_timeout``:
    seconds a publish may take before it counts as an outage. ``reconnect_initial`` /
    ``reconnect_max``: the backoff between reconnection attempts (doubling, with jitter).
    ``health_check_interval``: seconds between pings on an idle subscription, so that a link
    that died silently is noticed.
    """

    def __init__(
        self,
        url: str,
        *,
        publish_timeout: float = 1.0,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 5.0,
        health_check_interval: int = 10,
    ) -> None:
        self.url = url
        self.publish_timeout = publish_timeout
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.health_check_interval = health_check_interval
        self._callbacks: dict[str, list[MessageCallback]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publisher: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._connected = False
        self._closed = False
        #: Set when the subscribed channels changed, for the listener to catch up.
        self._changed: asyncio.Event | None = None
        #: Set by the listener once Redis confirmed the wanted channels.
        self._synced: asyncio.Event | None = None
        self.reconnects = 0
        self._resume_store: RedisResumeStore | None = None

    def __repr__(self) -> str:
        return f"<RedisBroker {self.url!r} connected={self._connected}>"

    @property
    def connected(self) -> bool:
        return self._connected

    def _client(self) -> Any:
        return redis_asyncio.Redis.from_url(
            self.url,
            socket_connect_timeout=self.publish_timeout,
            socket_timeout=None,
            health_check_interval=self.health_check_interval,
            retry_on_error=[],
        )

    def _bind_loop(self) -> None:
        """Connections belong to one event loop; a broker used from a new loop starts over.
        redis-py's client is asyncio's: on another loop (trio) this is a ``ConfigurationError``."""
        loop = running_asyncio_loop("RedisBroker", "redis-py's asyncio client")
        if self._loop is loop:
            return
        self._loop = loop
        self._publisher = None
        self._listener = None
        self._connected = False
        self._changed = asyncio.Event()
        self._synced = asyncio.Event()

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, channel: str, data: bytes) -> None:
        if self._closed:
            raise BrokerUnavailable("the Redis broker is closed")
        self._bind_loop()
        try:
            async with asyncio.timeout(self.publish_timeout):
                try:
                    await self._publisher_client().publish(channel, data)
                except _LINK_ERRORS:
                    # The connection may be one that a restarted Redis closed while nothing
                    # was published: try once more on a fresh one before calling it an outage.
                    await self._drop_publisher()
                    await self._publisher_client().publish(channel, data)
        except _LINK_ERRORS as exc:
            await self._drop_publisher()
            raise BrokerUnavailable(f"Redis at {self.url} is unavailable: {exc}") from None

    def _publisher_client(self) -> Any:
        if self._publisher is None:
            self._publisher = redis_asyncio.Redis.from_url(
                self.url,
                socket_connect_timeout=self.publish_timeout,
                socket_timeout=self.publish_timeout,
                retry_on_error=[],
            )
        return self._publisher

    async def _drop_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                await publisher.aclose()
            except _LINK_ERRORS:
                logger.debug("closing a failed Redis publisher failed", exc_info=True)

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(self, channel: str, callback: MessageCallback) -> None:
        """Add ``callback`` for ``channel``; returns once Redis confirmed the subscription, or
        after ``publish_timeout`` when Redis cannot be reached (the listener keeps trying)."""
        if self._closed:
            raise BrokerUnavailable("the Redis broker is closed")
        self._bind_loop()
        self._callbacks.setdefault(channel, []).append(callback)
        assert self._changed is not None
        assert self._synced is not None
        self._synced.clear()
        self._changed.set()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=f"component-framework-redis-{self.url}"
            )
        try:
            async with asyncio.timeout(self.publish_timeout + _POLL_SECONDS):
                await self._synced.wait()
        except TimeoutError:
            logger.debug("Redis subscription to %r not confirmed yet", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._callbacks.pop(channel, None)
        if self._changed is not None:
            self._changed.set()

    async def _listen(self) -> None:
        delay = self.reconnect_initial
        loop = asyncio.get_running_loop()
        outage_since: float | None = None
        while not self._closed:
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                subscribed = await self._sync_channels(pubsub, set())
                if outage_since is not None:
                    self.reconnects += 1
                    logger.warning(
                        "Redis broker %s is back after %.1f s; broadcasts from other processes "
                        "during the outage were not received",
                        self.url,
                        loop.time() - outage_since,
                    )
                    outage_since = None
                self._connected = True
                delay = self.reconnect_initial
                await self._receive(pubsub, subscribed)
            except asyncio.CancelledError:
                raise
            except _LINK_ERRORS as exc:
                if outage_since is None:
                    outage_since = loop.time()
                    logger.warning(
                        "Redis broker %s is unavailable (%s): broadcasts reach this process "
                        "only; reconnecting",
                        self.url,
                        exc or type(exc).__name__,
                    )
            finally:
                self._connected = False
                await _close_quietly(pubsub, client)
            if self._closed:
                break
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self.reconnect_max)

    async def _sync_channels(self, pubsub: Any, subscribed: set[str]) -> set[str]:
        assert self._changed is not None
        assert self._synced is not None
        self._changed.clear()
        wanted = set(self._callbacks)
        if wanted - subscribed:
            await pubsub.subscribe(*(wanted - subscribed))
        if subscribed - wanted:
            await pubsub.unsubscribe(*(subscribed - wanted))
        if not self._changed.is_set():
            self._synced.set()
        return wanted

    async def _receive(self, pubsub: Any, subscribed: set[str]) -> None:
        changed = self._changed
        assert changed is not None
        while not self._closed:
            if changed.is_set():
                subscribed = await self._sync_channels(pubsub, subscribed)
            if not subscribed:  # nothing to listen to: wait for a subscription
                await changed.wait()
                continue
            message = await pubsub.get_message(timeout=_POLL_SECONDS)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            for callback in list(self._callbacks.get(channel, ())):
                try:
                    callback(message["data"])
                except Exception:
                    logger.exception("a broker message callback failed")

    def resume_store(self) -> RedisResumeStore:
        """The deployment's resume store on the same Redis (Redis Streams, one per broker)."""
        if self._resume_store is None:
            self._resume_store = RedisResumeStore(self.url)
        return self._resume_store

    # -- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        self._callbacks.clear()
        listener, self._listener = self._listener, None
        if (
            listener is not None
            and not listener.done()
            and self._loop is asyncio.get_running_loop()
        ):
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        if self._loop is asyncio.get_running_loop():
            await self._drop_publisher()
        if self._resume_store is not None:
            await self._resume_store.close()
        self._connected = False


async def _close_quietly(pubsub: Any, client: Any) -> None:
    for resource in (pubsub, client):
        if resource is None:
            continue
        try:
            await resource.aclose()
        except (*_LINK_ERRORS, RuntimeError):
            logger.debug("closing a Redis connection failed", exc_info=True)
