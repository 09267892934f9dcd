"""How an SSE exchange ends: client disconnects at every point, failing and stalled sends,
server shutdown (``shutdown()`` and the lifespan, standalone and in middleware mode), and no
runs, readers or tasks left behind after many connections."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from component_framework.testing import sse_request
from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange, eventually, stray_tasks, stream_scope
from tests.streaming.stream_components import journal, pacer

GRACE = 0.1
PROMPTLY = 1.0


def baseline() -> set[asyncio.Task[Any]]:
    return set(asyncio.all_tasks())


async def assert_cleaned_up(app: Any, before: set[asyncio.Task[Any]]) -> None:
    """Every run that started was cancelled or completed, its ``finally`` ran, the app holds no
    run and no reader, and no task started by the test is left."""
    await eventually(lambda: len(app.streams) == 0, within=GRACE + 2)
    # Closing a run cancels its task; the handler's finally runs on a later loop iteration.
    await eventually(
        lambda: Counter(journal.tags("finally")) == Counter(journal.tags("start")), within=2
    )
    assert app.stream_gate.wakeups == set()
    assert await stray_tasks(before) == set()


# -- the client goes away --------------------------------------------------------------------


async def test_disconnect_before_the_post_body_is_read(streams: Streams) -> None:
    app = streams.app(stream_resume_grace=GRACE)
    before = baseline()
    scope = stream_scope(
        "paced",
        method="POST",
        headers={"content-type": "application/json", "content-length": "30"},
    )
    exchange = streams.track(Exchange(app, scope, body=None).start())
    exchange.disconnect()

    await exchange.finished(PROMPTLY)

    assert exchange.messages == [], "nobody to answer"
    assert len(app.streams) == 0
    assert journal.entries == []
    await assert_cleaned_up(app, before)


async def test_disconnect_in_the_middle_of_the_post_body(streams: Streams) -> None:
    app = streams.app(stream_resume_grace=GRACE)
    before = baseline()
    scope = stream_scope("paced", method="POST", headers={"content-type": "application/json"})
    exchange = streams.track(Exchange(app, scope, body=None).start())
    exchange.incoming.put_nowait({"type": "http.request", "body": b'{"tag": ', "more_body": True})
    exchange.disconnect()

    await exchange.finished(PROMPTLY)

    assert exchange.messages == []
    assert journal.entries == []
    await assert_cleaned_up(app, before)


def _disconnect_on_response_start(exchange_box: list[Exchange]) -> Any:
    async def fault(message: Mapping[str, Any], body_messages: int) -> None:
        if message["type"] == "http.response.start":
            exchange_box[0].disconnect()

    return fault


@pytest.mark.parametrize(
    "point",
    ["with-the-request", "at-response-start", "between-frames", "during-heartbeat-wait"],
)
async def test_disconnect_at_every_point_ends_the_exchange_and_the_run(
    streams: Streams, point: str
) -> None:
    heartbeat = 0.05 if point == "during-heartbeat-wait" else 15.0
    app = streams.app(stream_resume_grace=GRACE, stream_heartbeat=heartbeat)
    before = baseline()
    box: list[Exchange] = []
    fault = _disconnect_on_response_start(box) if point == "at-response-start" else None
    exchange = streams.open(app, "paced", query={"tag": point, "steps": 3}, fault=fault)
    box.append(exchange)
    if point == "with-the-request":
        exchange.disconnect()
    elif point == "between-frames":
        await exchange.events_count(1)
        await eventually(lambda: pacer.waiting(point))
        exchange.disconnect()
    elif point == "during-heartbeat-wait":
        await exchange.wait_until(lambda: exchange.decoder.comments >= 1)
        exchange.disconnect()

    await exchange.finished(PROMPTLY)

    assert exchange.task is not None
    assert exchange.task.exception() is None
    assert not journal.has("complete", point)
    await assert_cleaned_up(app, before)


async def test_receive_failing_while_streaming_ends_the_exchange(streams: Streams) -> None:
    app = streams.app(stream_resume_grace=GRACE)
    before = baseline()
    exchange = streams.open(app, "paced", query={"tag": "broken-receive", "steps": 3})
    await exchange.events_count(1)

    exchange.fail_receive(OSError("connection reset by peer"))

    await exchange.finished(PROMPTLY)
    assert exchange.task is not None
    assert exchange.task.exception() is None
    await assert_cleaned_up(app, before)


# -- the client fails or stalls ------------------------------------------------------------


#: Where a send fails or stalls: the index of the body message it hits (``None``: the response
#: start) and the heartbeat interval. Only "heartbeat" leaves the generator waiting, so its
#: third body message is a keep-alive comment.
FAULT_POINTS: dict[str, tuple[int | None, float]] = {
    "response-start": (None, 15.0),
    "opening-body": (0, 15.0),
    "first-frame": (1, 15.0),
    "second-frame": (2, 15.0),
    "heartbeat": (2, 0.05),
}


def hits(point: str, message: Mapping[str, Any], body_messages: int) -> bool:
    body_index = FAULT_POINTS[point][0]
    if body_index is None:
        return bool(message["type"] == "http.response.start")
    return message["type"] == "http.response.body" and body_messages >= body_index


def open_faulty(streams: Streams, app: Any, point: str, tag: str, fault: Any) -> Exchange:
    if point != "heartbeat":
        pacer.grant(tag, 3)
    return streams.open(app, "paced", query={"tag": tag, "steps": 5}, fault=fault)


@pytest.mark.parametrize("point", list(FAULT_POINTS))
async def test_send_raising_oserror_ends_the_exchange_quietly(streams: Streams, point: str) -> None:
    app = streams.app(stream_resume_grace=GRACE, stream_heartbeat=FAULT_POINTS[point][1])
    before = baseline()

    async def fault(message: Mapping[str, Any], body_messages: int) -> None:
        if hits(point, message, body_messages):
            raise OSError("broken pipe")

    exchange = open_faulty(streams, app, point, "oserror", fault)

    await exchange.finished(PROMPTLY)  # no exception escapes the app

    assert exchange.body_messages == (FAULT_POINTS[point][0] or 0)
    assert not exchange.ended
    await asyncio.sleep(GRACE / 2)
    assert not journal.has("finally", "oserror"), "the grace applies to failed sends too"
    await assert_cleaned_up(app, before)
    assert journal.has("cancelled", "oserror")
    assert not journal.has("complete", "oserror")


@pytest.mark.parametrize("point", list(FAULT_POINTS))
async def test_send_blocking_forever_is_given_up_after_the_send_timeout(
    streams: Streams, point: str
) -> None:
    app = streams.app(
        stream_resume_grace=GRACE, stream_send_timeout=0.1, stream_heartbeat=FAULT_POINTS[point][1]
    )
    before = baseline()
    never = asyncio.Event()
    stalled = asyncio.Event()

    async def fault(message: Mapping[str, Any], body_messages: int) -> None:
        if hits(point, message, body_messages):
            stalled.set()
            await never.wait()

    exchange = open_faulty(streams, app, point, "stall", fault)
    await asyncio.wait_for(stalled.wait(), PROMPTLY)
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()

    await exchange.finished(PROMPTLY)

    assert loop.time() - stalled_at < 0.1 + 0.5, "given up after about the send timeout"
    assert exchange.body_messages == (FAULT_POINTS[point][0] or 0)
    if point == "heartbeat":
        assert [e.event for e in exchange.events] == ["message"]
        assert exchange.decoder.comments == 0, "the stalled send was the heartbeat"
    await assert_cleaned_up(app, before)
    assert journal.has("cancelled", "stall")


@pytest.mark.parametrize("ending", ["done", "shutdown"])
async def test_send_blocking_on_the_final_message_is_given_up_after_the_send_timeout(
    streams: Streams, ending: str
) -> None:
    """The last frame fits the server's buffer, then the reader stalls: the closing
    ``more_body: False`` send blocks (uvicorn waits for the buffer to drain before every
    send). It must be bounded like every other send, or the exchange (and, on shutdown, the
    server) waits for ever."""
    app = streams.app(stream_resume_grace=GRACE, stream_send_timeout=0.1)
    before = baseline()
    never = asyncio.Event()
    stalled = asyncio.Event()

    async def fault(message: Mapping[str, Any], body_messages: int) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            stalled.set()
            await never.wait()

    exchange = streams.open(app, "paced", query={"tag": "final", "steps": 2}, fault=fault)
    await exchange.events_count(1)
    if ending == "done":
        pacer.grant("final", 2)
        await exchange.event_named("done")
    else:
        async with asyncio.timeout(PROMPTLY):
            await app.shutdown()
        await exchange.event_named("shutdown")
    await asyncio.wait_for(stalled.wait(), PROMPTLY)

    await exchange.finished(PROMPTLY)
    await assert_cleaned_up(app, before)


# -- the server shuts down -----------------------------------------------------------------


def assert_ended_with_shutdown(exchange: Exchange) -> None:
    assert exchange.ended
    assert exchange.events[-1].event == "shutdown"
    assert json.loads(exchange.events[-1].data)["code"] == "server_shutdown"
    assert exchange.messages[-1]["more_body"] is False


async def test_shutdown_ends_open_streams_with_a_final_frame(streams: Streams) -> None:
    app = streams.app(stream_heartbeat=0.05)
    before = baseline()
    busy = streams.open(app, "paced", query={"tag": "busy", "steps": 3})
    idle = streams.open(app, "paced", query={"tag": "idle", "steps": 3})
    await busy.events_count(1)
    await idle.wait_until(lambda: idle.decoder.comments >= 1)

    async with asyncio.timeout(PROMPTLY):
        await app.shutdown()
    # shutdown() waits for the handlers' finally blocks.
    assert journal.has("finally", "busy")
    assert journal.has("finally", "idle")
    assert journal.has("cancelled", "busy")

    await busy.finished(PROMPTLY)
    await idle.finished(PROMPTLY)
    assert_ended_with_shutdown(busy)
    assert_ended_with_shutdown(idle)
    assert [e.event for e in busy.events] == ["message", "shutdown"]
    await assert_cleaned_up(app, before)


async def test_streams_requested_after_shutdown_are_refused(streams: Streams) -> None:
    app = streams.app()
    first = streams.open(app, "paced", query={"tag": "before", "steps": 2})
    await first.events_count(1)
    await app.shutdown()
    await first.finished(PROMPTLY)

    fresh = await sse_request(
        app, "/components/paced/stream/", query={"tag": "after"}, give_up_after=PROMPTLY
    )
    resumed = await sse_request(
        app,
        "/components/paced/stream/",
        headers={"Last-Event-ID": first.last_id},
        give_up_after=PROMPTLY,
    )

    for response in (fresh, resumed):
        assert response.status == 503
        assert json.loads(response.body)["error"]["code"] == "service_unavailable"
    assert journal.tags("start") == ["before"]
    await app.shutdown()  # safe to call again


async def test_stream_whose_body_arrives_during_shutdown_is_refused(streams: Streams) -> None:
    """A POST stream request that passed the door before the shutdown but whose body arrives
    after it must not start a run: ``shutdown()`` has already cancelled every run and returned,
    so a run started now would outlive it (for the whole resume grace, or for ever once the
    server's loop is gone)."""
    app = streams.app()
    body = json.dumps({"tag": "late", "steps": 3}).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    scope = stream_scope("paced", method="POST", headers=headers)
    exchange = streams.track(Exchange(app, scope, body=None).start())
    await asyncio.sleep(0.01)  # the app now waits for the body

    await app.shutdown()
    exchange.incoming.put_nowait({"type": "http.request", "body": body, "more_body": False})
    await exchange.run_to_end(PROMPTLY)

    assert exchange.status == 503, (exchange.status, exchange.events)
    assert exchange.json_body()["error"]["code"] == "service_unavailable"
    assert len(app.streams) == 0
    assert journal.entries == [], "no user code ran after the shutdown"


async def lifespan_startup(communicator: ApplicationCommunicator) -> None:
    await communicator.send_input({"type": "lifespan.startup"})
    assert await communicator.receive_output(PROMPTLY) == {"type": "lifespan.startup.complete"}


async def test_lifespan_shutdown_ends_open_streams(streams: Streams) -> None:
    app = streams.app()
    communicator = ApplicationCommunicator(app, {"type": "lifespan", "asgi": {"version": "3.0"}})
    await lifespan_startup(communicator)
    exchange = streams.open(app, "paced", query={"tag": "lifespan", "steps": 3})
    await exchange.events_count(1)

    await communicator.send_input({"type": "lifespan.shutdown"})

    assert await communicator.receive_output(PROMPTLY) == {"type": "lifespan.shutdown.complete"}
    await exchange.finished(PROMPTLY)
    assert_ended_with_shutdown(exchange)
    assert journal.has("finally", "lifespan")
    await communicator.wait(PROMPTLY)


class InnerApp:
    """A wrapped app with its own lifespan; records the lifespan messages it got."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []
        self.streams_open_at_shutdown: int | None = None
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            self.lifespan.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.streams_open_at_shutdown = len(self.app.streams)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def test_lifespan_shutdown_through_middleware_mode_ends_open_streams(
    streams: Streams,
) -> None:
    inner = InnerApp()
    app = streams.app(inner)
    inner.app = app
    communicator = ApplicationCommunicator(app, {"type": "lifespan", "asgi": {"version": "3.0"}})
    await lifespan_startup(communicator)
    exchange = streams.open(app, "paced", query={"tag": "middleware", "steps": 3})
    await exchange.events_count(1)

    await communicator.send_input({"type": "lifespan.shutdown"})

    assert await communicator.receive_output(PROMPTLY) == {"type": "lifespan.shutdown.complete"}
    await communicator.wait(PROMPTLY)
    assert inner.lifespan == ["lifespan.startup", "lifespan.shutdown"]
    assert inner.streams_open_at_shutdown == 0, "our streams end before the inner app's shutdown"
    await exchange.finished(PROMPTLY)
    assert_ended_with_shutdown(exchange)
    assert journal.has("finally", "middleware")


# -- nothing leaks -------------------------------------------------------------------------


async def test_500_connect_disconnect_cycles_leave_nothing_behind(streams: Streams) -> None:
    app = streams.app(stream_resume_grace=0.0, http_rate=None)  # 500 requests from one client
    before = baseline()
    for cycle in range(500):
        exchange = Exchange.stream(app, "paced", query={"tag": f"c{cycle}", "steps": 3})
        if cycle % 3 == 1:
            await exchange.events_count(1)
        elif cycle % 3 == 2:
            await exchange.response_started()
        exchange.disconnect()
        await exchange.finished()

    await assert_cleaned_up(app, before)
    assert len(journal.tags("start")) >= 500 * 2 // 3


async def test_500_resume_cycles_on_one_run_leave_no_readers(streams: Streams) -> None:
    app = streams.app(stream_resume_grace=5.0, http_rate=None)  # 500 requests from one client
    before = baseline()
    first = streams.open(app, "paced", query={"tag": "shared", "steps": 2})
    await first.events_count(1)
    first.disconnect()
    await first.finished()
    run = app.streams.get(first.last_id.rpartition(".")[0])
    assert run is not None

    for _ in range(500):
        exchange = Exchange.stream(app, "paced", headers={"Last-Event-ID": first.last_id})
        await exchange.body_started()
        exchange.disconnect()
        await exchange.finished()

    assert run.readers == 0
    assert app.stream_gate.wakeups == set()
    assert not run.closed, "each reconnect came back within the grace"
    assert journal.tags("start") == ["shared"]

    pacer.grant("shared", 2)
    last = await Exchange.stream(
        app, "paced", headers={"Last-Event-ID": first.last_id}
    ).run_to_end()
    assert [e.event for e in last.events] == ["message", "done"]
    await app.shutdown()
    await assert_cleaned_up(app, before)
