"""Serving the browser side: the client runtime, htmx and its extensions, and their tags.

Owns one small exchange under ``/_static/``: the files of the package's ``static/`` folder (the
runtime ``component-framework.js`` and its ``.d.ts``) by plain name (no sub-folders, no dot files),
plus exactly six vendor scripts: htmx 2 with its extensions (``htmx.min.js``, ``sse.min.js``,
``ws.min.js``) and htmx 4 with its own (``htmx4.min.js``, ``hx-sse.min.js``, ``hx-ws.min.js``).
These come from the copies the package ships in ``static/vendor/`` (laid out like
``node_modules``, htmx 4 under its alias ``htmx4``; the exact npm releases pinned in
:data:`VENDOR_SCRIPTS`), or from ``Settings.vendor_directory`` when it names another
``node_modules``-like folder. Files are read once and kept in memory, with
a content hash as ``ETag`` (``304`` for a matching ``If-None-Match``) and caching headers: one
hour, or a year and ``immutable`` when the URL's ``?v=`` names the file's version. Anything
else is a 404.

Also owns :func:`script_tags`, the ``<script>`` tags a page needs (used by the Jinja helper
``component_scripts()``): every script from this app, so a page needs no CDN and works offline.
A page chooses its htmx with ``htmx=2`` (the default) or ``htmx=4`` (:data:`HTMX_VERSIONS`); the
runtime is the same file for both.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

from component_framework.asgi.responses import Response, error_response, send_response
from component_framework.errors import MethodNotAllowed, NotFound

if TYPE_CHECKING:
    from asgiref.typing import ASGISendCallable, HTTPScope

__all__ = [
    "BUNDLED_VENDOR_DIRECTORY",
    "HTMX_VERSIONS",
    "RUNTIME",
    "STATIC_DIRECTORY",
    "VENDOR_SCRIPTS",
    "StaticFiles",
    "VendorScript",
    "script_tags",
]

STATIC_DIRECTORY: Final = Path(__file__).resolve().parent.parent / "static"
#: htmx and its extensions as shipped with the package (0BSD licensed; each with its LICENSE).
BUNDLED_VENDOR_DIRECTORY: Final = STATIC_DIRECTORY / "vendor"
RUNTIME: Final = "component-framework.js"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_TYPES: Final = {".js": b"text/javascript; charset=utf-8", ".ts": b"text/plain; charset=utf-8"}
_SHORT_CACHE: Final = b"public, max-age=3600"
_LONG_CACHE: Final = b"public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class VendorScript:
    """A script of an npm package: its path in a ``node_modules``-like folder, the release the
    package ships, and the sha384 digest (subresource-integrity form) of that release's file."""

    path: str
    version: str
    integrity: str

    @property
    def package(self) -> str:
        """The npm package name (``htmx.org``)."""
        return self.path.split("/", 1)[0]


_HTMX4: Final = "htmx4"  # the npm alias htmx 4 is installed under (package.json)


#: The vendor scripts by the name they are served under, in page order. ``package.json`` pins
#: the same versions, and the test suite checks the shipped copies against these digests.
VENDOR_SCRIPTS: Final[Mapping[str, VendorScript]] = {
    "htmx.min.js": VendorScript(
        "htmx.org/dist/htmx.min.js",
        "2.0.11",
        "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg",
    ),
    "sse.min.js": VendorScript(
        "htmx-ext-sse/dist/sse.min.js",
        "2.2.4",
        "sha384-A986SAtodyH8eg8x8irJnYUk7i9inVQqYigD6qZ9evobksGNIXfeFvDwLSHcp31N",
    ),
    "ws.min.js": VendorScript(
        "htmx-ext-ws/dist/ws.min.js",
        "2.0.4",
        "sha384-1RwI/nvUSrMRuNj7hX1+27J8XDdCoSLf0EjEyF69nacuWyiJYoQ/j39RT1mSnd2G",
    ),
    "htmx4.min.js": VendorScript(
        f"{_HTMX4}/dist/htmx.min.js",
        "4.0.1",
        "sha384-Qp9rdC8H7EqOoX+nR0P3RPG2Noji+qdwJlGpfzwQJsfOpp3sGwIdSP9xO3+UlEhn",
    ),
    "hx-sse.min.js": VendorScript(
        f"{_HTMX4}/dist/ext/hx-sse.min.js",
        "4.0.1",
        "sha384-v8HvucQ+ohQhMg0arboXc5049yNR46QKMjphs7YDch+Wm7zpfK5XVS01f26mQDJV",
    ),
    "hx-ws.min.js": VendorScript(
        f"{_HTMX4}/dist/ext/hx-ws.min.js",
        "4.0.1",
        "sha384-8iDMDuKIquXLgObstxvwGlWD1bY/ALMH7k9rbC070qmZrRvJ0BGO+8xG+Ul+J0bP",
    ),
}
#: The htmx major versions a page may load, each with its scripts: htmx, then its sse and ws
#: extensions. htmx 2 is the default (see docs/htmx.md: how to choose).
HTMX_VERSIONS: Final[Mapping[int, tuple[str, str, str]]] = {
    2: ("htmx.min.js", "sse.min.js", "ws.min.js"),
    4: ("htmx4.min.js", "hx-sse.min.js", "hx-ws.min.js"),
}


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    etag: bytes
    content_type: bytes
    version: str


class StaticFiles:
    """The browser files, each loaded on first request. ``vendor_directory``: where htmx and
    its extensions are read from (``None``: the copies shipped with the package)."""

    def __init__(
        self, directory: Path = STATIC_DIRECTORY, vendor_directory: Path | str | None = None
    ) -> None:
        self.directory = directory
        self.vendor_directory = (
            BUNDLED_VENDOR_DIRECTORY if vendor_directory is None else Path(vendor_directory)
        )
        self._files: dict[str, _File] = {}

    def _path(self, name: str) -> Path | None:
        if name in VENDOR_SCRIPTS:
            return self.vendor_directory / VENDOR_SCRIPTS[name].path
        path = self.directory / name
        if not _NAME.fullmatch(name) or path.suffix not in _TYPES:
            return None
        return path

    def file(self, name: str) -> _File | None:
        """The file served as ``name``, or ``None`` when there is none."""
        found = self._files.get(name)
        if found is not None:
            return found
        path = self._path(name)
        if path is None or not path.is_file():
            return None
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        found = _File(body, f'"{digest[:32]}"'.encode("ascii"), _TYPES[path.suffix], digest[:12])
        self._files[name] = found
        return found

    def version(self, name: str) -> str | None:
        """A short content hash of ``name``, for cache-busting URLs (``?v=...``)."""
        found = self.file(name)
        return None if found is None else found.version

    async def serve(self, scope: HTTPScope, send: ASGISendCallable, name: str) -> None:
        """Answer ``GET``/``HEAD`` for ``name``."""
        if scope["method"] not in ("GET", "HEAD"):
            error = MethodNotAllowed(scope["method"], ("GET", "HEAD"))
            await send_response(send, error_response(error))
            return
        found = self.file(name)
        if found is None:
            await send_response(send, error_response(NotFound(f"no static file {name!r}")))
            return
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        headers = (
            (b"content-type", found.content_type),
            (b"cache-control", _LONG_CACHE if query.get("v") == found.version else _SHORT_CACHE),
            (b"etag", found.etag),
            (b"x-content-type-options", b"nosniff"),
        )
        if any(k.lower() == b"if-none-match" and found.etag in v for k, v in scope["headers"]):
            await send_response(send, Response(304, headers, b""), head=True)
            return
        await send_response(
            send, Response(200, headers, found.body), head=scope["method"] == "HEAD"
        )


def script_tags(
    prefix: str, *, sse: bool = True, ws: bool = True, static: StaticFiles, htmx: int = 2
) -> str:
    """The ``<script>`` tags for a page: htmx (major version ``htmx``: 2 or 4), its sse and ws
    extensions (each optional), then the client runtime, all from ``{prefix}/_static/``
    (``prefix`` is the public URL prefix of the app, ``/components``), so the page needs no CDN.
    The runtime URL carries its version (read from ``static``), so browsers may cache it for a
    year. Another ``htmx`` is a ``ValueError`` that names the choices."""
    if isinstance(htmx, bool) or not isinstance(htmx, int) or htmx not in HTMX_VERSIONS:
        choices = " or ".join(str(version) for version in HTMX_VERSIONS)
        raise ValueError(f"htmx must be {choices}, got {htmx!r}")
    core, sse_name, ws_name = HTMX_VERSIONS[htmx]
    base = prefix.rstrip("/") + "/_static/"
    names = [core, *([sse_name] if sse else []), *([ws_name] if ws else [])]
    tags = [f'<script src="{escape(base + name)}"></script>' for name in names]
    version = static.version(RUNTIME)
    runtime = base + RUNTIME + (f"?v={version}" if version else "")
    tags.append(f'<script src="{escape(runtime)}"></script>')
    return "\n".join(tags)
