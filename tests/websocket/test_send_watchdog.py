"""The send watchdog and the answers sent by the reading task itself.

One timer per connection watches its sends: a send that has not completed ``ws_send_timeout``
after it started closes the connection with 1013, whether the reading task was sending its own
answer or the sender task a push render; a client that is slow but takes every message within
the timeout is never closed. A plain ``def`` handler's event on an idle session runs in the
reading task; the answers still leave in the order of the messages, behind work queued first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from component_framework.core.websocket import WebSocketManager
from tests.streaming.exchange import eventually
from tests.websocket.helpers import RawSocket, make_app
from tests.websocket.ws_components import gates, journal

Raw = Callable[..., RawSocket]
TIMEOUT = 0.3
#: The slow client's timeout, and its delay per message: a third of it, a margin for a busy
#: machine's event loop lag; five messages take one and a half timeouts in all.
SLOW_TIMEOUT = 1.0


class SlowReader(RawSocket):
    """A client that takes each message ``delay`` seconds after it was sent."""

    delay = SLOW_TIMEOUT * 0.3

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await asyncio.sleep(self.delay)
        await super()._send(message)


async def test_an_answer_not_taken_within_the_send_timeout_closes_with_1013(raw: Raw):
    app = make_app(ws_send_timeout=TIMEOUT)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.hold_sends()
    socket.send_json({"type": "event", "event": "increment", "ref": 1})
    close = await socket.closed()
    assert close["code"] == 1013
    assert close["reason"] == f"the client took no message for {TIMEOUT:g} s"
    await socket.finished()  # the stuck send does not keep the exchange
    assert len(app.hub) == 0
    assert len(app.sockets) == 0


async def test_a_push_render_not_taken_within_the_send_timeout_closes_with_1013(raw: Raw):
    app = make_app(ws_send_timeout=TIMEOUT)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.hold_sends()
    await WebSocketManager(hub=app.hub).broadcast(component_name="counter", event="increment")
    close = await socket.closed()
    assert close["code"] == 1013
    assert close["reason"] == f"the client took no message for {TIMEOUT:g} s"
    socket.disconnect()
    await socket.finished()
    assert len(app.hub) == 0


async def test_a_client_slow_but_taking_every_message_in_time_is_not_closed():
    app = make_app(ws_send_timeout=SLOW_TIMEOUT)
    socket = SlowReader(app, "counter").start()
    try:
        await socket.wait_until(lambda: len(socket.messages) == 1)
        for ref in range(5):
            socket.send_json({"type": "event", "event": "increment", "ref": ref})
        await socket.wait_until(lambda: len(socket.messages) == 6, within=10)
        assert socket.close is None
        assert [m["state"]["count"] for m in socket.messages[1:]] == [1, 2, 3, 4, 5]
    finally:
        await socket.end()


async def test_a_slow_client_of_push_renders_is_not_closed_while_it_takes_them():
    app = make_app(ws_send_timeout=SLOW_TIMEOUT, ws_outbox_policy="disconnect")
    socket = SlowReader(app, "chat", query={"room": "slow"}).start()
    manager = WebSocketManager(hub=app.hub)
    try:
        await socket.wait_until(lambda: len(socket.messages) == 1)
        for index in range(5):
            await manager.broadcast("chat", "message", {"text": f"m{index}"}, topic="room:slow")
            await asyncio.sleep(SLOW_TIMEOUT * 0.1)  # each push queued behind the last
        await socket.wait_until(
            lambda: socket.messages[-1]["state"]["messages"][-1:] == ["m4"], within=10
        )
        assert socket.close is None
    finally:
        await socket.end()


async def test_events_answered_in_the_reading_task_keep_the_order_of_the_messages(raw: Raw):
    app = make_app(ws_rate=1e6, ws_burst=1_000_000)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    manager = WebSocketManager(hub=app.hub)
    for ref in range(200):
        socket.send_json({"type": "event", "event": "increment", "ref": ref})
        if ref % 50 == 25:  # push renders in between
            await manager.broadcast(component_name="counter", event="increment")
    await socket.wait_until(
        lambda: (
            any(m.get("ref") == 199 for m in socket.messages)
            and any(m["state"]["count"] == 204 for m in socket.messages)
        )
    )
    answers = socket.messages[1:]
    refs = [m["ref"] for m in answers if m.get("ref") is not None]
    assert refs == list(range(200))
    counts = [m["state"]["count"] for m in answers]
    assert counts == sorted(set(counts))  # rising, no render twice


async def test_a_plain_handler_event_waits_behind_an_async_one_queued_before_it(raw: Raw):
    app = make_app()
    socket = raw(app, "sleeper")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    note = {"type": "event", "event": "note"}
    socket.send_json({**note, "payload": {"text": "a"}, "ref": 1})
    socket.send_json({"type": "event", "event": "hold", "payload": {"tag": "g"}, "ref": 2})
    socket.send_json({**note, "payload": {"text": "b"}, "ref": 3})
    socket.send_json({**note, "payload": {"text": "c"}, "ref": 4})
    await eventually(lambda: journal.has("start", "g"))
    await asyncio.sleep(0.05)
    assert [m.get("ref") for m in socket.messages[1:]] == [1]  # b and c wait behind g
    gates.open("g")
    await socket.wait_until(lambda: len(socket.messages) == 5)
    answers = socket.messages[1:]
    assert [m["ref"] for m in answers] == [1, 2, 3, 4]
    assert [m["state"]["tag"] for m in answers] == ["a", "g", "b", "c"]


class FailingServer(RawSocket):
    """A server whose send fails (not a client gone) for every message after the first."""

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and self.messages:
            raise ValueError("the server cannot send this")
        await super()._send(message)


async def test_a_send_the_server_fails_closes_with_1011_and_the_exchange_ends(caplog: Any):
    app = make_app()
    socket = FailingServer(app, "counter").start()
    try:
        await socket.wait_until(lambda: len(socket.messages) == 1)
        socket.send_json({"type": "event", "event": "increment", "ref": 1})
        assert (await socket.closed())["code"] == 1011
        socket.disconnect()
        await socket.finished()  # no exception out of the app
    finally:
        await socket.end()
    assert "the server failed a WebSocket send" in caplog.text
    assert len(app.hub) == 0


async def test_the_reader_takes_no_next_message_while_its_answer_waits_for_the_client(raw: Raw):
    app = make_app(ws_send_timeout=5.0)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.hold_sends()
    for ref in (1, 2):
        socket.send_json({"type": "event", "event": "increment", "ref": ref})
    # The first answer's send waits for the client; the second message stays unread.
    await eventually(lambda: socket.incoming.qsize() == 1)
    await asyncio.sleep(0.05)
    assert socket.incoming.qsize() == 1
    socket.release_sends()
    await socket.wait_until(lambda: len(socket.messages) == 3)
    assert [(m["ref"], m["state"]["count"]) for m in socket.messages[1:]] == [(1, 1), (2, 2)]
    assert socket.close is None
