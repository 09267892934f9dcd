"""The component model: :class:`Component`, :class:`StreamingComponent` and their event surface.

Owns the lifecycle a user overrides (``mount``, ``hydrate``, ``dehydrate``, ``before_render``,
``get_context``), rendering through the class-level :attr:`Component.renderer`, and the rule of
which methods are events: public ``on_<name>`` functions defined on the user's own classes (never
on the framework's base classes, never names starting with ``_``), and the rates declared on
them with :func:`rate_limit` (re-exported from ``core.ratelimit``; the dispatcher applies
them). Knows nothing of transports; a component can be used and tested by calling its
methods directly.
"""

from __future__ import annotations

import inspect
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from component_framework.core.access import UNSERVED, AccessContext
from component_framework.core.effects import Effects, checked_trigger, checked_url
from component_framework.core.events import MAX_EMITS_PER_ANSWER, checked_emit, checked_listens
from component_framework.core.forms import flatten
from component_framework.core.presence import LIST_LIMIT
from component_framework.core.ratelimit import EventRate, declared_rate, rate_limit
from component_framework.core.renderer import Renderer
from component_framework.core.streams import (
    InsertAt,
    StreamOp,
    TextMode,
    delete_op,
    done_op,
    error_op,
    insert_op,
    replace_op,
    start_op,
    text_op,
)
from component_framework.core.url_state import check_declaration as check_url_state
from component_framework.errors import ConfigurationError, InvalidEmit

if TYPE_CHECKING:
    from component_framework.core.presence import Presence

__all__ = [
    "Component",
    "EventHandler",
    "StreamSink",
    "StreamingComponent",
    "is_valid_event_name",
    "rate_limit",
]

EventHandler = Callable[..., Any]
_EVENT_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_HANDLER_PREFIX: Final = "on_"
#: Event names the protocol gives a meaning of its own; ``on_mount`` is never an event.
_RESERVED_EVENTS: Final = frozenset({"mount"})


class StreamSink(Protocol):
    """Where a streaming transport receives a component's stream operations."""

    async def send_op(self, op: StreamOp) -> None:
        """Queue ``op`` for the client (batched; may wait when the client is slow)."""
        ...

    def append_text(self, stream: str, text: str) -> bool:
        """Queue plain ``text`` appended to ``stream`` at once when the sink can, exactly as
        ``send_op(text_op(stream, text))`` would (True); ``False``: the caller does that (a
        token stream's cheap path: most tokens join the text that waits for the next frame,
        and the others need no coroutine)."""
        ...

    def render(self, component: Component) -> str:
        """Render ``component`` with the transport's renderer (for ``stream_to`` without html)."""
        ...


def is_valid_event_name(name: str) -> bool:
    """Event names are identifiers of 1 to 64 characters that do not start with ``_``."""
    return _EVENT_NAME.fullmatch(name) is not None


def _new_component_id(component_name: str) -> str:
    return f"{component_name}-{secrets.token_urlsafe(9)}"


_FRAMEWORK_CLASSES: Final = frozenset({"Component", "StreamingComponent"})


def _is_framework_class(klass: type) -> bool:
    return klass.__module__ == __name__ and klass.__name__ in _FRAMEWORK_CLASSES


def _collect_events(cls: type) -> dict[str, EventHandler]:
    """Public ``on_<name>`` functions of the user's classes in ``cls``'s MRO."""
    events: dict[str, EventHandler] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or _is_framework_class(klass):
            continue
        for attribute, value in vars(klass).items():
            if not attribute.startswith(_HANDLER_PREFIX):
                continue
            event = attribute[len(_HANDLER_PREFIX) :]
            if not is_valid_event_name(event) or event in _RESERVED_EVENTS:
                continue
            if inspect.isgeneratorfunction(value):
                raise ConfigurationError(
                    f"{klass.__qualname__}.{attribute} is a sync generator: stream with an "
                    "'async def' handler that yields (StreamingComponent)"
                )
            if inspect.isfunction(value):
                events[event] = value
            else:
                events.pop(event, None)
    return events


def _collect_rates(cls: type, events: Mapping[str, EventHandler]) -> dict[str, EventRate]:
    """The rates ``@rate_limit`` declared on ``events``; one declared on anything of ``cls``
    that is not an event handler is a ``ConfigurationError`` (it would never apply)."""
    rates = {name: rate for name, fn in events.items() if (rate := declared_rate(fn)) is not None}
    for attribute, value in vars(cls).items():
        event = attribute.removeprefix(_HANDLER_PREFIX)
        if declared_rate(value) is not None and events.get(event) is not value:
            raise ConfigurationError(
                f"{cls.__qualname__}.{attribute}: @rate_limit applies to public on_<event> "
                "handlers only"
            )
    return rates


def _default_mount(self: Component) -> None:
    """Initialise ``self.state`` on first render.

    Override it with the parameters you accept: ``def mount(self, user_id: int)``; request
    ``params`` are bound to that signature like event payloads. This default accepts none.
    May be ``async def``.
    """


class Component:
    """A server-side UI component: a ``state`` dict, a template and ``on_<event>`` handlers.

    Subclass it, set :attr:`template_name`, initialise state in :meth:`mount` and change it in
    ``on_<event>`` methods (``def`` or ``async def``). The template sees every state key at top
    level, plus ``state``, ``component_id`` and ``component_name`` (and the other names of
    :meth:`get_context`: ``request``, ``errors``, ``form``).
    """

    #: Renderer shared by every component that does not set its own (e.g. ``Jinja2Renderer``).
    renderer: ClassVar[Renderer | None] = None
    #: Template rendered by :meth:`render`.
    template_name: ClassVar[str | None] = None
    #: Name under which the class is registered; set by ``registry.register``.
    component_name: ClassVar[str] = ""
    #: Public events of this class: event name -> function; computed per subclass.
    events: ClassVar[Mapping[str, EventHandler]] = MappingProxyType({})
    #: Rates declared with ``@rate_limit``: event name -> rate; computed per subclass.
    event_rates: ClassVar[Mapping[str, EventRate]] = MappingProxyType({})
    #: Serve ``/{name}/stream/`` as a live subscription when the class has no stream handler:
    #: the stream stays open and carries the renders that broadcasts cause (the SSE
    #: counterpart of a WebSocket connection).
    live_updates: ClassVar[bool] = False
    #: Permissions checked at every mount, event and stream start, on every transport (see
    #: ``core.access``): instances or classes with ``has_permission(context, component, event)``.
    permission_classes: ClassVar[Sequence[Any]] = ()
    #: The request this instance serves (``core.access.AccessContext``: ``user``, ``auth``,
    #: ``session``, ``headers``, ``cookies``, ``client``, ``url``, ``query_params``,
    #: ``transport``), set by the dispatcher before ``mount`` / ``hydrate``; ``request`` in the
    #: template. A held component (WebSocket, live SSE) keeps its connection's request, which
    #: broadcast handlers see too. Never part of the snapshot. Unserved: an empty request.
    request: AccessContext = UNSERVED
    #: Effects asked for since the last render (``redirect``, ``trigger``, ...); ``None``, the
    #: class default, costs a render nothing. Never part of the snapshot.
    pending_effects: Effects | None = None
    #: Events emitted by other components of the page that this class handles (each with
    #: its public ``on_<event>`` handler; checked when the class is created). An event a
    #: class does not list never runs it. See ``docs/events.md``.
    listens: ClassVar[tuple[str, ...]] = ()

    # -- state in the URL (core.url_state, docs/url-state.md) ------------------------------
    #: State keys mirrored into the page's query string as they change, and read back from
    #: the page URL at mount (the URL's value wins over the one ``mount`` set).
    url_state: ClassVar[tuple[str, ...]] = ()
    #: Those of :attr:`url_state` whose change adds a history entry (``push_url``); a change
    #: of the others replaces the current one (``replace_url``: no entry per keystroke).
    url_history: ClassVar[tuple[str, ...]] = ()
    #: The values ``mount`` set (kept signed in the snapshot's meta) and the values the page
    #: shows; the bookkeeping of ``core.url_state``, never part of the state.
    url_defaults: dict[str, Any] | None = None
    url_shown: dict[str, Any] | None = None
    #: The URL of the page this instance is on, when the transport knows it better than
    #: ``request`` (a WebSocket join's ``url``); see ``core.url_state.page_url``.
    page_url: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "component_name" not in cls.__dict__:
            # Each class gets its own default name; registering it sets the public one.
            cls.component_name = cls.__name__.lower()
        cls.events = MappingProxyType(_collect_events(cls))
        cls.event_rates = MappingProxyType(_collect_rates(cls, cls.events))
        cls.listens = checked_listens(cls, cls.events)
        check_url_state(cls)

    def __init__(self, component_id: str | None = None, **state: Any) -> None:
        self.id: str = component_id or _new_component_id(self.component_name or "component")
        self.state: dict[str, Any] = state  # ``**state`` is a new dict at every call
        #: Where stream operations go while a streaming transport runs this component.
        self.stream_sink: StreamSink | None = None
        #: Field errors of the current request: dotted field name -> messages (``""`` for the
        #: form as a whole). Filled by a form that failed validation or by :meth:`add_error`;
        #: never part of the snapshot, so it starts empty on every request (a component a
        #: connection holds keeps them until the client's next event). ``errors`` in the
        #: template; see ``docs/forms.md``.
        self.errors: dict[str, list[str]] = {}

    #: The fields a client sent with the event being handled, as received (set by the
    #: dispatcher before the handler; ``form`` shows them again while the form has errors).
    #: Never part of the snapshot; empty at a mount and for broadcasts.
    submitted: Mapping[str, Any] = MappingProxyType({})
    #: The form fields a person is typing in, to validate without running the handler (the
    #: ``validate`` request field, set by the dispatcher); empty for a submission.
    validating: tuple[str, ...] = ()

    # -- lifecycle -------------------------------------------------------------------------

    #: Initialises ``self.state`` on first render; see :func:`_default_mount`. Typed as a
    #: callable attribute so that overrides may take any parameters (``def mount(self)``,
    #: ``def mount(self, user_id: int)``, ``async def mount(...)``) and stay mypy-clean.
    mount: Callable[..., Any] = _default_mount

    def hydrate(self, state: dict[str, Any]) -> None:
        """Restore state from a verified snapshot (or trusted client state)."""
        self.state = state

    def dehydrate(self) -> dict[str, Any]:
        """The state to persist in the snapshot; must be JSON data."""
        return self.state

    def before_render(self) -> None:
        """Compute derived values just before rendering."""

    def authorize(self, context: AccessContext, event: str) -> bool:
        """Whether the client described by ``context`` may run ``event`` (``"mount"`` for a
        mount or re-render) on this instance; runs after ``permission_classes``, on every
        transport, before any handler. At mount the state is still empty; for an event it is
        the restored state. Return ``False`` for 403, or raise ``Unauthorized`` for 401."""
        return True

    def topics(self) -> Iterable[str]:
        """Broadcast topics this instance listens to while it is live (WebSocket or live
        SSE), e.g. ``[f"room:{self.state['room']}"]``; read again after every event."""
        return ()

    # -- presence: who is connected to a topic (core.presence, docs/presence.md) -------------

    #: A live instance (WebSocket, live SSE) of a class that sets this is *present* in each
    #: of its :meth:`topics` while its connection lasts, in every worker's lists, showing
    #: :meth:`presence_meta`; its ``on_presence(topic, joined, left)``, if it has one, runs
    #: when others join or leave them.
    presence: ClassVar[bool] = False
    #: This instance's entry key in presence lists while it is present (random, one per
    #: connection); ``None`` otherwise.
    presence_key: str | None = None
    #: The presence of the hub that serves this instance (set by the app and live sessions).
    presence_book: Presence | None = None

    def presence_meta(self) -> Mapping[str, Any] | None:
        """What others see of this instance in presence lists: small JSON data (at most
        512 bytes, no ``key``), read after every render. By default ``{"name": ...}``: the
        signed-in user's ``display_name`` or ``name``, else ``"Guest "`` and four characters
        of the entry key; never the session or anything secret unless you put it here.
        ``None``: follow the topics (hear ``on_presence``, list them) without being listed."""
        user = self.request.user
        if user is not None and getattr(user, "is_authenticated", True):
            name = getattr(user, "display_name", None) or getattr(user, "name", None)
            if name:
                return {"name": str(name)[:64]}
        return {"name": f"Guest {(self.presence_key or '????')[:4]}"}

    def present(self, topic: str | None = None, *, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """Who is present in ``topic`` (default: this instance's only topic), up to
        ``limit`` entries, each its :meth:`presence_meta` and ``key``, ordered by key. Every
        worker's members are listed for topics a live instance of this worker follows;
        elsewhere, this worker's own. Empty where no app serves the instance."""
        book = self.presence_book
        return [] if book is None else book.present(self._presence_topic(topic), limit)

    def present_count(self, topic: str | None = None) -> int:
        """How many are present in ``topic`` (default: this instance's only topic)."""
        book = self.presence_book
        return 0 if book is None else book.count(self._presence_topic(topic))

    def _presence_topic(self, topic: str | None) -> str:
        if topic is not None:
            return topic
        topics = list(dict.fromkeys(self.topics()))
        if len(topics) != 1:
            raise ConfigurationError(
                f"{type(self).__qualname__}.present() needs a topic: topics() names "
                f"{len(topics)}, not one"
            )
        return topics[0]

    # -- navigation and client effects -----------------------------------------------------
    # Recorded for the answer of the running event (never in the snapshot); see core.effects
    # for the rules. Over HTTP they become htmx headers (and data of the JSON answer); over
    # WebSocket and SSE, a message / frame the client runtime applies.

    def redirect(self, url: str) -> None:
        """Send the browser to ``url`` (a path of this site, or an ``http(s)`` URL of an
        origin in ``allowed_origins``) once this answer arrives. Anything else raises
        ``URLNotAllowed`` (400): no open redirect."""
        self._effects().redirect = checked_url(url, "redirect")

    def push_url(self, url: str) -> None:
        """Add ``url`` to the browser's history (the address bar shows it; Back returns)."""
        self._effects().history = ("push_url", checked_url(url, "push_url"))

    def replace_url(self, url: str) -> None:
        """Show ``url`` in the address bar in place of the current history entry."""
        self._effects().history = ("replace_url", checked_url(url, "replace_url"))

    def trigger(self, name: str, detail: Any = None) -> None:
        """Fire the DOM event ``name`` on this component's root element once the answer is
        applied (it bubbles); ``detail`` (JSON data) is its ``event.detail``, an object as
        given or ``{"value": detail}`` otherwise. Raises ``InvalidTrigger`` (400)."""
        name, detail = checked_trigger(name, {} if detail is None else detail)
        self._effects().triggers[name] = detail

    # -- events between components (core.events, docs/events.md) ---------------------------

    def emit(self, event: str, **payload: Any) -> None:
        """Run ``on_<event>(**payload)`` on every component of this page whose class lists
        ``event`` in ``listens`` (parents, siblings, children, this one too), once this
        answer arrives: the browser sends them in one batch, and live ones (WebSocket, live
        SSE) get it from the server. ``payload``: small JSON data. Raises ``InvalidEmit``."""
        emitted = self._effects().emitted
        if len(emitted) >= MAX_EMITS_PER_ANSWER:
            raise InvalidEmit(f"one answer emits at most {MAX_EMITS_PER_ANSWER} events")
        emitted.append(checked_emit(event, payload))

    def _effects(self) -> Effects:
        effects = self.pending_effects
        if effects is None:
            effects = self.pending_effects = Effects()
        return effects

    def take_effects(self) -> Effects | None:
        """The effects asked for since the last render, now owned by the caller (the
        dispatcher's render); ``None`` when there are none."""
        effects = self.pending_effects
        if effects is not None:
            self.pending_effects = None
        return effects

    # -- nesting: children in the template, lazy loading (core.nesting, docs/nesting.md) -----

    #: Mount parameters that a parent's re-render gives again to an existing child: each one
    #: named here that the parent passes is written into the child's state under the same
    #: name before the child renders. Other parameters count at mount only.
    props: ClassVar[tuple[str, ...]] = ()
    #: A nested instance's parent id and key, signed into its snapshot; ``None`` at top level.
    parent: tuple[str, str] | None = None
    #: The children the last render of this instance rendered, by key (set by the dispatcher).
    children: Mapping[str, Component] = MappingProxyType({})
    #: Whether a connection holds this instance (WebSocket, live SSE): its children are held
    #: with it, and lazy ones render in place (its renders already come after the page).
    held: bool = False

    # -- server-held state (core.server_state, docs/server-state.md) --------------------------

    #: Keep the state in the server's store and give the client only a signed reference
    #: (``True``), or travel as a signed snapshot (``False``); ``None``: the app's default,
    #: ``Settings.state_on_server``.
    state_on_server: ClassVar[bool | None] = None
    #: The stored version this instance's state was loaded at or last rendered as (``0``:
    #: never stored). Set by the dispatcher.
    state_version: int = 0

    @classmethod
    def placeholder(cls) -> str:
        """The HTML shown in place of a lazy instance until it loads (trusted markup, not
        escaped; its root element gets the attributes that load the component)."""
        return '<div class="component-placeholder" aria-busy="true"></div>'

    def get_context(self) -> dict[str, Any]:
        """The template context: state keys at top level, plus ``state``, the identity,
        ``request``, ``errors`` and ``form`` (always there, and winning over state keys of
        the same names, which ``state`` still holds)."""
        context = dict(self.state)
        context["state"] = self.state
        context["component_id"] = self.id
        context["component_name"] = self.component_name
        context["request"] = self.request
        context["errors"] = self.errors
        context["form"] = self.form
        return context

    def render(self, renderer: Renderer | None = None) -> str:
        """Render the template with :meth:`get_context` through ``renderer``, by default the
        class-level :attr:`renderer`."""
        renderer = renderer or type(self).renderer
        if renderer is None:
            raise ConfigurationError(
                "no renderer configured: set Component.renderer = Jinja2Renderer('templates') "
                "(or a renderer from component_framework.testing in tests)"
            )
        if not self.template_name:
            raise ConfigurationError(f"{type(self).__qualname__} has no template_name")
        return renderer.render(self.template_name, self.get_context())

    # -- form errors -----------------------------------------------------------------------

    def add_error(self, field: str, message: str) -> None:
        """Report ``message`` on ``field`` (a dotted name such as ``address.city``; ``""`` for
        the whole form), as a handler's own check: ``self.add_error("email", "This address is
        already registered.")``. Kept in :attr:`errors` for this request only."""
        messages = self.errors.setdefault(field, [])
        if message not in messages:
            messages.append(message)

    @property
    def form(self) -> dict[str, Any]:
        """What the person submitted, by dotted field name and exactly as typed, while it did
        not go through: the form has :attr:`errors` (it did not bind, or :meth:`add_error`)
        or was only validated (:attr:`validating`). Empty otherwise, so that a template's
        ``value="{{ form.name }}"`` shows the typing again after an error and an empty field
        after a successful submit. Files are left out."""
        if not (self.errors or self.validating) or not self.submitted:
            return {}
        return flatten(self.submitted)

    # -- event surface ---------------------------------------------------------------------

    # -- stream operations ---------------------------------------------------------------
    # Under SSE or WebSocket each call becomes a ``stream`` frame (batched losslessly); over
    # plain HTTP there is no stream, so they only validate and the final render is the answer.

    async def _stream(self, op: StreamOp) -> None:
        sink = getattr(self, "stream_sink", None)
        if sink is not None:
            await sink.send_op(op)

    async def stream_start(self, name: str) -> None:
        """Mark the stream ``name`` active (``data-stream-active`` on the client)."""
        await self._stream(start_op(name))

    async def stream_text(self, name: str, text: str, mode: TextMode = "append") -> None:
        """Append ``text`` (or replace the text, ``mode="replace"``) in the ``name`` target.
        Text is inserted as text, never parsed as HTML."""
        sink = getattr(self, "stream_sink", None)
        if (
            sink is not None
            and mode == "append"
            and type(text) is str
            and sink.append_text(name, text)  # queued at once, as the op below would be
        ):
            return
        op = text_op(name, text, mode)  # validated with or without a sink
        if sink is not None:  # what _stream does, one coroutine less for each token
            await sink.send_op(op)

    async def stream_insert(self, name: str, html: str, at: InsertAt = "append") -> None:
        """Insert ``html`` at the end (``at="append"``) or start (``"prepend"``) of ``name``."""
        await self._stream(insert_op(name, html, at))

    async def stream_to(
        self, name: str, html: str | None = None, target: str | None = None
    ) -> None:
        """Replace the content of ``name`` (or of ``target`` inside it) with ``html``; without
        ``html`` the component is re-rendered and the client takes the matching element from
        the new render."""
        if html is None:
            sink = getattr(self, "stream_sink", None)
            if sink is None:
                return
            html = sink.render(self)
        await self._stream(replace_op(name, html, target))

    async def stream_delete(self, name: str, selector: str) -> None:
        """Remove the element matching ``selector`` inside ``name``."""
        await self._stream(delete_op(name, selector))

    async def stream_error(self, name: str, error: str) -> None:
        """Show ``error`` inline in ``name``, keeping what was streamed so far."""
        await self._stream(error_op(name, error))

    async def stream_done(self, name: str) -> None:
        """Mark the stream ``name`` finished."""
        await self._stream(done_op(name))

    @classmethod
    def event_handler(cls, event: str) -> EventHandler | None:
        """The function handling ``event``, or ``None`` if it is not a public event."""
        return cls.events.get(event)

    @classmethod
    def is_stream_event(cls, event: str) -> bool:
        """Whether ``event`` is one of the component's stream handlers: an async generator
        handler, or the ``stream_event`` a :class:`StreamingComponent` declares. Only these
        start over a ``GET`` stream request: links and images on other sites send ``GET``
        requests without ``Origin``, so a ``GET`` must not run any other handler."""
        handler = cls.events.get(event)
        if handler is None:
            return False
        return inspect.isasyncgenfunction(handler) or event == getattr(cls, "stream_event", None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} state={self.state!r}>"


class StreamingComponent(Component):
    """A component whose handlers may be async generators: each ``yield`` pushes a render.

    Over plain HTTP a generator handler runs to completion and the final render is returned;
    the SSE and WebSocket transports send one frame per ``yield``. ``stream_event`` names the
    handler a stream runs when the request names none (needed only with several generators).
    """

    stream_event: ClassVar[str | None] = None
    #: Seconds a stream keeps running for a client to reconnect after a disconnect
    #: (``None`` = the app's ``Settings.stream_resume_grace``; ``0`` = cancel at once).
    stream_resume_grace: ClassVar[float | None] = None

    @classmethod
    def default_stream_event(cls) -> str | None:
        """The event a stream runs when the request names none: ``stream_event``, else the
        only async generator handler (``None`` when there is none or several)."""
        if cls.stream_event is not None:
            return cls.stream_event
        generators = [name for name, fn in cls.events.items() if inspect.isasyncgenfunction(fn)]
        return generators[0] if len(generators) == 1 else None
