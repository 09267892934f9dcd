"""Navigation and client effects a handler asks for: ``redirect``, ``push_url``,
``replace_url`` and ``trigger``.

Owns the rules, pure: which URLs a component may send a browser to (no open redirect), which
event names ``trigger`` may fire and what detail it may carry, and :class:`Effects`, the
effects one answer carries, as data. A URL's form and an event's name and detail are checked
when the handler asks (:class:`~component_framework.errors.URLNotAllowed` /
:class:`~component_framework.errors.InvalidTrigger`, both 400); an absolute URL's origin when
the answer is rendered (:meth:`Effects.document`, which knows the request and the app's
``allowed_origins``). The document's wire forms (htmx headers, a WebSocket message, an SSE
frame, a key of the render document) belong to ``protocol``.

Accepted URLs: a path of this site (``/shop?page=2``: one ``/``, then not ``/`` or ``\\``), a
query (``?page=2``) or a fragment (``#top``) of the current page, or an absolute ``http`` /
``https`` URL whose host is the request's own ``Host`` or whose origin is listed in
``Settings.allowed_origins`` (``"*"`` there opens cross-site requests, never redirects).
Everything else is refused: ``//host``, any backslash, whitespace and control characters,
other schemes (``javascript:``, ``data:``), relative paths (``checkout``, ``../x``), userinfo.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from component_framework.errors import InvalidTrigger, URLNotAllowed, shown

if TYPE_CHECKING:
    from component_framework.core.access import AccessContext

__all__ = [
    "MAX_TRIGGER_DETAIL_BYTES",
    "MAX_URL_CHARS",
    "Effects",
    "checked_trigger",
    "checked_url",
]

#: Longest URL a component may send (browsers and proxies cut longer ones anyway).
MAX_URL_CHARS: Final = 2048
#: Largest ``trigger`` detail, as JSON (it travels in an HTTP header over htmx).
MAX_TRIGGER_DETAIL_BYTES: Final = 4096
_TRIGGER_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
#: Event names of htmx and of the client runtime, which a component must not fake.
_RESERVED_PREFIXES: Final = ("htmx:", "component:", "component-error", "stream:")
#: Anything a browser would strip or read differently (tabs and newlines are removed inside
#: URLs, so ``java\tscript:`` is ``javascript:``): C0 controls, space, DEL, and the rest.
_UNSAFE_CHARACTER: Final = re.compile(r"[\x00-\x20\x7f-\x9f\\\s]")
_SCHEMES: Final = ("http", "https")


def _refused(what: str, url: str, reason: str, why: str) -> URLNotAllowed:
    return URLNotAllowed(f"{what} refused: {shown(url)} {why}", reason)


def checked_url(url: object, what: str = "redirect") -> str:
    """``url`` when its form is one a component may send (see the module docstring; the
    origin of an absolute URL is checked later, by :meth:`Effects.document`), else
    ``URLNotAllowed`` naming the ``reason``. ``what`` names the effect in the message."""
    if not isinstance(url, str):
        raise URLNotAllowed(f"{what} refused: expected a URL string, got {shown(url)}", "malformed")
    if not url:
        raise _refused(what, url, "empty", "is empty")
    if len(url) > MAX_URL_CHARS:
        raise _refused(what, url, "too_long", f"is longer than {MAX_URL_CHARS} characters")
    unsafe = _UNSAFE_CHARACTER.search(url)
    if unsafe is not None:
        if unsafe.group() == "\\":
            raise _refused(what, url, "backslash", "holds a backslash (browsers read it as '/')")
        raise _refused(what, url, "control_character", "holds whitespace or a control character")
    first = url[0]
    if first == "/":
        if url.startswith("//"):
            raise _refused(
                what, url, "scheme_relative", "starts with '//', which browsers read as a host"
            )
        return url
    if first in "?#":
        return url
    scheme, colon, _ = url.partition(":")
    if not colon or "/" in scheme or "?" in scheme or "#" in scheme:
        raise _refused(what, url, "relative", "is relative: use a path that starts with '/'")
    if scheme.lower() not in _SCHEMES:
        raise _refused(what, url, "scheme", f"uses the scheme {shown(scheme, 16)}")
    parts = urlsplit(url)
    if not url[len(scheme) + 1 :].startswith("//") or not parts.hostname:
        raise _refused(what, url, "scheme", "is not an absolute http(s) URL with a host")
    if "@" in parts.netloc:
        raise _refused(what, url, "userinfo", "names a user before its host")
    return url


def _origin_allowed(url: str, request: AccessContext, allowed: Sequence[str]) -> bool:
    """An absolute URL: its host is the request's own ``Host``, or its origin is listed."""
    parts = urlsplit(url)
    netloc = parts.netloc.lower()
    own = request.headers.get("host", "").strip().lower()
    return (bool(own) and netloc == own) or f"{parts.scheme.lower()}://{netloc}" in allowed


def checked_trigger(name: object, detail: object) -> tuple[str, Any]:
    """``(name, detail)`` when ``name`` may be fired and ``detail`` is small JSON data, else
    ``InvalidTrigger``. A ``detail`` that is not an object arrives as ``{"value": detail}``
    (as htmx does); an object must not hold ``target`` (htmx reads it as the element to fire
    on)."""
    if not isinstance(name, str) or _TRIGGER_NAME.fullmatch(name) is None:
        raise InvalidTrigger(
            f"invalid event name {shown(name)}: use 1 to 64 letters, digits, '_', '.', ':' or "
            "'-', starting with a letter"
        )
    if name.lower().startswith(_RESERVED_PREFIXES):
        raise InvalidTrigger(f"event name {shown(name)} belongs to htmx or the client runtime")
    if isinstance(detail, Mapping) and "target" in detail:
        raise InvalidTrigger(
            f"the detail of {name!r} holds 'target', which htmx reads as the element to fire on"
        )
    try:
        encoded = json.dumps(detail, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidTrigger(f"the detail of {name!r} is not JSON data: {exc}") from None
    if len(encoded.encode()) > MAX_TRIGGER_DETAIL_BYTES:
        raise InvalidTrigger(
            f"the detail of {name!r} is larger than {MAX_TRIGGER_DETAIL_BYTES} bytes as JSON: "
            "keep it small (it travels in a header); put data in the state"
        )
    return name, detail


class Effects:
    """The effects of one answer, in the order they were asked for; the last ``redirect``
    wins, and ``push_url`` / ``replace_url`` replace each other (one history entry an answer).
    """

    __slots__ = ("emitted", "history", "redirect", "triggers")

    def __init__(self) -> None:
        self.redirect: str | None = None
        self.history: tuple[str, str] | None = None  # ("push_url" | "replace_url", url)
        self.triggers: dict[str, Any] = {}
        #: Events for the page's listeners (``core.events``): ``{"event", "payload"}`` each.
        self.emitted: list[dict[str, Any]] = []

    def document(self, request: AccessContext, allowed_origins: Sequence[str]) -> dict[str, Any]:
        """The effects as data (``redirect``, ``push_url`` or ``replace_url``, ``trigger``:
        {name: detail}, ``emit``: [{"event", "payload"}]), once every absolute URL's origin
        is the request's own host or one of ``allowed_origins``; else ``URLNotAllowed``
        (``foreign_origin``)."""
        allowed = [origin for origin in allowed_origins if origin != "*"]
        document: dict[str, Any] = {}
        if self.redirect is not None:
            document["redirect"] = self._own(self.redirect, "redirect", request, allowed)
        if self.history is not None:
            kind, url = self.history
            document[kind] = self._own(url, kind, request, allowed)
        if self.triggers:
            document["trigger"] = dict(self.triggers)
        if self.emitted:
            document["emit"] = list(self.emitted)
        return document

    @staticmethod
    def _own(url: str, what: str, request: AccessContext, allowed: Sequence[str]) -> str:
        if url[0] in "/?#" or _origin_allowed(url, request, allowed):
            return url
        raise _refused(
            what, url, "foreign_origin", "leads to another site (list it in allowed_origins)"
        )
