"""Compact JSON text: the one encoder every wire format of ours writes with.

Owns the encoder's options (no spaces, UTF-8 kept as is) so that HTTP bodies, SSE frames,
WebSocket messages and broker messages agree byte for byte. Signed snapshots keep their own
encoder (``protocol.snapshot``), which also refuses ``NaN``: a token must round-trip exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _json_encoder
from typing import Any, Final

__all__ = ["compact_json"]

#: ``json.dumps`` with options builds an encoder on every call; this one is built once.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
#: The C encoder factory behind ``JSONEncoder.encode`` (``None`` without the C accelerator).
_C_MAKE_ENCODER: Final[Callable[..., Any] | None] = getattr(_json_encoder, "c_make_encoder", None)
_ENCODE_TEXT: Final = _json_encoder.encode_basestring


def compact_json(value: object) -> str:
    """``value`` as compact JSON text: exactly what ``_ENCODER.encode(value)`` returns
    (circular references refused with ``ValueError`` too), without its two Python-level calls
    and option lookups in front of the C encoder, which matter for a small answer."""
    if _C_MAKE_ENCODER is None or type(value) is str:
        return _ENCODER.encode(value)
    chunks = _C_MAKE_ENCODER(
        {}, _ENCODER.default, _ENCODE_TEXT, None, ":", ",", False, False, True
    )(value, 0)
    return "".join(chunks)
