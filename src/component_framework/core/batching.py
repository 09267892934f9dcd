"""Batching of one component's stream operations in time, on the event loop.

Owns the timer side of stream operations: :class:`OpBatcher` pushes ops into a
:class:`~component_framework.core.streams.StreamCoalescer` and hands each due batch to a
callback, at once when a batch is due and otherwise from a loop timer at the coalescer's next
deadline. The SSE stream runs and the live sessions (WebSocket, live SSE) share it; what a batch
becomes on the wire belongs to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from component_framework.core.streams import StreamCoalescer, StreamOp

__all__ = ["OpBatcher"]


class OpBatcher:
    """Lossless, rate-limited batches of stream ops for one receiver.

    ``interval``: the shortest time between two batches (a batch is due sooner when a
    lifecycle op or many bytes are queued); ``emit``: called with each non-empty batch.
    """

    def __init__(self, interval: float, emit: Callable[[list[StreamOp]], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._coalescer = StreamCoalescer(interval=interval, max_delay=interval * 3)
        self._emit = emit
        self._timer: asyncio.TimerHandle | None = None

    async def push(self, op: StreamOp) -> None:
        """Queue ``op``; a due batch goes out now (then the loop gets a turn so that its
        readers can send it), otherwise when the coalescer's deadline comes."""
        now = self._loop.time()
        coalescer = self._coalescer
        coalescer.push(op, now)
        if coalescer.ready(now):
            if self.flush():
                await asyncio.sleep(0)
        elif self._timer is None:
            deadline = coalescer.next_deadline()
            if deadline is not None:
                self._timer = self._loop.call_at(deadline, self.flush)

    def flush(self) -> bool:
        """Emit what is queued as one batch now; True if there was anything."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ops = self._coalescer.flush(self._loop.time())
        if ops:
            self._emit(ops)
        return bool(ops)

    def cancel(self) -> None:
        """Stop the timer; queued ops are dropped (the receiver is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
