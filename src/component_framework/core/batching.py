"""Batching of stream operations in time, on the event loop: one frame clock per app.

Owns the timer side of stream operations: :class:`FrameClock` is an app's one loop timer for
every stream that has operations waiting (it ticks once per frame interval while any stream is
dirty, flushing them all at the tick, and is not scheduled at all when none is);
:class:`OpBatcher` pushes ops into a :class:`~component_framework.core.streams.StreamCoalescer`
and hands each due batch to a callback: at once when a batch is due (the first op after a quiet
frame, a lifecycle op, a full batch), otherwise at the clock's next tick.
:class:`BatchingSink` is the component's stream sink built on it, the one that SSE stream runs
and live sessions (WebSocket, live SSE) both hand their component; what a batch becomes on the
wire belongs to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from component_framework.core import aio
from component_framework.core.streams import StreamCoalescer, StreamOp, checked_text_op

if TYPE_CHECKING:
    from component_framework.core.component import Component
    from component_framework.core.renderer import Renderer

__all__ = ["BatchingSink", "FrameClock", "OpBatcher", "StreamOutlet", "TemplateHost"]

logger = logging.getLogger("component_framework")


class FrameClock:
    """One loop timer for every :class:`OpBatcher` of an app.

    A batcher with ops that are not due yet joins the clock's dirty set; the clock's single
    timer fires at the first such deadline and then once per ``interval`` while any batcher
    is dirty, and each tick flushes every dirty batcher that is due by the middle of the next
    frame (the others, such as a stream that sent its first op at once just before the tick,
    wait for the next tick, so a stream still gets about one frame per interval). With
    nothing dirty no timer is scheduled. The clock binds to the loop of its first
    batcher; a batcher on another loop while this one has work (an app served from two loops
    at once) gets ``False`` from :meth:`schedule` and keeps a timer of its own.
    """

    __slots__ = ("_dirty", "_due", "_late", "_loop", "_timer", "interval", "ticks")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._loop: aio.Loop | None = None
        self._timer: aio.Timer | None = None
        self._due = 0.0
        #: The loop ran late at the last measure (a tick, or a batcher's turn of the loop).
        self._late = False
        #: The batchers waiting for the next tick, in the order they got dirty.
        self._dirty: dict[OpBatcher, None] = {}
        #: Ticks so far (for tests and diagnostics).
        self.ticks = 0

    @property
    def scheduled(self) -> bool:
        """Whether the clock's timer is set (some batcher has ops waiting)."""
        return self._timer is not None

    @property
    def dirty(self) -> int:
        """How many batchers wait for the next tick."""
        return len(self._dirty)

    def overdue(self, now: float) -> bool:
        """Whether the loop runs late: the tick is more than half a frame past its time, or
        the last measure (:meth:`observe`, the last tick's delay) said so."""
        if self._timer is not None and now > self._due + self.interval / 2:
            return True
        return self._late

    def observe(self, turn: float) -> None:
        """A batcher gave the loop a turn after its frame and got it back ``turn`` seconds
        later: longer than half a frame means the loop runs late (it has more ready work than
        a frame holds), until a tick or a later turn says otherwise."""
        self._late = turn > self.interval / 2

    def schedule(self, batcher: OpBatcher, loop: aio.Loop, deadline: float) -> bool:
        """Flush ``batcher`` at the first tick at or after about ``deadline``; ``False`` when
        the clock works for another loop right now."""
        if self._loop is not loop:
            if self._dirty or self._timer is not None:
                return False
            self._loop = loop
        self._dirty[batcher] = None
        if self._timer is None:
            self._set(loop, deadline)
        return True

    def _set(self, loop: aio.Loop, when: float) -> None:
        self._due = when
        self._timer = loop.call_at(when, self._tick)

    def discard(self, batcher: OpBatcher) -> None:
        """``batcher`` flushed by itself or is gone: not at the next tick."""
        self._dirty.pop(batcher, None)

    def _tick(self) -> None:
        self._timer = None
        self.ticks += 1
        dirty, self._dirty = self._dirty, {}
        loop = self._loop
        now = loop.time() if loop is not None else 0.0
        self._late = now > self._due + self.interval / 2
        due_by = now + self.interval / 2
        for batcher in dirty:
            try:
                if not batcher.flush_at_tick(due_by):
                    self._dirty[batcher] = None
            except Exception:  # one stream's bad batch must not hold back the others
                logger.exception("a stream batch could not be sent")
        if self._dirty and loop is not None:
            self._set(loop, loop.time() + self.interval)


class OpBatcher:
    """Lossless, rate-limited batches of stream ops for one receiver.

    ``interval``: the shortest time between two batches (a batch is due sooner when a
    lifecycle op or many bytes are queued, and at once for the first op after a quiet
    interval); ``emit``: called with each non-empty batch; ``clock``: the app's frame clock
    that flushes batches which are not due at once (without one, the batcher sets a timer of
    its own). While the clock runs late (the loop is overloaded), an op that is due only
    because its stream was quiet waits for the tick too: the further behind the loop, the
    more each frame carries, instead of a frame per late token. The clock learns that the
    loop runs late from its own ticks and from the turn of the loop each batcher gives after
    a frame it sent at once (an overloaded loop may have no tick to be late: every stream,
    quiet for longer than a frame between two of its turns, would send each op alone).
    """

    __slots__ = ("_clock", "_coalescer", "_emit", "_loop", "_measuring", "_scheduled", "_timer")

    def __init__(
        self,
        interval: float,
        emit: Callable[[list[StreamOp]], None],
        clock: FrameClock | None = None,
    ) -> None:
        self._loop = aio.running_loop()
        self._coalescer = StreamCoalescer(interval=interval, max_delay=interval * 3)
        self._emit = emit
        self._clock = clock
        self._timer: aio.Timer | None = None
        self._scheduled = False
        #: A frame went out at once and the loop has not taken its turn since (see :meth:`sent`).
        self._measuring = False

    def push(self, op: StreamOp) -> bool:
        """Queue ``op``; a due batch goes out now (True: then the caller tells :meth:`sent`),
        otherwise at the frame clock's next tick."""
        now = self._loop.time()
        coalescer = self._coalescer
        coalescer.push(op, now)
        pressing = coalescer.pressing()
        if self._scheduled and not pressing:
            return False  # the tick that flushes this stream is set already
        deadline = coalescer.next_deadline()  # ready(now): pressing, or due by time
        if deadline is None:
            return False
        if pressing or (now >= deadline and not self._late(now)):
            return self.flush()
        if not self._scheduled:
            self._schedule(deadline)
        return False

    def append_text(self, stream: str, text: str, checked: bool = False) -> bool:
        """Queue a plain text append of ``text`` to ``stream`` without a coroutine, as
        :meth:`push` of its op would (the cheap path of a token stream); ``False``: the caller
        pushes the op instead. It joins the text op of ``stream`` that waits for the clock's
        tick, if that loses nothing (no op is built); otherwise, with ``checked`` (``stream``
        is a name an op has carried, so valid), its op is built unchecked and pushed here.
        Never while the producer owes the loop a turn (:attr:`owes_turn`)."""
        if self._measuring:
            return False
        coalescer = self._coalescer
        if self._scheduled and coalescer.append_text(stream, text):
            return True
        if not checked:
            return False
        now = self._loop.time()
        deadline = coalescer.start_text(stream, text, now)  # a batch's first token, no op
        if deadline is None:  # ops wait, or a token as large as a batch
            if self.push(checked_text_op(stream, text)):
                self.sent()
        elif not self._scheduled:  # what push does with a batch that is not pressing
            if now >= deadline and not self._late(now):
                if self.flush():
                    self.sent()
            else:
                self._schedule(deadline)
        return True

    def sent(self) -> None:
        """A batch went out at once (:meth:`push` returned True): a callback measures the
        loop's next turn for the clock (longer than half a frame: the loop runs late)."""
        if not self._measuring:
            self._measuring = True
            aio.after_turn(self._turned, self._loop.time())

    def _turned(self, started: float) -> None:
        self._measuring = False
        if self._clock is not None:
            self._clock.observe(self._loop.time() - started)

    @property
    def owes_turn(self) -> bool:
        """A batch went out at once and the loop has not turned since: the producer has not
        waited for anything meanwhile (it runs flat out) and must give the loop a turn
        (:meth:`turn`) before its next op, so that it cannot keep the loop to itself. A
        paced producer, which waits anyway, is never held."""
        return self._measuring

    async def turn(self) -> None:
        """Give the loop a turn (the callback of :meth:`sent` measures it for the clock)."""
        await aio.checkpoint()

    def _late(self, now: float) -> bool:
        clock = self._clock
        return clock is not None and clock.overdue(now)

    def _schedule(self, deadline: float) -> None:
        self._scheduled = True
        clock = self._clock
        if clock is None or not clock.schedule(self, self._loop, deadline):
            self._timer = self._loop.call_at(deadline, self.flush)

    def flush(self) -> bool:
        """Emit what is queued as one batch now; True if there was anything."""
        self._unschedule()
        ops = self._coalescer.flush(self._loop.time())
        if ops:
            self._emit(ops)
        return bool(ops)

    def flush_at_tick(self, due_by: float) -> bool:
        """The clock's tick, which took this batcher off its dirty set, flushes it if its
        batch is due by ``due_by`` (by time, size or a lifecycle op): :meth:`flush` without
        the unscheduling the tick already did. ``False``: not due, it waits for the next."""
        coalescer = self._coalescer
        if not coalescer.ready(due_by):
            return False
        self._scheduled = False
        ops = coalescer.flush(self._loop.time())  # the time of this flush, not the tick's
        if ops:
            self._emit(ops)
        return True

    def _unschedule(self) -> None:
        if self._scheduled:
            self._scheduled = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            elif self._clock is not None:
                self._clock.discard(self)

    def cancel(self) -> None:
        """Stop waiting for a tick; queued ops are dropped (the receiver is gone)."""
        self._unschedule()


class StreamOutlet(Protocol):
    """Where a sink's batches go (a live session's outlet, a stream run)."""

    def stream(self, ops: list[StreamOp]) -> None:
        """Send one batch of stream operations."""
        ...


class TemplateHost(Protocol):
    """What renders a component's template for a sink (``Dispatcher``: with children)."""

    def render_template(self, component: Component) -> str:
        """The HTML of ``component``'s template."""
        ...


class BatchingSink:
    """A component's stream sink (``Component.stream_sink``) while a transport drives it.

    Its stream operations are batched (:class:`OpBatcher`, created at the first one, on
    ``clock`` when given) into ``outlet.stream``; :meth:`flush` sends the pending batch, which the
    owner does before each render, so operations always reach the client before the render
    that follows them; after :meth:`close` operations are dropped (a task the handler left
    behind may still call ``stream_*``). :meth:`render` serves ``stream_to`` without html,
    with ``renderer``.
    """

    __slots__ = (
        "_batcher",
        "_checked",
        "_clock",
        "_interval",
        "_outlet",
        "_templates",
        "closed",
        "renderer",
        "streamed",
    )

    def __init__(
        self,
        renderer: Renderer | None,
        interval: float,
        outlet: StreamOutlet,
        templates: TemplateHost | None = None,
        clock: FrameClock | None = None,
    ) -> None:
        self.renderer = renderer
        #: What renders a template for the owner (the ``Dispatcher``: with children). The
        #: sink holds objects, not their bound methods, which would cost every held
        #: component 64 bytes each while it streams nothing.
        self._templates = templates
        self._interval = interval
        self._outlet = outlet
        self._clock = clock if clock is not None and clock.interval == interval else None
        self._batcher: OpBatcher | None = None
        #: Whether an operation ever came here: until then :meth:`flush` has nothing to send,
        #: and the owner's render need not call it.
        self.streamed = False
        #: The stream of the last op sent here: a valid name (ops are checked when made), so
        #: a token naming this same object needs no check again (:meth:`append_text`).
        self._checked: str | None = None
        self.closed = False

    async def send_op(self, op: StreamOp) -> None:
        """Queue ``op``; a due batch goes to the outlet (see :meth:`OpBatcher.push`)."""
        if self.closed:
            return
        batcher = self._batcher
        if batcher is None:
            emit = self._outlet.stream
            batcher = self._batcher = OpBatcher(self._interval, emit, self._clock)
            self.streamed = True
        elif batcher.owes_turn:
            await batcher.turn()
            if self.closed:
                return
        self._checked = op.stream
        if batcher.push(op):
            batcher.sent()

    def append_text(self, stream: str, text: str) -> bool:
        """Queue a plain text append of ``text`` to ``stream`` here and now, without an op
        when it joins the text that waits for the next frame, and without checking the name
        again when the last op sent here carried this very name (the same ``str`` object, as
        a handler's constant is; see :meth:`OpBatcher.append_text`);
        ``False``: send the op (the first token, after a close, or when the producer owes
        the loop a turn)."""
        batcher = self._batcher
        checked = stream is self._checked  # the very object that op carried, not a lookalike
        return batcher is not None and batcher.append_text(stream, text, checked)

    def render(self, component: Component) -> str:
        """Render ``component``'s template (for ``stream_to`` without html)."""
        if self._templates is not None:
            return self._templates.render_template(component)
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
