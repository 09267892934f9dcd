"""Compact JSON text: the one encoder every wire format of ours writes with.

Owns the encoder's options (no spaces, UTF-8 kept as is) so that HTTP bodies, SSE frames,
WebSocket messages and broker messages agree byte for byte. Signed snapshots keep their own
encoder (``protocol.snapshot``), which also refuses ``NaN``: a token must round-trip exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

__all__ = ["compact_json"]

#: ``json.dumps`` with options builds an encoder on every call; this one is built once.
compact_json: Final[Callable[[object], str]] = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False
).encode
