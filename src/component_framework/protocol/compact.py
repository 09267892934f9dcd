"""Compact JSON text: the one encoder every wire format of ours writes with.

Owns the encoder's options (no spaces, UTF-8 kept as is) so that HTTP bodies, SSE frames,
WebSocket messages and broker messages agree byte for byte. Signed snapshots and stored state
write with :func:`strict_json`, the same text that also refuses ``NaN`` and the infinities: a
token must round-trip exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _json_encoder
from typing import Any, Final

__all__ = ["compact_json", "json_string", "plain_json", "strict_json"]

#: The C encoder behind ``JSONEncoder.encode`` (``None`` without the C accelerator).
_MAKE_C_ENCODER: Final[Callable[..., Any] | None] = getattr(_json_encoder, "c_make_encoder", None)


def _writer(allow_nan: bool) -> Callable[[object], str]:
    """A function writing a value as compact JSON text: exactly what ``JSONEncoder(separators=
    (",", ":"), ensure_ascii=False, allow_nan=allow_nan).encode`` returns, without its two
    Python-level calls, option lookups and new C encoder per call in front of the C encoder,
    which matter for a small answer (``json.dumps`` with options even builds the encoder on
    every call). What it cannot encode is refused with ``TypeError`` as there, a circular
    reference (or nesting too deep for the encoder) with ``ValueError``.

    The C encoder is built once: it keeps no state between calls (without a ``markers`` table
    it holds nothing per call), so one object serves every call, on any thread; a circular
    structure then ends in the C encoder's recursion guard instead."""
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)
    if _MAKE_C_ENCODER is None:
        return encoder.encode
    c_encoder: Callable[[Any, int], Any] = _MAKE_C_ENCODER(
        None, encoder.default, _json_encoder.encode_basestring, None, ":", ",", False, False,
        allow_nan,
    )  # fmt: skip

    def write(value: object) -> str:
        if type(value) is str:
            return encoder.encode(value)
        try:
            return "".join(c_encoder(value, 0))
        except RecursionError:
            raise ValueError("Circular reference detected, or nesting too deep to encode") from None

    return write


#: ``value`` as compact JSON text (:func:`_writer`): every answer, frame and message.
compact_json: Final = _writer(allow_nan=True)
#: :data:`compact_json` that refuses ``NaN``, ``Infinity`` and ``-Infinity`` with
#: ``ValueError`` (exactly what ``JSONEncoder(allow_nan=False)`` writes and refuses): the text
#: of signed snapshots and stored state, which must read back as written.
strict_json: Final = _writer(allow_nan=False)


#: One ``str`` as JSON text, exactly as the encoders above write strings (for a message put
#: together from parts that were encoded apart).
json_string: Final[Callable[[str], str]] = _json_encoder.encode_basestring

_PLAIN_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def plain_json(value: object) -> bool:
    """Whether ``value`` holds only ``dict`` (with ``str`` keys), ``list``, ``str``, ``int``,
    ``float``, ``bool`` and ``None``, of exactly these types: then its JSON text tells it
    apart from every other such value (a tuple, a ``str`` subclass such as ``Markup``, an
    ``IntEnum`` or an ``int`` key would write the same text as a value that is not equal to
    it, nor shown alike by a template)."""
    if type(value) is dict:  # the common state: a dict of scalars, seen in one loop
        for key, entry in value.items():
            if type(key) is not str:
                return False
            if type(entry) not in _PLAIN_SCALARS:
                break
        else:
            return True
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) in _PLAIN_SCALARS:
            continue
        if type(item) is dict:
            for key, entry in item.items():
                if type(key) is not str:
                    return False
                if type(entry) not in _PLAIN_SCALARS:
                    pending.append(entry)
        elif type(item) is list:
            pending.extend(item)
        else:
            return False
    return True
