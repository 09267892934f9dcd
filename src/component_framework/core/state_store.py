"""Stores of server-held state: where a component that keeps its state on the server keeps it.

Owns the :class:`StateStore` protocol (load the stored versions of some keys; commit several
writes at once, each only if its key still holds the version it expects, else none of them),
:class:`MemoryStateStore` (one process: the default when no broker is configured, and the
reference every store is tested against) and :func:`state_store_from_url`, which picks one by
URL scheme as ``core.broker`` does for brokers. Does not own what the state means, when it is
loaded or what a refused write becomes (``core.server_state``).

A stored entry is a version (1 for the first render, one more for every render after it) and
the state as JSON text; each commit refreshes the entry's time to live. A store that cannot be
reached raises :class:`~component_framework.errors.StateStoreUnavailable`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

from component_framework.errors import ConfigurationError

__all__ = [
    "STATE_STORE_SCHEMES",
    "MemoryStateStore",
    "StateStore",
    "StateWrite",
    "StoredState",
    "state_store_from_url",
]

#: State store implementations by URL scheme (``module:attribute``); the ones that need an
#: optional dependency live in ``adapters`` and are imported only when a URL asks for them.
STATE_STORE_SCHEMES: Final[dict[str, str]] = {
    "memory": "component_framework.core.state_store:MemoryStateStore",
    "redis": "component_framework.adapters.redis_state_store:RedisStateStore",
    "rediss": "component_framework.adapters.redis_state_store:RedisStateStore",
    "unix": "component_framework.adapters.redis_state_store:RedisStateStore",
}


@dataclass(slots=True, frozen=True)
class StoredState:
    """One stored entry: its version and the state as JSON text."""

    version: int
    data: str


@dataclass(slots=True, frozen=True)
class StateWrite:
    """Store ``data`` at ``key`` as version ``expected + 1``, only if ``key`` holds version
    ``expected`` now (``0``: only if it holds nothing)."""

    key: str
    expected: int
    data: str


@runtime_checkable
class StateStore(Protocol):
    """Where server-held state lives, shared by the workers that serve one application."""

    async def load(self, keys: Sequence[str]) -> list[StoredState | None]:
        """The entry of each key (``None``: none, or expired), in one round trip."""
        ...

    async def commit(self, writes: Sequence[StateWrite], ttl: float) -> bool:
        """Apply every write, or none when any key no longer holds its expected version
        (``False``); each written entry expires ``ttl`` seconds after this commit."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Forget these entries."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...


class MemoryStateStore:
    """Server-held state in this process only: every worker has its own, so a component's
    next event must come back to the same process (one worker, or sticky sessions).

    ``clock``: monotonic seconds, injectable for tests. Expired entries are dropped when read
    and by a sweep every ``sweep_every`` commits, so memory stays bounded by the live ones.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: int = 1024,
    ) -> None:
        self.url = url or "memory://"
        self._entries: dict[str, tuple[float, StoredState]] = {}
        self._clock = clock
        self._sweep_every = sweep_every
        self._commits = 0

    def _get(self, key: str, now: float) -> StoredState | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        return entry[1]

    async def load(self, keys: Sequence[str]) -> list[StoredState | None]:
        now = self._clock()
        return [self._get(key, now) for key in keys]

    async def commit(self, writes: Sequence[StateWrite], ttl: float) -> bool:
        now = self._clock()
        for write in writes:
            found = self._get(write.key, now)
            if (0 if found is None else found.version) != write.expected:
                return False
        expires = now + ttl
        for write in writes:
            self._entries[write.key] = (expires, StoredState(write.expected + 1, write.data))
        self._commits += 1
        if self._commits % self._sweep_every == 0:
            self._sweep(now)
        return True

    def _sweep(self, now: float) -> None:
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def close(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        """How many entries are held (expired ones included until swept)."""
        return len(self._entries)


def state_store_from_url(url: str) -> StateStore:
    """A state store for ``url``: ``memory://`` (this process only) or ``redis://``,
    ``rediss://``, ``unix://`` (Redis, needs the ``redis`` extra). Other brokers' URLs
    (``postgresql://``) keep no server-held state yet: a ``ConfigurationError`` says so."""
    scheme = urlsplit(url).scheme.lower()
    target = STATE_STORE_SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(f"{name}://" for name in sorted(STATE_STORE_SCHEMES))
        raise ConfigurationError(
            f"server-held state cannot be kept in a {scheme!r} store: expected {known} "
            "(set Settings.state_store_url, or COMPONENT_FRAMEWORK_STATE_STORE_URL)"
        )
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    factory: Callable[[str], StateStore] = getattr(module, attribute)
    return factory(url)
