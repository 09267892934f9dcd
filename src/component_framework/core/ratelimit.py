"""Rate limits: token buckets, and the declared rate of an event handler.

Owns :class:`TokenBucket`, a pure counter (the caller passes the time), so it is tested without
clocks and shared by every transport that limits a client; :class:`TokenBuckets`, buckets by
key with a bound on how many are kept (per client address, per client and event); and
:func:`rate_limit`, the decorator that declares how often one client may run an ``on_<event>``
handler (:class:`EventRate`). Applying declared rates is the dispatcher's job; this module
neither reads clocks nor knows transports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final, TypeVar

from component_framework.errors import ConfigurationError

__all__ = [
    "MAX_BUCKETS",
    "EventRate",
    "TokenBucket",
    "TokenBuckets",
    "declared_rate",
    "rate_limit",
]

#: Buckets a :class:`TokenBuckets` keeps by default; the oldest are dropped first.
MAX_BUCKETS: Final = 10_000
_RATE_ATTRIBUTE: Final = "__component_event_rate__"
Handler = TypeVar("Handler", bound=Callable[..., object])


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; each message takes one."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Take a token at time ``now``: 0.0 when allowed, else the seconds until one is due."""
        tokens = self.tokens + (now - self.updated) * self.rate
        if tokens > self.burst:  # (no ``min()`` call: every request takes a token)
            tokens = self.burst
        self.updated = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


class TokenBuckets:
    """One :class:`TokenBucket` per key, at most ``limit`` of them: when full, the oldest
    tenth is dropped (a dropped bucket starts full again), so a flood of new keys costs
    bounded memory."""

    __slots__ = ("_buckets", "limit")

    def __init__(self, limit: int = MAX_BUCKETS) -> None:
        self.limit = limit
        self._buckets: dict[Hashable, TokenBucket] = {}

    def take(self, key: Hashable, rate: float, burst: int, now: float) -> float:
        """Take a token from ``key``'s bucket (created full with ``rate`` and ``burst``):
        0.0 when allowed, else the seconds until one is due."""
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= self.limit:
                for stale in list(buckets)[: max(1, self.limit // 10)]:
                    del buckets[stale]
            bucket = buckets[key] = TokenBucket(rate, burst, now)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True, slots=True)
class EventRate:
    """How often one client may run one event: ``per_second`` sustained, ``burst`` at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        per_second = self.per_second
        if (
            not isinstance(per_second, int | float)
            or isinstance(per_second, bool)
            or not math.isfinite(per_second)
            or per_second <= 0
        ):
            raise ConfigurationError(
                f"rate_limit: per_second must be a positive number, got {per_second!r}"
            )
        if type(self.burst) is not int or self.burst < 1:
            raise ConfigurationError(
                f"rate_limit: burst must be a positive int, got {self.burst!r}"
            )


def rate_limit(per_second: float, burst: int | None = None) -> Callable[[Handler], Handler]:
    """Declare how often one client may run the decorated ``on_<event>`` handler.

    ``per_second`` events per second sustained (``0.5`` is one every two seconds), and
    ``burst`` at once after a pause (default: one second's worth, at least 1). Each client
    address has its own budget per component and event, shared by HTTP, SSE and WebSocket of
    one app; beyond it the event is refused before any user code runs (``429 rate_limited``
    with ``Retry-After``; over WebSocket a ``rate_limited`` error message, the socket stays
    open). Broadcasts and in-process ``dispatch`` calls are not counted: the limit is on what
    a client asks for. The handler itself is returned unchanged."""
    rate = EventRate(per_second, 1 if burst is None else burst)  # checks per_second first
    if burst is None:
        rate = EventRate(per_second, max(1, math.ceil(per_second)))

    def declare(handler: Handler) -> Handler:
        if not callable(handler) or not hasattr(handler, "__dict__"):
            raise ConfigurationError(
                f"@rate_limit applies to an on_<event> method, got {handler!r}"
            )
        setattr(handler, _RATE_ATTRIBUTE, rate)
        return handler

    return declare


def declared_rate(handler: object) -> EventRate | None:
    """The rate ``@rate_limit`` declared on ``handler``, if any."""
    rate = getattr(handler, _RATE_ATTRIBUTE, None)
    return rate if isinstance(rate, EventRate) else None
