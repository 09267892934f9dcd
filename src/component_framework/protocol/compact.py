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

__all__ = ["compact_json", "json_string", "strict_json"]

#: ``json.dumps`` with options builds an encoder on every call; this one is built once.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_STRICT_ENCODER: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
#: The C encoder behind ``JSONEncoder.encode``, built once with the same options
#: (``None`` without the C accelerator). It keeps no state between calls: without a
#: ``markers`` table it holds nothing per call, so one object serves every call, on any
#: thread; a circular structure then ends in the C encoder's recursion guard instead.
_MAKE_C_ENCODER: Final[Callable[..., Any] | None] = getattr(_json_encoder, "c_make_encoder", None)


def _c_encoder(allow_nan: bool) -> Callable[[Any, int], Any] | None:
    if _MAKE_C_ENCODER is None:
        return None
    encoder: Callable[[Any, int], Any] = _MAKE_C_ENCODER(
        None, _ENCODER.default, _json_encoder.encode_basestring, None, ":", ",", False, False,
        allow_nan,
    )  # fmt: skip
    return encoder


_C_ENCODER: Final = _c_encoder(allow_nan=True)
_STRICT_C_ENCODER: Final = _c_encoder(allow_nan=False)


def compact_json(value: object) -> str:
    """``value`` as compact JSON text: exactly what ``_ENCODER.encode(value)`` returns,
    without its two Python-level calls, option lookups and new C encoder per call in front of
    the C encoder, which matter for a small answer. What it cannot encode is refused with
    ``TypeError`` as there, a circular reference (or nesting too deep for the encoder) with
    ``ValueError``."""
    if _C_ENCODER is None or type(value) is str:
        return _ENCODER.encode(value)
    try:
        return "".join(_C_ENCODER(value, 0))
    except RecursionError:
        raise ValueError("Circular reference detected, or nesting too deep to encode") from None


def strict_json(value: object) -> str:
    """:func:`compact_json` that refuses ``NaN``, ``Infinity`` and ``-Infinity`` with
    ``ValueError`` (exactly what ``JSONEncoder(allow_nan=False)`` writes and refuses): the
    text of signed snapshots and stored state, which must read back as written."""
    if _STRICT_C_ENCODER is None or type(value) is str:
        return _STRICT_ENCODER.encode(value)
    try:
        return "".join(_STRICT_C_ENCODER(value, 0))
    except RecursionError:
        raise ValueError("Circular reference detected, or nesting too deep to encode") from None


#: One ``str`` as JSON text, exactly as the encoders above write strings (for a message put
#: together from parts that were encoded apart).
json_string: Final[Callable[[str], str]] = _json_encoder.encode_basestring
