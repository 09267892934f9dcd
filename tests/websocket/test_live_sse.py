"""Live SSE subscriptions: ``live_updates = True`` components stream the renders that
broadcasts cause."""

from __future__ import annotations

import json

from component_framework.core.websocket import WebSocketManager
from component_framework.testing import http_scope, sse_request, websocket_connect
from tests.streaming.exchange import Exchange, eventually
from tests.websocket.helpers import make_app, ws_path


def _renders(exchange: Exchange) -> list[str]:
    return [event.data for event in exchange.events if event.event in (None, "", "message")]


async def test_live_subscription_starts_with_the_initial_render():
    app = make_app(stream_resume_grace=0)
    exchange = Exchange.stream(app, "live")
    try:
        await exchange.response_started()
        assert exchange.status == 200
        assert exchange.headers["content-type"].startswith("text/event-stream")
        await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
        first = _renders(exchange)[0]
        assert first.startswith('<div class="live"')
        assert ">0</div>" in first
        assert 'id="live-' in first
    finally:
        exchange.disconnect()
        await exchange.finished()


async def test_live_subscription_sends_a_render_frame_after_a_broadcast():
    app = make_app(stream_resume_grace=0)
    manager = WebSocketManager(hub=app.hub)
    exchange = Exchange.stream(app, "live")
    try:
        await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
        reached = await manager.broadcast(component_name="live", event="bump",
                                          payload={"by": 5})  # fmt: skip
        await exchange.wait_until(lambda: len(_renders(exchange)) >= 2)
    finally:
        exchange.disconnect()
        await exchange.finished()
    assert reached == 1
    assert ">5</div>" in _renders(exchange)[1]


async def test_live_subscription_forwards_a_handlerless_broadcast_as_a_broadcast_frame():
    app = make_app(stream_resume_grace=0)
    manager = WebSocketManager(hub=app.hub)
    exchange = Exchange.stream(app, "live")
    try:
        await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
        await manager.broadcast(component_name="live", event="notice", payload={"n": 1})
        frame = await exchange.event_named("broadcast")
    finally:
        exchange.disconnect()
        await exchange.finished()
    assert json.loads(frame.data) == {"event": "notice", "payload": {"n": 1}}
    assert frame.id


async def test_live_subscription_in_json_format_sends_json_renders():
    app = make_app(stream_resume_grace=0)
    exchange = Exchange.stream(app, "live", query={"format": "json"})
    try:
        await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
    finally:
        exchange.disconnect()
        await exchange.finished()
    first = json.loads(_renders(exchange)[0])
    assert first["state"] == {"count": 0}
    assert first["component_id"].startswith("live-")


async def test_live_subscription_with_sse_request_gives_up_after_its_bound():
    app = make_app(stream_resume_grace=0)
    response = await sse_request(app, "/components/live/stream/", max_events=1,
                                 give_up_after=3)  # fmt: skip
    assert response.status == 200
    assert len(response.events) >= 1
    assert response.events[0].data.startswith('<div class="live"')
    await eventually(lambda: len(app.hub) == 0)


async def test_component_without_live_updates_or_generator_answers_404_stream_not_found():
    app = make_app()
    response = await sse_request(app, "/components/counter/stream/", give_up_after=3)
    assert response.status == 404
    assert json.loads(response.body)["error"]["code"] == "stream_not_found"
    assert len(app.hub) == 0


async def test_live_subscription_leaves_the_hub_after_the_client_left_and_the_grace_ended():
    app = make_app(stream_resume_grace=0)
    manager = WebSocketManager(hub=app.hub)
    exchange = Exchange.stream(app, "live")
    await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
    assert len(app.hub) == 1
    exchange.disconnect()
    await exchange.finished()
    await eventually(lambda: len(app.hub) == 0)
    assert await manager.broadcast(component_name="live", event="bump") == 0
    assert len(app.streams) == 0


async def test_live_subscription_stays_in_the_hub_during_the_grace():
    app = make_app(stream_resume_grace=30)
    manager = WebSocketManager(hub=app.hub)
    exchange = Exchange.stream(app, "live")
    await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
    exchange.disconnect()
    await exchange.finished()
    try:
        assert len(app.hub) == 1
        assert await manager.broadcast(component_name="live", event="bump") == 1
    finally:
        await app.shutdown()
    await eventually(lambda: len(app.hub) == 0)


async def test_live_subscription_resumed_with_last_event_id_gets_the_missed_render():
    app = make_app(stream_resume_grace=30)
    manager = WebSocketManager(hub=app.hub)
    first = Exchange.stream(app, "live")
    await first.wait_until(lambda: len(_renders(first)) >= 1)
    last_id = first.last_id
    first.disconnect()
    await first.finished()
    await manager.broadcast(component_name="live", event="bump", payload={"by": 2})
    again = Exchange.stream(app, "live", headers={"last-event-id": last_id})
    try:
        await again.wait_until(lambda: len(_renders(again)) >= 1)
        assert ">2</div>" in _renders(again)[0]
    finally:
        again.disconnect()
        await again.finished()
        await app.shutdown()


async def test_live_subscription_shares_broadcasts_with_websocket_instances():
    app = make_app(stream_resume_grace=0)
    manager = WebSocketManager(hub=app.hub)
    exchange = Exchange.stream(app, "live")
    try:
        async with websocket_connect(app, ws_path("live")) as ws:
            await ws.receive_json()
            await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
            reached = await manager.broadcast(component_name="live", event="bump")
            push = await ws.receive_json()
            await exchange.wait_until(lambda: len(_renders(exchange)) >= 2)
    finally:
        exchange.disconnect()
        await exchange.finished()
    assert reached == 2
    assert push["state"] == {"count": 1}
    assert ">1</div>" in _renders(exchange)[1]


async def test_shutdown_ends_a_live_subscription_and_leaves_the_hub():
    app = make_app(stream_resume_grace=30)
    exchange = Exchange.stream(app, "live")
    await exchange.wait_until(lambda: len(_renders(exchange)) >= 1)
    await app.shutdown()
    await exchange.wait_until(lambda: exchange.ended)
    exchange.disconnect()
    await exchange.finished()
    await eventually(lambda: len(app.hub) == 0)


async def test_live_subscriptions_on_one_page_connection_each_get_their_broadcasts():
    app = make_app(stream_resume_grace=0)
    manager = WebSocketManager(hub=app.hub)
    body = json.dumps(
        {"streams": [{"key": k, "name": "live", "query": ""} for k in ("a", "b")]}
    ).encode()
    scope = http_scope("POST", "/components/_page/", headers={"content-type": "application/json"})
    exchange = Exchange(app, scope, body=body).start()
    try:
        await exchange.wait_until(lambda: len(_renders(exchange)) >= 2)
        reached = await manager.broadcast(component_name="live", event="bump", payload={"by": 5})
        await manager.broadcast(component_name="live", event="notice", payload={"n": 1})
        await exchange.wait_until(
            lambda: (
                len(_renders(exchange)) >= 4
                and sum(e.event == "broadcast" for e in exchange.events) >= 2
            )
        )
    finally:
        exchange.disconnect()
        await exchange.finished()
    assert reached == 2
    runs = {json.loads(e.data)["run"] for e in exchange.events if e.event == "page"}
    for run in runs:  # each subscription's frames carry its own run id
        frames = [e for e in exchange.events if (e.id or "").startswith(run + ".")]
        assert [e.event for e in frames] == ["message", "message", "broadcast"]
        assert ">5</div>" in frames[1].data
    assert len(runs) == 2
