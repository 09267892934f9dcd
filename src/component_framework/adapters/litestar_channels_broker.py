"""A broker on Litestar's channels: reuse the ``ChannelsPlugin`` (or backend) an app already has.

Owns the translation between :class:`~component_framework.core.broker.Broker` and
``litestar.channels``: given the app's ``ChannelsPlugin``, it subscribes through the plugin (the
plugin alone reads its backend's event stream, so the app's own channels keep working) and
publishes with ``plugin.wait_published``; given a bare ``ChannelsBackend``, it wraps the backend
in a plugin of its own, which it starts on first use and stops at :meth:`close`.

On Litestar's PostgreSQL backends (asyncpg, psycopg), which carry UTF-8 text under NOTIFY's
8,000-byte limit, messages travel as the text payloads of
:mod:`component_framework.core.broker_chunks` (binary-safe, long ones split); on the others
(memory, Redis) as they are. Reconnecting is the backend's business: Litestar's backends do not
re-establish a lost listener, so an outage of their server ends cross-process delivery until
the app restarts (``postgresql://`` and ``redis://`` URLs give brokers that reconnect).

Does not own the plugin it is given: the app's lifespan starts and stops it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

try:
    from litestar.channels import ChannelsBackend, ChannelsPlugin, Subscriber
    from litestar.channels.plugin import ChannelsException
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("litestar", "litestar") from exc

from component_framework.adapters._asyncio_only import running_asyncio_loop
from component_framework.core.broker import BrokerUnavailable, MessageCallback
from component_framework.core.broker_chunks import (
    NOTIFY_PAYLOAD_LIMIT,
    ChunkAssembler,
    encode_chunks,
)
from component_framework.errors import ConfigurationError

__all__ = ["LitestarChannelsBroker"]

logger = logging.getLogger("component_framework")
#: Litestar's backends that carry text payloads under NOTIFY's limit.
_TEXT_BACKENDS: Final = frozenset({"AsyncPgChannelsBackend", "PsycoPgChannelsBackend"})


class LitestarChannelsBroker:
    """Litestar channels as a :class:`~component_framework.core.broker.Broker`.

    ``channels``: the app's ``ChannelsPlugin`` (its ``channels`` must include the hub's channel,
    ``component_framework:broadcast`` by default, or ``arbitrary_channels_allowed=True``), or a
    ``ChannelsBackend`` that this broker starts and stops itself. ``payload_limit``: the largest
    payload handed to the backend, in bytes, with messages carried as text; ``None`` (the
    default) picks NOTIFY's limit for Litestar's PostgreSQL backends and raw bytes otherwise.
    """

    def __init__(
        self,
        channels: ChannelsPlugin | ChannelsBackend,
        *,
        payload_limit: int | None = None,
    ) -> None:
        if isinstance(channels, ChannelsPlugin):
            self.plugin, self._owns_plugin = channels, False
            backend = channels._backend  # only to pick the payload format; never used directly
        elif isinstance(channels, ChannelsBackend):
            self.plugin = ChannelsPlugin(channels, arbitrary_channels_allowed=True)
            self._owns_plugin, backend = True, channels
        else:
            raise ConfigurationError(
                "LitestarChannelsBroker needs a litestar.channels ChannelsPlugin or "
                f"ChannelsBackend, got {type(channels).__name__}"
            )
        self.backend = backend
        if payload_limit is None and type(backend).__name__ in _TEXT_BACKENDS:
            payload_limit = NOTIFY_PAYLOAD_LIMIT
        self.payload_limit = payload_limit
        self.url = f"litestar-channels:{type(backend).__name__}"
        self._assembler = ChunkAssembler()
        self._subscriptions: dict[str, tuple[Subscriber, asyncio.Task[None]]] = {}
        self._callbacks: dict[str, list[MessageCallback]] = {}
        self._started = not self._owns_plugin
        self._start_lock: asyncio.Lock | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<LitestarChannelsBroker {self.url} connected={self.connected}>"

    @property
    def connected(self) -> bool:
        """Whether a subscription's reader is running (Litestar says no more about the link)."""
        return not self._closed and any(not task.done() for _, task in self._subscriptions.values())

    async def _start(self) -> None:
        if self._closed:
            raise BrokerUnavailable("the Litestar channels broker is closed")
        running_asyncio_loop("LitestarChannelsBroker", "Litestar's channels run on asyncio")
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.plugin.__aenter__()
                self._started = True

    async def publish(self, channel: str, data: bytes) -> None:
        await self._start()
        if self.payload_limit is None:
            payloads = [data]
        else:
            payloads = [text.encode() for text in encode_chunks(data, self.payload_limit)]
        try:
            for payload in payloads:
                await self.plugin.wait_published(payload, [channel])
        except RuntimeError as exc:  # Litestar's "not yet initialized" (no on_startup yet)
            message = f"the Litestar channels backend is not running: {exc}"
            raise BrokerUnavailable(message) from None
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise BrokerUnavailable(f"the Litestar channels backend failed: {exc}") from None

    async def subscribe(self, channel: str, callback: MessageCallback) -> None:
        """Add ``callback`` for ``channel``; the plugin has subscribed its backend on return."""
        await self._start()
        self._callbacks.setdefault(channel, []).append(callback)
        if channel in self._subscriptions:
            return
        try:
            subscriber = await self.plugin.subscribe([channel])
        except ChannelsException as exc:
            self._callbacks.pop(channel, None)
            raise ConfigurationError(
                f"the ChannelsPlugin refuses the channel {channel!r}: add it to "
                f"ChannelsPlugin(channels=[...]) or pass arbitrary_channels_allowed=True ({exc})"
            ) from None
        except (RuntimeError, AttributeError) as exc:  # a backend whose on_startup never ran
            self._callbacks.pop(channel, None)
            raise ConfigurationError(
                "the ChannelsPlugin is not running: list it in the Litestar app's plugins, "
                f"whose lifespan starts it ({type(exc).__name__}: {exc})"
            ) from None
        reader = asyncio.get_running_loop().create_task(
            self._read(channel, subscriber), name=f"component-framework-channels-{channel}"
        )
        self._subscriptions[channel] = (subscriber, reader)

    async def _read(self, channel: str, subscriber: Subscriber) -> None:
        async for payload in subscriber.iter_events():
            data: bytes | None = payload
            if self.payload_limit is not None:
                try:
                    data = self._assembler.feed(payload.decode("utf-8"))
                except ValueError as exc:
                    logger.warning("ignored a malformed channels message on %r: %s", channel, exc)
                    continue
            if data is None:
                continue
            for callback in list(self._callbacks.get(channel, ())):
                try:
                    callback(data)
                except Exception:
                    logger.exception("a broker message callback failed")

    async def unsubscribe(self, channel: str) -> None:
        self._callbacks.pop(channel, None)
        entry = self._subscriptions.pop(channel, None)
        if entry is not None:
            subscriber, reader = entry
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self.plugin.unsubscribe(subscriber, [channel])

    async def close(self) -> None:
        if self._closed:
            return
        for channel in list(self._subscriptions):
            await self.unsubscribe(channel)
        self._closed = True
        self._callbacks.clear()
        if self._owns_plugin and self._started:
            await self.plugin.__aexit__(None, None, None)
