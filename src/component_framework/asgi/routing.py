"""Routing: which part of the framework answers a scope. Pure functions, no I/O.

Owns the two questions every request asks first: is this path ours (and what is it relative to
the mount point), and which route does the relative path name. How hosts present paths differs
(HOST-FACTS.md "Paths and mounting"), so :func:`relative_path` handles each:

* Starlette / FastAPI ``Mount``: ``root_path`` ends with the mount prefix and ``app_root_path``
  holds the outer value; the path minus ``root_path`` is relative.
* Litestar ``asgi(is_mount=True)``: the path is already relative (the adapter uses ``prefix=""``).
* Standalone, middleware, ``uvicorn --root-path``: strip ``root_path``, then the configured prefix.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "NOT_OURS",
    "Resolution",
    "Route",
    "RouteCache",
    "RouteKind",
    "match_route",
    "relative_path",
]

STATIC_SEGMENT: Final = "_static"
UPLOADS_SEGMENT: Final = "_uploads"
EMIT_SEGMENT: Final = "_emit"
PAGE_SEGMENT: Final = "_page"


class RouteKind(enum.Enum):
    """What a relative path addresses."""

    COMPONENT = "component"  # /{name}/        HTTP: mount (GET) and events (POST)
    STREAM = "stream"  # /{name}/stream/ SSE
    WEBSOCKET = "websocket"  # /{name}/ws/     WebSocket
    STATIC = "static"  # /_static/...    client runtime files
    UPLOADS = "uploads"  # /_uploads/[id]  resumable uploads (the name is the id, or "")
    EMIT = "emit"  # /_emit/         HTTP: a batch of emitted events for a page's listeners
    PAGE = "page"  # /_page/         SSE: every component stream of a page over one response

    # Members are singletons compared by identity: hash them by identity too, in C. Enum's
    # own ``__hash__`` is a Python call, and each request looks its route kind up in a table.
    __hash__ = object.__hash__


@dataclass(slots=True)
class Route:
    """A matched route: its kind and the component name (or static file path)."""

    kind: RouteKind
    name: str


_SUFFIXES: Final = {"stream": RouteKind.STREAM, "ws": RouteKind.WEBSOCKET}


def _strip_boundary(path: str, prefix: str) -> str | None:
    """``path`` without ``prefix`` if it starts with it at a segment boundary."""
    if not prefix:
        return path
    if path == prefix:
        return ""
    if path.startswith(prefix) and path[len(prefix)] == "/":
        return path[len(prefix) :]
    return None


def relative_path(scope: Mapping[str, Any], prefix: str) -> str | None:
    """The path relative to the framework's mount point, or ``None`` if it is not ours."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "") or ""
    app_root_path = scope.get("app_root_path")
    if app_root_path is not None and root_path != app_root_path and root_path:
        # Mounted by Starlette: root_path already includes the mount prefix.
        return _strip_boundary(path, root_path.rstrip("/"))
    if root_path:
        stripped = _strip_boundary(path, root_path.rstrip("/"))
        if stripped is not None:
            path = stripped
    relative = _strip_boundary(path, prefix.rstrip("/"))
    if relative is None or (relative and not relative.startswith("/")):
        return None
    return relative


def match_route(relative: str) -> Route | None:
    """The route a relative path names (a trailing slash is optional), or ``None``."""
    segments = relative.strip("/").split("/")
    if not segments[0]:
        return None
    head = segments[0]
    if head == STATIC_SEGMENT:
        rest = "/".join(segments[1:])
        return Route(RouteKind.STATIC, rest) if rest else None
    if head == UPLOADS_SEGMENT and len(segments) <= 2:
        return Route(RouteKind.UPLOADS, segments[1] if len(segments) == 2 else "")
    if head == EMIT_SEGMENT:
        return Route(RouteKind.EMIT, "") if len(segments) == 1 else None
    if head == PAGE_SEGMENT:
        return Route(RouteKind.PAGE, "") if len(segments) == 1 else None
    if head.startswith("_"):
        return None
    if len(segments) == 1:
        return Route(RouteKind.COMPONENT, head)
    if len(segments) == 2 and segments[1] in _SUFFIXES:
        return Route(_SUFFIXES[segments[1]], head)
    return None


class _NotOurs:
    """The resolution of a path outside the framework's mount point."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_OURS"


NOT_OURS: Final = _NotOurs()
Resolution = Route | None | _NotOurs


class RouteCache:
    """Memoised :func:`relative_path` + :func:`match_route`, bounded to ``max_entries``.

    Real traffic hits a handful of paths, so each is resolved once; the table is emptied when
    full, so unbounded distinct paths cost time, never memory. Resolutions are never mutated.
    """

    def __init__(self, prefix: str, max_entries: int = 1024) -> None:
        self.prefix = prefix
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str, str | None], Resolution] = {}

    def _remember(self, key: tuple[str, str, str | None], resolution: Resolution) -> Resolution:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = resolution
        return resolution

    def resolve(self, scope: Mapping[str, Any]) -> Resolution:
        """What ``scope``'s path addresses, seen from a host that passes full paths."""
        key = (scope["path"], scope.get("root_path", ""), scope.get("app_root_path"))
        try:
            return self._entries[key]
        except KeyError:
            relative = relative_path(scope, self.prefix)
            return self._remember(key, NOT_OURS if relative is None else match_route(relative))

    def resolve_relative(self, path: str) -> Resolution:
        """What an already relative ``path`` addresses (hosts that strip their mount path)."""
        key = (path, "", "relative")
        try:
            return self._entries[key]
        except KeyError:
            relative = path if path.startswith("/") else None
            return self._remember(key, NOT_OURS if relative is None else match_route(relative))
