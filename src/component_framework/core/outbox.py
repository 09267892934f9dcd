"""The bounded outbox of one connection and its named overflow policy.

Owns the queue of a WebSocket connection's unsent messages: its bounds (a number of messages
and a number of characters of text), the :data:`~component_framework.core.config.OutboxPolicy`
and the coalescing of push renders. ``coalesce``: a push render carries the whole state, so a
newer one replaces the unsent one (messages queued after it keep their order) and only other
messages can overflow; each component of the connection (``key``) has its own pending push
render, so one component's render never replaces another's; ``disconnect``: every message
counts, whatever it is. Does not own sending, the send timeout or closing: the WebSocket
transport takes messages out of it and closes the socket (1013) when :meth:`Outbox.put`
answers :data:`OVERFLOW`. Pure: no asyncio, no I/O.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from component_framework.core.config import OutboxPolicy

__all__ = ["OVERFLOW", "QUEUED", "Outbox", "OutboxEntry", "Verdict", "fits_alone"]


class Verdict(enum.Enum):
    """What :meth:`Outbox.put` made of a message."""

    QUEUED = "queued"  # within the bounds: send it
    OVERFLOW = "overflow"  # over a bound: the connection is too slow, close it (1013)


QUEUED: Final = Verdict.QUEUED
OVERFLOW: Final = Verdict.OVERFLOW


def fits_alone(text: str, *, max_messages: int, max_bytes: int) -> bool:
    """Whether ``text`` is within an outbox's bounds on its own: with nothing waiting, it
    may go to the socket without a place in the queue (see :meth:`Outbox.passes`; a
    connection makes its outbox only when a message has to wait)."""
    return len(text) <= max_bytes and max_messages > 0


class OutboxEntry:
    """One queued message; ``dead`` when a newer push render replaced it (its text freed);
    ``key``: the component a push render shows."""

    __slots__ = ("dead", "key", "text")

    def __init__(self, text: str, key: str = "") -> None:
        self.text = text
        self.dead = False
        self.key = key


class Outbox:
    """The unsent messages of one connection, within ``max_messages`` and ``max_bytes``.

    Counted: :attr:`count` messages waiting (a replaced push render no longer counts) and
    :attr:`size` characters of their text. Iterating (and ``len``) shows the entries really
    held, a replaced push render included while it still holds a place before later messages.
    """

    __slots__ = (
        "_coalesce",
        "_dead",
        "_max_bytes",
        "_max_messages",
        "_pending_push",
        "_queue",
        "count",
        "size",
    )

    def __init__(self, *, max_messages: int, max_bytes: int, policy: OutboxPolicy) -> None:
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._coalesce = policy == "coalesce"
        self._queue: deque[OutboxEntry] | None = None  # only while messages wait: idle
        # connections are many, and an empty deque costs about 600 bytes
        #: The pending push render by component key, only while one waits (an empty dict is
        #: 64 bytes per idle connection).
        self._pending_push: dict[str, OutboxEntry] | None = None
        self._dead = 0  # replaced push renders still holding a place in the queue
        self.count = 0
        self.size = 0

    def put(self, text: str, *, push: bool = False, key: str = "") -> Verdict:
        """Queue ``text`` (``push``: a render of the whole state of component ``key`` that
        nobody asked for) and say whether the outbox is still within its bounds. After
        :data:`OVERFLOW` the message is queued all the same: the caller closes the connection
        and :meth:`clear` s the outbox."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        pending = self._pending_push
        if push and self._coalesce and pending is not None:
            stale = pending.get(key)
            if stale is not None:  # a newer render of the whole state supersedes it
                self.count -= 1
                self.size -= len(stale.text)
                if queue[-1] is stale:
                    queue.pop()
                else:  # messages after it keep their order: mark it, free its text
                    stale.dead = True
                    stale.text = ""
                    self._dead += 1
        entry = OutboxEntry(text, key)
        if self._dead and len(queue) >= self._max_messages:  # drop the dead places
            live = [queued for queued in queue if not queued.dead]
            queue.clear()
            queue.extend(live)
            self._dead = 0
        queue.append(entry)
        self.count += 1
        self.size += len(text)
        if push:
            if pending is None:
                pending = self._pending_push = {}
            pending[key] = entry
        if self.count > self._max_messages or self.size > self._max_bytes:
            return OVERFLOW
        return QUEUED

    def passes(self, text: str) -> bool:
        """Whether ``text`` may go to the socket without a place in the queue: nothing waits
        (nothing to keep in order, nothing to coalesce with) and it is within the bounds on
        its own, so :meth:`put` followed by :meth:`take` would hand it straight back."""
        return self._queue is None and fits_alone(
            text, max_messages=self._max_messages, max_bytes=self._max_bytes
        )

    def take(self) -> str | None:
        """The oldest unsent message, out of the outbox; ``None`` when there is none."""
        queue = self._queue
        while queue:
            entry = queue.popleft()
            if entry.dead:
                self._dead -= 1
                continue
            self.count -= 1
            self.size -= len(entry.text)
            pending = self._pending_push
            if pending is not None and pending.get(entry.key) is entry:
                del pending[entry.key]
            if not queue:  # every entry is out, the pending push renders too
                self._queue = self._pending_push = None
            return entry.text
        self._queue = self._pending_push = None
        return None

    def half_full(self) -> bool:
        """Whether the waiting messages reach half of either bound: a producer that can wait
        (a stream's frames, kept in its replay buffer) holds back until the outbox drains."""
        return self.count * 2 >= self._max_messages or self.size * 2 >= self._max_bytes

    def clear(self) -> None:
        """Drop every unsent message (the connection is closing or gone)."""
        self._queue = self._pending_push = None
        self.count = self.size = self._dead = 0

    def __len__(self) -> int:
        return 0 if self._queue is None else len(self._queue)

    def __iter__(self) -> Iterator[OutboxEntry]:
        return iter(() if self._queue is None else self._queue)
