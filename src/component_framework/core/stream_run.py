"""Stream runs: one streaming handler running as a task, its frames, replay and resume grace.

Owns what outlives a single connection: the task that runs the handler (one render frame per
``yield``, batched ``stream`` frames for stream operations, then ``done`` or ``error``), the
bounded replay buffer that lets a reconnecting client get exactly the frames it missed, and the
resume grace (the task keeps running for a while after its last reader left; with nobody back it
is cancelled, so the handler's ``finally`` blocks run). With a resume store
(``core.resume_store``, chosen by the broker) each run is also published there, so a reconnect
to another worker can follow it; a run followed that way outlives its grace like a run with a
local reader. :class:`StreamRegistry` holds the runs of one app; a live SSE subscription is a
run whose task holds a live session (its outlet, which writes the run's frames, belongs to the
SSE transport: ``asgi.live_stream``). Frames are kept encoded as SSE, built only by
``protocol.sse``'s frame builders (the one streaming wire format so far); this module numbers
them. Transports do all I/O.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from component_framework.core import aio
from component_framework.core.batching import BatchingSink
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.dispatch import (
    Dispatcher,
    DispatchResult,
    PreparedCall,
)
from component_framework.core.driver import drive_stream
from component_framework.core.live import LiveSession
from component_framework.core.resume_store import RemoteRun, ResumeStore, RunLog
from component_framework.core.server_state import WriteBehind
from component_framework.core.streams import StreamOp
from component_framework.errors import (
    ComponentError,
    StreamTimeout,
    error_document,
    report_failure,
)
from component_framework.protocol.answer import AnswerFormat
from component_framework.protocol.sse import (
    StreamFramer,
    broadcast_frame,
    done_frame,
    error_frame,
    listening_frame,
    render_frame,
)

__all__ = ["Frame", "FrameFormat", "StreamRegistry", "StreamRun"]

logger = logging.getLogger("component_framework")
#: A run's render frames: the annotated fragment or the render document (``protocol.answer``).
FrameFormat = AnswerFormat


#: One frame of a run, ready for the wire: ``(sequence number, encoded SSE frame)``, encoded
#: once however many readers send it. The replay buffer keeps the encoded frames alone (their
#: numbers follow from ``next_seq``): a tuple kept per frame was an object the collector counts
#: until its first young collection, whose stream of survivors promoted every in-flight object of
#: every stream and set off a full collection about once a second at 600 paced streams.
Frame = tuple[int, bytes]


class StreamRun:
    """One running (or recently finished) stream and the frames it produced."""

    def __init__(
        self,
        run_id: str,
        component_name: str,
        frame_format: FrameFormat,
        *,
        grace: float,
        max_frames: int,
        max_bytes: int,
        on_closed: Callable[[StreamRun], None],
        debug: bool = False,
    ) -> None:
        self.id = run_id
        self.component_name = component_name
        self.format: FrameFormat = frame_format
        self.grace = grace
        self.debug = debug
        #: The replay buffer: the encoded frames numbered ``next_seq - len(wires)`` on.
        self.wires: deque[bytes] = deque()
        self.held_bytes = 0
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.next_seq = 1
        self.last_render: Frame | None = None
        self.finished = False
        self.readers = 0
        self.task: aio.Task | None = None
        self._grace_timer: aio.Timer | None = None
        self._wakeups: set[aio.Event] = set()
        #: Readers told of each new frame by a call instead of their event (``attach``),
        #: and the calls alone, made again when a reader comes or goes (not at every frame).
        self._listeners: dict[aio.Event, Callable[[], None]] = {}
        self._calls: tuple[Callable[[], None], ...] = ()
        self._on_closed = on_closed
        self._closed = False
        #: The run's entry in the deployment's resume store (``None``: this worker only).
        self.log: RunLog | None = None
        self._checks: set[aio.Task] = set()
        self._stream_frames = StreamFramer(run_id)
        #: Called once when the run is closed (a page connection's count of the client's runs).
        self.on_close: list[Callable[[], None]] = []

    # -- producing frames ------------------------------------------------------------------

    def _next_id(self) -> str | None:
        """The ``id`` of the next frame, ``<run>.<seq>``; ``None`` once the run ended (a task
        the handler left behind may still call ``stream_*``: the final frame was sent)."""
        if self.finished or self._closed:
            logger.debug("stream %s: a frame after the end was dropped", self.id)
            return None
        return f"{self.id}.{self.next_seq}"

    def _keep(self, wire: bytes, *, render: bool = False) -> None:
        """Add the next frame (encoded with :meth:`_next_id`) to the replay buffer, within
        its bounds, and wake the readers."""
        if render:
            self.last_render = (self.next_seq, wire)
        self.next_seq += 1
        wires = self.wires
        wires.append(wire)
        self.held_bytes += len(wire)
        while len(wires) > self.max_frames or (self.held_bytes > self.max_bytes and len(wires) > 1):
            self.held_bytes -= len(wires.popleft())
        for wakeup in self._wakeups:  # :meth:`_wake`, written out: once per frame
            wakeup.set()
        for listener in self._calls:
            listener()
        if self.log is not None:
            self.log.notify()

    def _wake(self) -> None:
        """Tell every reader that something changed (a new frame, the end)."""
        for wakeup in self._wakeups:
            wakeup.set()
        for listener in self._calls:  # a reader that leaves meanwhile is still called once
            listener()

    def stream(self, ops: list[StreamOp]) -> None:
        """A batch of stream operations as one ``stream`` frame."""
        if self.finished or self._closed:
            self._next_id()  # logs the drop
            return
        if len(ops) == 1:  # a token stream's common batch: one text append, no dicts
            (op,) = ops
            text = op.text
            if op.op == "text" and op.mode == "append" and op.target is None and text is not None:
                self._keep(self._stream_frames.text(op.stream, text, self.next_seq))
                return
        self._keep(self._stream_frames.frame([op.to_wire() for op in ops], self.next_seq))

    def emit_render(self, result: DispatchResult) -> None:
        """One render frame (its driver flushed the stream operations before it first)."""
        if (frame_id := self._next_id()) is not None:
            self._keep(render_frame(result, self.format, frame_id), render=True)

    def emit_done(self, result: DispatchResult) -> None:
        """The final frame of a run that completed: the last snapshot, so a client can go on."""
        if (frame_id := self._next_id()) is not None:
            self._keep(done_frame(result, frame_id))

    def emit_error(self, error: ComponentError) -> None:
        """The final frame of a run that failed: ``error``'s document (a safe message; details
        are in the log, and in the frame only with ``debug``)."""
        if (frame_id := self._next_id()) is not None:
            self._keep(error_frame(error_document(error, debug=self.debug), frame_id))

    def emit_broadcast(self, event: str, payload: Mapping[str, Any]) -> None:
        """A broadcast the component has no handler for, forwarded to the client."""
        if (frame_id := self._next_id()) is not None:
            self._keep(broadcast_frame(event, payload, frame_id))

    def emit_listening(self, page: str) -> None:
        """A live subscription hears the events emitted on ``page`` (``protocol.sse``)."""
        if (frame_id := self._next_id()) is not None:
            self._keep(listening_frame(page, frame_id))

    def close_after_finish(self) -> None:
        """End a live run from inside: readers get the frames so far, then the run goes."""
        self.mark_finished()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def mark_finished(self) -> None:
        """Mark the run finished; its frames stay for the grace period, then go."""
        self.finished = True
        self._wake()
        if self.log is not None:
            self.log.notify()
        if self.readers == 0:
            self._schedule_close()

    # -- reading frames --------------------------------------------------------------------

    @property
    def frames(self) -> list[Frame]:
        """The frames the replay buffer keeps, oldest first (a copy)."""
        first = self.next_seq - len(self.wires)
        return [(first + index, wire) for index, wire in enumerate(self.wires)]

    @property
    def first_kept(self) -> int:
        """The sequence number of the oldest frame kept (``0`` with none)."""
        return self.next_seq - len(self.wires) if self.wires else 0

    def frames_after(self, seq: int) -> list[Frame]:
        """Frames after ``seq``. A reader that fell behind the replay buffer first gets the
        latest render older than what is kept, so its page shows the current state."""
        wires = self.wires
        last = self.next_seq - 1
        if not wires or seq >= last:
            return []
        first = self.next_seq - len(wires)
        if seq + 1 >= first:  # the common case: only the newest few, without copying the rest
            return [(last + 1 + index, wires[index]) for index in range(seq - last, 0)]
        kept = self.frames
        render = self.last_render
        if render is not None and seq < render[0] < first:
            kept.insert(0, render)
        return kept

    def attach(
        self, wakeup: aio.Event | None = None, listener: Callable[[], None] | None = None
    ) -> aio.Event:
        """A reader arrives: stop any grace countdown; returns the event set on new frames
        (``wakeup``, when the reader reads several runs: a page connection). With
        ``listener``, that is called instead, at once, on each new frame and at the end (an
        SSE reader sends a frame from there when its task is idle, and sets the event
        otherwise); it must not raise."""
        self.readers += 1
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        if wakeup is None:
            wakeup = aio.new_event()
        if listener is None:
            self._wakeups.add(wakeup)
        else:
            self._listeners[wakeup] = listener
            self._calls = tuple(self._listeners.values())
        return wakeup

    def detach(self, wakeup: aio.Event) -> None:
        """A reader left: with no reader left, start the grace countdown."""
        self._wakeups.discard(wakeup)
        if self._listeners.pop(wakeup, None) is not None:
            self._calls = tuple(self._listeners.values())
        self.readers -= 1
        if self.readers == 0:
            self._schedule_close()

    def _schedule_close(self) -> None:
        if self._closed:
            return
        if self.grace <= 0:
            self.close()
        elif self._grace_timer is None:
            self._grace_timer = aio.running_loop().call_later(self.grace, self._grace_over)

    def _grace_over(self) -> None:
        """The grace after the last local reader left is over: close, unless a reader on
        another worker follows the run through the resume store (then wait another grace)."""
        self._grace_timer = None
        if self.log is None:
            self.close()
        elif not self._closed:
            check = aio.running_loop().create_task(self._close_unless_followed(self.log))
            self._checks.add(check)
            check.add_done_callback(self._checks.discard)

    async def _close_unless_followed(self, log: RunLog) -> None:
        followed = await log.followed()
        if self._closed or self.readers or self._grace_timer is not None:
            return  # closed meanwhile, or a reader came back (its leaving restarts the grace)
        if followed:
            self._schedule_close()
        else:
            self.close()

    def close(self) -> None:
        """Cancel the task if it still runs and free the frames (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.log is not None:  # first: the store tells a finished run from a cancelled one
            self.log.close()
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.wires.clear()
        self.held_bytes = 0
        self.finished = True
        self._wake()
        self._on_closed(self)
        for callback in self.on_close:
            callback()

    @property
    def closed(self) -> bool:
        """True once the run is gone (its id answers ``204`` from now on)."""
        return self._closed


#: Hands the events a run's handler emitted to the live components of its page.
PageEvents = Callable[[list[dict[str, Any]]], Coroutine[Any, Any, None]]


class _RunRenders:
    """The renders of one run's handler (:func:`_drive`): :meth:`render` flushes the stream
    ops queued before it and stores the component's server-held state in order behind the
    frames; :meth:`show` sends it and hands the events it emitted to the page. One slotted
    object per run in place of two closures and their cells (fewer objects for the collector
    to walk while the run lives)."""

    __slots__ = ("dispatcher", "page_events", "publishing", "refused", "run", "sink", "writer")

    def __init__(
        self,
        run: StreamRun,
        dispatcher: Dispatcher,
        sink: BatchingSink,
        page_events: PageEvents | None,
    ) -> None:
        self.run = run
        self.dispatcher = dispatcher
        self.sink = sink
        self.page_events = page_events
        self.writer: WriteBehind | None = None
        self.refused: list[ComponentError] | None = None
        self.publishing: set[aio.Task] | None = None

    def render(self, held: Component) -> DispatchResult:
        self.sink.flush()
        result = self.dispatcher.render(held)
        if result.writes:  # server-held state: stored in order behind the frames
            writer = self.writer
            if writer is None:
                settings = self.dispatcher.settings
                self.refused = []
                writer = self.writer = WriteBehind(
                    self.dispatcher.state.store,
                    settings.state_ttl,
                    self.run.component_name,
                    self.refused.append,
                )
            writer.submit(result.writes)
        return result

    def show(self, result: DispatchResult) -> None:
        self.run.emit_render(result)
        emitted = (result.effects or {}).get("emit")
        if emitted and self.page_events is not None:
            task = aio.running_loop().create_task(self.page_events(emitted))
            publishing = self.publishing
            if publishing is None:
                publishing = self.publishing = set()
            publishing.add(task)
            task.add_done_callback(publishing.discard)


async def _drive(
    run: StreamRun,
    dispatcher: Dispatcher,
    plan: PreparedCall,
    component: Component,
    page_events: PageEvents | None,
) -> None:
    """The task of a run: the handler driven as a stream (``core.driver``), a render frame
    per ``yield`` (or one), then ``done``; ``error`` on failure, and ``stream_timeout`` after
    ``Settings.stream_max_seconds``. Stream operations go out as ``stream`` frames, each
    batch before the frame that follows it; after the end they are dropped. Events a render
    emitted go to ``page_events`` too (the page's live listeners; the client runtime
    delivers them to the others from the render's effects)."""
    interval = dispatcher.settings.stream_frame_interval
    sink = BatchingSink(
        dispatcher.renderer,
        interval,
        run,
        dispatcher,
        dispatcher.frame_clock,
    )
    renders = _RunRenders(run, dispatcher, sink, page_events)
    try:
        component.stream_sink = sink
        outcome = dispatcher.call_handler(plan, component)
        result = await drive_stream(
            dispatcher,
            plan,
            component,
            outcome,
            render=renders.render,
            show=renders.show,
            stopped="the stream",
        )
        if renders.writer is not None:  # the done frame's reference is valid when it arrives
            await renders.writer.flush()
        if renders.refused:
            run.emit_error(renders.refused[0])
        else:
            run.emit_done(result)
    except aio.cancellation():
        raise
    except StreamTimeout as timeout:
        limit = dispatcher.settings.stream_max_seconds
        logger.warning("stream of %r stopped after %g s", run.component_name, limit)
        sink.flush()
        run.emit_error(timeout)
    except Exception as exc:  # a framework bug too: still end the stream with a frame
        sink.flush()
        run.emit_error(report_failure(exc, f"in the stream of {run.component_name!r}"))
    finally:
        sink.close()
        run.mark_finished()


async def _hold_live(run: StreamRun, session: LiveSession) -> None:
    """The task of a live run: it only waits; cancelling it (grace over, shutdown) ends the
    subscription and whatever handler is running."""
    try:
        await aio.sleep_forever()
    finally:
        await session.aclose()


class StreamRegistry:
    """The runs of one app, by id; the shutdown path cancels them all.

    ``store``: called when a run opens, it returns the deployment's resume store (the hub's
    broker picks it, and may be configured after the app was built), or ``None`` for runs
    that only this worker can resume."""

    def __init__(self, store: Callable[[], ResumeStore | None] | None = None) -> None:
        self.runs: dict[str, StreamRun] = {}
        self._store = store

    def start_run(
        self,
        dispatcher: Dispatcher,
        plan: PreparedCall,
        frame_format: FrameFormat,
        grace: float,
        component: Component,
        page_events: PageEvents | None = None,
    ) -> StreamRun:
        """Start running ``plan``'s handler on ``component`` (opened by
        ``Dispatcher.open_component``) as a task; returns its run. ``page_events``: where
        the events it emits go besides its frames (the live components of its page)."""
        run = self.open_run(plan.cls.component_name, frame_format, grace, dispatcher.settings)
        run.task = aio.running_loop().create_task(
            _drive(run, dispatcher, plan, component, page_events),
            name=f"component-stream-{run.id}",
        )
        return run

    def hold_live(self, run: StreamRun, session: LiveSession) -> None:
        """Make a live subscription ``run``'s task: ``session`` (whose outlet writes the run's
        frames) lives until the run is closed (grace over, shutdown), then it ends."""
        run.task = aio.running_loop().create_task(
            _hold_live(run, session), name=f"component-live-{run.id}"
        )

    def get(self, run_id: str) -> StreamRun | None:
        """The live or recently finished run ``run_id``."""
        return self.runs.get(run_id)

    def open_run(
        self, component_name: str, frame_format: FrameFormat, grace: float, settings: Settings
    ) -> StreamRun:
        """A new run of ``component_name``, known by its id, with no task yet (a handler's
        run gets one from :meth:`start_run`, a live subscription's from :meth:`hold_live`)."""
        run = StreamRun(
            secrets.token_urlsafe(12),
            component_name,
            frame_format,
            grace=grace,
            max_frames=settings.stream_replay_frames,
            max_bytes=settings.stream_replay_bytes,
            on_closed=self._forget,
            debug=settings.debug,
        )
        self.runs[run.id] = run
        store = self._store() if self._store is not None else None
        if store is not None:
            run.log = store.publish(run)
        return run

    async def published(self, run: StreamRun) -> None:
        """Once this returns, other workers can find ``run`` in the resume store (if any)."""
        if run.log is not None:
            await run.log.opened()

    async def find_elsewhere(self, component_name: str, run_id: str) -> RemoteRun | None:
        """A run of ``component_name`` that another worker produces, from the resume store;
        ``None`` without a store or when no worker has it."""
        store = self._store() if self._store is not None else None
        if store is None:
            return None
        return await store.find(component_name, run_id)

    def _forget(self, run: StreamRun) -> None:
        self.runs.pop(run.id, None)

    async def close_all(self) -> None:
        """Cancel every run and wait for their handlers' ``finally`` blocks."""
        tasks = [run.task for run in self.runs.values() if run.task is not None]
        for run in list(self.runs.values()):
            run.close()
        if tasks:
            await aio.wait_all(tasks)

    def __len__(self) -> int:
        return len(self.runs)
