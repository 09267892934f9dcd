"""Authorization: who is asking (:class:`AccessContext`) and whether they may (permissions).

Owns the connection context a transport builds from what the host put in the ASGI scope (the
user and session of Litestar or Starlette auth middleware, headers, the client address), the
:class:`Permission` protocol with :class:`AllowAny`, :class:`IsAuthenticated` and
:class:`DenyAll`, and :func:`check_access`, which the dispatcher runs at every mount, every
event and every stream start on every transport: first the app-level hook, then the
component's ``permission_classes``, then its ``authorize`` method. A denial raises
:class:`~component_framework.errors.Forbidden` (403, WebSocket 1008), or
:class:`~component_framework.errors.Unauthorized` (401) when nobody is authenticated.

Checks are synchronous on purpose: they look at what authentication middleware already put in
the scope and at the component's state; anything slow belongs in that middleware. Pure: no
ASGI, no I/O.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from component_framework.errors import ConfigurationError, Forbidden, Unauthorized
from component_framework.protocol.request import MOUNT_EVENT

if TYPE_CHECKING:
    from component_framework.core.component import Component

__all__ = [
    "AccessContext",
    "AccessHook",
    "AllowAny",
    "DenyAll",
    "IsAuthenticated",
    "Permission",
    "Transport",
    "check_access",
    "is_authenticated",
]

Transport = Literal["http", "sse", "websocket", "page"]


class AccessContext:
    """Who is asking, as the host and its middleware described it.

    ``transport``: ``"http"``, ``"sse"``, ``"websocket"``, or ``"page"`` (the ``component()``
    page global). ``scope``: the ASGI scope of the request or connection. ``client``: the
    client's address (the ASGI ``client``, or behind a configured trusted proxy the address
    ``X-Forwarded-For`` names). ``user`` / ``auth`` / ``session`` read ``scope["user"]``,
    ``scope["auth"]`` and ``scope["session"]`` (``None`` when the host set none), which is where
    Litestar's and Starlette's authentication and session middleware put them. ``headers``: the
    request headers with lower-case names (the last of repeated ones), decoded on first use.
    """

    __slots__ = ("_headers", "client", "scope", "transport")

    def __init__(
        self,
        transport: Transport,
        scope: Mapping[str, Any] | None = None,
        client: str | None = None,
    ) -> None:
        self.transport = transport
        self.scope: Mapping[str, Any] = {} if scope is None else scope
        self.client = client
        self._headers: dict[str, str] | None = None

    @property
    def user(self) -> Any:
        """``scope["user"]``: the authenticated user, when the host's middleware set one."""
        return self.scope.get("user")

    @property
    def auth(self) -> Any:
        """``scope["auth"]``: the credentials the host's middleware accepted."""
        return self.scope.get("auth")

    @property
    def session(self) -> Any:
        """``scope["session"]``: the session the host's middleware loaded."""
        return self.scope.get("session")

    @property
    def headers(self) -> Mapping[str, str]:
        """Request headers, lower-case names, latin-1 decoded."""
        if self._headers is None:
            self._headers = {
                bytes(key).decode("latin-1").lower(): bytes(value).decode("latin-1")
                for key, value in self.scope.get("headers", ())
            }
        return self._headers

    def __repr__(self) -> str:
        return f"AccessContext({self.transport!r}, client={self.client!r}, user={self.user!r})"


@runtime_checkable
class Permission(Protocol):
    """A reusable check: ``True`` allows; ``False`` denies with 403 (or raise
    :class:`~component_framework.errors.Unauthorized` / ``Forbidden`` for your own message)."""

    def has_permission(self, context: AccessContext, component: Component, event: str) -> bool:
        """Whether ``context`` may run ``event`` (``"mount"`` for a mount or re-render)."""
        ...


#: ``ComponentASGI(authorize=...)``: the same question for every component.
AccessHook = Callable[[AccessContext, "Component", str], bool]


def is_authenticated(user: Any) -> bool:
    """Whether ``user`` is someone: not ``None`` and not marked unauthenticated (Starlette's
    ``UnauthenticatedUser`` and most user models carry ``is_authenticated``)."""
    if user is None:
        return False
    flag = getattr(user, "is_authenticated", True)
    return bool(flag() if callable(flag) else flag)


class AllowAny:
    """Everyone may (the default when a component declares nothing)."""

    def has_permission(self, context: AccessContext, component: Component, event: str) -> bool:
        return True


class IsAuthenticated:
    """Only an authenticated user (``scope["user"]``); nobody gets 401."""

    def has_permission(self, context: AccessContext, component: Component, event: str) -> bool:
        if not is_authenticated(context.user):
            raise Unauthorized("authentication required")
        return True


class DenyAll:
    """Nobody may (for components that are only rendered server-side, say)."""

    def has_permission(self, context: AccessContext, component: Component, event: str) -> bool:
        return False


def _permissions(component: Component) -> Sequence[Permission]:
    declared: Sequence[Any] = getattr(type(component), "permission_classes", ())
    return [entry() if isinstance(entry, type) else entry for entry in declared]


def _allowed(outcome: Any, where: str) -> bool:
    if inspect.isawaitable(outcome):
        close = getattr(outcome, "close", None)
        if close is not None:
            close()
        raise ConfigurationError(
            f"{where} returned an awaitable: authorization checks are synchronous (do slow work "
            "in authentication middleware and read its result from the context)"
        )
    return bool(outcome)


def check_access(
    context: AccessContext, component: Component, event: str, hook: AccessHook | None = None
) -> None:
    """Raise ``Forbidden`` / ``Unauthorized`` unless ``context`` may run ``event`` on
    ``component``: the app ``hook``, each permission, then ``component.authorize``."""
    name = component.component_name
    if hook is not None and not _allowed(hook(context, component, event), "the authorize hook"):
        raise _denied(name, event)
    for permission in _permissions(component):
        where = f"{type(permission).__name__}.has_permission"
        if not _allowed(permission.has_permission(context, component, event), where):
            raise _denied(name, event)
    where = f"{type(component).__qualname__}.authorize"
    if not _allowed(component.authorize(context, event), where):
        raise _denied(name, event)


def _denied(component: str, event: str) -> Forbidden:
    if event == MOUNT_EVENT:
        return Forbidden(f"not allowed: component {component!r}")
    return Forbidden(f"not allowed: event {event!r} of {component!r}")
