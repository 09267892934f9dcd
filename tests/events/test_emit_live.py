"""Emitted events and live components: a WebSocket or live SSE connection that names the
page (``page``, as the client runtime does) hears the events emitted on that page (by an HTTP
request naming it in ``X-Component-Page``, by another live component, or by a batch), runs
them as its client's own events and pushes the render; a component that does not list the
event, or another page, hears nothing; a cycle of listeners stops after a bounded chain."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from component_framework.core.events import MAX_EMIT_DEPTH
from component_framework.core.hub import Broadcast
from component_framework.testing import (
    WebSocketTestSession,
    asgi_request,
    sse_request,
    websocket_scope,
)
from tests.events.components import PAGE, make_app

WAIT = 5.0
HOST = {"host": "shop.example"}
QUIET = 0.2  # long enough for a push that is not coming


def socket(app: Any, name: str, page: str | None = PAGE) -> WebSocketTestSession:
    query = {"_page": page} if page else None
    scope = websocket_scope(f"/components/{name}/ws/", headers=HOST, query=query)
    return WebSocketTestSession(app, scope, WAIT)


async def add_over_http(app: Any, qty: int = 2, page: str = PAGE) -> Any:
    mounted = await asgi_request(app, "POST", "/components/item/", json={}, headers=HOST)
    body = {"event": "add", "payload": {"qty": qty}, "snapshot": mounted.json()["snapshot"]}
    headers = {**HOST, "x-component-page": page}
    return await asgi_request(app, "POST", "/components/item/", json=body, headers=headers)


async def nothing_more(ws: WebSocketTestSession) -> bool:
    try:
        await asyncio.wait_for(ws.receive(), QUIET)
    except TimeoutError:
        return True
    return False


async def test_a_live_listener_of_the_page_gets_an_http_emit_server_side():
    app = make_app()
    async with socket(app, "cart") as ws:
        await ws.receive_json()
        answer = await add_over_http(app)
        assert answer.json()["effects"]["emit"] == [{"event": "added", "payload": {"qty": 2}}]
        pushed = await ws.receive_json()
    assert (pushed["type"], pushed["state"], pushed["ref"]) == ("render", {"total": 2}, None)


async def test_a_live_component_that_does_not_list_the_event_neither_runs_nor_renders():
    app = make_app()
    async with socket(app, "bystander") as ws:
        await ws.receive_json()
        await add_over_http(app)
        assert await nothing_more(ws)
        again = await ws.event("added", {"qty": 1})  # its client may still send it
    assert again["state"] == {"total": 1}


async def test_a_live_listener_of_another_page_hears_nothing():
    app = make_app()
    async with socket(app, "cart", page="another-page-42") as ws:
        await ws.receive_json()
        await add_over_http(app)
        assert await nothing_more(ws)


async def test_a_live_listener_without_a_page_hears_nothing():
    app = make_app()
    async with socket(app, "cart", page=None) as ws:
        await ws.receive_json()
        await add_over_http(app)
        assert await nothing_more(ws)


async def test_a_payload_that_does_not_fit_a_live_listener_is_its_own_error():
    app = make_app()
    async with socket(app, "cart") as ws, socket(app, "item") as item:
        await ws.receive_json()
        await item.receive_json()
        sent = await item.event("send", {"event": "added", "payload": {"qty": "many"}})
        assert sent["effects"] == {"emit": [{"event": "added", "payload": {"qty": "many"}}]}
        refused = await ws.receive_json()
        assert (refused["type"], refused["code"], refused["field"]) == (
            "error",
            "validation_error",
            "qty",
        )
        after = await ws.event("removed", {"qty": 1})
    assert after["state"] == {"total": -1}  # the session goes on, nothing was applied


async def test_a_live_emitter_reaches_live_listeners_and_tells_its_client_for_the_rest():
    app = make_app()
    async with socket(app, "item") as item, socket(app, "badge") as badge:
        await item.receive_json()
        await badge.receive_json()
        answer = await item.event("add", {"qty": 3}, ref=7)
        assert answer["effects"] == {"emit": [{"event": "added", "payload": {"qty": 3}}]}
        assert (await badge.receive_json())["state"] == {"total": 3}


async def test_authorization_applies_to_a_live_listener():
    app = make_app()
    async with socket(app, "locked") as ws:
        await ws.receive_json()
        await add_over_http(app)
        refused = await ws.receive_json()
    assert (refused["type"], refused["code"]) == ("error", "forbidden")


async def test_a_cycle_of_listeners_stops_after_a_bounded_chain(caplog):
    app = make_app()
    async with socket(app, "echo") as ws:
        await ws.receive_json()
        await ws.event("start")
        counts = [(await ws.receive_json())["state"]["pings"] for _ in range(MAX_EMIT_DEPTH)]
        assert await nothing_more(ws)
    assert counts == list(range(1, MAX_EMIT_DEPTH + 1))
    assert "chain of emitted events reached" in caplog.text


async def test_a_batch_naming_the_page_passes_a_listeners_own_emits_to_live_listeners():
    app = make_app()
    mounted = (await asgi_request(app, "POST", "/components/relay/", json={}, headers=HOST)).json()
    relay = {"component": "relay", "id": mounted["component_id"], "snapshot": mounted["snapshot"]}
    body = {"events": [{"event": "added", "payload": {"qty": 5}}], "listeners": [relay]}
    async with socket(app, "tally") as ws:
        await ws.receive_json()
        await asgi_request(app, "POST", "/components/_emit/", json=body, headers=HOST)
        assert await nothing_more(ws)  # no page named: the runtime would deliver it
        body["page"] = PAGE
        await asgi_request(app, "POST", "/components/_emit/", json=body, headers=HOST)
        assert (await ws.receive_json())["state"] == {"total": 5}


async def live_cart_stream(app: Any, frames: int, **page: Any) -> asyncio.Task[Any]:
    """A live SSE subscription to ``live_cart`` reading ``frames`` frames; ``page``: how it
    names its page (``query``, as an EventSource must, or ``headers``, as htmx 4 does)."""
    query = {"format": "json", **page.get("query", {})}
    stream = asyncio.create_task(
        sse_request(
            app,
            "/components/live_cart/stream/",
            query=query,
            headers={**HOST, **page.get("headers", {})},
            max_events=frames,
            give_up_after=WAIT,
        )
    )
    for _ in range(100):
        if len(app.hub):
            break
        await asyncio.sleep(0.01)
    return stream


async def test_a_live_sse_listener_gets_the_event_in_its_stream():
    app = make_app()
    stream = await live_cart_stream(app, 3, query={"_page": PAGE})
    await add_over_http(app, qty=4)
    listening, *renders = (await stream).events
    assert (listening.event, json.loads(listening.data)) == ("listening", {"page": PAGE})
    assert [json.loads(e.data)["state"] for e in renders] == [{"total": 0}, {"total": 4}]


async def test_a_live_stream_names_its_page_in_the_header_htmx_4_sends():
    app = make_app()
    stream = await live_cart_stream(app, 3, headers={"x-component-page": PAGE})
    await add_over_http(app, qty=4)
    listening, *renders = (await stream).events
    assert listening.event == "listening"
    assert json.loads(renders[-1].data)["state"] == {"total": 4}


async def test_a_live_stream_without_a_page_says_nothing_of_listening():
    app = make_app()
    stream = await live_cart_stream(app, 1)
    (render,) = (await stream).events
    assert (render.event, json.loads(render.data)["state"]) == ("message", {"total": 0})


async def test_a_live_sse_listener_keeps_the_emitted_state_in_its_next_broadcast_push():
    app = make_app()
    stream = await live_cart_stream(app, 4, query={"_page": PAGE})
    await add_over_http(app, qty=4)  # queued in the session before the broadcast
    await app.hub.broadcast(Broadcast("removed", {"qty": 1}, component_name="live_cart"))
    states = [json.loads(event.data)["state"] for event in (await stream).events[1:]]
    assert states == [{"total": 0}, {"total": 4}, {"total": 3}]


async def test_an_event_emitted_before_the_socket_joins_runs_after_the_join():
    app = make_app()
    scope = websocket_scope(
        "/components/cart/ws/", headers=HOST, query={"_page": PAGE, "join": "message"}
    )
    async with WebSocketTestSession(app, scope, WAIT) as ws:
        await add_over_http(app, qty=2)  # accepted, not joined yet: no component to run on
        await ws.send_json({"type": "join", "params": {}})
        joined, pushed = await ws.receive_json(), await ws.receive_json()
    assert (joined["state"], pushed["state"], pushed["ref"]) == ({"total": 0}, {"total": 2}, None)


async def test_events_held_before_the_join_are_bounded_by_the_sessions_queue():
    app = make_app(ws_inbox_messages=2)
    scope = websocket_scope(
        "/components/cart/ws/", headers=HOST, query={"_page": PAGE, "join": "message"}
    )
    async with WebSocketTestSession(app, scope, WAIT) as ws:
        for _ in range(3):
            await add_over_http(app, qty=1)
        closed = await ws.receive()
    assert (closed["type"], closed["code"]) == ("websocket.close", 1013)


@pytest.mark.parametrize(
    "names_page",
    [{"query": {"_page": PAGE}}, {"headers": {"x-component-page": PAGE}}],
    ids=["url", "header"],
)
async def test_what_a_stream_handler_emits_reaches_the_pages_live_listeners(names_page):
    app = make_app()
    async with socket(app, "cart") as ws:
        await ws.receive_json()
        answer = await sse_request(
            app,
            "/components/packer/stream/",
            query={"qty": 3, **names_page.get("query", {})},
            headers={**HOST, **names_page.get("headers", {})},
            give_up_after=WAIT,
        )
        # The page id is never the handler's field: it ran with its own payload.
        assert [event.event for event in answer.events] == ["message", "effects", "done"]
        assert (await ws.receive_json())["state"] == {"total": 3}
