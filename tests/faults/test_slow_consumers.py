"""Slow consumers: a WebSocket client that never reads and an SSE reader that stops reading.

The server's buffers must stay within their limits the whole time, measured after every
step of the load: a socket's outbox (``ws_outbox_messages`` / ``ws_outbox_bytes``, counting
what the outbox really holds), a stream run's replay buffer (``stream_replay_frames`` /
``stream_replay_bytes``) and a live session's inbox (``ws_inbox_messages``). The socket is
closed with 1013 when its policy says so, the stalled stream is given up after
``stream_send_timeout``, and nothing is left behind afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.core.live import LiveSession
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import http_scope
from tests.faults.components import journal
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

OUTBOX_MESSAGES = 8
OUTBOX_BYTES = 16 * 1024
REPLAY_FRAMES = 16
REPLAY_BYTES = 64 * 1024
INBOX = 8
SEND_TIMEOUT = 0.3
GRACE = 0.3


class Peak:
    """The largest sizes seen of one buffer."""

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0

    def see(self, count: int, size: int) -> None:
        self.count = max(self.count, count)
        self.bytes = max(self.bytes, size)

    def within(self, count: int, size: int) -> bool:
        return self.count <= count and self.bytes <= size


def outbox_of(app: ComponentASGI) -> tuple[int, int]:
    """What the one socket's outbox really holds: entries and characters of text (a
    superseded push render still in the queue counts: its text is still in memory)."""
    connections = list(app.sockets.connections)
    if not connections:
        return 0, 0
    (connection,) = connections
    outbox = connection._outbox  # made only while a message waits: none holds nothing
    queued = [] if outbox is None else list(outbox)
    return len(queued), sum(len(out.text) for out in queued)


async def never_reading_socket(app: ComponentASGI) -> RawSocket:
    socket = RawSocket(app, "board").start()
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.hold_sends()
    return socket


def idle(app: ComponentASGI) -> bool:
    return not any(member.busy for member in app.hub.members())  # type: ignore[attr-defined]


async def broadcast_all(
    app: ComponentASGI, socket: RawSocket, event: str, count: int, peak: Peak
) -> None:
    """``count`` broadcasts, each handled before the next; the outbox measured after each."""
    manager = WebSocketManager(hub=app.hub)
    for n in range(count):
        await manager.broadcast("board", event, {"n": n}, topic="room:lobby")
        await settle(lambda: idle(app), "the broadcast handled")
        peak.see(*outbox_of(app))
        if socket.close is not None:
            return


def ws_app(policy: str) -> ComponentASGI:
    return make_app(
        ws_outbox_policy=policy,
        ws_outbox_messages=OUTBOX_MESSAGES,
        ws_outbox_bytes=OUTBOX_BYTES,
        ws_send_timeout=60.0,  # the client is slow, not dead: only the outbox limits apply
    )


async def test_never_reading_socket_under_coalesce_keeps_its_outbox_within_the_limits() -> None:
    """Push renders carry the whole state, so under ``coalesce`` a newer one replaces the
    unsent one: the outbox must not grow however many broadcasts a stuck client misses."""
    before = task_baseline()
    app = ws_app("coalesce")
    tracker = Tracker(app)
    socket = await never_reading_socket(app)
    tracker.observe()
    peak = Peak()

    await broadcast_all(app, socket, "tick", 300, peak)

    assert socket.close is None, "coalesced renders never overflow"
    socket.release_sends()
    await socket.wait_until(lambda: socket.messages[-1]["state"]["count"] == 300)
    assert len(socket.messages) < 20, "the stuck client gets a few renders, not 300"
    await socket.end()
    await assert_nothing_leaks(app, before, tracker)
    assert peak.within(OUTBOX_MESSAGES, OUTBOX_BYTES), (
        f"the outbox held {peak.count} messages, {peak.bytes} characters "
        f"(limits {OUTBOX_MESSAGES}, {OUTBOX_BYTES})"
    )


@pytest.mark.parametrize(
    ("policy", "event"),
    [("coalesce", "notice"), ("disconnect", "tick"), ("disconnect", "notice")],
)
async def test_never_reading_socket_overflowing_its_outbox_is_closed_with_1013(
    policy: str, event: str
) -> None:
    """``notice`` has no handler: each one is forwarded as a message of its own, which no
    policy may drop; ``tick`` pushes renders, which ``disconnect`` does not coalesce."""
    before = task_baseline()
    app = ws_app(policy)
    tracker = Tracker(app)
    socket = await never_reading_socket(app)
    tracker.observe()
    peak = Peak()

    await broadcast_all(app, socket, event, 10 * OUTBOX_MESSAGES, peak)

    close = await socket.closed()
    assert close["code"] == 1013
    assert close["reason"] == "the client does not take its messages fast enough"
    assert peak.within(OUTBOX_MESSAGES, OUTBOX_BYTES), vars(peak)
    assert outbox_of(app) == (0, 0) or not app.sockets.connections
    await settle(lambda: len(app.hub) == 0, "the closed socket left the hub")
    socket.disconnect()
    await socket.finished()
    await assert_nothing_leaks(app, before, tracker)
    await assert_still_serves(app)


async def test_never_reading_socket_is_closed_after_the_send_timeout_with_bounded_outbox() -> None:
    before = task_baseline()
    app = make_app(ws_send_timeout=SEND_TIMEOUT, ws_outbox_messages=OUTBOX_MESSAGES)
    socket = await never_reading_socket(app)
    peak = Peak()
    manager = WebSocketManager(hub=app.hub)

    async def load() -> None:
        n = 0
        while socket.close is None:
            await manager.broadcast("board", "tick", {"n": n}, topic="room:lobby")
            peak.see(*outbox_of(app))
            n += 1
            await asyncio.sleep(0.005)

    await asyncio.wait_for(load(), WAIT)

    close = await socket.closed()
    assert close["code"] == 1013
    assert "took no message" in close["reason"]
    assert peak.count <= OUTBOX_MESSAGES, vars(peak)
    socket.disconnect()
    await socket.finished()
    await assert_nothing_leaks(app, before)


class DeadSocket(RawSocket):
    """A client that stops taking anything, close frames included (its TCP window is full),
    and never sends a close of its own."""

    def __init__(self, app: ComponentASGI, name: str) -> None:
        super().__init__(app, name)
        self.stuck = asyncio.Event()
        self.stuck.set()

    def hold_everything(self) -> None:
        self.stuck.clear()

    async def _send(self, message: dict[str, Any]) -> None:
        await self.stuck.wait()
        await super()._send(message)

    def release_sends(self) -> None:
        super().release_sends()
        self.stuck.set()


async def test_socket_whose_close_frame_cannot_be_sent_is_released_after_the_send_timeout() -> None:
    """The socket is closed for overflowing its outbox, but the close frame cannot be sent
    either. Once that send is given up (``ws_send_timeout``), the exchange must end: waiting
    for a client that takes nothing to say goodbye holds the connection, its per-client
    socket slot and the server's buffers for as long as the TCP connection lives."""
    before = task_baseline()
    app = make_app(
        ws_outbox_policy="disconnect", ws_outbox_messages=4, ws_send_timeout=SEND_TIMEOUT
    )
    manager = WebSocketManager(hub=app.hub)
    socket = DeadSocket(app, "board").start()
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.hold_everything()
    n = 0
    while len(app.hub) and n < 100:
        await manager.broadcast("board", "tick", {"n": n}, topic="room:lobby")
        await settle(lambda: idle(app), "the broadcast handled")
        n += 1
    assert len(app.hub) == 0, "closed for overflowing its outbox"
    try:
        await socket.finished(WAIT)
    except TimeoutError:
        pytest.fail(
            f"the app still holds the socket {WAIT:g} s after the close frame's send timeout "
            f"({SEND_TIMEOUT:g} s): open sockets {app.guard.open_count('socket')}"
        )
    finally:
        await socket.end()
    await assert_nothing_leaks(app, before)


# -- SSE ---------------------------------------------------------------------------------------


def stall_after(body_messages: int) -> tuple[Any, asyncio.Event]:
    """A send fault: the reader stops reading after ``body_messages`` body messages (the
    ``send`` blocks, as uvicorn's does on flow control)."""
    stalled = asyncio.Event()
    never = asyncio.Event()

    async def fault(message: Mapping[str, Any], sent: int) -> None:
        if message["type"] == "http.response.body" and sent >= body_messages:
            stalled.set()
            await never.wait()

    return fault, stalled


def sse_app(**settings: Any) -> ComponentASGI:
    values: dict[str, Any] = {
        "stream_send_timeout": SEND_TIMEOUT,
        "stream_resume_grace": GRACE,
        "stream_replay_frames": REPLAY_FRAMES,
        "stream_replay_bytes": REPLAY_BYTES,
        **settings,
    }
    return make_app(**values)


def measure_runs(app: ComponentASGI, peak: Peak) -> None:
    """Every run's replay buffer, now (a function of its own: no local keeps a run alive)."""
    for run in list(app.streams.runs.values()):
        peak.see(len(run.frames), run.held_bytes)


async def sample_runs(app: ComponentASGI, peak: Peak, until: asyncio.Event) -> None:
    """Measure every run's replay buffer at every turn of the loop until ``until``."""
    while not until.is_set():
        measure_runs(app, peak)
        await asyncio.sleep(0)


async def test_stream_whose_reader_stops_is_given_up_and_its_buffer_stays_bounded() -> None:
    before = task_baseline()
    app = sse_app()
    tracker = Tracker(app)
    fault, stalled = stall_after(2)
    query = {"tag": "pour", "frames": 150, "size": 2000, "pause": 0.005}
    exchange = Exchange.stream(app, "flood", query=query, fault=fault)
    peak, done = Peak(), asyncio.Event()
    sampler = asyncio.create_task(sample_runs(app, peak, done))
    try:
        await asyncio.wait_for(stalled.wait(), WAIT)
        tracker.observe()
        await exchange.finished(WAIT)  # given up after the send timeout
        assert len(app.streams) == 1, "the run goes on for its resume grace"
        await settle(lambda: journal.has("finally", "pour"), "the run to end", WAIT * 2)
    finally:
        done.set()
        await sampler
    assert exchange.body_messages == 2
    assert peak.count <= REPLAY_FRAMES, vars(peak)
    assert peak.bytes <= REPLAY_BYTES, vars(peak)
    await assert_nothing_leaks(app, before, tracker)
    await assert_still_serves(app)


async def test_live_stream_whose_reader_stops_under_a_broadcast_flood_stays_bounded() -> None:
    before = task_baseline()
    app = sse_app()
    tracker = Tracker(app)
    manager = WebSocketManager(hub=app.hub)
    fault, stalled = stall_after(2)
    exchange = Exchange.stream(app, "board", query={"room": "flood"}, fault=fault)
    await exchange.event_named("message")
    tracker.observe()
    peak = Peak()
    n = 0
    while not exchange.task.done() and n < 2000:  # type: ignore[union-attr]
        await manager.broadcast("board", "tick", {"n": n}, topic="room:flood")
        measure_runs(app, peak)
        n += 1
        await asyncio.sleep(0.001)
    await exchange.finished(WAIT)
    assert stalled.is_set()
    assert n < 2000, "the stalled stream was given up"
    assert peak.count <= REPLAY_FRAMES, vars(peak)
    assert peak.bytes <= REPLAY_BYTES, vars(peak)
    await assert_nothing_leaks(app, before, tracker)


async def test_live_stream_whose_session_cannot_keep_up_ends_with_slow_consumer() -> None:
    """Broadcasts to an async handler queue in the live session's inbox; a flood larger than
    ``ws_inbox_messages`` ends the subscription with a ``slow_consumer`` error frame."""
    before = task_baseline()
    app = sse_app(ws_inbox_messages=INBOX)
    tracker = Tracker(app)
    manager = WebSocketManager(hub=app.hub)
    exchange = Exchange.stream(app, "board", query={"room": "busy"})
    await exchange.event_named("message")
    (session,) = app.hub.members("board")
    assert isinstance(session, LiveSession)
    tracker.observe()
    most = 0
    for n in range(5 * INBOX):  # none is handled before the next arrives
        await manager.broadcast("board", "slow_tick", {"n": n}, topic="room:busy")
        most = max(most, len(session._inbox))
    await exchange.run_to_end(WAIT)

    assert most <= INBOX
    error = exchange.events[-1]
    assert error.event == "error"
    assert json.loads(error.data)["code"] == "slow_consumer"
    del session
    await assert_nothing_leaks(app, before, tracker)


async def test_on_a_page_connection_a_subscription_that_cannot_keep_up_ends_alone() -> None:
    """Two live boards share one page connection; a flood ends the busy one's run with
    ``slow_consumer`` while the calm one goes on streaming on the same connection."""
    app = sse_app(ws_inbox_messages=INBOX, stream_resume_grace=0)
    manager = WebSocketManager(hub=app.hub)
    entries = [
        {"key": "busy", "name": "board", "query": "room=busy"},
        {"key": "calm", "name": "board", "query": "room=calm"},
    ]
    body = json.dumps({"streams": entries}).encode()
    scope = http_scope("POST", "/components/_page/", headers={"content-type": "application/json"})
    exchange = Exchange(app, scope, body=body).start()
    try:
        await exchange.wait_until(lambda: len(_page_frames(exchange)) >= 2)
        runs = {
            json.loads(e.data)["key"]: json.loads(e.data)["run"]
            for e in exchange.events
            if e.event == "page"
        }
        for n in range(5 * INBOX):
            await manager.broadcast("board", "slow_tick", {"n": n}, topic="room:busy")
        await exchange.wait_until(lambda: any(e.event == "error" for e in exchange.events), WAIT)
        await manager.broadcast("board", "tick", {"n": 99}, topic="room:calm")
        await exchange.wait_until(
            lambda: any("last 99" in e.data for e in _of(exchange, runs["calm"])), WAIT
        )
        assert not exchange.ended
        busy = _of(exchange, runs["busy"])
        assert busy[-1].event == "error"
        assert json.loads(busy[-1].data)["code"] == "slow_consumer"
        assert all(e.event in (None, "message") for e in _of(exchange, runs["calm"]))
    finally:
        exchange.disconnect()
        await exchange.finished()


def _page_frames(exchange: Exchange) -> list[Any]:
    return [e for e in exchange.events if e.id]


def _of(exchange: Exchange, run: str) -> list[Any]:
    return [e for e in exchange.events if (e.id or "").startswith(run + ".")]
