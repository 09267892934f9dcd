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
from typing import Any, Final
from urllib.parse import urlsplit

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("asyncpg", "postgres") from exc

from component_framework.adapters._listening import ListeningBroker
from component_framework.core.broker import BrokerUnavailable
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


class PostgresBroker(ListeningBroker):
    """PostgreSQL ``LISTEN``/``NOTIFY`` as a :class:`~component_framework.core.broker.Broker`.

    ``url``: ``postgresql://user:password@host:5432/database`` (also ``postgres://``; every
    process must use the same database). ``publish_timeout``: seconds a publish (or a
    connection attempt) may take before it counts as an outage. ``reconnect_initial`` /
    ``reconnect_max``: the backoff between reconnection attempts (doubling, with jitter).
    ``health_check_interval``: seconds between ``SELECT 1`` on an idle listener connection, so
    that a link that died silently is noticed. ``payload_limit``: the largest NOTIFY payload
    sent, in bytes (longer messages are split). A subscription returns once the listener
    connection runs ``LISTEN`` on it, or after ``publish_timeout`` when PostgreSQL cannot be
    reached (the listener keeps trying).
    """

    _server = "PostgreSQL"
    _unconfirmed = "PostgreSQL LISTEN on %r not confirmed yet"
    _asyncio_because = "asyncpg is an asyncio client"
    _link_errors = _LINK_ERRORS

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
        checked = _checked_url(url)
        super().__init__()
        self.url = checked
        self.publish_timeout = publish_timeout
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.health_check_interval = health_check_interval
        self.payload_limit = payload_limit
        self._assembler = ChunkAssembler()
        self._publisher: Any = None
        self._publish_lock: asyncio.Lock | None = None

    def _shown_url(self) -> str:
        return _redacted(self.url)

    def _on_new_loop(self) -> None:
        self._publisher = None
        self._publish_lock = asyncio.Lock()

    async def _connect(self) -> Any:
        return await asyncpg.connect(self.url, timeout=self.publish_timeout)

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, channel: str, data: bytes) -> None:
        self._check_open()
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

    # -- listening -----------------------------------------------------------------------

    def _checked_channel(self, channel: str) -> str:
        return _checked_channel(channel)

    def _listener_name(self) -> str:
        return "component-framework-postgres-listener"

    async def _open_link(self) -> Any:
        connection = await self._connect()
        connection.add_termination_listener(self._on_terminated)
        return connection

    def _on_terminated(self, connection: Any) -> None:
        if self._changed is not None:
            self._changed.set()  # wake the watcher, which notices the closed connection

    async def _change_channels(self, link: Any, add: set[str], remove: set[str]) -> None:
        for channel in add:
            await link.add_listener(channel, self._on_notification)
        for channel in remove:
            await link.remove_listener(channel, self._on_notification)

    async def _serve(self, link: Any, subscribed: set[str]) -> None:
        connection = link
        changed = self._changed
        assert changed is not None
        while not self._closed:
            if connection.is_closed():
                raise ConnectionError("the listener connection was closed")
            if changed.is_set():
                subscribed = await self._sync_channels(connection, subscribed)
                continue
            try:
                async with asyncio.timeout(self.health_check_interval):
                    await changed.wait()
            except TimeoutError:
                async with asyncio.timeout(self.publish_timeout):
                    await connection.execute("SELECT 1")

    async def _close_link(self, link: Any) -> None:
        if not link.is_closed():
            link.terminate()

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = self._assembler.feed(payload)
        except ValueError as exc:
            logger.warning("ignored a malformed PostgreSQL notification on %r: %s", channel, exc)
            return
        if data is None:
            return
        self._deliver(channel, data)

    # -- closing ---------------------------------------------------------------------------

    async def _close_publishing(self, same_loop: bool) -> None:
        if same_loop:
            self._drop_publisher()


def _redacted(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
