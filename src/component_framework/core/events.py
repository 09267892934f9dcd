"""Events between the components of a page: the rules of ``emit`` and ``listens``.

Owns, pure: which events a class may list in ``listens`` (checked when the class is created),
what a handler may ``emit`` (a valid event name and a small JSON payload, a bounded number per
answer), the page id a browser names its page load with, the hub topic of a page, and how
far events may chain (an event handled because of an emitted event may emit again, up to
:data:`MAX_EMIT_DEPTH` hops). The emitted events of an answer travel with its effects
(``core.effects.Effects``); delivering them belongs to the transports (``asgi.emit`` for the
browser's batch, the hub for live components, see ``docs/events.md``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from component_framework.errors import ConfigurationError, InvalidEmit, shown

__all__ = [
    "MAX_EMITS_PER_ANSWER",
    "MAX_EMIT_DEPTH",
    "MAX_EMIT_PAYLOAD_BYTES",
    "checked_emit",
    "checked_listens",
    "checked_page_id",
    "page_topic",
]

#: Largest payload of one emitted event, as JSON (over htmx it travels in a response header).
MAX_EMIT_PAYLOAD_BYTES: Final = 1024
#: Most events one answer emits.
MAX_EMITS_PER_ANSWER: Final = 8
#: Most hops of a chain of events (A emits, B handles it and emits, ...): past it, the chain
#: stops with a warning in the log (a cycle of listeners would otherwise never end).
MAX_EMIT_DEPTH: Final = 8
_EVENT_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: A page id: what the client runtime makes once per page load (random, URL-safe).
_PAGE_ID: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")
_PAGE_TOPIC_PREFIX: Final = "\x00page:"


def checked_emit(event: object, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The wire form ``{"event", "payload"}`` of an emitted event, when ``event`` is a valid
    event name and ``payload`` is JSON data of at most :data:`MAX_EMIT_PAYLOAD_BYTES`; else
    ``InvalidEmit``."""
    if not isinstance(event, str) or _EVENT_NAME.fullmatch(event) is None or event == "mount":
        raise InvalidEmit(
            f"invalid emitted event {shown(event)}: use 1 to 64 letters, digits and '_', "
            "starting with a letter (and not 'mount')"
        )
    try:
        encoded = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidEmit(f"the payload of {event!r} is not JSON data: {exc}") from None
    if len(encoded.encode()) > MAX_EMIT_PAYLOAD_BYTES:
        raise InvalidEmit(
            f"the payload of {event!r} is larger than {MAX_EMIT_PAYLOAD_BYTES} bytes as JSON: "
            "send ids, not data (listeners load what they need)"
        )
    return {"event": event, "payload": json.loads(encoded)}


def checked_listens(cls: type, events: Mapping[str, Any]) -> tuple[str, ...]:
    """``cls.listens`` as a tuple, when it is a list or tuple of event names each handled by
    one of ``events`` (the class's public ``on_<name>`` handlers); else
    ``ConfigurationError`` when the class is created."""
    listens = getattr(cls, "listens", ())
    where = f"{cls.__qualname__}.listens"
    if isinstance(listens, str) or not isinstance(listens, tuple | list | frozenset | set):
        raise ConfigurationError(
            f"{where} must be a tuple of event names, e.g. ('added',), got {shown(listens)}"
        )
    for name in listens:
        if not isinstance(name, str) or _EVENT_NAME.fullmatch(name) is None:
            raise ConfigurationError(f"{where} holds {shown(name)}, which is no event name")
        if name not in events:
            raise ConfigurationError(
                f"{where} lists {name!r} but the class has no public handler on_{name}"
            )
    return tuple(dict.fromkeys(listens))


def checked_page_id(value: object) -> str | None:
    """The page id a request names (8 to 64 URL-safe characters), or ``None`` when it names
    none or an invalid one (then no live component hears its events: they are never an
    error, the page simply has no live listener for them)."""
    if isinstance(value, str) and _PAGE_ID.fullmatch(value) is not None:
        return value
    return None


def page_topic(page: str) -> str:
    """The hub topic of the live components of one page load (a name no ``topics()`` of a
    component can produce by accident: it starts with a NUL character)."""
    return _PAGE_TOPIC_PREFIX + page
