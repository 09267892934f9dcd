"""Django integration: the logged-in Django user and session for component requests.

Owns two small pieces for a Django project served as ASGI with ``ComponentASGI`` in middleware
mode around Django's ASGI application (components under ``/components``, every other path to
Django):

* :class:`DjangoSessionAuth` wraps that ``ComponentASGI``. For each component request (HTTP,
  SSE and WebSocket handshakes; not the static runtime files) it reads Django's session cookie,
  loads the session with Django's own session engine and the user with
  ``django.contrib.auth.get_user`` (in one ``sync_to_async`` call, between Django's
  ``close_old_connections`` as a Django request does), and hands ``ComponentASGI`` a scope with
  ``scope["user"]`` and ``scope["session"]``, which is where
  :class:`~component_framework.core.access.AccessContext` reads them. A missing, invalid or
  expired session is an ``AnonymousUser``; a session that cannot be loaded at all (database
  down) is logged and anonymous too, never a traceback to the client. It also answers the
  lifespan and refuses WebSockets outside the components prefix when the wrapped app is Django's
  ``ASGIHandler``, which speaks HTTP only.
* :class:`ScopeUserMiddleware` is a Django middleware for pages: it copies ``request.user`` and
  ``request.session`` into ``request.scope``, so the ``component()`` page global (Django's
  Jinja2 backend puts ``request`` in the context) authorizes as the logged-in user.

Does not own authentication itself (Django's login, logout and session middleware do) and never
writes the session: a component's changes to ``scope["session"]`` are not saved.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any, Final

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
    from django.conf import settings as django_settings
    from django.contrib.auth import get_user
    from django.core.exceptions import ImproperlyConfigured
    from django.core.handlers.asgi import ASGIHandler
    from django.db import close_old_connections
    from django.http.cookie import parse_cookie
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("django", "django") from exc

from component_framework.asgi.app import ComponentASGI
from component_framework.asgi.routing import RouteKind, match_route, relative_path

__all__ = ["DjangoSessionAuth", "ScopeUserMiddleware"]

logger = logging.getLogger("component_framework")

_IDENTIFIED_ROUTES: Final = frozenset({RouteKind.COMPONENT, RouteKind.STREAM, RouteKind.WEBSOCKET})


class _SessionCarrier:
    """What ``django.contrib.auth.get_user`` reads of a request: its ``session``."""

    __slots__ = ("session",)

    def __init__(self, session: Any) -> None:
        self.session = session


def _anonymous_user() -> Any:
    from django.contrib.auth.models import AnonymousUser  # needs the app registry ready

    return AnonymousUser()


def _session_store(session_key: str | None) -> Any:
    """A ``SessionStore`` of the configured engine (nothing is loaded yet)."""
    engine = import_module(django_settings.SESSION_ENGINE)
    return engine.SessionStore(session_key)


def _session_key_of(scope: Any) -> str | None:
    """The value of Django's session cookie (``SESSION_COOKIE_NAME``) in the scope's
    ``Cookie`` headers, or ``None``."""
    cookies = [
        bytes(value).decode("latin-1")
        for name, value in scope.get("headers", ())
        if bytes(name).lower() == b"cookie"
    ]
    if not cookies:
        return None
    key = parse_cookie("; ".join(cookies)).get(django_settings.SESSION_COOKIE_NAME)
    return key or None


class DjangoSessionAuth:
    """Wraps a ``ComponentASGI`` serving components beside a Django app (middleware mode) and
    gives its component requests the Django user and session.

    ``components``: the ``ComponentASGI``, usually ``ComponentASGI(get_asgi_application())``.
    ``load_permissions``: also load an authenticated user's permissions
    (``user.get_all_permissions()``), so that ``user.has_perm(...)`` works inside synchronous
    authorization checks on the event loop (two more queries per component request; a
    superuser's ``has_perm`` needs none).

    ``scope["user"]`` is the user model instance or ``AnonymousUser`` (whose
    ``is_authenticated`` is ``False``, so ``IsAuthenticated`` answers 401);
    ``scope["session"]`` is the loaded ``SessionStore``, read-only in practice. A WebSocket keeps
    the user of its handshake for its whole life.
    """

    def __init__(self, components: ComponentASGI, *, load_permissions: bool = False) -> None:
        self.components = components
        self.load_permissions = load_permissions
        self._inner_is_django = isinstance(components.app, ASGIHandler)
        self._load = sync_to_async(self._load_identity, thread_sensitive=True)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI entry point."""
        kind = scope["type"]
        if kind == "lifespan" and self._inner_is_django:
            await self._lifespan(receive, send)
            return
        if kind not in ("http", "websocket"):
            await self.components(scope, receive, send)
            return
        route = self._component_route(scope)
        if route is not None and route.kind in _IDENTIFIED_ROUTES:
            user, session = await self.identify(scope)
            scope = {**scope, "user": user, "session": session}
        elif kind == "websocket" and route is None and self._inner_is_django:
            await self._refuse_websocket(receive, send)
            return
        await self.components(scope, receive, send)

    def _component_route(self, scope: Any) -> Any:
        relative = relative_path(scope, self.components.prefix)
        return None if relative is None else match_route(relative)

    async def identify(self, scope: Any) -> tuple[Any, Any]:
        """``(user, session)`` for the request ``scope`` describes, from its session cookie."""
        session_key = _session_key_of(scope)
        if session_key is None:  # nobody signed in: no thread hop, no query
            return _anonymous_user(), _session_store(None)
        try:
            return await self._load(session_key)
        except Exception:
            logger.exception(
                "could not load the Django session of a component request; it runs anonymous"
            )
            return _anonymous_user(), None

    def _load_identity(self, session_key: str) -> tuple[Any, Any]:
        """In Django's thread: load the session and its user, as a Django request would."""
        close_old_connections()
        try:
            session = _session_store(session_key)
            user = get_user(_SessionCarrier(session))  # verifies the session's auth hash
            if self.load_permissions and user.is_authenticated:
                user.get_all_permissions()  # the backend caches them on the user
            session.keys()  # the session data is loaded (and cached) here, not on the loop
            return user, session
        finally:
            close_old_connections()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        """Django's ``ASGIHandler`` has no lifespan: answer it, and end our streams on
        shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.components.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _refuse_websocket(receive: Any, send: Any) -> None:
        """Django's ``ASGIHandler`` raises on a WebSocket: close it before the accept (servers
        answer 403)."""
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008})


class ScopeUserMiddleware:
    """Django middleware: ``request.scope`` gets ``user`` and ``session`` (the lazy objects of
    ``AuthenticationMiddleware`` and ``SessionMiddleware``), so a component rendered into a
    page by the ``component()`` global is authorized as the page's user. List it after
    ``django.contrib.auth.middleware.AuthenticationMiddleware``. Sync and async capable."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        """Expose the user, then hand the request on."""
        if self._async:
            return self._acall(request)
        _expose_user(request)
        return self.get_response(request)

    async def _acall(self, request: Any) -> Any:
        _expose_user(request)
        response: Awaitable[Any] = self.get_response(request)
        return await response


def _expose_user(request: Any) -> None:
    if not hasattr(request, "user"):
        raise ImproperlyConfigured(
            "ScopeUserMiddleware needs request.user: list it after "
            "'django.contrib.auth.middleware.AuthenticationMiddleware' in MIDDLEWARE"
        )
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):  # an ASGI request; under WSGI there is no scope to fill
        request.scope = {**scope, "user": request.user, "session": request.session}
