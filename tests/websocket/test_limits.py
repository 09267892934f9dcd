"""Limits and closes: message size, rate, idle time, shutdown, slow clients, full queues."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from component_framework.core.websocket import WebSocketManager
from component_framework.testing import WebSocketClosed, websocket_connect
from tests.streaming.exchange import eventually
from tests.websocket.helpers import RawSocket, make_app, ws_path
from tests.websocket.ws_components import gates, journal

Raw = Callable[..., RawSocket]


async def test_message_over_the_size_limit_closes_with_1009():
    app = make_app(ws_max_message_bytes=200)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "event", "event": "increment", "payload": {"x": "y" * 300}})
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive_json()
    assert closed.value.code == 1009


async def test_message_just_under_the_size_limit_is_accepted():
    app = make_app(ws_max_message_bytes=200)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        message = '{"type": "ping", "ref": "%s"}' % ("r" * 100)
        assert len(message) <= 200
        await ws.send_text(message)
        assert (await ws.receive_json())["type"] == "pong"


async def test_multibyte_message_over_the_byte_limit_closes_with_1009():
    app = make_app(ws_max_message_bytes=200)
    async with websocket_connect(app, ws_path("sentiment")) as ws:
        await ws.receive_json()
        text = "é" * 90  # 90 characters, 180 bytes, plus the envelope: over 200 bytes
        message = {"type": "event", "event": "analyze", "payload": {"text": text}}
        encoded = json.dumps(message, ensure_ascii=False)
        assert len(encoded) <= 200 < len(encoded.encode())
        await ws.send_text(encoded)
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive_json()
    assert closed.value.code == 1009


async def test_first_message_over_the_rate_is_refused_with_rate_limited_and_retry_after():
    app = make_app(ws_rate=0.01, ws_burst=3)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        for index in range(3):
            await ws.send_json({"type": "ping", "ref": index})
            assert (await ws.receive_json())["type"] == "pong"
        await ws.send_json({"type": "ping", "ref": "over"})
        refused = await ws.receive_json()
    assert refused["type"] == "error"
    assert refused["code"] == "rate_limited"
    assert refused["ref"] is None
    assert refused["retry_after"] > 0


async def test_a_flood_of_refused_messages_closes_with_1008():
    app = make_app(ws_rate=0.01, ws_burst=3)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        for index in range(3):
            await ws.send_json({"type": "ping", "ref": index})
            assert (await ws.receive_json())["type"] == "pong"
        await ws.send_json({"type": "ping", "ref": "refused"})
        refused = await ws.receive_json()
        for index in range(5):  # later refusals are dropped silently until the flood closes
            await ws.send_json({"type": "ping", "ref": index})
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive_json()
    assert refused["code"] == "rate_limited"
    assert closed.value.code == 1008


async def test_a_flood_of_binary_frames_is_rate_limited_and_closes_with_1008(raw: Raw):
    # Binary frames are messages too: they must not bypass the per-connection rate limit
    # (each one otherwise costs the server an error message).
    app = make_app(ws_rate=0.01, ws_burst=3)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    for _ in range(20):
        socket.incoming.put_nowait({"type": "websocket.receive", "bytes": b"\x00" * 8})
    close = await socket.closed()
    assert close["code"] == 1008
    assert sum(message["type"] == "error" for message in socket.messages) <= 4


async def test_idle_socket_is_closed_with_1001():
    app = make_app(ws_idle_timeout=0.05)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive_json()
    assert closed.value.code == 1001


async def test_shutdown_closes_every_socket_with_1012(raw: Raw):
    app = make_app()
    sockets = [raw(app, "counter"), raw(app, "greeter", query={"name": "A"}), raw(app, "live")]
    for socket in sockets:
        await socket.wait_until(lambda s=socket: len(s.messages) == 1)
    await app.shutdown()
    codes = [(await socket.closed())["code"] for socket in sockets]
    assert codes == [1012, 1012, 1012]


async def test_shutdown_cancels_the_running_handler_and_its_finally_runs(raw: Raw):
    app = make_app()
    socket = raw(app, "sleeper")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.send_json({"type": "event", "event": "wait", "payload": {"tag": "s"}, "ref": 1})
    await eventually(lambda: journal.has("start", "s"))
    await app.shutdown()
    assert (await socket.closed())["code"] == 1012
    await eventually(lambda: journal.has("finally", "s"))
    socket.disconnect()
    await socket.finished()
    assert len(app.hub) == 0


async def test_client_that_takes_no_message_is_closed_with_1013(raw: Raw):
    app = make_app(ws_send_timeout=0.05)
    socket = raw(app, "counter")
    socket.hold_sends()  # the initial render never goes out
    close = await socket.closed()
    assert close["code"] == 1013
    assert socket.messages == []


async def test_slow_client_under_coalesce_gets_few_push_renders_and_the_final_state(raw: Raw):
    app = make_app(ws_outbox_policy="coalesce", ws_outbox_messages=4)
    manager = WebSocketManager(hub=app.hub)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    (member,) = app.hub.members("counter")
    socket.hold_sends()
    broadcasts = 60
    for _ in range(broadcasts):
        assert await manager.broadcast(component_name="counter", event="increment") == 1
        await eventually(lambda: not member.busy)  # each broadcast renders on its own
    socket.release_sends()
    await socket.wait_until(lambda: any(m["state"] == {"count": broadcasts}
                                        for m in socket.messages))  # fmt: skip
    pushes = socket.messages[1:]
    assert socket.close is None
    assert all(message["type"] == "render" and message["ref"] is None for message in pushes)
    assert len(pushes) < 10
    assert pushes[-1]["state"] == {"count": broadcasts}


async def test_slow_client_under_disconnect_policy_is_closed_with_1013(raw: Raw):
    app = make_app(ws_outbox_policy="disconnect", ws_outbox_messages=2)
    manager = WebSocketManager(hub=app.hub)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    (member,) = app.hub.members("counter")
    socket.hold_sends()
    for _ in range(10):
        await manager.broadcast(component_name="counter", event="increment")
        await eventually(lambda: not member.busy)
        if socket.close is not None:
            break
    assert (await socket.closed())["code"] == 1013


async def test_broadcasts_overflowing_the_inbox_close_with_1013(raw: Raw):
    app = make_app(ws_inbox_messages=2)
    manager = WebSocketManager(hub=app.hub)
    socket = raw(app, "sleeper")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.send_json({"type": "event", "event": "wait", "payload": {"tag": "busy"}})
    await eventually(lambda: journal.has("start", "busy"))  # the session is busy for good
    for _ in range(5):  # queued behind the running handler: the third finds the queue full
        await manager.broadcast(component_name="sleeper", event="notice")
    assert (await socket.closed())["code"] == 1013
    await eventually(lambda: journal.has("finally", "busy"))
    socket.disconnect()
    await socket.finished()
    assert len(app.hub) == 0


async def test_client_messages_beyond_the_inbox_get_a_busy_error_with_their_ref():
    # A plain def on an idle session runs at once, so the inbox fills only behind a handler
    # that waits: the gated async one.
    app = make_app(ws_inbox_messages=2)
    async with websocket_connect(app, ws_path("sleeper")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "event", "event": "hold", "payload": {"tag": "full"}})
        await eventually(lambda: journal.has("start", "full"))
        for index in range(20):
            note = {"type": "event", "event": "note", "payload": {"text": f"n{index}"}}
            await ws.send_json({**note, "ref": index})
        refused = [await ws.receive_json() for _ in range(18)]
        gates.open("full")
        answers = [await ws.receive_json() for _ in range(3)]
        final = await ws.event("note", {"text": "last"}, ref="last")
    assert {answer["type"] for answer in refused} == {"error"}
    assert {answer["code"] for answer in refused} == {"rate_limited"}
    assert [answer["ref"] for answer in refused] == list(range(2, 20))
    assert [answer.get("ref") for answer in answers] == [None, 0, 1]
    assert [answer["state"]["tag"] for answer in answers] == ["full", "n0", "n1"]
    assert final["state"]["tag"] == "last"


async def test_close_code_of_a_closed_socket_is_sent_once_and_later_messages_dropped(
    raw: Raw,
):
    app = make_app(ws_max_message_bytes=100)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.send_text('{"type":"ping","ref":"%s"}' % ("x" * 120))
    socket.send_json({"type": "ping", "ref": "after"})
    await socket.closed()
    socket.disconnect()
    await socket.finished()
    assert [m["type"] for m in socket.sent].count("websocket.close") == 1
    assert all(message["type"] != "pong" for message in socket.messages)
