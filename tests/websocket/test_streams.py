"""Stream operations and generator handlers over a WebSocket."""

from __future__ import annotations

from typing import Any

from component_framework import ComponentASGI
from component_framework.testing import WebSocketTestSession, websocket_connect
from tests.websocket.helpers import ws_path


async def _until(ws: WebSocketTestSession, kind: str, limit: int = 500) -> list[dict[str, Any]]:
    """Messages up to and including the first of type ``kind``."""
    messages = []
    for _ in range(limit):
        message = await ws.receive_json()
        messages.append(message)
        if message["type"] == kind:
            return messages
    raise AssertionError(f"no {kind!r} message in {limit}: {messages[-3:]}")


async def test_stream_ops_arrive_in_order_with_all_the_text_before_the_render(
    app: ComponentASGI,
):
    parts = 300
    async with websocket_connect(app, ws_path("writer")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "event", "event": "write", "payload": {"parts": parts},
                            "ref": "w"})  # fmt: skip
        messages = await _until(ws, "render")
    render = messages[-1]
    streams = messages[:-1]
    assert all(message["type"] == "stream" for message in streams)
    assert all(message["stream"] == "out" for message in streams)
    ops = [message["op"] for message in streams]
    assert ops[0] == "start"
    assert ops[-1] == "done"
    assert set(ops[1:-1]) == {"text"}
    text = "".join(message["text"] for message in streams if message["op"] == "text")
    expected = "".join(f"piece-{index};" for index in range(parts))
    assert text == expected
    assert render["ref"] == "w"
    assert render["state"]["text"] == expected


async def test_stream_text_is_coalesced_into_fewer_messages_than_calls(app: ComponentASGI):
    parts = 300
    async with websocket_connect(app, ws_path("writer")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "event", "event": "write", "payload": {"parts": parts}})
        messages = await _until(ws, "render")
    assert len(messages) < parts


async def test_generator_handler_sends_one_render_per_yield_then_done(app: ComponentASGI):
    async with websocket_connect(app, ws_path("ticker")) as ws:
        first = await ws.receive_json()
        await ws.send_json({"type": "event", "event": "tick", "payload": {"times": 4},
                            "ref": "t"})  # fmt: skip
        messages = await _until(ws, "done")
    renders, done = messages[:-1], messages[-1]
    assert [message["type"] for message in renders] == ["render"] * 4
    assert [message["ref"] for message in renders] == ["t"] * 4
    assert [message["state"]["ticks"] for message in renders] == [1, 2, 3, 4]
    assert done["type"] == "done"
    assert done["ref"] == "t"
    assert done["component_id"] == first["component_id"]
    assert done["snapshot"] == renders[-1]["snapshot"]


async def test_generator_state_changed_after_the_last_yield_gets_a_final_render(
    app: ComponentASGI,
):
    async with websocket_connect(app, ws_path("report")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "event", "event": "generate", "payload": {"report_id": 9},
                            "ref": 5})  # fmt: skip
        messages = await _until(ws, "done")
    renders = messages[:-1]
    assert all(message["ref"] == 5 for message in messages)
    assert renders[-1]["state"] == {
        "sections": ["Summary #9", "Revenue #9", "Forecast #9"],
        "done": True,
    }
    assert messages[-1]["snapshot"] == renders[-1]["snapshot"]


async def test_socket_takes_events_after_a_generator_finished(app: ComponentASGI):
    async with websocket_connect(app, ws_path("ticker")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "event", "event": "tick", "payload": {"times": 2}})
        await _until(ws, "done")
        await ws.send_json({"type": "event", "event": "tick", "payload": {"times": 1},
                            "ref": "again"})  # fmt: skip
        messages = await _until(ws, "done")
    assert messages[0]["state"]["ticks"] == 3
    assert messages[-1]["ref"] == "again"
