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
  one at a time in render order behind the renders the connection sends;
- :class:`StateKeeper`: a dispatcher's side of it all: which classes keep their state on the
  server, the store (given, or built on first use from the settings and the app's broker),
  loading what a call names, the write of a render, committing (now, or from a page in a task).

Does not own the stores (``core.state_store``) nor when a call loads and commits
(``core.dispatch``).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from component_framework.core import aio
from component_framework.core.config import Settings
from component_framework.core.state_store import (
    StateStore,
    StateWrite,
    StoredState,
    state_store_from_url,
)
from component_framework.errors import (
    ComponentError,
    ConfigurationError,
    MalformedRequest,
    StaleState,
    StateConflict,
    StateExpired,
    StateStoreUnavailable,
)
from component_framework.protocol.compact import strict_json
from component_framework.protocol.snapshot import SnapshotError

if TYPE_CHECKING:
    from component_framework.core.component import Component
    from component_framework.core.dispatch import PreparedCall

__all__ = [
    "KEY_PREFIX",
    "PendingWrite",
    "StateKeeper",
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


def state_key(component_name: str, component_id: str) -> str:
    """The store key of a component's state (ids are random, so keys never collide)."""
    return f"{KEY_PREFIX}{component_name}:{component_id}"


def encode_state(state: dict[str, Any]) -> str:
    """The state as compact JSON text (``TypeError`` / ``ValueError`` if it is not JSON data)."""
    return strict_json(state)


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


def _no_broker() -> str | None:
    return None


class StateKeeper:
    """Server-held state for one dispatcher (see the module docstring).

    ``store``: the store to use (closing it is its owner's job); ``None``: built on first use
    from ``Settings.state_store_location`` with :attr:`broker_url`, and closed by
    :meth:`close`.
    """

    def __init__(self, settings: Settings, store: StateStore | None = None) -> None:
        self.settings = settings
        self._store = store
        self._built: StateStore | None = None
        #: The URL of the app's broker, if any (``ComponentASGI`` asks its hub): where the
        #: state lives unless the settings say otherwise.
        self.broker_url: Callable[[], str | None] = _no_broker
        #: Commits started by :meth:`commit_later`, by store key: a load of one waits.
        self._later: dict[str, aio.Task] = {}

    @property
    def store(self) -> StateStore:
        """The store, built on first use (a ``ConfigurationError`` for a broker that keeps
        no state, such as ``postgresql://``)."""
        store = self._store
        if store is None:
            location = self.settings.state_store_location(self.broker_url())
            store = self._store = self._built = state_store_from_url(location)
        return store

    async def close(self) -> None:
        """Close the store built here (a given one is its owner's to close); a later
        server-held component builds a new one."""
        built, self._built = self._built, None
        if built is not None:
            self._store = None
            await built.close()

    def keeps(self, cls: type[Component]) -> bool:
        """Whether ``cls`` keeps its state on the server (its own switch, else the app's)."""
        own = cls.state_on_server
        return self.settings.state_on_server if own is None else own

    async def load(self, plan: PreparedCall) -> None:
        """Load the state ``plan``'s reference token names, and that of the client's nested
        children with reference tokens, in one round trip; checks each version
        (``stale_state`` 409, ``state_expired`` 410, ``state_store_unavailable`` 503). No-op
        when nothing is to load."""
        seeds = [(slot, seed) for slot, seed in plan.children.items() if seed.version is not None]
        own = plan.stored_version
        if own is None and not seeds:
            return
        keys = [state_key(seed.component_name, seed.component_id) for _, seed in seeds]
        if own is not None:
            assert plan.component_id is not None
            keys.append(state_key(plan.cls.component_name, plan.component_id))
        if self._later:  # a page just rendered one of them: its write first
            waiting = [task for key in keys if (task := self._later.get(key))]
            if waiting:
                await aio.wait_all(waiting)
        found = await load_entries(self.store, keys)
        loaded = dict(plan.children)
        for (slot, seed), entry in zip(seeds, found, strict=False):
            assert seed.version is not None
            stored = check_loaded(entry, seed.version, seed.component_name)
            loaded[slot] = seed.loaded(decode_state(stored.data))
        plan.children = loaded
        if own is not None:
            stored = check_loaded(found[-1], own, plan.cls.component_name)
            plan.restored_state = decode_state(stored.data)
            plan.loaded_version, plan.stored_version = stored.version, None

    def write(self, component: Component, state: dict[str, Any]) -> PendingWrite:
        """The write of ``component``'s new ``state``; its version advances at once (a held
        component's next render expects it). ``SnapshotError("oversized")`` past
        ``Settings.state_max_bytes``."""
        name = component.component_name
        try:
            data = encode_state(state)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"the state of {name!r} is not JSON data: {exc}") from exc
        limit = self.settings.state_max_bytes
        if len(data) > limit:
            raise SnapshotError("oversized", f"state of {name!r} is over {limit} bytes")
        version = component.state_version
        component.state_version = version + 1
        return PendingWrite(StateWrite(state_key(name, component.id), version, data), component)

    async def commit(self, writes: Sequence[PendingWrite], component_name: str) -> None:
        """:func:`commit_writes` on the store, with the settings' time to live."""
        await commit_writes(self.store, writes, self.settings.state_ttl, component_name)

    def commit_later(self, writes: Sequence[PendingWrite], component_name: str) -> None:
        """Commit ``writes`` in a task on the running loop, for code that cannot await (a
        page's template); :meth:`load` of those keys in this process waits for it. Without
        a running loop: a ``ConfigurationError`` that says what to do instead."""
        try:
            loop = aio.running_loop()
        except RuntimeError:
            raise ConfigurationError(
                f"{component_name!r} keeps its state on the server, which a page rendered "
                "without an event loop cannot store: render the page from async code, or the "
                "component with lazy=True"
            ) from None
        keys = [pending.write.key for pending in writes]
        task = loop.create_task(self._commit_later(writes, component_name, keys))
        for key in keys:
            self._later[key] = task

    async def _commit_later(
        self, writes: Sequence[PendingWrite], component_name: str, keys: list[str]
    ) -> None:
        try:
            await self.commit(writes, component_name)
        except ComponentError as exc:  # its next event answers state_expired
            logger.warning("a page's component %r was not stored: %s", component_name, exc)
        finally:
            for key in keys:
                self._later.pop(key, None)
