"""Pub/sub brokers: how a broadcast made in one process reaches the others.

Owns the :class:`Broker` protocol (publish bytes on a channel; deliver every message of a
subscribed channel to one callback; report whether the link is up), :class:`MemoryBroker`, the
in-process reference implementation (which also provides the in-memory resume store,
``core.resume_store``) that every broker is tested against, and
:func:`broker_from_url`, which picks an implementation by URL scheme. Brokers carry opaque
bytes: what a message means belongs to ``core.hub``.

Delivery is at most once, like Redis pub/sub and PostgreSQL NOTIFY: a message published while
a subscriber's link is down is lost for it (the hub has already delivered it locally in the
publishing process).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

from component_framework.core import aio
from component_framework.core.resume_store import MemoryResumeStore
from component_framework.errors import ConfigurationError

__all__ = [
    "BROKER_SCHEMES",
    "Broker",
    "BrokerUnavailable",
    "MemoryBroker",
    "MessageCallback",
    "broker_from_url",
]

#: Receives each message of a subscribed channel, on the event loop; must not block.
MessageCallback = Callable[[bytes], None]

#: Broker implementations by URL scheme, as ``module:attribute`` import strings. Implementations
#: that need an optional dependency live in ``adapters`` and are imported only when a URL asks
#: for them, so the core never imports an adapter (DESIGN.md section 3).
BROKER_SCHEMES: Final[dict[str, str]] = {
    "memory": "component_framework.core.broker:MemoryBroker",
    "redis": "component_framework.adapters.redis_broker:RedisBroker",
    "rediss": "component_framework.adapters.redis_broker:RedisBroker",
    "unix": "component_framework.adapters.redis_broker:RedisBroker",
    "postgresql": "component_framework.adapters.postgres_broker:PostgresBroker",
    "postgres": "component_framework.adapters.postgres_broker:PostgresBroker",
}


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached right now (the link reconnects by itself)."""


@runtime_checkable
class Broker(Protocol):
    """A pub/sub link shared by the processes of one deployment."""

    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to every subscriber of ``channel`` (in every process). Raises
        :class:`BrokerUnavailable` when the broker cannot be reached; never blocks for long."""
        ...

    async def subscribe(self, channel: str, callback: MessageCallback) -> None:
        """Call ``callback`` with every message published on ``channel`` from now on, until
        :meth:`unsubscribe` or :meth:`close`; keeps reconnecting if the link drops."""
        ...

    async def unsubscribe(self, channel: str) -> None:
        """Stop delivering ``channel``."""
        ...

    @property
    def connected(self) -> bool:
        """Whether the subscription link is up right now."""
        ...

    async def close(self) -> None:
        """Drop every subscription and connection (idempotent)."""
        ...


class MemoryBroker:
    """Pub/sub inside one process: the reference broker.

    Every :class:`~component_framework.core.hub.Hub` that shares one instance sees the others'
    messages, which is how tests model several workers in one process. Messages are delivered
    on the next loop iteration, never inside :meth:`publish`, as a network broker would.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or "memory://"
        self._subscribers: dict[str, list[MessageCallback]] = {}
        self._owned: dict[tuple[int, str], MessageCallback] = {}
        self._closed = False
        self._resume_store: MemoryResumeStore | None = None

    async def publish(self, channel: str, data: bytes) -> None:
        if self._closed:
            raise BrokerUnavailable("the broker is closed")
        callbacks = self._subscribers.get(channel)
        if callbacks:
            loop = aio.running_loop()
            for callback in list(callbacks):
                loop.call_soon(callback, data)

    async def subscribe(self, channel: str, callback: MessageCallback) -> None:
        if self._closed:
            raise BrokerUnavailable("the broker is closed")
        self._subscribers.setdefault(channel, []).append(callback)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribers.pop(channel, None)

    @property
    def connected(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        self._subscribers.clear()

    def resume_store(self) -> MemoryResumeStore:
        """The resume store of the apps sharing this broker (``core.resume_store``)."""
        if self._resume_store is None:
            self._resume_store = MemoryResumeStore()
        return self._resume_store


def broker_from_url(url: str) -> Broker:
    """A broker for ``url``: ``redis://``, ``rediss://`` or ``unix://`` (Redis, needs the
    ``redis`` extra), ``postgresql://`` or ``postgres://`` (PostgreSQL LISTEN/NOTIFY, needs the
    ``postgres`` extra) or ``memory://`` (this process only)."""
    scheme = urlsplit(url).scheme.lower()
    target = BROKER_SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(f"{name}://" for name in sorted(BROKER_SCHEMES))
        raise ConfigurationError(f"unsupported broker URL scheme {scheme!r}: expected {known}")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    factory: Callable[[str], Broker] = getattr(module, attribute)
    return factory(url)
