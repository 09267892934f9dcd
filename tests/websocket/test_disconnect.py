"""The client going away at every point of a connection's life: nothing of it stays behind
(no hub member, no task), and a running handler's ``finally`` block runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from component_framework.testing import websocket_connect
from tests.streaming.exchange import eventually, stray_tasks
from tests.websocket.helpers import RawSocket, make_app, ws_path
from tests.websocket.ws_components import journal

Raw = Callable[..., RawSocket]


def _baseline() -> set[asyncio.Task[object]]:
    return set(asyncio.all_tasks())


async def test_disconnect_right_after_connect_leaves_nothing(raw: Raw):
    baseline = _baseline()
    app = make_app()
    socket = raw(app, "counter")
    socket.disconnect()
    await socket.finished()
    assert len(app.hub) == 0
    assert len(app.sockets) == 0
    assert await stray_tasks(baseline) == set()


async def test_disconnect_before_the_initial_render_is_read_leaves_nothing():
    baseline = _baseline()
    app = make_app()
    ws = await websocket_connect(app, ws_path("counter")).connect()
    await ws.close(1001)
    assert len(app.hub) == 0
    assert len(app.sockets) == 0
    assert await stray_tasks(baseline) == set()


async def test_disconnect_during_an_async_mount_join_leaves_nothing(raw: Raw):
    baseline = _baseline()
    app = make_app()
    socket = raw(app, "sentiment")
    await asyncio.sleep(0)
    socket.disconnect()
    await socket.finished()
    assert len(app.hub) == 0
    assert await stray_tasks(baseline) == set()


async def test_disconnect_while_a_handler_runs_cancels_it_and_its_finally_runs(raw: Raw):
    baseline = _baseline()
    app = make_app()
    socket = raw(app, "sleeper")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    assert len(app.hub) == 1
    socket.send_json({"type": "event", "event": "wait", "payload": {"tag": "d"}, "ref": 1})
    await eventually(lambda: journal.has("start", "d"))
    socket.disconnect()
    await socket.finished()
    assert journal.has("finally", "d")  # finished() waits for the handler's finally
    assert len(app.hub) == 0
    assert await stray_tasks(baseline) == set()


async def test_disconnect_during_a_stream_cancels_the_handler_and_leaves_nothing(raw: Raw):
    baseline = _baseline()
    app = make_app()
    socket = raw(app, "writer")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.send_json({"type": "event", "event": "endless", "payload": {"tag": "w"}})
    await socket.wait_until(
        lambda: sum(m["type"] == "stream" and m["op"] == "text" for m in socket.messages) >= 2
    )
    socket.disconnect()
    await socket.finished()
    assert journal.has("finally", "w")
    assert len(app.hub) == 0
    assert await stray_tasks(baseline) == set()


async def test_disconnect_while_the_client_does_not_read_leaves_nothing(raw: Raw):
    # The answer is sent by the reading task itself, so a server whose blocked send outlives
    # the client (this harness; real servers fail the send at once) frees the connection
    # when the send watchdog fires.
    baseline = _baseline()
    app = make_app(ws_send_timeout=0.5)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.hold_sends()
    socket.send_json({"type": "event", "event": "increment"})  # its answer blocks in send
    await eventually(lambda: len(app.hub) == 1 and not app.hub.members()[0].busy)
    socket.disconnect()
    await socket.finished()
    assert len(app.hub) == 0
    assert await stray_tasks(baseline) == set()


async def test_disconnect_while_a_generator_runs_leaves_nothing(raw: Raw):
    baseline = _baseline()
    app = make_app()
    socket = raw(app, "ticker")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.send_json({"type": "event", "event": "tick", "payload": {"times": 100000}})
    await socket.wait_until(lambda: len(socket.messages) >= 3)
    socket.disconnect()
    await socket.finished()
    assert len(app.hub) == 0
    assert await stray_tasks(baseline) == set()


async def test_many_connections_that_come_and_go_leave_the_hub_empty():
    app = make_app()
    for _ in range(20):
        async with websocket_connect(app, ws_path("chat"), query={"room": "r"}) as ws:
            await ws.receive_json()
            await ws.event("message", {"text": "hi"})
    assert len(app.hub) == 0
    assert app.hub.members() == []


async def test_disconnect_while_client_messages_wait_for_a_full_inbox_ends_the_connection(
    raw: Raw,
):
    # The handler runs until cancelled; the client's next messages fill the inbox (2), and
    # the one after waits for room (backpressure). The client then leaves: the connection
    # must still notice, cancel the handler and leave the hub.
    app = make_app(ws_inbox_messages=2)
    socket = raw(app, "sleeper")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.send_json({"type": "event", "event": "wait", "payload": {"tag": "full"}})
    await eventually(lambda: journal.has("start", "full"))
    for index in range(3):
        socket.send_json({"type": "event", "event": "note", "payload": {"text": str(index)}})
    await eventually(lambda: socket.incoming.empty())  # all read; the last waits for room
    socket.disconnect()
    await eventually(lambda: journal.has("finally", "full"))
    await socket.finished()
    assert len(app.hub) == 0
