"""The PostgreSQL broker: broadcasts across processes through ``LISTEN`` / ``NOTIFY``.

Owns the PostgreSQL side of :class:`~component_framework.core.broker.Broker` with asyncpg: one
connection for publishing (``pg_notify``, each publish bounded by a timeout, serialised on that
connection) and one listener task per event loop whose connection holds the ``LISTEN``s and is
re-established with exponential backoff and jitter while the server is away. Messages travel as
text payloads cut under NOTIFY's 8,000-byte limit by :mod:`component_framework.core.broker_chunks`
(the pieces of one message in one transaction, which PostgreSQL delivers together), so any
message of any length goes through. An outage is logged once when it starts and once when it
ends, never raised into the app. Delivery is at most once, as with Redis pub/sub.

Does not own the application's database connections: the broker opens its own two, outside any
transaction of the app (a broadcast is not rolled back with the app's work).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Final
from urllib.parse import urlsplit

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("asyncpg", "postgres") from exc

from component_framework.adapters._asyncio_only import running_asyncio_loop
from component_framework.core.broker import BrokerUnavailable, MessageCallback
from component_framework.core.broker_chunks import (
    NOTIFY_PAYLOAD_LIMIT,
    ChunkAssembler,
    encode_chunks,
)
from component_framework.errors import ConfigurationError

__all__ = ["PostgresBroker"]

logger = logging.getLogger("component_framework")
_LINK_ERRORS: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
#: PostgreSQL identifiers (channel names) are at most 63 bytes.
_MAX_CHANNEL_BYTES: Final = 63
_NOTIFY: Final = "SELECT pg_notify($1, $2)"


def _checked_url(url: str) -> str:
    """``url`` if it is a PostgreSQL URL with a usable port; a ``ConfigurationError`` naming
    what is wrong otherwise (asyncpg would raise it later, inside the listener task)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"not a PostgreSQL URL: {_redacted(url)[:200]!r}: expected "
            "postgresql://user:password@host:5432/database"
        )
    try:
        _ = parts.port  # parsing it is the check
    except ValueError as exc:
        raise ConfigurationError(
            f"invalid PostgreSQL URL {_redacted(url)[:200]!r}: {exc}"
        ) from None
    return url


def _checked_channel(channel: str) -> str:
    if not channel or len(channel.encode("utf-8")) > _MAX_CHANNEL_BYTES:
        raise ConfigurationError(
            f"PostgreSQL channel names are 1 to {_MAX_CHANNEL_BYTES} bytes long: "
            f"{channel[:80]!r} is {len(channel.encode('utf-8'))}; choose a shorter Hub(channel=...)"
        )
    return channel


class PostgresBroker:
    """PostgreSQL ``LISTEN``/``NOTIFY`` as a :class:`~component_framework.core.broker.Broker`.

    ``url``: ``postgresql://user:password@host:5432/database`` (also ``postgres://``; every
    process must use the same database). ``publish_timeout``: seconds a publish (or a
    connection attempt) may take before it counts as an outage. ``reconnect_initial`` /
    ``reconnect_max``: the backoff between reconnection attempts (doubling, with jitter).
    ``health_check_interval``: seconds between ``SELECT 1`` on an idle listener connection, so
    that a link that died silently is noticed. ``payload_limit``: the largest NOTIFY payload
    sent, in bytes (longer messages are split).
    """

    def __init__(
        self,
        url: str,
        *,
        publish_timeout: float = 1.0,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 5.0,
        health_check_interval: float = 10.0,
        payload_limit: int = NOTIFY_PAYLOAD_LIMIT,
    ) -> None:
        self.url = _checked_url(url)
        self.publish_timeout = publish_timeout
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.health_check_interval = health_check_interval
        self.payload_limit = payload_limit
        self._callbacks: dict[str, list[MessageCallback]] = {}
        self._assembler = ChunkAssembler()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publisher: Any = None
        self._publish_lock: asyncio.Lock | None = None
        self._listener: asyncio.Task[None] | None = None
        self._connected = False
        self._closed = False
        #: Set when the subscribed channels changed or the listener connection was lost.
        self._changed: asyncio.Event | None = None
        #: Set by the listener once the wanted channels are LISTENed to.
        self._synced: asyncio.Event | None = None
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"<PostgresBroker {_redacted(self.url)!r} connected={self._connected}>"

    @property
    def connected(self) -> bool:
        return self._connected

    def _bind_loop(self) -> None:
        """Connections belong to one event loop; a broker used from a new loop starts over.
        asyncpg is asyncio's: on another loop (trio) this is a ``ConfigurationError``."""
        loop = running_asyncio_loop("PostgresBroker", "asyncpg is an asyncio client")
        if self._loop is loop:
            return
        self._loop = loop
        self._publisher = None
        self._publish_lock = asyncio.Lock()
        self._listener = None
        self._connected = False
        self._changed = asyncio.Event()
        self._synced = asyncio.Event()

    async def _connect(self) -> Any:
        return await asyncpg.connect(self.url, timeout=self.publish_timeout)

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, channel: str, data: bytes) -> None:
        if self._closed:
            raise BrokerUnavailable("the PostgreSQL broker is closed")
        self._bind_loop()
        payloads = encode_chunks(data, self.payload_limit)
        _checked_channel(channel)
        assert self._publish_lock is not None
        holding = False  # a timeout while waiting for the lock must not kill another's query
        try:
            async with asyncio.timeout(self.publish_timeout), self._publish_lock:
                holding = True
                try:
                    await self._notify(channel, payloads)
                except _LINK_ERRORS:
                    # The connection may be one that a restarted server closed while nothing
                    # was published: try once more on a fresh one before calling it an outage.
                    self._drop_publisher()
                    await self._notify(channel, payloads)
        except _LINK_ERRORS as exc:
            if holding:
                self._drop_publisher()
            raise BrokerUnavailable(
                f"PostgreSQL at {_redacted(self.url)} is unavailable: {exc or type(exc).__name__}"
            ) from None

    async def _notify(self, channel: str, payloads: list[str]) -> None:
        if self._publisher is None or self._publisher.is_closed():
            self._publisher = await self._connect()
        connection = self._publisher
        if len(payloads) == 1:
            await connection.execute(_NOTIFY, channel, payloads[0])
            return
        # One transaction: listeners get every piece together, or none of them.
        async with connection.transaction():
            await connection.executemany(_NOTIFY, [(channel, payload) for payload in payloads])

    def _drop_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None and not publisher.is_closed():
            publisher.terminate()

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(self, channel: str, callback: MessageCallback) -> None:
        """Add ``callback`` for ``channel``; returns once the listener connection runs
        ``LISTEN`` on it, or after ``publish_timeout`` when PostgreSQL cannot be reached (the
        listener keeps trying)."""
        if self._closed:
            raise BrokerUnavailable("the PostgreSQL broker is closed")
        self._bind_loop()
        self._callbacks.setdefault(_checked_channel(channel), []).append(callback)
        assert self._changed is not None
        assert self._synced is not None
        self._synced.clear()
        self._changed.set()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name="component-framework-postgres-listener"
            )
        try:
            async with asyncio.timeout(self.publish_timeout + 0.25):
                await self._synced.wait()
        except TimeoutError:
            logger.debug("PostgreSQL LISTEN on %r not confirmed yet", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._callbacks.pop(channel, None)
        if self._changed is not None:
            self._changed.set()

    async def _listen(self) -> None:
        delay = self.reconnect_initial
        loop = asyncio.get_running_loop()
        outage_since: float | None = None
        while not self._closed:
            connection = None
            try:
                connection = await self._connect()
                connection.add_termination_listener(self._on_terminated)
                listening = await self._sync_channels(connection, set())
                if outage_since is not None:
                    self.reconnects += 1
                    logger.warning(
                        "PostgreSQL broker %s is back after %.1f s; broadcasts from other "
                        "processes during the outage were not received",
                        _redacted(self.url),
                        loop.time() - outage_since,
                    )
                    outage_since = None
                self._connected = True
                delay = self.reconnect_initial
                await self._watch(connection, listening)
            except asyncio.CancelledError:
                raise
            except _LINK_ERRORS as exc:
                if outage_since is None:
                    outage_since = loop.time()
                    logger.warning(
                        "PostgreSQL broker %s is unavailable (%s): broadcasts reach this process "
                        "only; reconnecting",
                        _redacted(self.url),
                        exc or type(exc).__name__,
                    )
            finally:
                self._connected = False
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            if self._closed:
                break
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self.reconnect_max)

    def _on_terminated(self, connection: Any) -> None:
        if self._changed is not None:
            self._changed.set()  # wake the watcher, which notices the closed connection

    async def _sync_channels(self, connection: Any, listening: set[str]) -> set[str]:
        assert self._changed is not None
        assert self._synced is not None
        self._changed.clear()
        wanted = set(self._callbacks)
        for channel in wanted - listening:
            await connection.add_listener(channel, self._on_notification)
        for channel in listening - wanted:
            await connection.remove_listener(channel, self._on_notification)
        if not self._changed.is_set():
            self._synced.set()
        return wanted

    async def _watch(self, connection: Any, listening: set[str]) -> None:
        changed = self._changed
        assert changed is not None
        while not self._closed:
            if connection.is_closed():
                raise ConnectionError("the listener connection was closed")
            if changed.is_set():
                listening = await self._sync_channels(connection, listening)
                continue
            try:
                async with asyncio.timeout(self.health_check_interval):
                    await changed.wait()
            except TimeoutError:
                async with asyncio.timeout(self.publish_timeout):
                    await connection.execute("SELECT 1")

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = self._assembler.feed(payload)
        except ValueError as exc:
            logger.warning("ignored a malformed PostgreSQL notification on %r: %s", channel, exc)
            return
        if data is None:
            return
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback(data)
            except Exception:
                logger.exception("a broker message callback failed")

    # -- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        self._callbacks.clear()
        listener, self._listener = self._listener, None
        same_loop = self._loop is asyncio.get_running_loop()
        if listener is not None and not listener.done() and same_loop:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        if same_loop:
            self._drop_publisher()
        self._connected = False


def _redacted(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
