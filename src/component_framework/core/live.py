"""Live sessions: one component held by a connection for the connection's whole life.

Owns what the WebSocket transport and live SSE streams share: the held component and the
steps that change it (a client's join and events, broadcasts from the hub), each a short
method here. Its other jobs live in units of their own, which the session composes: the
serial work queue (:class:`~component_framework.core.inbox.Inbox`: one piece of work at a
time, a task only while there is work), the hub entry (:class:`~component_framework.core.hub
.Membership`: name, id and topics), the stream sink of its handlers
(:class:`~component_framework.core.batching.BatchingSink`) and the driving of generator
handlers (:func:`~component_framework.core.driver.drive_stream`). Renders caused by broadcasts
are coalesced: however many broadcasts are queued, one render goes out once they are all
applied; a broadcast applied to an idle session queues its push render in the hub's turn queue
(``core.turns``), where it waits for its turn once (later broadcasts only update the state), so
a broadcast to many sessions renders them in fair slices of the event loop. A client's event
for a plain ``def`` handler on an idle session runs in the transport's reading task
(:meth:`LiveSession.run_now`), with no task of its own.

A transport supplies an :class:`Outlet` that turns results into its wire messages; the session
never sees a socket.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from component_framework.core import aio
from component_framework.core.access import AccessContext
from component_framework.core.batching import BatchingSink
from component_framework.core.component import Component
from component_framework.core.dispatch import (
    ComponentCall,
    Dispatcher,
    DispatchResult,
    PreparedCall,
    close_awaitable,
    is_async_function,
)
from component_framework.core.driver import drive_stream
from component_framework.core.events import page_topic
from component_framework.core.hub import Broadcast, Hub, Membership
from component_framework.core.inbox import Inbox
from component_framework.core.presence import DIFF_LIMIT, PRESENCE_EVENT, Presence, checked_meta
from component_framework.core.server_state import WriteBehind, decode_state
from component_framework.core.streams import StreamOp
from component_framework.errors import (
    ComponentError,
    ConfigurationError,
    InvalidChild,
    InvalidTrigger,
    NotJoined,
    PayloadValidationError,
    SnapshotTooLarge,
    URLNotAllowed,
    report_failure,
)
from component_framework.protocol.websocket import Ref

__all__ = ["Event", "Join", "LiveSession", "Outlet", "Ref", "held_child"]

logger = logging.getLogger("component_framework")
_NO_TOPICS: Final[frozenset[str]] = frozenset()


class Outlet(Protocol):
    """Where a live session's results go; every method must return at once (queue)."""

    def render(self, result: DispatchResult, ref: Ref) -> None:
        """A new render: the answer to the message ``ref``, or a push (``ref`` is None)."""
        ...

    def stream(self, ops: list[StreamOp]) -> None:
        """A batch of stream operations, in order."""
        ...

    def error(self, error: ComponentError, ref: Ref) -> None:
        """The message ``ref`` failed (``ref`` None: a join at connect or a broadcast)."""
        ...

    def forward(self, event: str, payload: Mapping[str, Any]) -> None:
        """A broadcast the component has no handler for."""
        ...

    def done(self, result: DispatchResult, ref: Ref) -> None:
        """A generator handler started by ``ref`` finished; ``result`` is the final state."""
        ...

    def overflow(self) -> None:
        """The session's queue is full: it cannot keep up (the transport should close)."""
        ...


@dataclass(slots=True)
class Join:
    """Mount the component (``params``) or resume it (``snapshot``), replacing any held one."""

    params: Mapping[str, Any] = field(default_factory=dict)
    snapshot: str | None = None
    ref: Ref = None
    #: The signed snapshots of its children that the page holds (``core.nesting``).
    children: tuple[str, ...] = ()
    #: The URL of the page the component is on (the join message's ``url``), for URL state.
    url: str | None = None


@dataclass(slots=True)
class Event:
    """Run the handler of ``event`` on the held component (or, with ``validate``, only check
    those fields of its form, as the person types); ``component_id``: on the held child of
    that id instead (its render goes out as a message of its own)."""

    event: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    ref: Ref = None
    validate: tuple[str, ...] = ()
    component_id: str | None = None


Work = Join | Event | Broadcast


def _descendants(component: Component | None) -> list[Component]:
    """The held children of ``component``, theirs, ..., as its last render kept them."""
    found: list[Component] = []
    pending = [] if component is None else list(component.children.values())
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(child.children.values())
    return found


def _hears(component: Component, event: str) -> bool:
    """Whether ``component`` or one of its held children lists the page's ``event``."""
    return any(event in type(c).listens for c in (component, *_descendants(component)))


@functools.cache
def _parameter_names(handler: Callable[..., Any]) -> frozenset[str] | None:
    """The names ``handler`` takes by keyword; ``None`` when it takes ``**kwargs``."""
    parameters = inspect.signature(handler).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return frozenset(parameters)


def _accepted(handler: Callable[..., Any], offered: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``offered`` that ``handler`` takes (all of them with ``**kwargs``)."""
    names = _parameter_names(handler)
    if names is None:
        return offered
    return {name: value for name, value in offered.items() if name in names}


def held_child(component: Component, component_id: str) -> Component:
    """The child (grandchild, ...) of ``component`` with ``component_id``, as its last render
    kept it; ``InvalidChild`` (400) when it holds none (a render removed it meanwhile)."""
    for child in _descendants(component):
        if child.id == component_id:
            return child
    raise InvalidChild(
        f"this connection holds no child component {component_id[:64]!r}", "unknown_child"
    )


class LiveSession:
    """One held component and the steps that change it (see the module docstring).

    ``inbox_limit``: most queued messages (:meth:`submit` refuses more; a broadcast that
    finds the queue full calls :meth:`Outlet.overflow`). ``frame_interval``: the batching
    window of stream operations. ``context``: the client's, for authorization.
    """

    __slots__ = (
        "__weakref__",
        "_broadcast_plan",
        "_dirty",
        "_early",
        "_early_limit",
        "_emit_depth",
        "_membership",
        "_name",
        "_presence_key",
        "_presence_waiting",
        "_publishing",
        "_push_job",
        "_push_queued",
        "_rendered_snapshot",
        "_rendered_state",
        "_sink",
        "_work",
        "_writer",
        "closed",
        "component",
        "context",
        "dispatcher",
        "hub",
        "outlet",
        "page",
    )

    def __init__(
        self,
        dispatcher: Dispatcher,
        hub: Hub,
        component_name: str,
        outlet: Outlet,
        *,
        inbox_limit: int,
        frame_interval: float,
        context: AccessContext | None = None,
        page: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.hub = hub
        #: Who holds the connection: checked at every join and client event (not broadcasts).
        self.context = context
        self.outlet = outlet
        self.component: Component | None = None
        self._name = component_name
        self._work: Inbox[Work] = Inbox(inbox_limit, self)
        self._membership = Membership(hub, self)
        self._sink = BatchingSink(
            dispatcher.renderer,
            frame_interval,
            outlet,
            dispatcher,
            dispatcher.frame_clock,
        )
        self._dirty = False
        self._broadcast_plan: PreparedCall | None = None
        self._push_queued = False  # a push render waits in the hub's turn queue
        #: The job queued for it, made at the first one: a bound method made per broadcast
        #: lives through the whole fan-out, so the collector would promote one per member to
        #: its oldest generation, and a full collection walks every connection's objects.
        self._push_job: Callable[[], None] | None = None
        #: The snapshot of the last render sent: the state the client holds.
        self._rendered_snapshot: str | None = None
        #: Server-held state (``core.server_state``): the store writes of the renders, in
        #: order behind them, and the state text of the last render sent.
        self._writer: WriteBehind | None = None
        self._rendered_state: str | None = None
        self.closed = False
        #: The page load the client runtime named (``core.events``): the session hears the
        #: events other components of that page emit, and its own go to them.
        self.page = page
        self._emit_depth = 0  # the hop of the emitted event being handled (0: none)
        self._publishing: set[aio.Task] | None = None  # created at the first emit
        #: Events of the page heard before the component is ready: run after its join.
        self._early: list[Broadcast] | None = None
        self._early_limit = inbox_limit
        #: This connection's presence entry key (``core.presence``), for its whole life.
        self._presence_key: str | None = None
        #: Queued ``on_presence`` calls by topic, with their growing joined / left lists: a
        #: busy session gets one call per topic however many changes arrive meanwhile (made
        #: at the first: most sessions never see one, and an empty dict is 64 bytes).
        self._presence_waiting: (
            dict[str, tuple[Broadcast, list[dict[str, Any]], list[dict[str, Any]]]] | None
        ) = None

    # -- the Member protocol (the hub entry itself is ``_membership``) --------------------------

    @property
    def component_name(self) -> str:
        return self._name

    @property
    def component_id(self) -> str:
        return self.component.id if self.component is not None else ""

    @property
    def topics(self) -> frozenset[str]:
        return self._membership.topics

    def holds(self, component_id: str) -> bool:
        """Whether the held component, or a child it holds, has ``component_id``."""
        component = self.component
        if component is None:
            return False
        return component.id == component_id or any(
            child.id == component_id for child in _descendants(component)
        )

    def deliver(self, broadcast: Broadcast) -> None:
        """Apply a broadcast: at once when the session is idle and the handler is sync (no
        task, the common fan-out case; the push render waits for its turn), else queued; a
        full queue means this session cannot keep up."""
        component = self.component
        if broadcast.emit_depth:  # an event of the page: only a listener hears it
            self._hear(broadcast)
            return
        if self._work.task is None and component is not None and not self.closed:
            handler = type(component).events.get(broadcast.event)
            if handler is None:  # forwarded: after the render of what came before it
                self._push_due()
                self._at_once(lambda: self._start_broadcast(broadcast, component))
                return
            if not is_async_function(handler):
                try:  # (what _at_once does, without a closure per member of a fan-out)
                    self._apply(broadcast, component)
                except Exception as exc:
                    self._failed(exc, None)
                return
        if not self.submit(broadcast):
            self.outlet.overflow()

    def __repr__(self) -> str:
        return f"<LiveSession {self._name!r} id={self.component_id!r}>"

    # -- the work queue (the queue itself is ``_work``) ------------------------------------------

    def submit(self, work: Work) -> bool:
        """Queue ``work`` without waiting; False when the queue is full."""
        if self.closed:
            return True  # a closing session drops work silently
        return self._work.put(work)

    def run_now(
        self, work: Event, task: aio.Task
    ) -> Coroutine[Any, Any, None] | Literal[False] | None:
        """Run ``work`` in the caller's own task ``task`` instead of queueing it, when it
        may: an event for the held component whose handler is a plain ``def``, on an idle
        session (nothing queued or running, so the order of the answers holds); else
        ``False``, and the caller queues it (joins, coroutines and generators, which may wait
        long, always take the queue's task). It runs up to its first wait: the rest, if any,
        is handed back for the caller to await at once (a plain ``def`` handler's event
        leaves none). The push render of broadcasts applied meanwhile follows its answer.
        (One call decides and runs: each layer of an event's path is code and data that the
        CPU's caches have to hold.)"""
        component = self.component
        if component is None or self.closed:
            return False
        if work.component_id is not None and work.component_id != component.id:
            return False
        handler = type(component).events.get(work.event)
        if handler is not None and is_async_function(handler):  # None: refused at once
            return False
        return self._work.run_now(work, task, self._event_step)  # False: the inbox is busy

    @property
    def busy(self) -> bool:
        """Whether work is queued or running (a push render waiting for its turn included)."""
        return self._work.task is not None or self._push_queued

    @property
    def _task(self) -> aio.Task | None:
        """The task working the queue off, if any (read by tests and diagnostics)."""
        return self._work.task

    @property
    def _inbox(self) -> Inbox[Work]:
        """The queued work (read by tests and diagnostics: its ``len``)."""
        return self._work

    # -- the inbox's owner (``core.inbox.InboxOwner``) ---------------------------------------

    async def process(self, work: Work) -> None:
        """One piece of work; its failure becomes an error for the client, never a dead
        session."""
        if type(work) is Event:
            rest = self._event_step(work)  # (no coroutine of its own for a plain def)
            if rest is not None:
                await rest
            return
        try:
            if type(work) is Join:
                await self._join(work)
            else:
                assert isinstance(work, Broadcast)
                if self._presence_waiting and work.event == PRESENCE_EVENT:
                    self._presence_runs(work)
                await (self._emitted(work) if work.emit_depth else self._broadcast(work))
        except aio.cancellation():
            raise
        except Exception as exc:  # a framework bug too: keep the session alive and say so
            self._failed(exc, None if isinstance(work, Broadcast) else work.ref)

    def drained(self) -> None:
        """The queue ran dry: the push render of the broadcasts it applied, if any."""
        component = self.component
        if self._dirty and component is not None and not self.closed:
            self._dirty = False
            try:
                self.outlet.render(self._render(component), None)
            except Exception as exc:
                self._failed(exc, None)

    def _at_once(self, step: Callable[[], object]) -> None:
        """Run a sync step outside the queue; its failure becomes an error for the client."""
        try:
            step()
        except Exception as exc:
            self._failed(exc, None)

    def _failed(self, exc: Exception, ref: Ref) -> None:
        component = self.component
        if isinstance(exc, URLNotAllowed | InvalidTrigger) and component is not None:
            # A refused effect fails the whole step: its state change goes too.
            with contextlib.suppress(ComponentError):  # a failing hydrate is logged there
                self._roll_back(component)
        error = report_failure(exc, f"in the live component {self._name!r}")
        self._sink.flush()
        self.outlet.error(error, ref)

    # -- the steps -----------------------------------------------------------------------------

    async def _join(self, work: Join) -> None:
        dispatcher = self.dispatcher
        call = ComponentCall(self._name, None, {}, work.params, work.snapshot, None, self.context)
        call.children = work.children
        call.page_url = work.url
        plan = dispatcher.prepare(call)
        component = await dispatcher.open(plan)
        component.stream_sink = self._sink
        component.held = True  # its children live with it, lazy ones render in place
        if type(component).presence:  # present before its first render: it sees itself
            await self._enter_presence(component)
        # A failing render keeps the held component.
        result = dispatcher.render(component, plan.children)
        self._writer = None  # a new component: a new chain of versions
        self._store(result)
        self._rendered_snapshot = result.snapshot
        previous, self.component = self.component, component
        if previous is not None:
            previous.stream_sink = None
        self._dirty = False
        await self._membership.enter(self._read_topics(component))
        self.outlet.render(result, work.ref)
        self._release_early()

    def _event_step(self, work: Event) -> Coroutine[Any, Any, None] | None:
        """A client's event as one piece of work, up to its first wait (the rest handed back,
        see :meth:`_event_now`); its failure becomes an error for the client."""
        try:
            rest = self._event_now(work)
        except Exception as exc:  # a framework bug too: keep the session alive and say so
            self._failed(exc, work.ref)
            return None
        return None if rest is None else self._event_rest(rest, work.ref)

    async def _event_rest(self, rest: Coroutine[Any, Any, None], ref: Ref) -> None:
        try:
            await rest
        except aio.cancellation():
            raise
        except Exception as exc:
            self._failed(exc, ref)

    async def _event(self, work: Event) -> None:
        rest = self._event_now(work)
        if rest is not None:
            await rest

    def _event_now(self, work: Event) -> Coroutine[Any, Any, None] | None:
        """:meth:`_event` up to its first wait: a plain ``def`` handler runs and its render
        goes to the outlet here; what has to wait (an ``async def`` handler's outcome, a
        generator, a held child's event) is handed back to await."""
        component = self.component
        if component is None:
            raise NotJoined("no component is mounted on this connection: send a 'join' first")
        if work.component_id is not None and work.component_id != component.id:
            return self._child_event(work, held_child(component, work.component_id))
        dispatcher = self.dispatcher
        plan = dispatcher.prepare_live_event(
            type(component), work.event, work.payload, self.context, work.validate
        )
        outcome = dispatcher.call_handler(plan, component)
        if outcome is not None and (inspect.isasyncgen(outcome) or inspect.isawaitable(outcome)):
            return self._event_outcome(plan, component, outcome, work.ref)
        result = self._render(component)
        self._dirty = False
        self.outlet.render(result, work.ref)
        return None

    async def _event_outcome(
        self, plan: PreparedCall, component: Component, outcome: Any, ref: Ref
    ) -> None:
        """The rest of an event whose handler handed back a generator or an awaitable."""
        if inspect.isasyncgen(outcome):
            result = await self._stream(plan, component, outcome, ref)
            self._dirty = False
            self.outlet.done(result, ref)
            return
        await self.dispatcher.await_user_code(plan, "handler", outcome)
        result = self._render(component)
        self._dirty = False
        self.outlet.render(result, ref)

    async def _child_event(self, work: Event, child: Component) -> None:
        """An event for a held child: its handler, then its render as a message of its own
        (the parent is not rendered; its next render keeps the child as it is now)."""
        dispatcher = self.dispatcher
        plan = dispatcher.prepare_live_event(
            type(child), work.event, work.payload, self.context, work.validate
        )
        outcome = dispatcher.call_handler(plan, child)
        if inspect.isasyncgen(outcome):
            close_awaitable(outcome)
            raise ConfigurationError("a held child's handler cannot stream: make it async def")
        if outcome is not None and inspect.isawaitable(outcome):
            await dispatcher.await_user_code(plan, "handler", outcome)
        self._sink.flush()
        result = dispatcher.render(child)
        self._store(result)
        self._pass_on(result)
        self.outlet.render(result, work.ref)

    async def _emitted(self, broadcast: Broadcast) -> None:
        """An event another component of the page emitted, run as the client's own event
        (its rate, binding and 422, authorization) on the held component and on each held
        child that lists it; each render is pushed, a failure is that component's error only."""
        self._emit_depth = broadcast.emit_depth
        component = self.component
        try:
            if component is not None and broadcast.event in type(component).listens:
                await self._event(Event(broadcast.event, broadcast.payload))
            for child in _descendants(component):
                if broadcast.event in type(child).listens:
                    work = Event(broadcast.event, broadcast.payload, component_id=child.id)
                    try:
                        await self._child_event(work, child)
                    except Exception as exc:  # that child's failure only
                        self._failed(exc, None)
        finally:
            self._emit_depth = 0

    def _apply(self, broadcast: Broadcast, component: Component) -> None:
        """A broadcast to a sync handler on an idle session: applied now, rendered later."""
        outcome = self._start_broadcast(broadcast, component)
        if outcome is not None:
            close_awaitable(outcome)
            raise ConfigurationError(
                f"the handler of broadcast {broadcast.event!r} is a plain def that returned "
                "an awaitable: declare it 'async def'"
            )
        if self._dirty and not self._push_queued:
            self._push_queued = True
            job = self._push_job
            if job is None:
                job = self._push_job = self._push_turn
            self.hub.turns.submit(job)

    def _push_turn(self) -> None:
        self._push_queued = False
        self._push_due()

    def _push_due(self) -> None:
        """The push render of applied broadcasts, unless nothing changed since the last
        render, or the running queue renders at its end anyway; its failure becomes an error
        for the client."""
        component = self.component
        if self._dirty and self._work.task is None and component is not None and not self.closed:
            self._dirty = False
            try:  # (what _at_once does, without its call: a fan-out's member pushes here)
                self.outlet.render(self._render(component), None)
            except Exception as exc:
                self._failed(exc, None)

    def _start_broadcast(self, broadcast: Broadcast, component: Component) -> Any:
        """Forward ``broadcast`` or call its handler; returns what a handler returned that
        still needs awaiting (``None`` when done). Marks the component for a push render."""
        if broadcast.event not in type(component).events:
            self._sink.flush()
            self.outlet.forward(broadcast.event, broadcast.payload)
            return None
        dispatcher = self.dispatcher
        try:
            plan = dispatcher.prepare_broadcast(
                type(component), broadcast.event, broadcast.payload, broadcast
            )
        except PayloadValidationError as exc:  # the server's own broadcast is wrong
            logger.error("broadcast %r does not fit %r: %s", broadcast.event, self._name, exc)
            return None
        self._dirty = True  # rendered once the queue is empty
        outcome = dispatcher.call_handler(plan, component)
        if outcome is None:
            return None
        self._broadcast_plan = plan
        return outcome

    async def _broadcast(self, broadcast: Broadcast) -> None:
        component = self.component
        if component is None:
            return  # not mounted (yet): nothing to update
        outcome = self._start_broadcast(broadcast, component)
        if outcome is None:
            return
        plan = self._broadcast_plan
        assert plan is not None
        if inspect.isasyncgen(outcome):
            await self._stream(plan, component, outcome, None)
            self._dirty = False
        elif inspect.isawaitable(outcome):
            await self.dispatcher.await_user_code(plan, "handler", outcome)

    async def _stream(
        self, plan: PreparedCall, component: Component, generator: Any, ref: Ref
    ) -> DispatchResult:
        """A generator handler, driven to its end: each render to the outlet for ``ref``."""
        outlet = self.outlet
        return await drive_stream(
            self.dispatcher,
            plan,
            component,
            generator,
            render=self._render,
            show=lambda result: outlet.render(result, ref),
            stopped="the handler",
        )

    def _render(self, component: Component) -> DispatchResult:
        sink = self._sink
        if sink.streamed:  # stream operations before the render that follows them
            sink.flush()
        try:
            result = self.dispatcher.render(component)
        except SnapshotTooLarge:
            self._roll_back(component)
            raise
        if result.writes:
            self._store(result)
        self._rendered_snapshot = result.snapshot
        # Every render of a class that does not override topics() and hears no page's
        # events has the same hub topics: then a render does not read them again.
        cls = type(component)
        fixed = cls.topics is Component.topics and (self.page is None or not cls.listens)
        if not fixed and self._membership.entered:
            self._membership.update(self._read_topics(component))
        if self._presence_key is not None and component is self.component:
            self._update_presence(component)
        if result.effects:
            self._pass_on(result)
        return result

    def _store(self, result: DispatchResult) -> None:
        """Queue the store writes of ``result`` (server-held state) behind its render; a
        refused one reaches the client as an error message."""
        if not result.writes:
            return
        writer = self._writer
        if writer is None:
            dispatcher = self.dispatcher
            writer = self._writer = WriteBehind(
                dispatcher.state.store,
                dispatcher.settings.state_ttl,
                self._name,
                lambda error: self.outlet.error(error, None),
            )
        writer.submit(result.writes)
        if result.server_held:
            self._rendered_state = result.writes[-1].write.data

    # -- presence (``core.presence``) ---------------------------------------------------------

    async def _enter_presence(self, component: Component) -> None:
        presence = self.hub.presence
        if self._presence_key is None:
            self._presence_key = Presence.new_key()
        component.presence_book = presence
        component.presence_key = self._presence_key
        topics, meta = self._presence_of(component)
        notify = PRESENCE_EVENT in type(component).events
        await presence.enter(self, self._presence_key, topics, meta, notify=notify)

    def _update_presence(self, component: Component) -> None:
        """After a render: the topics and meta now (only a change is told)."""
        assert self._presence_key is not None
        topics, meta = self._presence_of(component)
        notify = PRESENCE_EVENT in type(component).events
        self.hub.presence.update(self, self._presence_key, topics, meta, notify=notify)

    def _presence_of(self, component: Component) -> tuple[frozenset[str], dict[str, Any] | None]:
        topics = self._read_topics(component)
        if self.page is not None:
            topics -= {page_topic(self.page)}
        where = f"{type(component).__qualname__}.presence_meta()"
        if not topics:
            raise ConfigurationError(
                f"{type(component).__qualname__}.presence is on, but its topics() names none: "
                "a component is present in its topics"
            )
        try:
            meta = component.presence_meta()
        except Exception as exc:
            raise self.dispatcher.handler_error(self._name, "presence_meta", exc) from exc
        return topics, None if meta is None else checked_meta(meta, where)

    def presence_changed(
        self, topic: str, joined: list[dict[str, Any]], left: list[dict[str, Any]]
    ) -> None:
        """Others joined or left ``topic``: ``on_presence`` runs as a broadcast to this
        component (with the arguments its signature takes)."""
        component = self.component
        if component is None or self.closed:
            return
        handler = type(component).events.get(PRESENCE_EVENT)
        if handler is None:
            return
        waiting = None if self._presence_waiting is None else self._presence_waiting.get(topic)
        if waiting is not None:  # a call for this topic still waits in the queue: it takes
            for held, more in zip(waiting[1:], (joined, left), strict=True):  # these too
                held.extend(more)
                del held[DIFF_LIMIT:]
            return
        joined, left = list(joined), list(left)  # its own lists: they may grow while queued
        offered = {"topic": topic, "joined": joined, "left": left}
        broadcast = Broadcast(
            PRESENCE_EVENT, _accepted(handler, offered), component_id=component.id
        )
        if self._work.task is not None or is_async_function(handler):  # it will be queued
            if self._presence_waiting is None:
                self._presence_waiting = {}
            self._presence_waiting[topic] = (broadcast, joined, left)
        self.deliver(broadcast)

    def _presence_runs(self, broadcast: Broadcast) -> None:
        """A queued ``on_presence`` call starts: later changes queue a call of their own."""
        waiting_calls = self._presence_waiting
        assert waiting_calls is not None  # called only when some call waits
        for topic, waiting in list(waiting_calls.items()):
            if waiting[0] is broadcast:
                del waiting_calls[topic]

    def _pass_on(self, result: DispatchResult) -> None:
        """The events ``result``'s component emitted, to the page."""
        if result.effects and "emit" in result.effects and self.page is not None:
            self._emit_to_page(result.effects["emit"])

    # -- events of the page (``core.events``) ----------------------------------------------

    async def listen_to_page(self) -> bool:
        """Hear the page's events from now on, before the component is joined (those that
        arrive meanwhile run after the join); the transports call it as the connection is
        accepted. False when there is nothing to hear (no page, or a class that lists no
        event): then the session enters the hub at its join, as for broadcasts."""
        cls = self.dispatcher.registry.get(self._name)
        if self.page is None or not cls.listens:
            return False
        try:
            await self._membership.enter(frozenset({page_topic(self.page)}))
        except Exception as exc:  # the broker link: the join reports it again
            self._failed(exc, None)
            return False
        return True

    def _hear(self, broadcast: Broadcast) -> None:
        """An event of the page, when the class lists it: queued, or held until the component
        is joined (as many as the queue holds: past that the session cannot keep up)."""
        component = self.component
        if component is not None:  # it, or one of the children it holds, may list the event
            if not _hears(component, broadcast.event):
                return
        elif broadcast.event not in self.dispatcher.registry.get(self._name).listens:
            return
        if component is not None:
            if not self.submit(broadcast):
                self.outlet.overflow()
        elif self._early is None:
            self._early = [broadcast]
        elif len(self._early) < self._early_limit:
            self._early.append(broadcast)
        else:
            self.outlet.overflow()

    def _release_early(self) -> None:
        """The events of the page heard before the join, now that the component is there."""
        early, self._early = self._early or (), None
        for broadcast in early:
            if not self.submit(broadcast):
                self.outlet.overflow()
                return

    def _emit_to_page(self, emitted: list[dict[str, Any]]) -> None:
        """The events this component emitted, to the page's live components (the client
        runtime delivers them to the others, from the render's effects)."""
        assert self.page is not None
        publish = self.hub.emit_to_page(self.page, emitted, self._emit_depth + 1)
        task = aio.running_loop().create_task(publish)
        if self._publishing is None:
            self._publishing = set()
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def _roll_back(self, component: Component) -> None:
        """Put the held component back to the state of the last render sent, which its client
        holds: a state too large to sign is never kept, so client and server still agree."""
        component.take_effects()  # asked for by the change that is undone
        token = self._rendered_snapshot
        if token is None:
            return
        dispatcher = self.dispatcher
        snapshot = dispatcher.signer.verify(token, component.component_name, expire=False)
        state = snapshot.state
        if snapshot.version is not None and self._rendered_state is not None:
            state = decode_state(self._rendered_state)  # a reference: the state is ours
        try:
            component.hydrate(state)
        except Exception as exc:
            raise dispatcher.handler_error(self._name, "hydrate", exc) from exc

    def _read_topics(self, component: Component) -> frozenset[str]:
        """The hub topics of ``component`` now (a render reads them again only when they may
        have changed: see :meth:`_render`)."""
        if type(component).topics is Component.topics:  # not overridden: no topics
            topics: frozenset[str] = _NO_TOPICS
        else:
            try:
                topics = frozenset(component.topics())
            except Exception as exc:
                raise self.dispatcher.handler_error(self._name, "topics", exc) from exc
            if not all(isinstance(topic, str) for topic in topics):
                raise ComponentError(f"{type(component).__qualname__}.topics() must yield strings")
        if self.page is not None and type(component).listens:
            topics |= {page_topic(self.page)}
        return topics

    # -- the end -----------------------------------------------------------------------------

    def close(self) -> None:
        """Leave the hub, drop queued work and cancel running work (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._membership.leave()
        if self._presence_key is not None:
            self.hub.presence.leave(self)
        self._sink.close()
        self._work.close()

    async def aclose(self) -> None:
        """:meth:`close`, then wait until the running handler's ``finally`` blocks ran."""
        task = self._work.task
        self.close()
        if task is not None and task is not aio.current_task():
            await aio.wait_all([task])
        if self._writer is not None:  # the last state stored, for a resume elsewhere
            await self._writer.flush()
