"""The Redis state store: server-held state shared by every worker that uses one Redis.

Owns the Redis side of :class:`~component_framework.core.state_store.StateStore` with
redis-py's asyncio client. An entry is one string, ``<version>\\n<state JSON>``, with a time to
live; :meth:`RedisStateStore.load` reads any number of keys with one ``MGET``, and
:meth:`RedisStateStore.commit` runs one Lua script that checks every key's version and then
writes them all (``SET ... PX``), so the compare-and-set of a parent and its nested children is
atomic: Redis runs a script without interleaving another command. Every command is bounded by
``timeout``; a Redis that cannot be reached (or answers too slowly) raises
:class:`~component_framework.errors.StateStoreUnavailable`: nothing is retried behind the
caller's back, since the answer is waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Final

try:
    from redis import asyncio as redis_asyncio
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("redis", "redis") from exc

from component_framework.adapters._asyncio_only import running_asyncio_loop
from component_framework.core.state_store import StateWrite, StoredState
from component_framework.errors import StateStoreUnavailable

__all__ = ["RedisStateStore"]

logger = logging.getLogger("component_framework")

#: KEYS: the entries; ARGV[1]: time to live (ms), then per key its expected version and data.
#: Returns 1 when every key held its expected version (all written), else 0 (none written).
_COMMIT: Final = """
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  local version = 0
  if current then
    version = tonumber(string.match(current, '^(%d+)\\n')) or -1
  end
  if version ~= tonumber(ARGV[2 * i]) then
    return 0
  end
end
for i, key in ipairs(KEYS) do
  local version = tonumber(ARGV[2 * i]) + 1
  redis.call('SET', key, version .. '\\n' .. ARGV[2 * i + 1], 'PX', ARGV[1])
end
return 1
"""
_LINK_ERRORS: Final = (RedisError, OSError, asyncio.TimeoutError)


class RedisStateStore:
    """Server-held state in Redis (a :class:`~component_framework.core.state_store.StateStore`).

    ``url``: ``redis://host:6379/0`` (also ``rediss://`` and ``unix://``), usually the broker's
    (``COMPONENT_FRAMEWORK_BROKER_URL``). ``timeout``: seconds a command may take before the
    store counts as unavailable.
    """

    def __init__(self, url: str, *, timeout: float = 1.0) -> None:
        self.url = url
        self.timeout = timeout
        self._client: Any = None
        self._script: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<RedisStateStore {self.url!r}>"

    def _connection(self) -> Any:
        """The client of the running loop (a client's connections belong to one loop)."""
        loop = running_asyncio_loop("the Redis state store", "redis-py's asyncio client")
        if self._client is None or self._loop is not loop:
            self._client = redis_asyncio.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            self._script = self._client.register_script(_COMMIT)
            self._loop = loop
        return self._client

    async def load(self, keys: Sequence[str]) -> list[StoredState | None]:
        client = self._connection()
        try:
            async with asyncio.timeout(self.timeout):
                values = await client.mget(list(keys))
        except _LINK_ERRORS as exc:
            raise _unavailable(exc) from exc
        return [None if value is None else _entry(value) for value in values]

    async def commit(self, writes: Sequence[StateWrite], ttl: float) -> bool:
        self._connection()
        arguments: list[Any] = [max(1, int(ttl * 1000))]
        for write in writes:
            arguments += [write.expected, write.data]
        try:
            async with asyncio.timeout(self.timeout):
                done = await self._script(keys=[write.key for write in writes], args=arguments)
        except _LINK_ERRORS as exc:
            raise _unavailable(exc) from exc
        return bool(done)

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        client = self._connection()
        try:
            async with asyncio.timeout(self.timeout):
                await client.delete(*keys)
        except _LINK_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        client, self._client, self._script = self._client, None, None
        if client is not None:
            with contextlib.suppress(*_LINK_ERRORS):  # closing a link that is already gone
                await client.aclose()


def _entry(value: bytes) -> StoredState:
    version, _, data = value.partition(b"\n")
    return StoredState(int(version), data.decode("utf-8"))


def _unavailable(exc: BaseException) -> StateStoreUnavailable:
    logger.warning("the Redis state store cannot be reached: %s", exc)
    return StateStoreUnavailable(
        "the store of server-held state cannot be reached: nothing was applied; try again"
    )
