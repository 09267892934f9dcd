"""Server-held state: the rules between a reference token, the store and a component.

A component that keeps its state on the server (``Component.state_on_server``, or
``Settings.state_on_server`` for the whole app) gives its client a signed reference token
(``protocol.snapshot``: name, id, version, no state) where others give a snapshot. Owns:

- the store key of a component (:func:`state_key`) and the state's text (:func:`encode_state`,
  :func:`decode_state`);
- what a loaded entry means for a token's version (:func:`check_loaded`): the same version is
  the state; a newer one means the token was replayed (``409 stale_state``); none, or an older
  one, means the state is gone (``410 state_expired``);
- :class:`PendingWrite`: a render's write, applied to its component once committed;
- :func:`commit_writes`: every write of one answer (a parent and its nested children) in one
  atomic compare-and-set: another event that won the same version makes it ``409
  state_conflict``, and nothing of this answer is stored or sent;
- :class:`WriteBehind`: a held component's (WebSocket, live SSE, stream run) writes, committed
  one at a time in render order behind the renders the connection sends.

Does not own the store (``core.state_store``) nor when a call loads and commits
(``core.dispatch``).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from component_framework.core import aio
from component_framework.core.state_store import StateStore, StateWrite, StoredState
from component_framework.errors import (
    ComponentError,
    MalformedRequest,
    StaleState,
    StateConflict,
    StateExpired,
    StateStoreUnavailable,
)

__all__ = [
    "KEY_PREFIX",
    "PendingWrite",
    "WriteBehind",
    "check_loaded",
    "commit_writes",
    "decode_state",
    "encode_state",
    "load_entries",
    "state_key",
]

logger = logging.getLogger("component_framework")

#: Every store key starts with this, so the keys of an app are easy to find (and to flush).
KEY_PREFIX: Final = "cf:state:"
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def state_key(component_name: str, component_id: str) -> str:
    """The store key of a component's state (ids are random, so keys never collide)."""
    return f"{KEY_PREFIX}{component_name}:{component_id}"


def encode_state(state: dict[str, Any]) -> str:
    """The state as compact JSON text (``TypeError`` / ``ValueError`` if it is not JSON data)."""
    return _ENCODER.encode(state)


def decode_state(data: str) -> dict[str, Any]:
    """The state back from its text; a store entry that is not an object is a server fault."""
    state = json.loads(data)
    if not isinstance(state, dict):
        raise MalformedRequest("the stored state is not an object")
    return state


def check_loaded(found: StoredState | None, version: int, component_name: str) -> StoredState:
    """The entry a token of ``version`` may use, or the refusal: ``StaleState`` when the
    store holds a later version (the token was replayed: an older copy of the page),
    ``StateExpired`` when it holds none (expired, or lost) or an earlier one."""
    if found is not None and found.version == version:
        return found
    if found is not None and found.version > version:
        raise StaleState(
            f"this copy of {component_name!r} is out of date: the state it names (version "
            f"{version}) was replaced by a later event (version {found.version}); reload "
            "the component"
        )
    raise StateExpired(
        f"the state of {component_name!r} is no longer kept on the server (it expired or "
        "the store lost it): mount the component again"
    )


async def load_entries(store: StateStore, keys: Sequence[str]) -> list[StoredState | None]:
    """``store.load(keys)``, with a store that cannot be reached made ``StateStoreUnavailable``."""
    try:
        return await store.load(keys)
    except StateStoreUnavailable:
        raise
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise _unavailable(exc) from exc


@dataclass(slots=True)
class PendingWrite:
    """A render's write and the component it came from (``target``: anything with a
    ``state_version``), so that a held component knows its committed version."""

    write: StateWrite
    target: Any


async def commit_writes(
    store: StateStore, writes: Sequence[PendingWrite], ttl: float, component_name: str
) -> None:
    """Commit ``writes`` at once (all or none): ``StateConflict`` when another event stored a
    version first, ``StateStoreUnavailable`` when the store cannot be reached."""
    if not writes:
        return
    try:
        committed = await store.commit([pending.write for pending in writes], ttl)
    except StateStoreUnavailable:
        raise
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise _unavailable(exc) from exc
    if not committed:
        raise StateConflict(
            f"another event changed {component_name!r} first (two events sent from the same "
            "version): this one was not applied; reload the component"
        )


def _unavailable(exc: BaseException) -> StateStoreUnavailable:
    logger.warning("the state store cannot be reached: %s", exc)
    return StateStoreUnavailable(
        "the store of server-held state cannot be reached: nothing was applied; try again"
    )


class WriteBehind:
    """The store writes of one held component, committed one at a time in render order.

    A connection that holds its component is the only writer of that component's state, so
    its renders go out at once and their writes follow; a reference token is valid once its
    write has landed (a resume from another worker meanwhile sees ``state_expired`` for at
    most one round trip to the store). ``failed`` hears each refused write's error (the
    connection's error message); after one, later writes are dropped, since each expects
    the version of the one before it.
    """

    def __init__(
        self,
        store: StateStore,
        ttl: float,
        component_name: str,
        failed: Callable[[ComponentError], None],
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._name = component_name
        self._failed = failed
        self._queue: deque[Sequence[PendingWrite]] = deque()
        self._task: aio.Task | None = None
        self.broken = False

    def submit(self, writes: Sequence[PendingWrite]) -> None:
        """Queue one render's writes (nothing to do for a render without any)."""
        if not writes or self.broken:
            return
        self._queue.append(writes)
        if self._task is None:
            self._task = aio.running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                writes = self._queue.popleft()
                try:
                    await commit_writes(self._store, writes, self._ttl, self._name)
                except ComponentError as exc:
                    self.broken = True
                    self._queue.clear()
                    self._failed(exc)
        finally:
            self._task = None

    async def flush(self) -> None:
        """Wait until every queued write has been tried."""
        task = self._task
        if task is not None:
            await aio.wait_all([task])
