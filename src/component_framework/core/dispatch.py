"""Dispatch: one parsed call in, one rendered and signed result out.

Owns the order in which a request meets user code, identical on every transport:

1. look up the component (404) and the event (404), before anything else;
2. count the event against the rate its handler declares for this client (429), then verify
   the snapshot (400) or check that raw state is trusted (400);
3. bind the payload or mount params to the handler's signature (422); a form that does not
   bind (``FormInvalid``: every field's error) is not an error answer but a re-render with
   those errors, so the plan keeps it and the handler will not run; neither does it for a
   validation as the person types (``validate``), which shows the named fields' errors only;
4. only then run user code: ``hydrate`` or ``mount``, the handler, ``before_render``, the
   template, ``dehydrate``; then sign the new state.

Never sees ASGI objects: transports build a :class:`ComponentCall` and turn the
:class:`DispatchResult` or the raised ``ComponentError`` into bytes. User exceptions become
:class:`~component_framework.errors.HandlerError` (traceback logged here, once) unless they are
deliberate ``ClientError`` instances.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from itertools import islice
from time import monotonic
from typing import Any, Final

from component_framework.core import aio, url_state
from component_framework.core.access import AccessContext, AccessHook, check_access
from component_framework.core.batching import FrameClock
from component_framework.core.binding import binder_for
from component_framework.core.component import Component, EventHandler
from component_framework.core.config import Settings
from component_framework.core.nesting import (
    NO_SEEDS,
    RenderFrame,
    Seeds,
    refuse_client_params,
    verify_children,
    verify_lazy,
)
from component_framework.core.presence import Presence
from component_framework.core.ratelimit import TokenBuckets
from component_framework.core.registry import ComponentRegistry, default_registry
from component_framework.core.renderer import (
    NestingRenderer,
    ReloadingRenderer,
    Renderer,
    SharingRenderer,
)
from component_framework.core.server_state import PendingWrite, StateKeeper
from component_framework.core.state_store import StateStore
from component_framework.errors import (
    ClientError,
    ConfigurationError,
    EventNotFound,
    FormInvalid,
    HandlerError,
    HandlerTimeout,
    InvalidSnapshot,
    PayloadValidationError,
    RateLimited,
    SnapshotTooLarge,
)
from component_framework.protocol.answer import render_document, render_fragment
from component_framework.protocol.compact import json_string, plain_json, strict_json
from component_framework.protocol.request import MOUNT_EVENT, RequestFields, is_mount_event
from component_framework.protocol.snapshot import SnapshotError, SnapshotSigner

__all__ = [
    "ComponentCall",
    "DispatchResult",
    "Dispatcher",
    "PreparedCall",
    "close_awaitable",
    "is_async_function",
    "needs_access_check",
]

logger = logging.getLogger("component_framework")
_EMPTY: Final[Mapping[str, Any]] = {}
#: ``restored_state`` of a call on a component the transport holds (never used to hydrate).
_HELD_STATE: Final[dict[str, Any]] = {}
#: The hooks a render calls when a class overrides them (the base ones do nothing more than
#: this: ``dehydrate`` hands back the state itself).
_NO_BEFORE_RENDER: Final = Component.before_render
_OWN_STATE: Final = Component.dehydrate
_OWN_RENDER: Final = Component.render
_OWN_CONTEXT: Final = Component.get_context
_NOT_ASKED: Final = object()
#: What :meth:`Dispatcher._shared_render` answers for a render it does not share.
_NOT_SHARED: Final[tuple[None, None]] = (None, None)
#: Most state texts a dispatcher keeps as seen once (emptied when full): a state's first
#: render is not shared, and only a state seen before is asked of the renderer.
SEEN_LIMIT: Final = 64


@dataclass(slots=True)
class ComponentCall:
    """A request for one component, independent of the transport that carried it."""

    component_name: str
    event: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    snapshot: str | None = None
    state: Mapping[str, Any] | None = None
    #: Who asks (``None``: an in-process call, trusted; no authorization runs).
    context: AccessContext | None = None
    #: Form fields to validate as a person types: the handler does not run, and the render
    #: shows these fields' errors only (``validate``).
    validate: tuple[str, ...] = ()
    #: The signed snapshots of the component's direct children (``core.nesting``).
    children: tuple[str, ...] = ()
    #: The signed mount of a lazy component (its params come from it, never from the client).
    lazy: str | None = None
    #: The URL of the page, when the transport knows it better than the request (a WebSocket
    #: join's ``url``): what URL state reads at mount and builds on.
    page_url: str | None = None

    @classmethod
    def from_fields(
        cls, component_name: str, fields: RequestFields, context: AccessContext | None = None
    ) -> ComponentCall:
        """The call for parsed request ``fields`` addressed to ``component_name``."""
        return cls(
            component_name,
            fields.event,
            fields.payload,
            fields.params,
            fields.snapshot,
            fields.state,
            context,
            fields.validate,
            fields.children,
            fields.lazy,
        )

    @property
    def is_mount(self) -> bool:
        """True when no event handler runs (first render or plain re-render)."""
        return is_mount_event(self.event)


@dataclass(slots=True)
class DispatchResult:
    """The outcome of one call: the rendered HTML and the signed new state."""

    component: Component
    html: str
    state: dict[str, Any]
    snapshot: str
    #: Navigation and client effects the handler asked for (``core.effects``), as data.
    effects: dict[str, Any] | None = None
    #: The store writes of this render and its nested children's (server-held state), to
    #: commit before the answer goes out (:meth:`Dispatcher.commit`).
    writes: tuple[PendingWrite, ...] = ()
    #: Whether the component keeps its state on the server: ``snapshot`` is a reference and
    #: the render document carries no ``state``.
    server_held: bool = False
    #: ``state`` as compact JSON text, as its snapshot holds it (``None``: not written, as
    #: for server-held state): a message that carries the state reuses it.
    state_text: str | None = None
    #: ``html`` as a JSON string (``protocol.compact.json_string``'s text), when the render
    #: has it already: a shared render's, quoted once per state (``None``: not written).
    html_text: str | None = None
    #: ``component_id`` as a JSON string, when the render wrote it (into the snapshot).
    component_id_text: str | None = None
    #: Whether ``snapshot`` needs no JSON escaping: always, for a dispatcher's result (its
    #: only maker signs it, and a signed token's characters, base64url and dots, never need
    #: escaping), so a message writes it in quotes as it is. Not a constructor argument;
    #: a slot rather than a class constant, which Python 3.11 reads through an instance
    #: about 140 instructions slower per render message (docs/benchmarks.md, "Issue 16,
    #: eighth pass"). ``protocol.answer.Rendered`` keeps the attribute for other makers.
    snapshot_plain: bool = field(default=True, init=False)

    @property
    def component_id(self) -> str:
        """The component's stable id."""
        return self.component.id

    @property
    def component_name(self) -> str:
        """The registered name of the component."""
        return self.component.component_name

    @property
    def listens(self) -> tuple[str, ...]:
        """The events of other components the component handles (``Component.listens``)."""
        return self.component.listens

    @property
    def errors(self) -> dict[str, list[str]]:
        """The form errors the render shows (``Component.errors``)."""
        return self.component.errors

    def refusal(self) -> FormInvalid | None:
        """The error of a submission that did not go through (the render shows errors, and it
        was no validation as the person types): what a JSON answer carries beside the render
        (``422 invalid_form``). ``None`` otherwise."""
        component = self.component
        if not component.errors or component.validating:
            return None
        return FormInvalid(component.errors)

    def fragment(self) -> str:
        """The annotated HTML fragment (``protocol.answer.render_fragment``): what htmx
        swaps in and what a page embeds."""
        return render_fragment(self)

    def to_json(self) -> dict[str, Any]:
        """The render document (``protocol.answer.render_document``): ``{"html", "state",
        "snapshot", "component_id"}``."""
        return render_document(self)


class PreparedCall:
    """A call that passed every check; no user code has run yet.

    ``runs_async`` says whether completing it needs the event loop (an ``async def`` or async
    generator handler, or an ``async def mount`` when mounting), so a transport can run a sync
    call without creating a coroutine. ``authorized`` is set once every authorization check of
    the call has passed (:meth:`Dispatcher.open_component`): the dispatcher runs none again.
    A plain slotted class: one is built per request.
    """

    __slots__ = (
        "arguments",
        "authorized",
        "children",
        "cls",
        "component_id",
        "context",
        "event",
        "handler",
        "held",
        "invalid",
        "loaded_version",
        "meta",
        "mount_arguments",
        "page_url",
        "parent",
        "request",
        "restored_state",
        "runs_async",
        "stored_version",
        "submitted",
        "validate",
    )

    def __init__(
        self,
        cls: type[Component],
        event: str | None,
        handler: EventHandler | None,
        arguments: dict[str, Any],
        component_id: str | None,
        restored_state: dict[str, Any] | None,
        mount_arguments: dict[str, Any] | None = None,
        context: AccessContext | None = None,
        request: AccessContext | None = None,
    ) -> None:
        self.cls = cls
        self.context = context  # checked by the dispatcher when the class needs it
        self.request = request  # the new instance's ``request``, checked or not
        self.authorized = False
        self.event = event
        self.handler = handler
        self.arguments = arguments  # the handler's
        self.mount_arguments: Mapping[str, Any] = mount_arguments or _EMPTY
        self.component_id = component_id
        self.restored_state = restored_state
        #: Nesting (``core.nesting``): the parent id and key the instance is signed with, the
        #: client's children snapshots by key, and whether a connection holds the instance.
        self.parent: tuple[str, str] | None = None
        self.children: Seeds = NO_SEEDS
        self.held = False
        mounting = restored_state is None
        #: What a client sent with the event (``None``: no client's event, a broadcast), the
        #: form that did not bind with it, and the fields to validate as the person types.
        self.submitted: Mapping[str, Any] | None = None
        self.invalid: FormInvalid | None = None
        self.validate: tuple[str, ...] = ()
        #: The version a reference token named: its state is still to load from the store
        #: (:meth:`Dispatcher.load`), after which it is ``None`` again.
        self.stored_version: int | None = None
        self.loaded_version = 0
        #: The restored snapshot's meta (``Snapshot.meta``): the URL state's defaults.
        self.meta: dict[str, Any] | None = None
        self.page_url: str | None = None
        self.runs_async = (handler is not None and is_async_function(handler)) or (
            mounting and is_async_function(cls.mount)
        )


_USER_FAULTS_PASSED_THROUGH: Final = (ClientError, ConfigurationError)
_async_functions: dict[Callable[..., Any], bool] = {}


#: Argument types whose values members of one broadcast may share (immutable scalars).
_SHAREABLE: Final = frozenset({str, int, float, bool, type(None)})


def needs_access_check(cls: type[Component]) -> bool:
    """Whether ``cls`` declares permissions or overrides ``authorize``."""
    return bool(cls.permission_classes) or cls.authorize is not Component.authorize


def is_async_function(function: Callable[..., Any]) -> bool:
    """Whether calling ``function`` needs the event loop; cached per function."""
    known = _async_functions.get(function)
    if known is None:
        known = _async_functions[function] = inspect.iscoroutinefunction(
            function
        ) or inspect.isasyncgenfunction(function)
    return known


class Dispatcher:
    """Runs component calls against a registry with one signer and (optionally) one renderer."""

    def __init__(
        self,
        registry: ComponentRegistry | None = None,
        settings: Settings | None = None,
        renderer: Renderer | None = None,
        authorize: AccessHook | None = None,
        state_store: StateStore | None = None,
    ) -> None:
        self.registry = default_registry if registry is None else registry
        self.settings = Settings.from_env() if settings is None else settings
        #: Server-held state: which classes keep it, its store, loads and commits.
        self.state = StateKeeper(self.settings, state_store)
        self.renderer = renderer
        if self.settings.debug:  # pick up template edits without a restart
            for candidate in (renderer, Component.renderer):
                if isinstance(candidate, ReloadingRenderer):
                    candidate.enable_reload()
        self.authorize = authorize
        self.signer: SnapshotSigner = self.settings.build_signer()
        #: The public URL of the components app: where a lazy placeholder loads from.
        self.url_prefix = "/components"
        #: Budgets of the rates handlers declare, per (client, component, event).
        self.event_buckets = TokenBuckets()
        #: The presence its components list (``Component.present``): the app's hub's.
        self.presence: Presence | None = None
        #: The app's one timer for batched stream operations (``core.batching``).
        self.frame_clock = FrameClock(self.settings.stream_frame_interval)
        #: The plan of the broadcast being delivered, for one class (:meth:`prepare_broadcast`).
        self._broadcast_plan: tuple[object, type[Component], PreparedCall] | None = None
        #: The plans payload-less events share (:meth:`_bare_plan`), by class and event.
        self._bare_plans: dict[tuple[type[Component], str], PreparedCall] = {}
        #: The renderer last asked which templates may render children, and how to ask it
        #: (``None``: it cannot tell; see :meth:`_render_frame`).
        self._nesting_for: object = _NOT_ASKED
        self._may_nest: Callable[[str], bool] | None = None
        self._sharing_for: object = _NOT_ASKED
        self._sharing: SharingRenderer | None = None
        self._shares: dict[type[Component], str | None] = {}  # by class: _shared_template
        self._seen: set[str] = set()  # the state texts rendered once (:meth:`_shared_render`)

    # -- server-held state (core.server_state.StateKeeper) ---------------------------------

    def keeps_state(self, cls: type[Component]) -> bool:
        """Whether ``cls`` keeps its state on the server (its own switch, else the app's)."""
        return self.state.keeps(cls)

    async def commit(self, result: DispatchResult) -> None:
        """Store every write of ``result`` at once, before its answer goes out: ``409
        state_conflict`` when another event stored the same version first (nothing is
        stored), ``503 state_store_unavailable`` when the store cannot be reached."""
        if result.writes:
            await self.state.commit(result.writes, result.component_name)

    def dispatch_for_page(self, call: ComponentCall) -> DispatchResult:
        """:meth:`dispatch` for a page's template (the ``component()`` page global), which
        cannot await: server-held state is stored by a task on the running loop
        (``StateKeeper.commit_later``; a ``ConfigurationError`` without a loop)."""
        result = self.run(self.prepare(call))
        if result.writes:
            self.state.commit_later(result.writes, call.component_name)
        return result

    # -- checks before user code ---------------------------------------------------------

    def prepare(self, call: ComponentCall, *, mount_first: bool = False) -> PreparedCall:
        """Run every check of ``call`` (404, 429, 400, 422) without running user code.

        ``mount_first``: an event without a snapshot mounts a fresh component (with ``params``)
        and then runs the event (with ``payload``): how a stream starts. Without it such an
        event is refused, since it would act on state the client never saw. A form that does
        not bind is kept in the plan (``invalid``), not raised: see :meth:`call_handler`."""
        cls = self.registry.get(call.component_name)
        handler = None
        event = call.event
        validate = call.validate
        if event is not None and event != MOUNT_EVENT:
            # ``events`` holds only valid public names, so one lookup validates the name too.
            handler = cls.events.get(event)
            if handler is None:
                raise EventNotFound(call.component_name, event)
            # A validation as the person types runs no handler: it spends no handler budget.
            if cls.event_rates and call.context is not None and not validate:
                self._take_event(cls, event, call.context)
        elif validate:
            raise PayloadValidationError("validate", "Name the event whose form is validated.")
        keeps_state = self.state.keeps(cls)
        component_id, restored, parent, meta, stored_version = self._restore(cls, call, keeps_state)
        params = call.params
        if call.lazy is not None:
            if restored is not None:
                raise InvalidSnapshot("a lazy load takes no snapshot: it mounts the component")
            refuse_client_params(params)
            component_id, params, parent = verify_lazy(self.signer, cls.component_name, call.lazy)
        if handler is not None and restored is None and not mount_first:
            raise InvalidSnapshot(f"event {event!r} needs the snapshot from the previous response")
        if handler is not None:
            arguments, invalid = self._bind_event(handler, call.payload, validate)
        else:
            arguments, invalid = {}, None
        mount_arguments = self._mount_arguments(cls, params) if restored is None else None
        children = (
            verify_children(
                self.signer, component_id if restored is not None else None, call.children
            )
            if call.children
            else None
        )
        context = self._context_to_check(cls, call.context)
        plan = PreparedCall(
            cls,
            event,
            handler,
            arguments,
            component_id,
            restored,
            mount_arguments,
            context,
            call.context,
        )
        if handler is not None:
            plan.submitted, plan.invalid, plan.validate = call.payload, invalid, validate
        if parent is not None:
            plan.parent = parent
        if children is not None:
            plan.children = children
            if any(seed.version is not None for seed in children.values()):
                plan.runs_async = True  # server-held children: loaded on the loop
        if stored_version is not None:
            plan.stored_version = stored_version
            plan.runs_async = True
        elif keeps_state:
            plan.runs_async = True  # its answer waits for the store
        plan.meta, plan.page_url = meta, call.page_url
        return plan

    def prepare_live_event(
        self,
        cls: type[Component],
        event: str,
        payload: Mapping[str, Any],
        context: AccessContext | None = None,
        validate: tuple[str, ...] = (),
        *,
        broadcast: bool = False,
    ) -> PreparedCall:
        """The checks of an event for a component the transport holds (WebSocket, live SSE):
        the event exists (404), the client is within its declared rate (429) and the payload
        fits the handler (422; a client's form that does not bind is kept in the plan, as by
        :meth:`prepare`). No snapshot is involved: the held component is the state.
        ``context``: the client's (``None`` for broadcasts, which the server itself sends, and
        which no declared rate counts). ``broadcast``: the server's own event, never a form
        to re-render: any payload that does not fit is raised."""
        handler = cls.events.get(event)
        if handler is None:
            raise EventNotFound(cls.component_name, event)
        if cls.event_rates and context is not None and not validate:
            self._take_event(cls, event, context)
        context = self._context_to_check(cls, context)
        if not payload and not broadcast and not validate and context is None:
            bare = self._bare_plans.get((cls, event))  # (made once: no call to find it)
            if bare is None or bare.handler is not handler:
                bare = self._bare_plan(cls, event, handler)
            if bare is not None:
                return bare
        if broadcast:
            arguments, invalid = binder_for(handler).bind(payload), None
        else:
            arguments, invalid = self._bind_event(handler, payload, validate)
        plan = PreparedCall(cls, event, handler, arguments, None, _HELD_STATE, None, context)
        if not broadcast:
            plan.submitted, plan.invalid, plan.validate = payload, invalid, validate
        return plan

    def _bare_plan(
        self, cls: type[Component], event: str, handler: EventHandler
    ) -> PreparedCall | None:
        """The plan every payload-less event ``event`` of a held ``cls`` shares when nothing
        of it is the client's: no payload, nothing to validate, no access check, and a
        handler that an empty payload always binds to no arguments (no form, no required
        parameter); ``None`` for any other. Made at the class's first such event (later ones
        find it in ``_bare_plans`` without this call); never changed after: the live
        transports only read an event's plan."""
        binder = binder_for(handler)
        if binder.form is not None or binder.required:
            return None
        plan = PreparedCall(cls, event, handler, {}, None, _HELD_STATE)
        plan.submitted = _EMPTY
        self._bare_plans[cls, event] = plan
        return plan

    def prepare_broadcast(
        self, cls: type[Component], event: str, payload: Mapping[str, Any], broadcast: object
    ) -> PreparedCall:
        """:meth:`prepare_live_event` of the server's own ``broadcast`` (its identity: the
        object delivered) for a member of ``cls``. Its many members of one class share the
        plan, the payload bound once, when every argument is an immutable scalar: no member
        can change what another one is handed. Any other argument is bound per member."""
        held = self._broadcast_plan
        if held is not None and held[0] is broadcast and held[1] is cls:
            return held[2]
        plan = self.prepare_live_event(cls, event, payload, broadcast=True)
        if all(type(value) in _SHAREABLE for value in plan.arguments.values()):
            self._broadcast_plan = (broadcast, cls, plan)
        return plan

    def _bind_event(
        self, handler: EventHandler, payload: Mapping[str, Any], validate: tuple[str, ...]
    ) -> tuple[dict[str, Any], FormInvalid | None]:
        """The handler's arguments for a client's ``payload``, or the form that does not bind
        (``FormInvalid``: every field's error, at most ``Settings.max_fields`` of them), kept
        for the re-render instead of raised. While a person types (``validate``) any field's
        error is kept: only the named ones are shown."""
        try:
            return binder_for(handler).bind(payload, max_errors=self.settings.max_fields), None
        except FormInvalid as invalid:
            return {}, invalid
        except PayloadValidationError as exc:
            if not validate:
                raise
            return {}, FormInvalid({exc.field: [exc.problem]})

    def _take_event(self, cls: type[Component], event: str, context: AccessContext) -> None:
        """Count ``event`` against the rate its handler declares (``@rate_limit``) for the
        client of ``context``: ``RateLimited`` (429) when its budget is spent."""
        rate = cls.event_rates.get(event)
        if rate is None or not self.settings.event_rate_limits:
            return
        key = (context.client or "unknown", cls.component_name, event)
        wait = self.event_buckets.take(key, rate.per_second, rate.burst, monotonic())
        if wait:
            raise RateLimited(
                f"too many {event!r} events: {cls.component_name!r} allows "
                f"{rate.per_second:g} per second from each client",
                wait,
            )

    def _context_to_check(
        self, cls: type[Component], context: AccessContext | None
    ) -> AccessContext | None:
        """``context`` when some check applies to ``cls`` (the app hook, permissions or an
        ``authorize`` override), else ``None``: calls with nothing to check skip the work."""
        if context is None:
            return None
        if (  # needs_access_check(cls) written out: every client event asks
            self.authorize is None
            and not cls.permission_classes
            and cls.authorize is Component.authorize
        ):
            return None
        return context

    def check_access(self, plan: PreparedCall, component: Component, event: str) -> None:
        """Run the authorization checks for ``event`` (no-op when the plan has no context or
        is already authorized)."""
        context = plan.context
        if context is None or plan.authorized:
            return
        try:
            check_access(context, component, event, self.authorize)
        except _USER_FAULTS_PASSED_THROUGH:
            raise
        except Exception as exc:
            raise self.handler_error(plan.cls.component_name, "authorize", exc) from exc

    def _restore(
        self, cls: type[Component], call: ComponentCall, keeps_state: bool
    ) -> tuple[
        str | None,
        dict[str, Any] | None,
        tuple[str, str] | None,
        dict[str, Any] | None,
        int | None,
    ]:
        """The component id, state, parent, meta and stored version (of a reference token)
        a call restores; ``keeps_state``: whether ``cls`` keeps its state on the server."""
        if call.snapshot is not None:
            try:
                snapshot = self.signer.verify(call.snapshot, cls.component_name)
            except SnapshotError as exc:
                raise InvalidSnapshot.refused(exc.problem, str(exc)) from None
            if snapshot.version is None and keeps_state:
                raise InvalidSnapshot(
                    f"{cls.component_name!r} keeps its state on the server: a snapshot that "
                    "carries state is not accepted (mount the component again)",
                    "state_on_server",
                )
            return (
                snapshot.component_id,
                snapshot.state,
                snapshot.parent,
                snapshot.meta,
                snapshot.version,
            )
        if call.state:
            if keeps_state:
                raise InvalidSnapshot(
                    f"{cls.component_name!r} keeps its state on the server: raw state is "
                    "never accepted for it"
                )
            if not self.settings.trust_client_state:
                raise InvalidSnapshot(
                    "raw state is not accepted: echo the signed snapshot of the previous "
                    "response (or configure trust_client_state for trusted clients)"
                )
            return None, dict(call.state), None, None, None
        return None, None, None, None, None

    @staticmethod
    def _mount_arguments(cls: type[Component], params: Mapping[str, Any]) -> dict[str, Any]:
        if cls.mount is Component.mount:
            if params:
                name = next(iter(params))
                raise PayloadValidationError(
                    name,
                    f"This field is not accepted here ({cls.__name__}.mount takes no parameters).",
                )
            return {}
        return binder_for(cls.mount).bind(params)

    # -- running user code ---------------------------------------------------------------
    # Each phase runs in one ``try`` with a ``stage`` label: user exceptions become a
    # HandlerError naming the stage; deliberate client and configuration errors pass through.

    @staticmethod
    def handler_error(component: str, stage: str, exc: BaseException) -> HandlerError:
        """Log ``exc`` (with its traceback) and return the safe error for the client."""
        logger.error("component %r failed in %s", component, stage, exc_info=exc)
        return HandlerError(component, stage)

    def create(self, plan: PreparedCall, *, mount: bool = True) -> tuple[Component, Any]:
        """Create the component, then hydrate or mount it; returns it and mount's result
        (an awaitable for an async mount, else ``None``). ``mount=False``: stop after the
        mount-time authorization, before ``mount`` runs. A plan with server-held state to
        load (``StateKeeper.load``, which :meth:`open` calls) is a ``ConfigurationError``."""
        if plan.stored_version is not None:
            raise ConfigurationError(
                f"{plan.cls.__qualname__} keeps its state on the server: load it first "
                "(async_dispatch, or Dispatcher.open)"
            )
        stage = "__init__"
        try:
            component = plan.cls(plan.component_id)
            if plan.request is not None:
                component.request = plan.request
            if self.presence is not None:
                component.presence_book = self.presence
            if plan.parent is not None or plan.held:
                component.parent, component.held = plan.parent, plan.held
            if plan.page_url is not None:
                component.page_url = plan.page_url
            if plan.restored_state is not None:
                stage = "hydrate"
                if plan.loaded_version:
                    component.state_version = plan.loaded_version
                component.hydrate(plan.restored_state)
                if plan.cls.url_state:
                    url_state.resume(component, plan.meta)
                if plan.handler is None and plan.context is not None:  # a plain re-render
                    self.check_access(plan, component, MOUNT_EVENT)  # (events: at the handler)
                return component, None
            if plan.context is not None:  # before mount: nothing of it has run
                self.check_access(plan, component, MOUNT_EVENT)
            if not mount:
                return component, None
            stage = "mount"
            mounted = component.mount(**plan.mount_arguments)
            if plan.cls.url_state and not inspect.isawaitable(mounted):
                url_state.restore(component)  # the URL's values win over mount's
            return component, mounted
        except _USER_FAULTS_PASSED_THROUGH:
            raise
        except Exception as exc:
            raise self.handler_error(plan.cls.component_name, stage, exc) from exc

    async def open(self, plan: PreparedCall) -> Component:
        """The phase before the handler, for callers on the event loop: :meth:`create`, and
        await an async ``mount`` (bounded by ``Settings.handler_timeout``); server-held state
        is loaded first (``StateKeeper.load``)."""
        if plan.stored_version is not None or plan.children:
            await self.state.load(plan)
        component, mounted = self.create(plan)
        if mounted is not None and inspect.isawaitable(mounted):
            await self.await_user_code(plan, "mount", mounted)
            if plan.cls.url_state:
                url_state.restore(component)
        return component

    async def open_component(self, plan: PreparedCall) -> Component:
        """:meth:`open`, then authorize the plan's event without running its handler: how a
        stream is opened before its response starts, so that a denial is a plain 403 / 401.
        The plan is ``authorized`` afterwards: its handler runs without checking again."""
        component = await self.open(plan)
        if plan.handler is not None and plan.event is not None:
            self.check_access(plan, component, plan.event)
        plan.authorized = True
        return component

    def check_mount_access(self, plan: PreparedCall) -> None:
        """The mount-time authorization of ``plan`` on a fresh (or hydrated) instance, without
        mounting it: for transports that mount later, in a task (live subscriptions)."""
        if plan.context is not None and not plan.authorized:
            self.create(plan, mount=False)

    def call_handler(self, plan: PreparedCall, component: Component) -> Any:
        """Call the handler; returns what it returned (a coroutine or generator if async).

        A client's event first gives the component what was submitted (:meth:`receive`);
        when its form did not bind, or it is a validation as the person types, the handler
        does not run (``None``) and the render that follows shows the errors."""
        assert plan.handler is not None
        if plan.context is not None:
            assert plan.event is not None
            self.check_access(plan, component, plan.event)
        if plan.submitted is not None and not self.receive(plan, component):
            return None
        try:
            return plan.handler(component, **plan.arguments)
        except _USER_FAULTS_PASSED_THROUGH:
            raise
        except Exception as exc:
            raise self.handler_error(plan.cls.component_name, "handler", exc) from exc

    def receive(self, plan: PreparedCall, component: Component) -> bool:
        """Give ``component`` what a client submitted with ``plan``'s event: ``submitted``,
        ``validating`` and this request's ``errors``, which start empty (a held component
        keeps its last event's until the next one). False when the handler must not run: the
        form did not bind (its errors, at most ``Settings.max_fields`` of them, become the
        component's), or the person is typing (only the named fields' errors)."""
        submitted = plan.submitted
        assert submitted is not None
        # An empty submission leaves the class's empty mapping: a held component keeps no
        # dict of its own between events (freeing the last event's touched cold memory).
        component.submitted = submitted if submitted else Component.submitted
        component.validating = validate = plan.validate
        if component.errors:  # (a new instance's are empty already)
            component.errors = {}
        invalid = plan.invalid
        if invalid is not None:
            errors: Collection[tuple[str, list[str]]] = invalid.errors.items()
            if validate:
                names = frozenset(validate)
                errors = [(name, found) for name, found in errors if _validated(name, names)]
            kept = islice(errors, self.settings.max_fields)
            component.errors = {name: list(found) for name, found in kept}
        return invalid is None and not validate

    def render_template(self, component: Component, children: Seeds = NO_SEEDS) -> str:
        """The template's HTML, in a ``core.nesting`` frame: the children it renders are kept
        in ``component.children``; ``children``: the client's snapshots of the component's
        descendants, by (parent id, key). Also what ``stream_to`` without html renders."""
        return self._render_frame(component, children)[0]

    def _render_frame(
        self, component: Component, children: Seeds
    ) -> tuple[str, tuple[PendingWrite, ...]]:
        """:meth:`render_template`, and the store writes of the children it rendered.

        No frame when no child can be rendered: the class renders its template its own way
        (``Component.render`` not overridden) and its renderer says the template renders no
        child (``NestingRenderer``); a renderer that cannot tell gets a frame every time.
        (The test is written out here, no call: every render asks it.)"""
        cls = type(component)
        renderer = self.renderer or cls.renderer  # the one Component.render uses
        if renderer is not self._nesting_for:  # (a changed class-level renderer too)
            self._nesting_for = renderer
            self._may_nest = (
                renderer.may_render_children if isinstance(renderer, NestingRenderer) else None
            )
        may_nest, name = self._may_nest, component.template_name
        if may_nest is not None and name and cls.render is _OWN_RENDER and not may_nest(name):
            html = component.render(self.renderer)
            component.children = Component.children
            return html, ()
        frame = RenderFrame(self, component, children)
        entered = frame.enter()
        try:
            html = component.render(self.renderer)
        finally:
            frame.leave(entered)
        # Without children the class's empty mapping stays: no dict per held instance.
        component.children = frame.rendered or Component.children
        return html, frame.writes

    def _shared_render(self, component: Component) -> tuple[tuple[str, str] | None, str | None]:
        """The HTML of a render shared with every component of the class in the same state
        (a :class:`SharingRenderer`'s) with its JSON string text, and the state's strict
        JSON text, its key. The pair is ``None`` when not shared: a state seen for the first
        time (its text is only noted: the renderer is asked from the second render in a
        state on, whatever the class), a state of other than plain JSON types (the text
        would not tell them apart: a tuple and a list, ``Markup`` and ``str``; asked only
        from its second render on), or one the renderer could not share. Both are ``None``
        for a class that renders its own way (``render``, ``get_context`` or ``dehydrate``
        overridden), keeps its state on the server or in the URL, a template the renderer
        never shares (one that may render a child among them), or a state it cannot encode
        (the snapshot then refuses it, at the usual stage). (A text given back is
        still the state's after the usual render: a template the renderer may share
        makes no call, so its render changes nothing.)"""
        cls = type(component)
        renderer = self.renderer or cls.renderer  # the one Component.render uses
        if renderer is not self._sharing_for:  # (asked once per renderer: a protocol check
            self._sharing_for = renderer  # costs more than the rest of this)
            self._sharing = renderer if isinstance(renderer, SharingRenderer) else None
            self._shares = {}
            self._seen = set()
        sharing = self._sharing
        if sharing is None:
            return _NOT_SHARED
        shares = self._shares
        try:  # (one look-up for the class's checks)
            name = shares[cls]
        except KeyError:
            name = shares[cls] = self._shared_template(cls, sharing)
        if (
            name is None
            or name != component.template_name  # (an instance's own: not shared)
            # Asked again at every render, as the nesting frame's test is: a method replaced
            # on the class after its first render (a test's patch) renders its own way. (A
            # replaced ``dehydrate`` changes only the snapshot's state: :meth:`render`, which
            # asks it anyway, then leaves this text out.)
            or cls.render is not _OWN_RENDER
            or cls.get_context is not _OWN_CONTEXT
        ):
            return _NOT_SHARED
        state = component.state
        try:
            state_text = strict_json(state)
        except (TypeError, ValueError):  # NaN, or not JSON: the snapshot refuses it as usual
            return _NOT_SHARED
        seen = self._seen
        if state_text not in seen:  # a first render in this state: the usual one, noted only
            if len(seen) >= SEEN_LIMIT:  # (a component's own events mostly make states never
                seen.clear()  # seen again: they are not asked of the renderer)
            seen.add(state_text)
            return None, state_text
        if not plain_json(state):  # (only a key: a text seen of another value asks early)
            return None, state_text
        html = sharing.render_shared(
            name, state, state_text, component.component_name, component.id
        )
        return html, state_text

    def _shared_template(self, cls: type[Component], sharing: SharingRenderer) -> str | None:
        """The template of ``cls`` when a render of it may be shared, else ``None``: a class
        that renders its own way (``render``, ``get_context`` or ``dehydrate`` overridden),
        keeps its state on the server or in the URL, or whose template the renderer never
        shares (one that may render a child among them). Asked once per class and renderer
        (a stale yes after a template's edit only costs the key: the renderer then says no;
        ``render`` and ``get_context`` are asked again at every render, in
        :meth:`_shared_render`, and ``dehydrate`` in :meth:`render`)."""
        name = cls.template_name
        if (
            cls.render is not _OWN_RENDER
            or cls.get_context is not _OWN_CONTEXT
            or cls.dehydrate is not _OWN_STATE
            or cls.url_state
            or self.state.keeps(cls)
            or not name
            or not sharing.may_share(name)
        ):
            return None
        return name

    def render(self, component: Component, children: Seeds = NO_SEEDS) -> DispatchResult:
        """Render and sign: ``before_render``, the template (:meth:`render_template`),
        ``dehydrate``, the snapshot."""
        name = component.component_name
        cls = type(component)
        stage = "before_render"
        try:
            if cls.before_render is not _NO_BEFORE_RENDER:  # (a hook not overridden: no call)
                component.before_render()
            stage = "render"
            shared, shared_text = self._shared_render(component)
            if shared is None:
                html, writes = self._render_frame(component, children)
                html_text = None
            else:
                (html, html_text), writes = shared, ()
                component.children = Component.children
            stage = "dehydrate"
            if cls.dehydrate is _OWN_STATE:
                state = component.state
            else:  # (replaced after the class's first render: the text is of the other state)
                state, shared_text = component.dehydrate(), None
            meta = None
            if component.url_state:  # a changed key asks for the page's new URL
                url_state.note_change(component)
                if component.url_defaults is not None:
                    meta = {url_state.META_KEY: component.url_defaults}
            # Before signing: a refused URL leaves nothing of the change applied.
            effects, pending = None, component.pending_effects
            if pending is not None:
                component.pending_effects = None
                effects = pending.document(component.request, self.settings.allowed_origins)
            held = self.state.keeps(cls)
            state_text = id_text = None
            if held:
                writes = (*writes, self.state.write(component, state))
                snapshot = self.signer.sign_reference(
                    name, component.id, component.state_version, component.parent, meta
                )
            else:
                id_text = json_string(component.id)  # (the snapshot's and the message's)
                snapshot, state_text = self.signer.signed_state(
                    name, component.id, state, component.parent, meta, shared_text, id_text
                )
        except SnapshotError as exc:
            # The state grew past max_snapshot_bytes: usually a client's doing (a long text,
            # many items), so a 413 for it rather than a 500, and no traceback in the log.
            too_large = SnapshotTooLarge(f"{exc}: the change was not applied")
            logger.warning("component %r: %s", name, too_large.message)
            raise too_large from None
        except _USER_FAULTS_PASSED_THROUGH:
            raise
        except HandlerError:  # a nested child's failure, logged where it happened
            raise
        except Exception as exc:
            raise self.handler_error(name, stage, exc) from exc
        return DispatchResult(component, html, state, snapshot, effects or None, writes, held,
                              state_text, html_text, id_text)  # fmt: skip

    def dispatch(self, call: ComponentCall) -> DispatchResult:
        """Run ``call`` synchronously; a coroutine handler or mount, or server-held state
        (which waits for its store), is a ConfigurationError."""
        result = self.run(self.prepare(call))
        if result.writes:
            raise ConfigurationError(
                f"{call.component_name!r} keeps state on the server: use async_dispatch"
            )
        return result

    async def async_dispatch(self, call: ComponentCall) -> DispatchResult:
        """Run ``call``; async handlers are awaited on the running loop, sync ones run inline.

        A generator handler (``StreamingComponent``) is run to completion here and the final
        render is returned (streaming transports send a frame per yield instead).
        """
        return await self.async_run(self.prepare(call))

    def run(self, plan: PreparedCall) -> DispatchResult:
        """Complete a prepared call without the event loop (see ``PreparedCall.runs_async``)."""
        component, mounted = self.create(plan)
        if mounted is not None and inspect.isawaitable(mounted):
            close_awaitable(mounted)
            raise ConfigurationError(f"{plan.cls.__qualname__}.mount is async: use async_dispatch")
        if plan.handler is not None:
            outcome = self.call_handler(plan, component)
            if outcome is not None and (
                inspect.isawaitable(outcome) or inspect.isasyncgen(outcome)
            ):
                close_awaitable(outcome)
                raise ConfigurationError(f"handler for {plan.event!r} is async: use async_dispatch")
        return self.render(component, plan.children)

    async def async_run(self, plan: PreparedCall) -> DispatchResult:
        """Complete a prepared call, awaiting async user code on the running loop, and store
        its server-held state (:meth:`commit`) before returning."""
        component = await self.open(plan)
        if plan.handler is not None:
            await self.complete(plan, self.call_handler(plan, component))
        result = self.render(component, plan.children)
        await self.commit(result)
        return result

    async def complete(self, plan: PreparedCall, outcome: Any) -> None:
        """Finish what :meth:`call_handler` returned: await a coroutine, drain an async
        generator (its final state is what counts), nothing for a sync handler's result."""
        if outcome is None:
            return
        if inspect.isawaitable(outcome):
            await self.await_user_code(plan, "handler", outcome)
        elif inspect.isasyncgen(outcome):
            await self.await_user_code(plan, "handler", _drain(outcome))

    async def advance(self, plan: PreparedCall, generator: Any) -> bool:
        """Run a generator handler to its next ``yield``; False once it is exhausted."""
        try:
            await generator.__anext__()
        except StopAsyncIteration:
            return False
        except _USER_FAULTS_PASSED_THROUGH:
            raise
        except Exception as exc:
            raise self.handler_error(plan.cls.component_name, "handler", exc) from exc
        return True

    async def await_user_code(self, plan: PreparedCall, stage: str, awaitable: Any) -> Any:
        """Await user code, turning its failures into a logged ``HandlerError``; cancelled
        with ``HandlerTimeout`` after ``Settings.handler_timeout`` seconds."""
        limit = self.settings.handler_timeout
        deadline = aio.timeout(limit)
        try:
            async with deadline:
                return await awaitable
        except _USER_FAULTS_PASSED_THROUGH:
            raise
        except TimeoutError as exc:
            if deadline.expired():
                name = plan.cls.component_name
                logger.warning("component %r: %s took longer than %g s", name, stage, limit)
                raise HandlerTimeout(
                    f"the component took longer than {limit:g} s to handle the request"
                ) from None
            raise self.handler_error(plan.cls.component_name, stage, exc) from exc
        except Exception as exc:
            raise self.handler_error(plan.cls.component_name, stage, exc) from exc


def _validated(name: str, names: frozenset[str]) -> bool:
    """Whether the error of field ``name`` is one of a validation of ``names``: the field
    itself or a field inside it (``address`` covers ``address.city``)."""
    if name in names:
        return True
    return any(name[:i] in names for i, c in enumerate(name) if c in ".[")


async def _drain(generator: Any) -> None:
    async for _ in generator:
        pass


def close_awaitable(value: Any) -> None:
    """Close a coroutine we will not await, so Python does not warn about it."""
    close = getattr(value, "close", None)
    if inspect.iscoroutine(value) and close is not None:
        close()
    elif inspect.isasyncgen(value):
        value.aclose().close()
