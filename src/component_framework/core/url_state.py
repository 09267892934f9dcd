"""State in the URL: a component's ``url_state`` keys mirrored into the page's query string.

Owns, pure: the rules of the class attributes ``url_state`` and ``url_history`` (checked when
the class is defined), which page URL a request shows (:func:`page_url`), reading a key back
from that URL at mount (:func:`restore`: typed like the value ``mount`` set, a value that does
not read keeps that default, never an error), and the history change a render asks for when a
key changed (:func:`note_change`: ``push_url`` when a ``url_history`` key changed, else
``replace_url``; a key equal to its default is left out of the URL, the page's other query
parameters are kept). The change travels as any ``push_url`` / ``replace_url`` does
(``core.effects``); the defaults travel signed in the snapshot's ``meta``, never in the state.

Does not own when these run: the dispatcher restores after ``mount`` and records the values a
page shows after ``hydrate``, and notes the change at every render.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from component_framework.core.effects import MAX_URL_CHARS, checked_url
from component_framework.errors import ConfigurationError, URLNotAllowed

if TYPE_CHECKING:
    from component_framework.core.component import Component

__all__ = [
    "META_KEY",
    "check_declaration",
    "encode_value",
    "note_change",
    "page_url",
    "read_value",
    "record_shown",
    "restore",
    "resume",
    "url_for",
]

#: The key of the snapshot's ``meta`` that carries the defaults ``mount`` set.
META_KEY: Final = "url"
#: Most query parameters read from a page URL (the rest are ignored, and kept as they are).
_MAX_FIELDS: Final = 100
_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_INTEGER: Final = re.compile(r"[+-]?[0-9]{1,18}")
_TRUE: Final = frozenset({"true", "1", "on", "yes"})
_FALSE: Final = frozenset({"false", "0", "off", "no", ""})
#: A value that does not read as the default's type: the default stays.
_UNREAD: Final = object()


def check_declaration(cls: type[Component]) -> None:
    """``ConfigurationError`` unless ``url_state`` is a tuple of state key names (letters,
    digits, ``_``, ``.``, ``-``; 1 to 64, not starting with a digit or ``-``) and
    ``url_history`` a tuple of some of them."""
    keys, history = cls.url_state, cls.url_history
    name = cls.__qualname__
    if not isinstance(keys, tuple) or not all(isinstance(k, str) for k in keys):
        raise ConfigurationError(f"{name}.url_state: expected a tuple of state keys, got {keys!r}")
    for key in keys:
        if _KEY.fullmatch(key) is None:
            raise ConfigurationError(f"{name}.url_state: {key!r} is not a usable query name")
    if not isinstance(history, tuple) or not set(history) <= set(keys):
        raise ConfigurationError(
            f"{name}.url_history: expected a tuple of keys of url_state {keys!r}, got {history!r}"
        )


def page_url(component: Component) -> str | None:
    """The URL of the page ``component`` is on, as far as its transport knows: the page's
    own request for the page global; the ``url`` of a WebSocket join; htmx's
    ``HX-Current-URL`` header (every htmx 2 and htmx 4 request sends it); else ``None``."""
    if component.page_url:
        return component.page_url
    request = component.request
    if request.transport == "page":
        return request.url if request.scope else None
    return request.headers.get("hx-current-url") or None


def _query(url: str | None) -> list[tuple[str, str]]:
    if not url:
        return []
    try:
        return parse_qsl(urlsplit(url).query, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:  # too many fields, or a URL urlsplit refuses: nothing of it is read
        return []


def _path(url: str | None) -> str:
    if not url:
        return ""
    try:
        return urlsplit(url).path
    except ValueError:  # a URL urlsplit refuses (an unclosed IPv6 host): no path of it
        return ""


def read_value(text: str, default: Any) -> Any:
    """``text`` from a query as the type of ``default`` (``bool``: true/false, 1/0, on/off,
    yes/no; ``int``; ``float``, finite; ``str`` or ``None``: the text). Anything else, or a
    value that does not read, gives ``default``."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else default
    if isinstance(default, int):
        return int(text) if _INTEGER.fullmatch(text.strip()) else default
    if isinstance(default, float):
        try:
            number = float(text) if len(text) <= 64 else math.nan
        except ValueError:
            return default
        return number if math.isfinite(number) else default
    if default is None or isinstance(default, str):
        return text if len(text) <= MAX_URL_CHARS else default
    return default


def encode_value(value: Any) -> str | None:
    """A state value as query text: ``None`` (left out) for ``None`` and for anything that is
    not a ``str``, ``int``, ``float`` or ``bool``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _values(component: Component) -> dict[str, Any]:
    state = component.state
    return {key: state.get(key) for key in component.url_state}


def restore(component: Component) -> None:
    """After ``mount``: remember the values it set (the defaults) and give each key the value
    the page URL holds, read as the default's type (:func:`read_value`)."""
    defaults = _values(component)
    component.url_defaults = defaults
    found = dict(_query(page_url(component)))
    for key, default in defaults.items():
        if key in found:
            value = read_value(found[key], default)
            if value is not default:
                component.state[key] = value
    record_shown(component)


def resume(component: Component, meta: Mapping[str, Any] | None) -> None:
    """After ``hydrate``: the defaults from the snapshot's ``meta`` (none: every value is
    shown in the URL), and the values the page shows."""
    defaults = (meta or {}).get(META_KEY)
    component.url_defaults = dict(defaults) if isinstance(defaults, Mapping) else None
    record_shown(component)


def record_shown(component: Component) -> None:
    """The values the page shows now (after a mount or a ``hydrate``): a render notes a
    change against them."""
    component.url_shown = _values(component)


def url_for(component: Component, values: Mapping[str, Any]) -> str:
    """The page's URL with ``values`` in its query: a key equal to its default (or ``None``)
    left out, the page's other parameters kept in place. A path of the page URL when one is
    known and usable, else the query alone (``?q=shoes``), which the browser reads against the
    page it shows."""
    page = page_url(component)
    defaults = component.url_defaults or {}
    wanted: dict[str, str | None] = {}
    for key, value in values.items():
        shown = None if key in defaults and value == defaults[key] else encode_value(value)
        wanted[key] = shown
    pairs: list[tuple[str, str]] = []
    for key, value in _query(page):
        if key not in wanted:
            pairs.append((key, value))
        elif (ours := wanted.pop(key)) is not None:
            pairs.append((key, ours))  # in place, once
    pairs.extend((key, value) for key, value in wanted.items() if value is not None)
    query = "?" + urlencode(pairs, quote_via=quote)
    path = _path(page)
    if path:
        try:
            return checked_url(path + (query if pairs else ""), "url_state")
        except URLNotAllowed:
            pass  # a page path we will not repeat (a forged header): the query alone
    return checked_url(query, "url_state")


def note_change(component: Component) -> None:
    """Before a render: when a ``url_state`` key differs from what the page shows, ask for
    the page's new URL (``push_url`` if a ``url_history`` key changed, else
    ``replace_url``), unless the handler asked for a history change itself."""
    shown = component.url_shown
    now = _values(component)
    component.url_shown = now
    if shown is None or shown == now:
        return
    effects = component.pending_effects
    if effects is not None and effects.history is not None:
        return
    changed = {key for key in now if now[key] != shown.get(key)}
    kind = "push_url" if changed & set(component.url_history) else "replace_url"
    url = url_for(component, now)
    if kind == "push_url":
        component.push_url(url)
    else:
        component.replace_url(url)
