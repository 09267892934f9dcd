"""Server shutdown with every kind of stream and socket open, in process: ``shutdown()``,
``begin_shutdown()`` (what the signal hook calls), and the lifespan shutdown (standalone and
in middleware mode). Every stream gets its final ``shutdown`` frame, every socket a 1012
close, every running handler's ``finally`` runs, and nothing is left behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from component_framework import ComponentASGI
from component_framework.testing import (
    WebSocketDenied,
    asgi_request,
    sse_request,
    websocket_connect,
)
from tests.faults.components import journal
from tests.faults.harness import (
    WAIT,
    Tracker,
    assert_nothing_leaks,
    make_app,
    settle,
    task_baseline,
)
from tests.streaming.exchange import Exchange, stream_scope
from tests.websocket.helpers import RawSocket

RESTART_REASON = "the server is restarting"
SEND_TIMEOUT = 0.3


class InnerApp:
    """A wrapped app with a lifespan of its own (middleware mode)."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            self.lifespan.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


@dataclass
class Open:
    """Everything a test opened, to check after the shutdown."""

    app: ComponentASGI
    streams: dict[str, Exchange] = field(default_factory=dict)
    stalled: Exchange | None = None
    sockets: dict[str, RawSocket] = field(default_factory=dict)
    tracker: Tracker | None = None

    async def end(self) -> None:
        for exchange in [*self.streams.values(), self.stalled]:
            if exchange is not None and exchange.task is not None and not exchange.task.done():
                exchange.disconnect()
                exchange.cancel()
        for socket in self.sockets.values():
            await socket.end()


async def open_everything(app: ComponentASGI) -> Open:
    """A gated stream with two readers (one resumed), a live subscription, a stream whose
    reader stalled, an idle socket, a socket whose handler waits, one whose generator runs,
    and one whose client stopped reading."""
    opened = Open(app, tracker=Tracker(app))
    story = Exchange.stream(app, "story", query={"tag": "story", "steps": 3, "gated": "true"})
    await story.event_named("message")
    second = Exchange.stream(app, "story", headers={"last-event-id": story.last_id})
    await second.body_started()
    live = Exchange.stream(app, "chat", query={"room": "r1"})
    await live.event_named("message")
    opened.streams = {"story": story, "story-resumed": second, "live": live}

    never = asyncio.Event()

    async def stall(message: Any, body_messages: int) -> None:
        if message["type"] == "http.response.body" and body_messages >= 2:
            await never.wait()  # the reader stopped reading after the first frame

    opened.stalled = Exchange.stream(app, "story", query={"tag": "stalled"}, fault=stall)
    await settle(lambda: journal.has("start", "stalled"), "the stalled stream's handler")

    idle = RawSocket(app, "counter").start()
    holding = RawSocket(app, "chat", query={"room": "r1"}).start()
    endless = RawSocket(app, "chat", query={"room": "r2"}).start()
    deaf = RawSocket(app, "counter").start()
    opened.sockets = {"idle": idle, "holding": holding, "endless": endless, "deaf": deaf}
    for socket in opened.sockets.values():
        await socket.wait_until(lambda s=socket: len(s.messages) == 1)
    holding.send_json({"type": "event", "event": "hold", "payload": {"tag": "hold"}, "ref": 1})
    endless.send_json({"type": "event", "event": "endless", "payload": {"tag": "gen"}, "ref": 2})
    await settle(lambda: journal.has("start", "hold") and journal.has("start", "gen"), "handlers")
    await endless.wait_until(lambda: len(endless.messages) >= 3)
    deaf.hold_sends()
    deaf.send_json({"type": "event", "event": "increment", "ref": 3})  # its answer blocks
    await asyncio.sleep(0.05)
    assert opened.tracker is not None
    opened.tracker.observe()
    assert (len(app.streams), len(app.sockets)) == (3, 4)
    assert (app.guard.open_count("stream"), app.guard.open_count("socket")) == (4, 4)
    return opened


async def check_everything_ended(opened: Open) -> None:
    for name, exchange in opened.streams.items():
        await exchange.finished(WAIT)
        assert exchange.ended, name
        assert exchange.events[-1].event == "shutdown", (name, exchange.events)
        assert json.loads(exchange.events[-1].data)["code"] == "server_shutdown"
        assert exchange.messages[-1]["more_body"] is False
    assert opened.stalled is not None
    await opened.stalled.finished(WAIT)  # given up after the send timeout
    for name, socket in opened.sockets.items():
        close = await socket.closed(WAIT)
        assert (close["code"], close["reason"]) == (1012, RESTART_REASON), name
        socket.disconnect()
        await socket.finished(WAIT)
    for tag in ("hold", "gen", "story", "stalled"):
        assert journal.has("finally", tag), tag
    assert not journal.has("complete", "story")


async def check_refused_after_shutdown(app: ComponentASGI) -> None:
    fresh = await sse_request(app, "/components/story/stream/", query={"tag": "late"})
    assert fresh.status == 503
    with pytest.raises(WebSocketDenied) as denied:
        await websocket_connect(app, "/components/counter/ws/").connect()
    assert denied.value.status == 503


@pytest.fixture
async def opened_app() -> AsyncIterator[tuple[Open, Any]]:
    before = task_baseline()
    app = make_app(stream_resume_grace=5.0, stream_send_timeout=SEND_TIMEOUT)
    opened = await open_everything(app)
    try:
        yield opened, before
    finally:
        await opened.end()


async def lifespan(app: ComponentASGI) -> ApplicationCommunicator:
    communicator = ApplicationCommunicator(app, {"type": "lifespan", "asgi": {"version": "3.0"}})
    await communicator.send_input({"type": "lifespan.startup"})
    assert await communicator.receive_output(WAIT) == {"type": "lifespan.startup.complete"}
    return communicator


@pytest.mark.parametrize("how", ["shutdown", "begin_shutdown", "twice"])
async def test_shutdown_ends_every_stream_and_socket_and_leaves_nothing(
    opened_app: tuple[Open, Any], how: str
) -> None:
    opened, before = opened_app
    app = opened.app
    async with asyncio.timeout(WAIT):
        if how == "begin_shutdown":
            app.begin_shutdown()
            await settle(lambda: not app.streams.runs, "the runs cancelled")
        else:
            await app.shutdown()
            if how == "twice":
                await app.shutdown()
    await check_everything_ended(opened)
    assert opened.tracker is not None
    await assert_nothing_leaks(app, before, opened.tracker)
    await check_refused_after_shutdown(app)
    answer = await asgi_request(app, "POST", "/components/counter/", json={})
    assert answer.status == 200, "plain HTTP is still answered while the server drains"


@pytest.mark.parametrize("mode", ["standalone", "middleware"])
async def test_lifespan_shutdown_ends_every_stream_and_socket_and_leaves_nothing(
    mode: str,
) -> None:
    before = task_baseline()
    inner = InnerApp() if mode == "middleware" else None
    app = make_app(inner, stream_resume_grace=5.0, stream_send_timeout=SEND_TIMEOUT)
    communicator = await lifespan(app)
    opened = await open_everything(app)
    try:
        await communicator.send_input({"type": "lifespan.shutdown"})
        assert await communicator.receive_output(WAIT) == {"type": "lifespan.shutdown.complete"}
        await communicator.wait(WAIT)
        await check_everything_ended(opened)
        assert opened.tracker is not None
        await assert_nothing_leaks(app, before, opened.tracker)
        if inner is not None:
            assert inner.lifespan == ["lifespan.startup", "lifespan.shutdown"]
    finally:
        await opened.end()


async def test_shutdown_while_a_socket_handshake_and_a_stream_body_are_in_flight() -> None:
    """Connections that passed the door but are not open yet: a socket whose
    ``websocket.connect`` has not arrived and a POST stream whose body has not: both are
    refused once it arrives, and no user code runs."""
    before = task_baseline()
    app = make_app()
    socket = RawSocket(app, "counter").start(connect=False)
    body = json.dumps({"tag": "late-body"}).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    stream = Exchange(app, stream_scope("story", method="POST", headers=headers), body=None)
    stream.start()
    await asyncio.sleep(0.02)

    await app.shutdown()
    socket.incoming.put_nowait({"type": "websocket.connect"})
    stream.incoming.put_nowait({"type": "http.request", "body": body, "more_body": False})

    await stream.run_to_end(WAIT)
    assert stream.status == 503
    await socket.finished(WAIT)
    assert socket.sent[0]["type"] == "websocket.http.response.start"
    assert socket.sent[0]["status"] == 503
    assert journal.entries == []
    await assert_nothing_leaks(app, before)


async def test_a_signal_reaches_the_servers_own_handler_only_after_every_close_went_out(
    opened_app: tuple[Open, Any],
) -> None:
    """uvicorn closes every socket itself (a bare 1012, no reason) as soon as its SIGTERM
    handler has run: ours hands the signal on only once our closes went out, so our reason
    always wins that race. A second signal meanwhile goes straight through (a second Ctrl-C
    forces the exit)."""
    from component_framework.asgi.app import _SignalHook

    opened, _ = opened_app
    relayed: list[tuple[int, dict[str, Any]]] = []
    servers_handler_ran = asyncio.Event()

    def servers_handler(signum: int, frame: Any) -> None:
        closes = {name: socket.close for name, socket in opened.sockets.items()}
        relayed.append((signum, closes))
        servers_handler_ran.set()

    handle = _SignalHook._chain(servers_handler)
    _SignalHook.apps[opened.app] = asyncio.get_running_loop()
    try:
        assert handle(15, None) is None
        assert relayed == [], "the server's handler waits for our closes"
        handle(2, None)
        assert [signum for signum, _ in relayed] == [2], "a second signal meanwhile is not held"
        async with asyncio.timeout(WAIT):
            while len(relayed) < 2:
                await servers_handler_ran.wait()
                servers_handler_ran.clear()
        signum, closes = relayed[1]
        assert signum == 15
        for name, close in closes.items():
            assert close is not None, f"{name} was not closed before the server's handler ran"
            assert (close["code"], close["reason"]) == (1012, RESTART_REASON), name
    finally:
        _SignalHook.relaying = False
        _SignalHook.apps.pop(opened.app, None)
    await settle(lambda: not opened.app.streams.runs, "the runs cancelled")
    await check_everything_ended(opened)
