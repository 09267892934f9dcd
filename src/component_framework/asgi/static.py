"""Serving the client runtime: files of the package's ``static/`` folder under ``/_static/``.

Owns one small exchange: only files that exist in that folder, by plain name (no sub-folders,
no dot files), read once and kept in memory, with a content hash as ``ETag`` and caching headers
(``304`` for a matching ``If-None-Match``). Anything else is a 404.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from component_framework.asgi.responses import Response, error_response, send_response
from component_framework.errors import MethodNotAllowed, NotFound

if TYPE_CHECKING:
    from asgiref.typing import ASGISendCallable, HTTPScope

__all__ = ["STATIC_DIRECTORY", "StaticFiles"]

STATIC_DIRECTORY: Final = Path(__file__).resolve().parent.parent / "static"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_TYPES: Final = {".js": b"text/javascript; charset=utf-8", ".ts": b"text/plain; charset=utf-8"}


class StaticFiles:
    """The client runtime files, loaded on first request."""

    def __init__(self, directory: Path = STATIC_DIRECTORY) -> None:
        self.directory = directory
        self._files: dict[str, tuple[bytes, bytes, bytes]] = {}

    def _load(self, name: str) -> tuple[bytes, bytes, bytes] | None:
        if name in self._files:
            return self._files[name]
        path = self.directory / name
        if not _NAME.fullmatch(name) or path.suffix not in _TYPES or not path.is_file():
            return None
        body = path.read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode("ascii") + b'"'
        self._files[name] = (body, etag, _TYPES[path.suffix])
        return self._files[name]

    async def serve(self, scope: HTTPScope, send: ASGISendCallable, name: str) -> None:
        """Answer ``GET``/``HEAD`` for ``name``."""
        if scope["method"] not in ("GET", "HEAD"):
            error = MethodNotAllowed(scope["method"], ("GET", "HEAD"))
            await send_response(send, error_response(error))
            return
        found = self._load(name)
        if found is None:
            await send_response(send, error_response(NotFound(f"no static file {name!r}")))
            return
        body, etag, content_type = found
        headers = (
            (b"content-type", content_type),
            (b"cache-control", b"public, max-age=3600"),
            (b"etag", etag),
            (b"x-content-type-options", b"nosniff"),
        )
        if any(k.lower() == b"if-none-match" and etag in v for k, v in scope["headers"]):
            await send_response(send, Response(304, headers, b""), head=True)
            return
        await send_response(send, Response(200, headers, body), head=scope["method"] == "HEAD")
