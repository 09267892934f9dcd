"""The request a component sees (:class:`AccessContext`) and whether it may act (permissions).

Owns the request a transport builds from what the host put in the ASGI scope (the user and
session of Litestar, Starlette, FastAPI or Django auth middleware, headers, cookies, the URL,
the client address): the one object that ``authorize`` receives and that a component reads as
``self.request`` (and its template as ``request``) in every hook. Everything but the transport
and the client is read from the scope only when asked, so a component that never looks costs
nothing. Also owns the
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
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote

from component_framework.errors import ConfigurationError, Forbidden, Unauthorized
from component_framework.protocol.request import MOUNT_EVENT

if TYPE_CHECKING:
    from component_framework.core.component import Component

__all__ = [
    "UNSERVED",
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
    """The request, as the host and its middleware described it: ``self.request`` in a
    component, ``request`` in its template, the ``context`` of ``authorize``.

    ``transport``: ``"http"``, ``"sse"``, ``"websocket"`` (the handshake's request, for the
    whole connection), or ``"page"`` (the ``component()`` page global: the page's request).
    ``scope``: the ASGI scope of the request or connection. ``client``: the client's address
    (the ASGI ``client``, or behind a configured trusted proxy the address ``X-Forwarded-For``
    names). ``user`` / ``auth`` / ``session`` read ``scope["user"]``, ``scope["auth"]`` and
    ``scope["session"]`` (``None`` when the host set none), which is where Litestar's,
    Starlette's (and so FastAPI's) authentication and session middleware and
    ``adapters.django.DjangoSessionAuth`` put them. ``headers``, ``cookies`` and
    ``query_params``: lower-case header names, cookie names and query names to their values
    (the last of repeated ones), decoded on first use. ``url``: the request's absolute URL.
    """

    __slots__ = ("_cookies", "_headers", "_query", "client", "scope", "transport")

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
        self._cookies: dict[str, str] | None = None
        self._query: dict[str, str] | None = None

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

    @property
    def cookies(self) -> Mapping[str, str]:
        """The cookies of every ``Cookie`` header, by name (values percent-decoded)."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for key, value in self.scope.get("headers", ()):
                if bytes(key).lower() == b"cookie":
                    _read_cookies(bytes(value).decode("latin-1"), cookies)
            self._cookies = cookies
        return self._cookies

    @property
    def query_params(self) -> Mapping[str, str]:
        """The query string's parameters (UTF-8, ``+`` as space)."""
        if self._query is None:
            raw = bytes(self.scope.get("query_string", b"")).decode("utf-8", "replace")
            kept = "&".join(raw.split("&", _MAX_QUERY)[:_MAX_QUERY])  # the rest is ignored
            self._query = dict(parse_qsl(kept, keep_blank_values=True))
        return self._query

    @property
    def url(self) -> str:
        """The absolute URL of the request (for the page global: of the page), from the
        scope's scheme, the ``Host`` header (else the server address) and the request path as
        the server received it."""
        scope = self.scope
        scheme = scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http")
        host = self.headers.get("host")
        if not host:
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        raw_path = scope.get("raw_path")
        if raw_path:  # as sent (a mount may have cut scope["path"]); some test clients add "?"
            path = bytes(raw_path).decode("latin-1").partition("?")[0]
        else:
            path = scope.get("root_path", "") + scope.get("path", "/")
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")

    def __repr__(self) -> str:
        return f"AccessContext({self.transport!r}, client={self.client!r}, user={self.user!r})"


#: Most query parameters :attr:`AccessContext.query_params` reads; any further ones are
#: ignored (the server bounds the request line anyway).
_MAX_QUERY: Final = 1000


def _read_cookies(header: str, into: dict[str, str]) -> None:
    """``name=value; other=value`` into ``into`` (browsers' rules: no quoting beyond an
    optional pair of double quotes; a pair without ``=`` is skipped)."""
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            continue
        if len(value) > 1 and value[0] == value[-1] == '"':
            value = value[1:-1]
        into[name] = unquote(value)


#: The request of a component no transport serves (one created directly, in a unit test, or
#: rendered in process without a request): nobody, no headers, an empty scope.
UNSERVED: Final = AccessContext("page")


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
