"""Renderer and handler exceptions in the middle of a stream, on SSE, live SSE and WebSocket.

A stream ends with an ``error`` frame after the frames already sent (which a resuming client
still gets), a socket reports an ``error`` message and stays usable, a live subscription goes
on; the handler's ``finally`` runs; nothing the client receives holds a traceback, an exception
name or the exception's text; and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

import pytest

from component_framework import ComponentASGI
from component_framework.core.websocket import WebSocketManager
from component_framework.protocol.sse import stream_ops as sse_stream_ops
from component_framework.testing import sse_request, websocket_connect
from tests.faults.components import SECRET_DETAIL, gates, journal
from tests.faults.harness import (
    WAIT,
    Tracker,
    assert_nothing_leaks,
    assert_still_serves,
    make_app,
    settle,
    task_baseline,
)
from tests.streaming.exchange import Exchange
from tests.websocket.helpers import RawSocket

GRACE = 0.2
#: What must never reach a client.
FORBIDDEN = ("Traceback", "RuntimeError", "ZeroDivisionError", "division", SECRET_DETAIL, "File ")


def assert_no_detail(text: str) -> None:
    for word in FORBIDDEN:
        assert word not in text, f"{word!r} reached the client: {text[:500]}"


def kinds(exchange: Exchange) -> list[str | None]:
    return [event.event for event in exchange.events]


def stream_ops(exchange: Exchange) -> list[tuple[str, str | None]]:
    """Every stream operation received, in order, as ``(op, text)``."""
    return [
        (str(op["op"]), cast(str | None, op.get("text")))
        for event in exchange.events
        for op in sse_stream_ops(event) or ()
    ]


@pytest.fixture
def app() -> ComponentASGI:
    return make_app(stream_resume_grace=GRACE)


# -- SSE ---------------------------------------------------------------------------------------


async def test_template_failing_on_the_third_render_ends_the_stream_with_an_error_frame(
    app: ComponentASGI, caplog: pytest.LogCaptureFixture
) -> None:
    before = task_baseline()
    exchange = Exchange.stream(app, "fragile", query={"tag": "fragile"})
    tracker = Tracker(app)
    await exchange.event_named("message")
    tracker.observe()
    await exchange.run_to_end(WAIT)

    assert kinds(exchange) == ["message", "message", "error"]
    assert ["step 1" in exchange.events[0].data, "step 2" in exchange.events[1].data] == [1, 1]
    error = json.loads(exchange.events[-1].data)
    assert error == {
        "code": "handler_error",
        "message": "the component failed to handle the request",
    }
    assert_no_detail(exchange.body.decode())
    assert journal.has("finally", "fragile")
    assert any("render" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)

    # The frames already sent are kept: a client that missed all but the first gets the rest.
    resumed = await sse_request(
        app, "/components/fragile/stream/", headers={"last-event-id": exchange.events[0].id or ""}
    )
    assert [event.event for event in resumed.events] == ["message", "error"]
    assert resumed.events[0].data == exchange.events[1].data
    await assert_nothing_leaks(app, before, tracker)
    await assert_still_serves(app)


async def test_generator_raising_after_two_yields_ends_with_an_error_after_its_frames(
    app: ComponentASGI,
) -> None:
    before = task_baseline()
    exchange = await Exchange.stream(app, "failing", query={"tag": "boom"}).run_to_end(WAIT)

    assert [k for k in kinds(exchange) if k not in ("stream", "t")] == [
        "message",
        "message",
        "error",
    ]
    assert kinds(exchange)[-1] == "error"
    assert stream_ops(exchange) == [("start", None), ("text", "part 1;"), ("text", "part 2;")]
    assert json.loads(exchange.events[-1].data)["code"] == "handler_error"
    assert_no_detail(exchange.body.decode())
    assert journal.has("finally", "boom")
    await assert_nothing_leaks(app, before)
    await assert_still_serves(app)


async def test_stream_text_after_stream_error_goes_on_in_order(app: ComponentASGI) -> None:
    before = task_baseline()
    exchange = await Exchange.stream(
        app, "failing", query={"event": "recover", "tag": "recover"}
    ).run_to_end(WAIT)

    assert stream_ops(exchange) == [
        ("start", None),
        ("text", "before;"),
        ("error", "the lookup failed"),
        ("text", "after;"),
        ("done", None),
    ]
    assert kinds(exchange)[-1] == "done", "an inline stream_error does not end the stream"
    assert "recovered" in next(e.data for e in exchange.events if e.event == "message")
    await assert_nothing_leaks(app, before)


async def test_stream_text_from_a_task_left_behind_never_follows_the_error_frame() -> None:
    """A handler fails but leaves a task that keeps calling ``stream_text`` (a token producer
    it started). The ``error`` frame is the stream's last: nothing may follow it, neither on
    the open connection nor for a client that resumes during the grace."""
    app = make_app(stream_resume_grace=WAIT)
    exchange = Exchange.stream(app, "failing", query={"event": "orphan", "tag": "orphan"})
    await exchange.event_named("error")
    gates.open("orphan-orphan")  # the task left behind starts streaming now
    await settle(lambda: journal.has("orphan-done", "orphan"), "the task left behind")
    await exchange.finished(WAIT)
    await asyncio.sleep(0.2)  # past the batching window of its last operations

    assert kinds(exchange)[-1] == "error", kinds(exchange)
    assert len(app.streams) == 1, "the run is still within its resume grace"
    error_id = exchange.events[-1].id or ""
    resumed = await sse_request(
        app, "/components/failing/stream/", headers={"last-event-id": error_id}
    )
    late = [event.event for event in resumed.events]
    assert resumed.status == 204, f"frames after the final error frame: {late}"


async def test_a_closed_run_buffers_nothing_from_a_task_left_behind(app: ComponentASGI) -> None:
    """Once a run is closed (grace over), stream operations from user code that still holds
    the component must not fill its replay buffer again."""
    tracker = Tracker(app)
    exchange = Exchange.stream(app, "failing", query={"event": "orphan", "tag": "late"})
    await exchange.event_named("message")
    tracker.observe()
    (run,) = [obj for obj in tracker.seen if hasattr(obj, "frames")]
    await exchange.finished(WAIT)
    await settle(lambda: run.closed, "the run closed after its grace")

    gates.open("late-orphan")
    await settle(lambda: journal.has("orphan-done", "late"), "the task left behind")

    assert len(app.streams) == 0
    assert (len(run.frames), run.held_bytes) == (0, 0), (
        f"a closed run holds {len(run.frames)} frames ({run.held_bytes} bytes)"
    )


# -- live SSE ----------------------------------------------------------------------------------


async def test_failing_broadcast_handler_leaves_a_live_subscription_running(
    app: ComponentASGI,
) -> None:
    before = task_baseline()
    manager = WebSocketManager(hub=app.hub)
    exchange = Exchange.stream(app, "chat", query={"room": "r1"})
    await exchange.event_named("message")
    tracker = Tracker(app)
    tracker.observe()

    assert await manager.broadcast("chat", "explode", {}, topic="room:r1") == 1
    assert await manager.broadcast("chat", "heard", {"text": "after"}, topic="room:r1") == 1
    await exchange.wait_until(lambda: kinds(exchange).count("message") >= 2)

    assert "heard after" in exchange.events[-1].data
    assert "error" not in kinds(exchange)
    assert_no_detail(exchange.body.decode())
    exchange.disconnect()
    await exchange.finished(WAIT)
    await assert_nothing_leaks(app, before, tracker)


# -- WebSocket ---------------------------------------------------------------------------------


def socket_text(socket: RawSocket) -> str:
    return "".join(m.get("text", "") + m.get("reason", "") for m in socket.sent)


async def test_template_failing_mid_generator_on_a_socket_reports_an_error_and_stays_usable(
    app: ComponentASGI,
) -> None:
    before = task_baseline()
    socket = RawSocket(app, "fragile").start()
    await socket.wait_until(lambda: len(socket.messages) == 1)
    tracker = Tracker(app)
    tracker.observe()
    socket.send_json({"type": "event", "event": "count", "payload": {"tag": "ws"}, "ref": 1})
    await socket.wait_until(lambda: socket.messages[-1]["type"] == "error")

    renders = [m for m in socket.messages[1:] if m["type"] == "render"]
    assert [m["state"]["step"] for m in renders] == [1, 2], "the renders before it are kept"
    assert socket.messages[-1]["code"] == "handler_error"
    assert socket.messages[-1]["ref"] == 1
    assert journal.has("finally", "ws")
    socket.send_json({"type": "ping", "ref": "p"})
    socket.send_json({"type": "join", "ref": "j"})  # a fresh mount renders again
    await socket.wait_until(lambda: socket.messages[-1].get("ref") == "j")
    assert socket.messages[-2] == {"type": "pong", "ref": "p"}
    assert socket.messages[-1]["type"] == "render"
    assert socket.close is None
    assert_no_detail(socket_text(socket))
    await socket.end()
    await assert_nothing_leaks(app, before, tracker)


async def test_generator_raising_on_a_socket_reports_an_error_and_the_next_event_works(
    app: ComponentASGI,
) -> None:
    before = task_baseline()
    async with websocket_connect(app, "/components/failing/ws/", timeout=WAIT) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "event", "event": "explode", "payload": {"tag": "x"}, "ref": 1})
        received: list[dict[str, Any]] = []
        while not received or received[-1]["type"] != "error":
            received.append(await ws.receive_json())
        answer = await ws.event("recover", {"tag": "y"}, ref=2)
        while answer["type"] != "done":
            answer = await ws.receive_json()
    assert [m["state"]["step"] for m in received if m["type"] == "render"] == [1, 2]
    assert received[-1]["code"] == "handler_error"
    assert received[-1]["ref"] == 1
    assert_no_detail(json.dumps(received))
    assert answer["ref"] == 2
    assert journal.has("finally", "x")
    assert journal.has("finally", "y")
    await assert_nothing_leaks(app, before)


async def test_broadcast_handler_raising_while_a_client_event_runs(app: ComponentASGI) -> None:
    before = task_baseline()
    manager = WebSocketManager(hub=app.hub)
    socket = RawSocket(app, "chat", query={"room": "r1"}).start()
    await socket.wait_until(lambda: len(socket.messages) == 1)
    tracker = Tracker(app)
    tracker.observe()
    socket.send_json({"type": "event", "event": "hold", "payload": {"tag": "held"}, "ref": 1})
    await settle(lambda: journal.has("start", "held"), "the client event to start")

    assert await manager.broadcast("chat", "explode", {}, topic="room:r1") == 1
    gates.open("held")
    await socket.wait_until(lambda: any(m["type"] == "error" for m in socket.messages))
    socket.send_json({"type": "event", "event": "say", "payload": {"text": "later"}, "ref": 2})
    await manager.broadcast("chat", "heard", {"text": "still"}, topic="room:r1")
    await socket.wait_until(
        lambda: (
            any(m.get("ref") == 2 for m in socket.messages)
            and socket.messages[-1]["type"] == "render"
            and "heard still" in socket.messages[-1]["state"]["lines"]
        )
    )

    answers = socket.messages[1:]
    assert (answers[0]["type"], answers[0]["ref"]) == ("render", 1)
    assert answers[0]["state"]["lines"] == ["held held"]
    assert answers[1] == {
        "type": "error",
        "code": "handler_error",
        "message": "the component failed to handle the request",
        "ref": None,
    }
    assert socket.close is None
    assert_no_detail(socket_text(socket))
    await socket.end()
    await assert_nothing_leaks(app, before, tracker)
