"""The component model: :class:`Component`, :class:`StreamingComponent` and their event surface.

Owns the lifecycle a user overrides (``mount``, ``hydrate``, ``dehydrate``, ``before_render``,
``get_context``), rendering through the class-level :attr:`Component.renderer`, and the rule of
which methods are events: public ``on_<name>`` functions defined on the user's own classes (never
on the framework's base classes, never names starting with ``_``). Knows nothing of transports;
a component can be used and tested by calling its methods directly.
"""

from __future__ import annotations

import inspect
import re
import secrets
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final

from component_framework.core.renderer import Renderer
from component_framework.errors import ConfigurationError

__all__ = ["Component", "EventHandler", "StreamingComponent", "is_valid_event_name"]

EventHandler = Callable[..., Any]
_EVENT_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_HANDLER_PREFIX: Final = "on_"
#: Event names the protocol gives a meaning of its own; ``on_mount`` is never an event.
_RESERVED_EVENTS: Final = frozenset({"mount"})


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
    level, plus ``state``, ``component_id`` and ``component_name``.
    """

    #: Renderer shared by every component that does not set its own (e.g. ``Jinja2Renderer``).
    renderer: ClassVar[Renderer | None] = None
    #: Template rendered by :meth:`render`.
    template_name: ClassVar[str | None] = None
    #: Name under which the class is registered; set by ``registry.register``.
    component_name: ClassVar[str] = ""
    #: Public events of this class: event name -> function; computed per subclass.
    events: ClassVar[Mapping[str, EventHandler]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "component_name" not in cls.__dict__:
            # Each class gets its own default name; registering it sets the public one.
            cls.component_name = cls.__name__.lower()
        cls.events = MappingProxyType(_collect_events(cls))

    def __init__(self, component_id: str | None = None, **state: Any) -> None:
        self.id: str = component_id or _new_component_id(self.component_name or "component")
        self.state: dict[str, Any] = dict(state)

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

    def get_context(self) -> dict[str, Any]:
        """The template context: state keys at top level, plus ``state`` and the identity."""
        context = dict(self.state)
        context["state"] = self.state
        context["component_id"] = self.id
        context["component_name"] = self.component_name
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

    # -- event surface ---------------------------------------------------------------------

    @classmethod
    def event_handler(cls, event: str) -> EventHandler | None:
        """The function handling ``event``, or ``None`` if it is not a public event."""
        return cls.events.get(event)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} state={self.state!r}>"


class StreamingComponent(Component):
    """A component whose handlers may be async generators: each ``yield`` pushes a render.

    Over plain HTTP a generator handler runs to completion and the final render is returned;
    the SSE and WebSocket transports send one frame per ``yield``. ``stream_event`` names the
    handler a stream runs when the request names none (needed only with several generators).
    """

    stream_event: ClassVar[str | None] = None
