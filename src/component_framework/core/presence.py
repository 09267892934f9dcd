"""Presence: who is connected to a topic, in this process and (through the broker) in all.

Owns :class:`Presence`, one per hub: the entries of this process's present members (a random
key and a small JSON ``meta`` each, per topic), the entries other processes announced for the
topics this process follows, and the messages that keep them in step over the hub's broker, on
a channel of their own (``<hub channel>:presence``):

- ``diff``: a process's joins and leaves on one topic: a change after a quiet ``tick`` goes at
  once, changes that follow within the ``tick`` go together at its end;
- ``beat``: every ``heartbeat`` seconds, a process's entry count per topic. It renews the
  process's lease; a process whose lease (``3 x heartbeat``) ran out, crashed or cut off, is
  dropped with all its entries (its members "leave"). A count that differs from what a
  follower holds (messages lost in an outage) makes the follower ask for that topic again;
- ``sync`` / ``state``: a follower asks for a topic; each process answers with its entries
  of it, in pages of at most :data:`STATE_PAGE` entries;
- ``bye``: a process that closes its hub leaves at once.

Members that follow a topic hear its changes through :meth:`PresenceMember.presence_changed`,
at most once per ``tick`` (longer for topics with many followers), each list cut to
:data:`DIFF_LIMIT` entries: the hook is a
hint that something changed; :meth:`Presence.present` is the truth. Everything here runs on
the event loop; listing is local, with no I/O. Messages are JSON; what a member shows others is
checked by :func:`checked_meta` (a mapping of at most :data:`MAX_META_BYTES` bytes of JSON).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from component_framework.core import aio
from component_framework.core.broker import Broker, BrokerUnavailable
from component_framework.core.turns import LoopSlice
from component_framework.errors import ConfigurationError
from component_framework.protocol.compact import compact_json

__all__ = [
    "DIFF_LIMIT",
    "LIST_LIMIT",
    "MAX_META_BYTES",
    "PRESENCE_EVENT",
    "STATE_PAGE",
    "Presence",
    "PresenceMember",
    "checked_meta",
]

logger = logging.getLogger("component_framework")

#: The handler a present component may define to hear changes: ``on_presence``.
PRESENCE_EVENT: Final = "presence"
#: Most bytes of JSON one member's ``meta`` may take.
MAX_META_BYTES: Final = 512
#: Most entries of ``joined`` and of ``left`` in one ``presence_changed`` call.
DIFF_LIMIT: Final = 50
#: Default most entries :meth:`Presence.present` returns.
LIST_LIMIT: Final = 100
#: Most entries in one ``state`` message (a big topic's answer is paged).
STATE_PAGE: Final = 500
_WIRE_VERSION: Final = 1
#: A topic's hook waits this much longer per member that follows it (big topics: fewer calls).
_TICK_PER_FOLLOWER: Final = 0.0001
_MAX_TICK: Final = 2.0

Meta = dict[str, Any]


class PresenceMember(Protocol):
    """A live component that is present in (or follows) topics."""

    def presence_changed(
        self, topic: str, joined: list[dict[str, Any]], left: list[dict[str, Any]]
    ) -> None:
        """Entries joined or left ``topic``; must return at once (queue the work)."""
        ...


def checked_meta(meta: object, where: str) -> Meta:
    """``meta`` as a plain dict of JSON data of at most :data:`MAX_META_BYTES` bytes, without a
    ``key`` (every entry gets its own); ``ConfigurationError`` naming ``where`` otherwise."""
    if not isinstance(meta, Mapping):
        raise ConfigurationError(f"{where} must return a mapping or None, got {type(meta)}")
    meta = dict(meta)
    if "key" in meta:
        raise ConfigurationError(f"{where} must not set 'key': every entry gets its own")
    try:
        size = len(compact_json(meta).encode())
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where} must return JSON data: {exc}") from None
    if size > MAX_META_BYTES:
        raise ConfigurationError(
            f"{where} returned {size} bytes of JSON: at most {MAX_META_BYTES} are shown to others"
        )
    return meta


@dataclass(slots=True)
class _Entry:
    """One member of this process: its key, the topics it is listed in (none when ``meta``
    is ``None``), the topics it follows (whose members this process learns), and whether it
    hears their changes (``notify``)."""

    key: str
    topics: frozenset[str]
    meta: Meta | None
    follows: frozenset[str]
    notify: bool


@dataclass(slots=True)
class _Peer:
    """Another process: when its lease ends, and its entries of the topics followed here."""

    expires: float
    topics: dict[str, dict[str, Meta]] = field(default_factory=dict)


@dataclass(slots=True)
class _Diff:
    """Joins and leaves waiting to be told (entries by key). A join of a key that was not
    there before (``fresh``) and its leave in the same window cancel out; a changed meta is
    a join too, and a leave after it is still told."""

    joined: dict[str, Meta] = field(default_factory=dict)
    left: dict[str, Meta] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)

    def join(self, key: str, meta: Meta, *, fresh: bool) -> None:
        if self.left.pop(key, None) is None and fresh:
            self.fresh.add(key)
        self.joined[key] = meta

    def leave(self, key: str, meta: Meta) -> None:
        self.joined.pop(key, None)
        if key in self.fresh:
            self.fresh.discard(key)
        else:
            self.left[key] = meta


def _entries(entries: dict[str, Meta], limit: int) -> list[dict[str, Any]]:
    return [{**meta, "key": key} for key, meta in list(entries.items())[:limit]]


class Presence:
    """The presence of one hub (see the module docstring).

    ``origin``: the hub's id in messages. ``channel``: the broker channel. ``broker``: a
    callable returning the hub's broker (or ``None``: this process only). ``heartbeat``:
    seconds between beats (a process's lease is three of them). ``tick``: the window that
    coalesces changes (publishes and hooks)."""

    def __init__(
        self,
        origin: str,
        channel: str,
        broker: Callable[[], Broker | None],
        *,
        heartbeat: float = 2.0,
        tick: float = 0.05,
    ) -> None:
        if heartbeat <= 0 or tick < 0:
            raise ConfigurationError("presence heartbeat must be > 0 and tick >= 0")
        self.origin = origin
        self.channel = channel
        self.heartbeat = heartbeat
        self.lease = 3 * heartbeat
        self.tick = tick
        self._broker = broker
        self._members: dict[PresenceMember, _Entry] = {}
        self._local: dict[str, dict[str, Meta]] = {}
        self._followers: dict[str, dict[PresenceMember, None]] = {}
        self._peers: dict[str, _Peer] = {}
        self._told: dict[str, _Diff] = {}  # changes to tell this process's followers
        #: Each listed topic's entries, merged and sorted by key, until the topic changes: a
        #: change rendered by thousands of followers sorts the topic once.
        self._views: dict[str, tuple[list[str], dict[str, Meta]]] = {}
        self._outgoing: dict[str, _Diff] = {}  # this process's changes to publish
        self._asks: set[str] = set()  # topics to ask the other processes for
        self._answers: set[str] = set()  # topics to answer an ask for
        self._task: aio.Task | None = None
        self._task_loop: aio.Loop | None = None
        self._wake: aio.Event | None = None
        self._subscribed = False
        self._closed = False
        self._failures = 0
        #: Messages published and received (diagnostics and benchmarks).
        self.published = 0
        self.received = 0

    # -- this process's members ---------------------------------------------------------------

    @staticmethod
    def new_key() -> str:
        """A fresh member key: random, unrelated to sessions or component ids."""
        return secrets.token_hex(8)

    async def enter(
        self,
        member: PresenceMember,
        key: str,
        topics: Iterable[str],
        meta: Meta | None,
        *,
        notify: bool,
    ) -> None:
        """``member`` is present in ``topics`` with ``meta`` (``None``: it only follows them:
        listed nowhere, but this process learns who is there); ``notify``: whether it hears
        changes (``presence_changed``). Called again, it is :meth:`update`."""
        await self._start()
        self.update(member, key, topics, meta, notify=notify)

    def update(
        self,
        member: PresenceMember,
        key: str,
        topics: Iterable[str],
        meta: Meta | None,
        *,
        notify: bool,
    ) -> None:
        """The member's topics and meta now; only a change is told."""
        topics = frozenset(topics)
        old = self._members.get(member)
        new = _Entry(key, topics if meta is not None else frozenset(), meta, topics, notify)
        if old is not None and (old.key, old.topics, old.meta, old.follows, old.notify) == (
            new.key,
            new.topics,
            new.meta,
            new.follows,
            new.notify,
        ):
            return
        self._members[member] = new
        self._retract(member, old, new)
        for topic in new.topics:
            assert new.meta is not None
            entries = self._local.setdefault(topic, {})
            known = entries.get(key)
            if known != new.meta:
                entries[key] = new.meta
                self._change(topic).join(key, new.meta, fresh=known is None)
                self._outgoing.setdefault(topic, _Diff()).join(key, new.meta, fresh=known is None)
        for topic in new.follows - (old.follows if old else frozenset()):
            self._follow(topic, member)
        self._wake_up()

    def leave(self, member: PresenceMember) -> None:
        """``member`` is gone (idempotent)."""
        old = self._members.pop(member, None)
        if old is not None:
            self._retract(member, old, None)
            self._wake_up()

    def _retract(self, member: PresenceMember, old: _Entry | None, new: _Entry | None) -> None:
        """What ``old`` had that ``new`` no longer has: entries left, topics unfollowed."""
        if old is None:
            return
        for topic in old.topics:
            if new is not None and topic in new.topics and old.key == new.key:
                continue
            entries = self._local.get(topic, {})
            meta = entries.pop(old.key, None)
            if not entries:
                self._local.pop(topic, None)
            if meta is not None:
                self._change(topic).leave(old.key, meta)
                self._outgoing.setdefault(topic, _Diff()).leave(old.key, meta)
        for topic in old.follows - (new.follows if new is not None else frozenset()):
            followers = self._followers.get(topic)
            if followers is None:
                continue
            followers.pop(member, None)
            if not followers:
                del self._followers[topic]
                self._views.pop(topic, None)
                for peer in self._peers.values():  # nobody here follows it any more
                    peer.topics.pop(topic, None)

    def _follow(self, topic: str, member: PresenceMember) -> None:
        followers = self._followers.setdefault(topic, {})
        if not followers and self._broker() is not None:
            self._asks.add(topic)  # first follower here: learn who is there elsewhere
        followers[member] = None

    # -- listing ------------------------------------------------------------------------------

    def present(self, topic: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """Up to ``limit`` entries of ``topic`` (``{**meta, "key"}``), ordered by key, so every
        process lists them in the same order. Other processes' entries are known for the topics
        a live member of this process follows."""
        view = self._views.get(topic)
        if view is None:
            everything = dict(self._local.get(topic, {}))
            for peer in self._peers.values():
                everything.update(peer.topics.get(topic, {}))
            view = self._views[topic] = (sorted(everything), everything)
        keys, entries = view
        return [{**entries[key], "key": key} for key in keys[: max(limit, 0)]]

    def count(self, topic: str) -> int:
        """How many entries ``topic`` has (here, and elsewhere as far as this process knows)."""
        return len(self._local.get(topic, {})) + sum(
            len(peer.topics.get(topic, {})) for peer in self._peers.values()
        )

    def topics(self) -> list[str]:
        """The topics this process has entries of or follows."""
        return sorted(set(self._local) | set(self._followers))

    # -- the pump: coalesced publishes, hooks, beats, leases ---------------------------------

    async def _start(self) -> None:
        loop = aio.running_loop()
        task = self._task
        if self._closed or (task is not None and not task.done() and self._task_loop is loop):
            return
        broker = self._broker()
        if broker is not None and not self._subscribed:
            try:
                await broker.subscribe(f"{self.channel}:presence", self._on_message)
            except BrokerUnavailable as exc:  # the next member's entry tries again
                logger.warning("presence reaches this process only for now: %s", exc)
            else:
                self._subscribed = True
        self._wake = aio.new_event()
        self._task_loop = loop
        self._task = loop.create_task(self._pump(), name="component-framework-presence")

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _change(self, topic: str) -> _Diff:
        """The changes of ``topic`` to tell (every change of a topic's entries goes here)."""
        self._views.pop(topic, None)
        return self._told.setdefault(topic, _Diff())

    def _delay(self) -> float:
        """The coalescing window now: longer for topics with many followers."""
        most = max((len(f) for f in self._followers.values()), default=0)
        return min(self.tick + most * _TICK_PER_FOLLOWER, _MAX_TICK)

    async def _pump(self) -> None:
        loop = aio.running_loop()
        next_beat = loop.time()
        flushed = -math.inf
        wake = self._wake
        assert wake is not None
        while not self._closed:
            with _suppress_timeout():
                async with aio.timeout(max(next_beat - loop.time(), 0)):
                    await wake.wait()
            if wake.is_set():
                wake.clear()
                # The first change after a quiet window goes at once; changes that follow
                # closely wait for the window's end and go together.
                await _sleep(flushed + self._delay() - loop.time())
                flushed = loop.time()
            try:
                await self._publish_changes()
                if loop.time() >= next_beat:
                    next_beat = loop.time() + self.heartbeat
                    await self._beat(loop.time())
                await self._tell()
            except aio.cancellation():
                raise
            except Exception:  # never let a bug end presence for the process
                logger.exception("presence upkeep failed")

    async def _publish_changes(self) -> None:
        outgoing, self._outgoing = self._outgoing, {}
        for topic, diff in outgoing.items():
            if diff.joined or diff.left:
                await self._send({"k": "diff", "t": topic, "j": diff.joined, "l": list(diff.left)})
        answers, self._answers = self._answers, set()
        for topic in answers:
            await self._send_state(topic)
        asks, self._asks = self._asks, set()
        for topic in asks:
            await self._send({"k": "sync", "t": topic})

    async def _send_state(self, topic: str) -> None:
        items = list(self._local.get(topic, {}).items())
        for start in range(0, max(len(items), 1), STATE_PAGE):
            page = dict(items[start : start + STATE_PAGE])
            await self._send({"k": "state", "t": topic, "m": page, "r": start == 0})

    async def _beat(self, now: float) -> None:
        counts = {topic: len(entries) for topic, entries in self._local.items()}
        if self._broker() is not None and (counts or self._peers or self._followers):
            await self._send({"k": "beat", "c": counts})
        for origin, peer in list(self._peers.items()):
            if peer.expires <= now:
                logger.info("presence: process %s missed its lease; its members left", origin)
                self._drop_peer(origin)

    async def _tell(self) -> None:
        """Tell each topic's followers what changed there, in slices of the loop."""
        told, self._told = self._told, {}
        budget = LoopSlice()
        for topic, diff in told.items():
            if not (diff.joined or diff.left):
                continue
            joined = _entries(diff.joined, DIFF_LIMIT)
            left = _entries(diff.left, DIFF_LIMIT)
            only = set(diff.joined) | set(diff.left)
            for member in list(self._followers.get(topic, ())):
                entry = self._members.get(member)
                if entry is None or not entry.notify or (len(only) == 1 and entry.key in only):
                    continue  # gone meanwhile, not listening, or the change is its own
                if budget.spent():
                    await budget.next_turn()
                try:
                    member.presence_changed(topic, joined, left)
                except Exception:
                    logger.exception("telling %r about presence failed", member)

    async def _send(self, body: dict[str, Any]) -> None:
        broker = self._broker()
        if broker is None:
            return
        body["v"], body["o"] = _WIRE_VERSION, self.origin
        try:
            await broker.publish(f"{self.channel}:presence", compact_json(body).encode())
        except BrokerUnavailable as exc:
            self._failures += 1
            if self._failures == 1 or self._failures % 100 == 0:
                logger.warning("presence reached this process only: %s", exc)
        else:
            self.published += 1
            self._failures = 0

    # -- other processes ----------------------------------------------------------------------

    def _on_message(self, data: bytes) -> None:
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("v") != _WIRE_VERSION:
                raise ValueError("not a presence message of this version")
            origin, kind = body["o"], body["k"]
            if not isinstance(origin, str) or origin == self.origin:
                return
            self.received += 1
            self._apply(origin, kind, body)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            logger.warning("ignored a malformed presence message: %.200s", exc)
            return
        if self._answers or self._asks or any(d.joined or d.left for d in self._told.values()):
            self._wake_up()  # only for work: a beat that changed nothing opens no window

    def _apply(self, origin: str, kind: str, body: dict[str, Any]) -> None:
        now = aio.running_loop().time()
        if kind == "bye":
            self._drop_peer(origin)
            return
        peer = self._peers.get(origin)
        if peer is None:
            peer = self._peers[origin] = _Peer(now + self.lease)
        peer.expires = now + self.lease
        if kind == "sync":
            topic = body["t"]
            if isinstance(topic, str) and topic in self._local:
                self._answers.add(topic)
            return
        if kind == "beat":
            counts = body["c"]
            if not isinstance(counts, dict):
                raise ValueError("a beat's counts must be an object")
            for topic, held in list(peer.topics.items()):
                if topic not in counts and held:  # its last member left unseen
                    self._merge(peer, topic, {}, list(held), replace=False)
            for topic, number in counts.items():
                if topic in self._followers and len(peer.topics.get(topic, {})) != number:
                    self._asks.add(topic)  # we missed something: ask again
            return
        topic = body["t"]
        if not isinstance(topic, str) or topic not in self._followers:
            return  # nobody here follows it
        if kind == "diff":
            self._merge(peer, topic, _metas(body["j"]), _keys(body["l"]), replace=False)
        elif kind == "state":
            self._merge(peer, topic, _metas(body["m"]), [], replace=body.get("r") is True)

    def _merge(
        self, peer: _Peer, topic: str, joined: dict[str, Meta], left: list[str], *, replace: bool
    ) -> None:
        held = peer.topics.setdefault(topic, {})
        change = self._change(topic)
        if replace:
            for key in [key for key in held if key not in joined]:
                change.leave(key, held.pop(key))
        for key in left:
            meta = held.pop(key, None)
            if meta is not None:
                change.leave(key, meta)
        for key, meta in joined.items():
            known = held.get(key)
            if known != meta:
                held[key] = meta
                change.join(key, meta, fresh=known is None)
        if not held:
            del peer.topics[topic]

    def _drop_peer(self, origin: str) -> None:
        peer = self._peers.pop(origin, None)
        if peer is not None:
            for topic, held in peer.topics.items():
                change = self._change(topic)
                for key, meta in held.items():
                    change.leave(key, meta)
            self._wake_up()

    # -- the end ------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Publish this process's pending changes now (an app's shutdown: the leaves of its
        closed connections reach the other processes before this one exits)."""
        if not self._closed:
            await self._publish_changes()

    async def close(self) -> None:
        """Say ``bye`` to the other processes and stop (the hub's close)."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await aio.wait_all([task])
        if self._local:
            await self._send({"k": "bye"})


def _metas(value: object) -> dict[str, Meta]:
    if not isinstance(value, dict) or not all(isinstance(m, dict) for m in value.values()):
        raise ValueError("entries must be an object of objects")
    return value


def _keys(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ValueError("keys must be a list of strings")
    return value


class _suppress_timeout:
    """``with _suppress_timeout():`` around an ``aio.timeout`` block that may expire."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *rest: Any) -> bool:
        return exc_type is not None and issubclass(exc_type, TimeoutError)


async def _sleep(seconds: float) -> None:
    if seconds <= 0:
        await aio.checkpoint()
        return
    with _suppress_timeout():
        async with aio.timeout(seconds):
            await aio.sleep_forever()
