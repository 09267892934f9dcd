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
from typing import Any, Final

try:
    from redis import asyncio as redis_asyncio
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("redis", "redis") from exc

from component_framework.adapters._listening import POLL_SECONDS, ListeningBroker
from component_framework.adapters.redis_resume import RedisResumeStore
from component_framework.core.broker import BrokerUnavailable

__all__ = ["RedisBroker"]

logger = logging.getLogger("component_framework")
_LINK_ERRORS: Final = (RedisError, OSError, TimeoutError)


class RedisBroker(ListeningBroker):
    """Redis pub/sub as a :class:`~component_framework.core.broker.Broker`.

    ``url``: ``redis://host:6379/0`` (also ``rediss://`` and ``unix://``). ``publish_timeout``:
    seconds a publish may take before it counts as an outage. ``reconnect_initial`` /
    ``reconnect_max``: the backoff between reconnection attempts (doubling, with jitter).
    ``health_check_interval``: seconds between pings on an idle subscription, so that a link
    that died silently is noticed. A subscription returns once Redis confirmed it, or after
    ``publish_timeout`` when Redis cannot be reached (the listener keeps trying).
    """

    _server = "Redis"
    _unconfirmed = "Redis subscription to %r not confirmed yet"
    _asyncio_because = "redis-py's asyncio client"
    _link_errors = _LINK_ERRORS

    def __init__(
        self,
        url: str,
        *,
        publish_timeout: float = 1.0,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 5.0,
        health_check_interval: int = 10,
    ) -> None:
        super().__init__()
        self.url = url
        self.publish_timeout = publish_timeout
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.health_check_interval = health_check_interval
        self._publisher: Any = None
        self._resume_store: RedisResumeStore | None = None

    def _client(self) -> Any:
        return redis_asyncio.Redis.from_url(
            self.url,
            socket_connect_timeout=self.publish_timeout,
            socket_timeout=None,
            health_check_interval=self.health_check_interval,
            retry_on_error=[],
        )

    def _on_new_loop(self) -> None:
        self._publisher = None

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, channel: str, data: bytes) -> None:
        self._check_open()
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

    # -- listening -----------------------------------------------------------------------

    def _listener_name(self) -> str:
        return f"component-framework-redis-{self.url}"

    async def _open_link(self) -> Any:
        client = self._client()
        return client, client.pubsub(ignore_subscribe_messages=True)

    async def _change_channels(self, link: Any, add: set[str], remove: set[str]) -> None:
        _, pubsub = link
        if add:
            await pubsub.subscribe(*add)
        if remove:
            await pubsub.unsubscribe(*remove)

    async def _serve(self, link: Any, subscribed: set[str]) -> None:
        _, pubsub = link
        changed = self._changed
        assert changed is not None
        while not self._closed:
            if changed.is_set():
                subscribed = await self._sync_channels(link, subscribed)
            if not subscribed:  # nothing to listen to: wait for a subscription
                await changed.wait()
                continue
            message = await pubsub.get_message(timeout=POLL_SECONDS)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            self._deliver(channel, message["data"])

    async def _close_link(self, link: Any) -> None:
        client, pubsub = link
        for resource in (pubsub, client):
            try:
                await resource.aclose()
            except (*_LINK_ERRORS, RuntimeError):
                logger.debug("closing a Redis connection failed", exc_info=True)

    def resume_store(self) -> RedisResumeStore:
        """The deployment's resume store on the same Redis (Redis Streams, one per broker)."""
        if self._resume_store is None:
            self._resume_store = RedisResumeStore(self.url)
        return self._resume_store

    # -- closing ---------------------------------------------------------------------------

    async def _close_publishing(self, same_loop: bool) -> None:
        if same_loop:
            await self._drop_publisher()
        if self._resume_store is not None:
            await self._resume_store.close()
