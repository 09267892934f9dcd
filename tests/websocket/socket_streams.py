"""Reading a socket that carries page-connection entries: its JSON messages apart from the
run frames and control frames (SSE frames, byte for byte the page connection's, compact
ones included)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from component_framework.protocol.page import PageDecoder
from component_framework.protocol.sse import SSEEvent
from component_framework.testing import WebSocketTestSession

__all__ = ["Carried", "read_carried", "stream_entry"]


def stream_entry(key: str, name: str, query: str = "", **fields: Any) -> dict[str, Any]:
    """A ``stream`` message for a new run of ``name`` with ``query``."""
    return {"type": "stream", "key": key, "name": name, "query": query, **fields}


@dataclass
class Carried:
    """What a socket sent, sorted: JSON messages, control frames by key, run frames by run."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    controls: dict[str, dict[str, Any]] = field(default_factory=dict)
    frames: list[SSEEvent] = field(default_factory=list)
    #: Reads every message: a compact frame's number stands for the run a control frame named.
    decoder: PageDecoder = field(default_factory=PageDecoder)

    def of(self, key: str) -> list[SSEEvent]:
        """The run frames of entry ``key`` (by the run its control frame named)."""
        prefix = self.controls[key]["run"] + "."
        return [frame for frame in self.frames if (frame.id or "").startswith(prefix)]

    def ended(self, key: str) -> bool:
        control = self.controls.get(key)
        if control is None:
            return False
        if "end" in control:
            return True
        return any(frame.event in ("done", "error", "lost") for frame in self.of(key))

    def take(self, text: str) -> None:
        if text.startswith("{"):
            self.messages.append(json.loads(text))
            return
        events = self.decoder.feed(text.encode("utf-8"))
        assert len(events) == 1, f"one frame per message, got {text!r}"
        event = events[0]
        if event.event == "page":
            control = json.loads(event.data)
            self.controls[control.pop("key")] = control
        else:
            self.frames.append(event)


async def read_carried(
    ws: WebSocketTestSession,
    carried: Carried | None = None,
    *,
    until_ended: tuple[str, ...] = (),
    messages: int = 0,
    controls: int = 0,
    frames: int = 0,
) -> Carried:
    """Read until every entry of ``until_ended`` ended and at least ``messages`` JSON messages,
    ``controls`` control frames and ``frames`` run frames came (counting what ``carried``
    holds already)."""
    carried = carried or Carried()
    while (
        not all(carried.ended(key) for key in until_ended)
        or len(carried.messages) < messages
        or len(carried.controls) < controls
        or len(carried.frames) < frames
    ):
        carried.take(await ws.receive_text())
    return carried
