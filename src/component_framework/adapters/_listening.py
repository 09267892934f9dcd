"""What the asyncio-only network brokers share: subscriptions held by one listener task.

:class:`ListeningBroker` keeps the callbacks per channel, starts one listener task per event loop
and waits (bounded) for it to confirm a subscription; the listener connects, subscribes the
wanted channels, and reconnects with exponential backoff and jitter while the server is away,
logging an outage once when it starts and once when it ends. A broker built on it supplies the
link itself: how to open one, how to add and remove channels on it, how to serve it (read
messages, notice a dead link) and how to close it, plus its publishing side.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Final

from component_framework.adapters._asyncio_only import running_asyncio_loop
from component_framework.core.broker import BrokerUnavailable, MessageCallback

__all__ = ["POLL_SECONDS", "ListeningBroker"]

logger = logging.getLogger("component_framework")
#: How long a listener waits for a message before it looks at subscription changes (also the
#: margin a subscribe waits beyond ``publish_timeout`` for the confirmation).
POLL_SECONDS: Final = 0.25


class ListeningBroker(ABC):
    """The subscription side of a broker whose server pushes messages to one listener link."""

    #: The server's name in messages: ``"Redis"``, ``"PostgreSQL"``.
    _server: ClassVar[str]
    #: The debug message when a subscription is not confirmed in time (``%r``: the channel).
    _unconfirmed: ClassVar[str]
    #: The client library, for the refusal of trio: ``"asyncpg is an asyncio client"``.
    _asyncio_because: ClassVar[str]
    #: The errors that mean the link to the server failed (an outage, not a bug).
    _link_errors: ClassVar[tuple[type[BaseException], ...]]

    url: str
    publish_timeout: float
    reconnect_initial: float
    reconnect_max: float

    def __init__(self) -> None:
        self._callbacks: dict[str, list[MessageCallback]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._connected = False
        self._closed = False
        #: Set when the subscribed channels changed (or the link needs a look), for the
        #: listener to catch up.
        self._changed: asyncio.Event | None = None
        #: Set by the listener once the server confirmed the wanted channels.
        self._synced: asyncio.Event | None = None
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._shown_url()!r} connected={self._connected}>"

    @property
    def connected(self) -> bool:
        return self._connected

    def _shown_url(self) -> str:
        """The URL as logs and errors show it."""
        return self.url

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailable(f"the {self._server} broker is closed")

    def _bind_loop(self) -> None:
        """Connections belong to one event loop; a broker used from a new loop starts over.
        The client is asyncio's: on another loop (trio) this is a ``ConfigurationError``."""
        loop = running_asyncio_loop(type(self).__name__, self._asyncio_because)
        if self._loop is loop:
            return
        self._loop = loop
        self._listener = None
        self._connected = False
        self._changed = asyncio.Event()
        self._synced = asyncio.Event()
        self._on_new_loop()

    @abstractmethod
    def _on_new_loop(self) -> None:
        """Forget the connections of the previous event loop (the publishing side's)."""

    # -- subscribing -----------------------------------------------------------------------

    def _checked_channel(self, channel: str) -> str:
        """``channel`` if the server accepts it as a channel name."""
        return channel

    async def subscribe(self, channel: str, callback: MessageCallback) -> None:
        """Add ``callback`` for ``channel``; returns once the server confirmed the
        subscription, or after ``publish_timeout`` when it cannot be reached (the listener
        keeps trying)."""
        self._check_open()
        self._bind_loop()
        self._callbacks.setdefault(self._checked_channel(channel), []).append(callback)
        assert self._changed is not None
        assert self._synced is not None
        self._synced.clear()
        self._changed.set()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=self._listener_name()
            )
        try:
            async with asyncio.timeout(self.publish_timeout + POLL_SECONDS):
                await self._synced.wait()
        except TimeoutError:
            logger.debug(self._unconfirmed, channel)

    async def unsubscribe(self, channel: str) -> None:
        self._callbacks.pop(channel, None)
        if self._changed is not None:
            self._changed.set()

    def _deliver(self, channel: str, data: bytes) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback(data)
            except Exception:
                logger.exception("a broker message callback failed")

    # -- the listener ----------------------------------------------------------------------

    @abstractmethod
    def _listener_name(self) -> str:
        """The listener task's name."""

    @abstractmethod
    async def _open_link(self) -> Any:
        """A new link to the server, not subscribed to anything yet."""

    @abstractmethod
    async def _change_channels(self, link: Any, add: set[str], remove: set[str]) -> None:
        """Subscribe ``link`` to the channels ``add`` and unsubscribe it from ``remove``."""

    @abstractmethod
    async def _serve(self, link: Any, subscribed: set[str]) -> None:
        """Deliver the messages of ``link`` until the broker closes (keeping its channels in
        step with :meth:`_sync_channels`); raises one of ``_link_errors`` when the link fails."""

    @abstractmethod
    async def _close_link(self, link: Any) -> None:
        """Close ``link`` without raising."""

    async def _listen(self) -> None:
        delay = self.reconnect_initial
        loop = asyncio.get_running_loop()
        outage_since: float | None = None
        while not self._closed:
            link = None
            try:
                link = await self._open_link()
                subscribed = await self._sync_channels(link, set())
                if outage_since is not None:
                    self.reconnects += 1
                    logger.warning(
                        "%s broker %s is back after %.1f s; broadcasts from other processes "
                        "during the outage were not received",
                        self._server,
                        self._shown_url(),
                        loop.time() - outage_since,
                    )
                    outage_since = None
                self._connected = True
                delay = self.reconnect_initial
                await self._serve(link, subscribed)
            except asyncio.CancelledError:
                raise
            except self._link_errors as exc:
                if outage_since is None:
                    outage_since = loop.time()
                    logger.warning(
                        "%s broker %s is unavailable (%s): broadcasts reach this process "
                        "only; reconnecting",
                        self._server,
                        self._shown_url(),
                        exc or type(exc).__name__,
                    )
            finally:
                self._connected = False
                if link is not None:
                    await self._close_link(link)
            if self._closed:
                break
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self.reconnect_max)

    async def _sync_channels(self, link: Any, subscribed: set[str]) -> set[str]:
        """Bring ``link``'s channels (``subscribed``) to the wanted ones, which it returns."""
        assert self._changed is not None
        assert self._synced is not None
        self._changed.clear()
        wanted = set(self._callbacks)
        await self._change_channels(link, wanted - subscribed, subscribed - wanted)
        if not self._changed.is_set():
            self._synced.set()
        return wanted

    # -- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        self._callbacks.clear()
        listener, self._listener = self._listener, None
        same_loop = self._loop is asyncio.get_running_loop()
        if listener is not None and not listener.done() and same_loop:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        await self._close_publishing(same_loop)
        self._connected = False

    @abstractmethod
    async def _close_publishing(self, same_loop: bool) -> None:
        """Close the publishing side (its connections only when ``same_loop``: they belong to
        the loop the broker was bound to)."""
