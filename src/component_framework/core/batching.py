"""Batching of one component's stream operations in time, on the event loop.

Owns the timer side of stream operations: :class:`OpBatcher` pushes ops into a
:class:`~component_framework.core.streams.StreamCoalescer` and hands each due batch to a
callback, at once when a batch is due and otherwise from a loop timer at the coalescer's next
deadline. :class:`BatchingSink` is the component's stream sink built on it, the one that SSE
stream runs and live sessions (WebSocket, live SSE) both hand their component; what a batch
becomes on the wire belongs to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from component_framework.core import aio
from component_framework.core.streams import StreamCoalescer, StreamOp

if TYPE_CHECKING:
    from component_framework.core.component import Component
    from component_framework.core.renderer import Renderer

__all__ = ["BatchingSink", "OpBatcher"]


class OpBatcher:
    """Lossless, rate-limited batches of stream ops for one receiver.

    ``interval``: the shortest time between two batches (a batch is due sooner when a
    lifecycle op or many bytes are queued); ``emit``: called with each non-empty batch.
    """

    def __init__(self, interval: float, emit: Callable[[list[StreamOp]], None]) -> None:
        self._loop = aio.running_loop()
        self._coalescer = StreamCoalescer(interval=interval, max_delay=interval * 3)
        self._emit = emit
        self._timer: aio.Timer | None = None

    async def push(self, op: StreamOp) -> None:
        """Queue ``op``; a due batch goes out now (then the loop gets a turn so that its
        readers can send it), otherwise when the coalescer's deadline comes."""
        now = self._loop.time()
        coalescer = self._coalescer
        coalescer.push(op, now)
        if coalescer.ready(now):
            if self.flush():
                await aio.checkpoint()
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


class BatchingSink:
    """A component's stream sink (``Component.stream_sink``) while a transport drives it.

    Its stream operations are batched (:class:`OpBatcher`, created at the first one) into
    ``emit``; :meth:`flush` sends the pending batch, which the owner does before each render,
    so operations always reach the client before the render that follows them; after
    :meth:`close` operations are dropped (a task the handler left behind may still call
    ``stream_*``). :meth:`render` serves ``stream_to`` without html, with ``renderer``.
    """

    __slots__ = ("_batcher", "_emit", "_interval", "_template", "closed", "renderer")

    def __init__(
        self,
        renderer: Renderer | None,
        interval: float,
        emit: Callable[[list[StreamOp]], None],
        template: Callable[[Component], str] | None = None,
    ) -> None:
        self.renderer = renderer
        #: How the owner renders a template (``Dispatcher.render_template``: with children).
        self._template = template
        self._interval = interval
        self._emit = emit
        self._batcher: OpBatcher | None = None
        self.closed = False

    async def send_op(self, op: StreamOp) -> None:
        """Queue ``op``; a due batch goes to ``emit`` (see :meth:`OpBatcher.push`)."""
        if self.closed:
            return
        batcher = self._batcher
        if batcher is None:
            batcher = self._batcher = OpBatcher(self._interval, self._emit)
        await batcher.push(op)

    def render(self, component: Component) -> str:
        """Render ``component``'s template (for ``stream_to`` without html)."""
        if self._template is not None:
            return self._template(component)
        return component.render(self.renderer)

    def flush(self) -> bool:
        """Emit the pending operations as one batch now; True if there were any."""
        batcher = self._batcher
        return batcher is not None and batcher.flush()

    def close(self) -> None:
        """Drop pending operations and every later one (idempotent)."""
        self.closed = True
        if self._batcher is not None:
            self._batcher.cancel()
            self._batcher = None
