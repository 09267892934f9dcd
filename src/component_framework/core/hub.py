"""The hub: which live components this process holds, and broadcasts to them.

Owns the index of live components (WebSocket connections and live SSE streams register as
:class:`Member`, by component name, component id and topic; a :class:`Membership` keeps one
member's entry), local delivery of a
:class:`Broadcast` in short slices of the event loop (and the :class:`TurnQueue` where members
queue the push renders a broadcast causes, so those are sliced too), and the link to a
:class:`~component_framework.core.broker.Broker` that
carries broadcasts to the other processes. A broadcast is delivered locally first, then
published; a process ignores its own messages when they come back from the broker, so losing
the broker never stops local delivery.

The default hub (:func:`default_hub`) is one of the documented pieces of global state: every
``ComponentASGI`` and every bare ``WebSocketManager()`` of a process share it, and it reads
``COMPONENT_FRAMEWORK_BROKER_URL`` when it is created.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Final, Protocol

from component_framework.core import aio
from component_framework.core.broker import Broker, BrokerUnavailable, broker_from_url
from component_framework.core.component import is_valid_event_name
from component_framework.core.events import MAX_EMIT_DEPTH, page_topic
from component_framework.core.presence import Presence
from component_framework.core.resume_store import ResumeStore, resume_store_of
from component_framework.core.turns import LoopSlice, TurnQueue
from component_framework.errors import ConfigurationError
from component_framework.protocol.compact import compact_json

__all__ = [
    "DEFAULT_CHANNEL",
    "ENV_BROKER_URL",
    "Broadcast",
    "Hub",
    "Member",
    "Membership",
    "default_hub",
    "reset_default_hub",
]

ENV_BROKER_URL: Final = "COMPONENT_FRAMEWORK_BROKER_URL"
DEFAULT_CHANNEL: Final = "component_framework:broadcast"
_WIRE_VERSION: Final = 1
logger = logging.getLogger("component_framework")


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One broadcast: an event and its payload for the live components it targets.

    A component is targeted when it matches every target given: ``component_name`` (every
    instance of a component), ``component_id`` (one instance, possibly open in several
    places) and ``topic`` (instances whose :meth:`Component.topics` include it)."""

    event: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    component_name: str | None = None
    component_id: str | None = None
    topic: str | None = None
    #: ``0``: a broadcast. ``n >= 1``: an event a component emitted on a page
    #: (``core.events``), ``n`` hops into its chain; only listeners that list it run it,
    #: checked as a client's event.
    emit_depth: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not is_valid_event_name(self.event):
            raise ValueError(
                f"invalid broadcast event {self.event!r}: expected a name of letters, digits "
                "and '_' that starts with a letter"
            )
        if self.component_name is None and self.component_id is None and self.topic is None:
            raise ValueError("a broadcast needs a target: component_name, component_id or topic")
        if not isinstance(self.payload, Mapping):
            raise TypeError(f"broadcast payload must be a mapping, got {type(self.payload)}")

    def matches(self, member: Member) -> bool:
        """Whether ``member`` is one of this broadcast's targets."""
        return (
            (self.component_name is None or member.component_name == self.component_name)
            and (self.component_id is None or member.component_id == self.component_id)
            and (self.topic is None or self.topic in member.topics)
        )

    def encode(self, origin: str) -> bytes:
        """The broker message (JSON); ``TypeError`` when the payload is not JSON data."""
        try:
            document = {
                "v": _WIRE_VERSION,
                "o": origin,
                "e": self.event,
                "p": self.payload,
                "n": self.component_name,
                "i": self.component_id,
                "t": self.topic,
                "d": self.emit_depth,
            }
            return compact_json(document).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(f"broadcast payload is not JSON data: {exc}") from None

    @classmethod
    def decode(cls, data: bytes) -> tuple[str, Broadcast]:
        """``(origin, broadcast)`` from a broker message; ``ValueError`` when it is not one."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"not a broadcast message: {exc!r:.200}") from None
        if not isinstance(document, dict) or document.get("v") != _WIRE_VERSION:
            raise ValueError("not a broadcast message of this version")
        origin, payload = document.get("o"), document.get("p")
        if not isinstance(origin, str) or not isinstance(payload, dict):
            raise ValueError("broadcast message without origin or payload")
        targets = [document.get(key) for key in ("n", "i", "t")]
        if not all(target is None or isinstance(target, str) for target in targets):
            raise ValueError("broadcast targets must be strings")
        depth = document.get("d", 0)
        if type(depth) is not int or depth < 0:
            raise ValueError("a broadcast's emit depth must be a whole number")
        name, component_id, topic = targets
        return origin, cls(
            document.get("e"),  # type: ignore[arg-type]
            payload,
            component_name=name,
            component_id=component_id,
            topic=topic,
            emit_depth=depth,
        )


class Member(Protocol):
    """A live component the hub can deliver broadcasts to."""

    @property
    def component_name(self) -> str: ...

    @property
    def component_id(self) -> str: ...

    @property
    def topics(self) -> frozenset[str]: ...

    def deliver(self, broadcast: Broadcast) -> None:
        """Take ``broadcast`` for processing; must return at once (queue it)."""
        ...


class Membership:
    """One member's entry in a hub: entered once (after the hub's broker link is up), its
    topics re-indexed only when they change, left once. The member's ``topics`` are these."""

    __slots__ = ("entered", "hub", "member", "topics")

    def __init__(self, hub: Hub, member: Member) -> None:
        self.hub = hub
        self.member = member
        self.topics: frozenset[str] = frozenset()
        self.entered = False

    async def enter(self, topics: frozenset[str]) -> None:
        """Start receiving broadcasts, with ``topics``; once entered, only :meth:`update`."""
        if self.entered:
            self.update(topics)
            return
        await self.hub.start()
        self.entered = True
        self.topics = topics
        self.hub.join(self.member)

    def update(self, topics: frozenset[str]) -> None:
        """The member's topics now (after a render); the hub re-indexes only a change."""
        if self.entered and topics != self.topics:
            self.topics = topics
            self.hub.retopic(self.member)

    def leave(self) -> None:
        """Stop receiving broadcasts (idempotent)."""
        if self.entered:
            self.entered = False
            self.hub.leave(self.member)


class Hub:
    """Live components of one process and the broker link to the others.

    ``broker``: a :class:`Broker`, a broker URL, or ``None`` (this process only). ``channel``:
    the broker channel; every process of one deployment must use the same one.
    ``presence_heartbeat``: seconds between this process's presence beats; a process that
    misses three in a row is taken for gone, with its members (``core.presence``).
    """

    def __init__(
        self,
        broker: Broker | str | None = None,
        *,
        channel: str = DEFAULT_CHANNEL,
        presence_heartbeat: float = 2.0,
    ):
        self.channel = channel
        self.origin = secrets.token_hex(8)
        #: Who is present in which topic, here and (through the broker) everywhere.
        self.presence = Presence(
            self.origin, channel, lambda: self._broker, heartbeat=presence_heartbeat
        )
        self._broker: Broker | None = None
        self._subscribed = False
        self._start_lock: aio.Lock | None = None
        self._by_name: dict[str, set[Member]] = {}
        self._by_topic: dict[str, set[Member]] = {}
        self._topics: dict[Member, frozenset[str]] = {}
        self._publish_failures = 0
        self._delivery_lock: aio.Lock | None = None
        self._deliveries: set[aio.Task] = set()
        #: Work that broadcasts cause for members (push renders), done in fair slices.
        self.turns = TurnQueue()
        if broker is not None:
            self.use_broker(broker)

    # -- configuration ---------------------------------------------------------------------

    @property
    def broker(self) -> Broker | None:
        """The broker link, if any."""
        return self._broker

    @property
    def resume_store(self) -> ResumeStore | None:
        """Where streams are published for other workers to resume: the broker's store
        (Redis Streams for a Redis broker), ``None`` without a broker."""
        return resume_store_of(self._broker) if self._broker is not None else None

    def use_broker(self, broker: Broker | str) -> None:
        """Connect this hub to other processes through ``broker`` (a broker or its URL).
        A hub has one broker: asking for a different one is a ``ConfigurationError``."""
        if isinstance(broker, str):
            current = getattr(self._broker, "url", None)
            if self._broker is not None and current == broker:
                return
            if self._broker is not None:
                raise ConfigurationError(
                    f"this hub already uses the broker {current!r}; it cannot switch to {broker!r}"
                )
            self._broker = broker_from_url(broker)
        elif self._broker is None or self._broker is broker:
            self._broker = broker
        else:
            raise ConfigurationError("this hub already uses another broker")

    async def start(self) -> None:
        """Subscribe to the broker channel if there is a broker (idempotent; called lazily by
        the transports and by broadcasts, since mounted apps get no lifespan events)."""
        if self._subscribed or self._broker is None:
            return
        if self._start_lock is None:
            self._start_lock = aio.new_lock()
        async with self._start_lock:
            if self._subscribed or self._broker is None:
                return
            await self._broker.subscribe(self.channel, self._on_broker_message)
            self._subscribed = True

    async def close(self) -> None:
        """Close the broker link for good (at process end; the default hub is shared)."""
        await self.presence.close()
        broker, self._subscribed = self._broker, False
        if broker is not None:
            await broker.close()

    # -- members ---------------------------------------------------------------------------

    def join(self, member: Member) -> None:
        """Start delivering broadcasts to ``member`` (call :meth:`start` first)."""
        self._by_name.setdefault(member.component_name, set()).add(member)
        self.retopic(member)

    def retopic(self, member: Member) -> None:
        """Re-read ``member.topics`` (after an event may have changed them)."""
        new = member.topics
        old = self._topics.get(member, frozenset())
        if new == old and member in self._topics:
            return
        for topic in old - new:
            self._discard(self._by_topic, topic, member)
        for topic in new - old:
            self._by_topic.setdefault(topic, set()).add(member)
        self._topics[member] = new

    def leave(self, member: Member) -> None:
        """Stop delivering to ``member`` (idempotent)."""
        self._discard(self._by_name, member.component_name, member)
        for topic in self._topics.pop(member, frozenset()):
            self._discard(self._by_topic, topic, member)

    @staticmethod
    def _discard(index: dict[str, set[Member]], key: str, member: Member) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(member)
            if not members:
                del index[key]

    def members(self, component_name: str | None = None) -> list[Member]:
        """Live members, all or of one component."""
        if component_name is not None:
            return list(self._by_name.get(component_name, ()))
        return [member for members in self._by_name.values() for member in members]

    def __len__(self) -> int:
        return len(self._topics)

    # -- delivery --------------------------------------------------------------------------

    def _targets(self, broadcast: Broadcast) -> list[Member]:
        """The members ``broadcast`` targets, in a list of their own (members may join or
        leave while it is delivered). A broadcast with one target takes its index's entry as
        it is: every member there matches (the common fan-out, by component name, thus costs
        no check per member); more targets are checked against each member of the first."""
        topic, name = broadcast.topic, broadcast.component_name
        if topic is not None:
            candidates: Iterable[Member] = self._by_topic.get(topic, ())
            single = name is None and broadcast.component_id is None
        elif name is not None:
            candidates = self._by_name.get(name, ())
            single = broadcast.component_id is None
        else:
            candidates = [member for members in self._by_name.values() for member in members]
            single = False
        if single:
            return list(candidates)
        return [member for member in candidates if broadcast.matches(member)]

    async def deliver(self, broadcast: Broadcast) -> int:
        """Hand ``broadcast`` to every matching member of this process; returns how many.
        Members are served in slices (:class:`~component_framework.core.turns.LoopSlice`,
        as long as those of :attr:`turns`) with a turn of the event loop between them, so
        that a broadcast to thousands of members does not hold every other connection of the
        worker for its whole duration.
        Deliveries are serialised (one lock, first come first served), so each member sees
        broadcasts in order."""
        if self._delivery_lock is None:
            self._delivery_lock = aio.new_lock()
        async with self._delivery_lock:
            members = self._targets(broadcast)
            delivered = 0
            budget = LoopSlice(self.turns.slice_seconds)
            present = self._topics
            for member in members:
                if perf_counter() >= budget.ends:  # (budget.spent(), without a call per member)
                    await budget.next_turn()
                if member not in present:  # left while we yielded
                    continue
                try:
                    member.deliver(broadcast)
                except Exception:  # one broken member must not stop the others
                    logger.exception("delivering a broadcast to %r failed", member)
                    continue
                delivered += 1
            return delivered

    async def broadcast(self, broadcast: Broadcast) -> int:
        """Deliver locally, then publish to the other processes through the broker (if any).
        Returns the number of local members reached. A broker outage is logged, not raised:
        local delivery has happened and the link reconnects by itself."""
        data = broadcast.encode(self.origin)  # fail on a bad payload before delivering anything
        delivered = await self.deliver(broadcast)
        broker = self._broker
        if broker is not None:
            try:
                await self.start()
                await broker.publish(self.channel, data)
            except BrokerUnavailable as exc:
                self._publish_failures += 1
                if self._publish_failures == 1 or self._publish_failures % 100 == 0:
                    logger.warning(
                        "broadcast %r reached this process only: the broker is unavailable (%s; "
                        "%d failed publishes so far)",
                        broadcast.event,
                        exc,
                        self._publish_failures,
                    )
            else:
                if self._publish_failures:
                    logger.warning(
                        "broker publishing works again after %d failures", self._publish_failures
                    )
                    self._publish_failures = 0
        return delivered

    async def emit_to_page(self, page: str, emitted: list[dict[str, Any]], depth: int) -> None:
        """Deliver the events a component ``emitted`` (``{"event", "payload"}`` each, checked
        by ``core.events``) to the live components of ``page`` here and, through the broker,
        in every process; ``depth``: the hop of the chain these events are at. Past
        ``MAX_EMIT_DEPTH`` the chain stops, with a warning."""
        if depth > MAX_EMIT_DEPTH:
            logger.warning(
                "events %s were not delivered: a chain of emitted events reached %d hops "
                "(do listeners emit to each other in a cycle?)",
                [item["event"] for item in emitted],
                depth,
            )
            return
        topic = page_topic(page)
        for item in emitted:
            await self.broadcast(
                Broadcast(item["event"], item["payload"], topic=topic, emit_depth=depth)
            )

    def _on_broker_message(self, data: bytes) -> None:
        try:
            origin, broadcast = Broadcast.decode(data)
        except (ValueError, TypeError) as exc:
            logger.warning("ignored a malformed broker message: %s", exc)
            return
        if origin != self.origin:
            task = aio.running_loop().create_task(self.deliver(broadcast))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)


_default_hub: Hub | None = None
_default_hub_lock = threading.Lock()


def default_hub() -> Hub:
    """The process-wide hub, created on first use with ``COMPONENT_FRAMEWORK_BROKER_URL``."""
    global _default_hub
    with _default_hub_lock:
        if _default_hub is None:
            url = os.environ.get(ENV_BROKER_URL, "").strip()
            _default_hub = Hub(url or None)
        return _default_hub


def reset_default_hub() -> Hub | None:
    """Forget the default hub (tests, or a process that changed its broker URL); returns the
    old one, which the caller should :meth:`Hub.close`."""
    global _default_hub
    with _default_hub_lock:
        old, _default_hub = _default_hub, None
        return old
