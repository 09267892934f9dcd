"""ComponentASGI on asyncio and trio alike, in process: every test runs on both (anyio's
pytest plugin parametrizes ``anyio_backend``), through the public API and the ASGI messages.

What differs between the two loops is covered here: the request's body deadline (a cancel
of the reading task on asyncio, a cancel scope under trio), handler timeouts, stream runs that
outlive the request that started them (a resume, the grace that ends an unread run),
shutdown's final frame, and a WebSocket's join, event and close. The real-server proof is the
host contract suite on ``hypercorn -k trio`` (tests/hosts).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anyio

from component_framework import ComponentASGI
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry
from component_framework.protocol.sse import SSEDecoder, SSEEvent
from component_framework.testing import (
    ComponentTestClient,
    StateRenderer,
    asgi_request,
    http_scope,
    sse_request,
    websocket_scope,
)
from tests.event_loops import on_both_loops

SECRET = "event-loops-test-secret-0123456789abcdef"
registry = ComponentRegistry()


@registry.register("counter")
class Counter(Component):
    template_name = "any.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_increment(self) -> None:
        self.state["count"] += 1


@registry.register("slow")
class Slow(Component):
    template_name = "any.html"

    def mount(self) -> None:
        self.state["done"] = False

    async def on_wait(self) -> None:
        await anyio.sleep(30)
        self.state["done"] = True


@registry.register("ticker")
class Ticker(StreamingComponent):
    """Ticks ``count`` times, ``interval`` apart; records how each run ended."""

    template_name = "any.html"

    ended: ClassVar[list[str]] = []
    #: Set when a run ended (a test creates it on its own loop).
    finished: ClassVar[anyio.Event | None] = None

    def mount(self) -> None:
        self.state["tick"] = 0

    async def on_tick(self, count: int = 3, interval: float = 0.05) -> AsyncIterator[None]:
        try:
            for tick in range(1, count + 1):
                if tick > 1:
                    await anyio.sleep(interval)
                self.state["tick"] = tick
                yield
            type(self).ended.append("complete")
        except anyio.get_cancelled_exc_class():
            type(self).ended.append("cancelled")
            raise
        finally:
            if type(self).finished is not None:
                type(self).finished.set()


def make_app(**settings: Any) -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=StateRenderer(),
        settings=Settings(secret_keys=(SECRET,), **settings),
    )


@on_both_loops
async def test_http_events_round_trip() -> None:
    client = ComponentTestClient(make_app())
    session = await client.mount("counter")
    await session.send("increment")
    await session.send("increment")
    assert session.state == {"count": 2}


@on_both_loops
async def test_a_body_that_stops_arriving_is_408() -> None:
    app = make_app(body_timeout=0.2)
    scope = http_scope("POST", "/components/counter/", headers={"content-type": "application/json"})
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"ev', "more_body": True}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app(scope, receive, send)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_timeout"


@on_both_loops
async def test_a_handler_past_its_timeout_is_504() -> None:
    client = ComponentTestClient(make_app(handler_timeout=0.1))
    session = await client.mount("slow")
    with anyio.fail_after(5):
        response = await asgi_request(
            client.app,
            "POST",
            "/components/slow/",
            json={"event": "wait", "snapshot": session.snapshot},
        )
    assert response.status == 504
    assert response.json()["error"]["code"] == "handler_timeout"


@on_both_loops
async def test_a_stream_sends_a_frame_per_yield_then_done() -> None:
    answer = await sse_request(make_app(), "/components/ticker/stream/", query={"event": "tick"})
    assert answer.status == 200
    assert [event.event for event in answer.events] == ["message"] * 3 + ["done"]


@on_both_loops
async def test_a_stream_outlives_its_request_and_resumes_with_last_event_id() -> None:
    app = make_app()
    path = "/components/ticker/stream/"
    query = {"event": "tick", "count": 4, "interval": 0.1}
    first = await sse_request(app, path, query=query, max_events=1)
    last_id = first.events[0].id
    assert last_id is not None

    resumed = await sse_request(app, path, headers={"Last-Event-ID": last_id})
    run, _, seq = last_id.rpartition(".")
    assert [event.id for event in resumed.events] == [
        f"{run}.{number}" for number in range(int(seq) + 1, int(seq) + 5)
    ]
    assert resumed.events[-1].event == "done"
    finished = await sse_request(app, path, headers={"Last-Event-ID": resumed.events[-1].id or ""})
    assert finished.status == 204


@on_both_loops
async def test_an_unread_stream_is_cancelled_after_its_grace() -> None:
    Ticker.ended.clear()
    Ticker.finished = finished = anyio.Event()
    app = make_app(stream_resume_grace=0.2)
    path = "/components/ticker/stream/"
    query = {"event": "tick", "count": 100, "interval": 0.05}
    try:
        first = await sse_request(app, path, query=query, max_events=1)
        with anyio.fail_after(5):
            await finished.wait()
    finally:
        Ticker.finished = None
    assert Ticker.ended == ["cancelled"]
    gone = await sse_request(app, path, headers={"Last-Event-ID": first.events[0].id or ""})
    # The run is gone with the frames the client missed: told so, never run again.
    assert [event.event for event in gone.events] == ["lost"]
    assert json.loads(gone.events[0].data)["code"] == "stream_lost"


@on_both_loops
async def test_shutdown_ends_an_open_stream_with_the_shutdown_frame() -> None:
    app = make_app()
    answers: list[Any] = []

    async def read() -> None:
        query = {"event": "tick", "count": 1000, "interval": 0.05}
        answers.append(await sse_request(app, "/components/ticker/stream/", query=query))

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        await anyio.sleep(0.2)
        await app.shutdown()
    assert answers[0].events[-1].event == "shutdown"


@on_both_loops
async def test_a_websocket_joins_takes_an_event_and_closes() -> None:
    app = make_app()
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](10)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](10)

    async def receive() -> dict[str, Any]:
        return await app_inbox.receive()

    async def send(message: dict[str, Any]) -> None:
        await app_outbox.send(message)

    async def next_message() -> dict[str, Any]:
        message = await from_app.receive()
        assert message["type"] == "websocket.send", message
        decoded: dict[str, Any] = json.loads(message["text"])
        return decoded

    scope = websocket_scope("/components/counter/ws/")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group, app_inbox, app_outbox, to_app, from_app:
            group.start_soon(app, scope, receive, send)
            await to_app.send({"type": "websocket.connect"})
            assert (await from_app.receive())["type"] == "websocket.accept"
            joined = await next_message()
            assert joined["type"] == "render"
            assert joined["state"] == {"count": 0}
            event = {"type": "event", "event": "increment", "payload": {}, "ref": 1}
            await to_app.send({"type": "websocket.receive", "text": json.dumps(event)})
            clicked = await next_message()
            assert (clicked["type"], clicked["ref"]) == ("render", 1)
            assert clicked["state"] == {"count": 1}
            await to_app.send({"type": "websocket.disconnect", "code": 1000})
        # the task group ended: the app returned after the disconnect, within the deadline


@on_both_loops
async def test_a_component_joins_an_open_socket_takes_an_event_and_leaves() -> None:
    app = make_app()
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](10)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](10)

    async def receive() -> dict[str, Any]:
        return await app_inbox.receive()

    async def send(message: dict[str, Any]) -> None:
        await app_outbox.send(message)

    async def exchange(message: dict[str, Any]) -> dict[str, Any]:
        await to_app.send({"type": "websocket.receive", "text": json.dumps(message)})
        answer = await from_app.receive()
        decoded: dict[str, Any] = json.loads(answer["text"])
        return decoded

    scope = websocket_scope("/components/counter/ws/")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group, app_inbox, app_outbox, to_app, from_app:
            group.start_soon(app, scope, receive, send)
            await to_app.send({"type": "websocket.connect"})
            assert (await from_app.receive())["type"] == "websocket.accept"
            assert (await from_app.receive())["type"] == "websocket.send"  # its own render
            joined = await exchange({"type": "join", "component": "counter", "ref": "j"})
            assert (joined["type"], joined["ref"]) == ("render", "j")
            member = joined["component_id"]
            clicked = await exchange(
                {"type": "event", "event": "increment", "component_id": member}
            )
            assert (clicked["component_id"], clicked["state"]) == (member, {"count": 1})
            left = await exchange({"type": "leave", "component_id": member, "ref": "l"})
            assert left == {"type": "left", "component_id": member, "ref": "l"}
            await to_app.send({"type": "websocket.disconnect", "code": 1000})


@on_both_loops
async def test_a_socket_carries_a_stream_to_its_end_and_resumes_it_on_another() -> None:
    app = make_app()

    async def carried(entry: dict[str, Any], until: int) -> list[SSEEvent]:
        """Open a socket, send ``entry``, read ``until`` frames (the control frame first)."""
        to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](10)
        app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](100)

        async def receive() -> dict[str, Any]:
            return await app_inbox.receive()

        async def send(message: dict[str, Any]) -> None:
            await app_outbox.send(message)

        frames: list[SSEEvent] = []
        async with anyio.create_task_group() as group, app_inbox, app_outbox, to_app, from_app:
            group.start_soon(app, websocket_scope("/components/counter/ws/"), receive, send)
            await to_app.send({"type": "websocket.connect"})
            assert (await from_app.receive())["type"] == "websocket.accept"
            assert (await from_app.receive())["type"] == "websocket.send"  # its own render
            await to_app.send({"type": "websocket.receive", "text": json.dumps(entry)})
            while len(frames) < until:
                frames.extend(SSEDecoder().feed((await from_app.receive())["text"].encode()))
            await to_app.send({"type": "websocket.disconnect", "code": 1000})
        return frames

    with anyio.fail_after(10):
        query = "count=4&interval=0.05"
        entry = {"type": "stream", "key": "t", "name": "ticker", "query": query}
        first = await carried(entry, 3)  # control, ticks 1 and 2: then the socket drops
        run = json.loads(first[0].data)["run"]
        resume = {**entry, "resume": first[-1].id}
        del resume["query"]
        rest = await carried(resume, 4)  # control, ticks 3 and 4, done
    ids = [frame.id for frame in first[1:] + rest[1:]]
    assert ids == [f"{run}.{seq}" for seq in range(1, 6)]
    assert rest[-1].event == "done"


@on_both_loops
async def test_a_websocket_answer_not_taken_within_the_send_timeout_closes_with_1013() -> None:
    app = make_app(ws_send_timeout=0.3)
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](10)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](10)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await app_inbox.receive()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and sent:  # the client takes only the first
            await anyio.sleep_forever()
        if message["type"] == "websocket.send":
            sent.append(message)
        await app_outbox.send(message)

    scope = websocket_scope("/components/counter/ws/")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group, app_inbox, app_outbox, to_app, from_app:
            group.start_soon(app, scope, receive, send)
            await to_app.send({"type": "websocket.connect"})
            assert (await from_app.receive())["type"] == "websocket.accept"
            assert (await from_app.receive())["type"] == "websocket.send"
            event = {"type": "event", "event": "increment", "payload": {}, "ref": 1}
            await to_app.send({"type": "websocket.receive", "text": json.dumps(event)})
            close = await from_app.receive()
            assert close["type"] == "websocket.close"
            assert close["code"] == 1013
            assert close["reason"] == "the client took no message for 0.3 s"
        # the task group ended: the app returned without the client's answer to the close
