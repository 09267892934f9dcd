"""Nested components inside a parent a connection holds: over WebSocket (JSON and htmx
dialects) the children live with the parent, a child's event names it by ``component_id`` and
its render goes out as a message of its own, and the parent's re-renders (events,
broadcasts) keep every child as it is; over SSE a streaming parent keeps its children across
frames."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import asgi_request, sse_request, websocket_connect
from tests.nesting.components import make_app
from tests.nesting.wire import Root, roots

HTMX_HEADERS = {"HX-Request": "true", "HX-Trigger": "b", "HX-Target": "shelf"}


@pytest.fixture
def app() -> ComponentASGI:
    return make_app()


def children(html: str) -> list[Root]:
    return [root for root in roots(html).values() if root.parent is None]


async def child_event(ws: Any, child: Root, event: str = "inc", ref: str = "c") -> Any:
    await ws.send_json({"type": "event", "event": event, "component_id": child.id, "ref": ref})
    return await ws.receive_json()


async def test_a_child_event_over_the_parents_socket_renders_that_child_alone(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, "/components/shelf/ws/") as ws:
        first = children((await ws.receive_json())["html"])
        answer = await child_event(ws, first[0])
        assert (answer["type"], answer["ref"]) == ("render", "c")
        assert answer["component_id"] == first[0].id
        assert answer["state"]["count"] == 1
        assert answer["html"] == "<article>Shelf #1: 1</article>"


async def test_parent_events_and_broadcasts_keep_the_held_childrens_state(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, "/components/shelf/ws/") as ws:
        first = children((await ws.receive_json())["html"])
        await child_event(ws, first[0])
        await child_event(ws, first[2])
        rendered = await ws.event("bump", ref="p")
        kept = {c.id: c.content for c in children(rendered["html"])}
        assert kept == {
            first[0].id: "Shelf #1: 1",
            first[1].id: "Shelf #2: 0",
            first[2].id: "note 1",
        }
        await WebSocketManager(hub=app.hub).broadcast(component_name="shelf", event="bump")
        pushed = await ws.receive_json()
        assert pushed["state"]["renders"] == 2
        assert {c.id: c.content for c in children(pushed["html"])} == kept


async def test_props_and_removal_in_a_held_parent(app: ComponentASGI) -> None:
    async with websocket_connect(app, "/components/shelf/ws/") as ws:
        first = children((await ws.receive_json())["html"])
        await child_event(ws, first[0])
        renamed = await ws.event("rename", {"label": "Sale"})
        assert roots(renamed["html"])[first[0].id].content == "Sale #1: 1"
        removed = await ws.event("remove", {"product": 1})
        assert first[0].id not in roots(removed["html"])
        refused = await child_event(ws, first[0], ref="gone")
        assert (refused["type"], refused["code"], refused["reason"], refused["ref"]) == (
            "error",
            "invalid_child",
            "unknown_child",
            "gone",
        )
        still = await child_event(ws, first[1])
        assert still["state"]["count"] == 1


async def test_the_htmx_dialect_swaps_a_childs_render_by_its_own_id(app: ComponentASGI) -> None:
    path = "/components/shelf/ws/"
    async with websocket_connect(app, path, query={"target": "shelf"}) as ws:
        await ws.receive_json()  # the render at connect, before htmx's first message
        await ws.send_json({"HEADERS": HTMX_HEADERS, "event": "bump"})
        page = await ws.receive_text()
        assert page.startswith('<div id="shelf" hx-swap-oob="innerHTML">')
        item = next(r for r in roots(page).values() if r.name == "item")
        await ws.send_json({"HEADERS": HTMX_HEADERS, "event": "inc", "component_id": item.id})
        answer = await ws.receive_text()
        assert answer.startswith(f'<article id="{item.id}" data-component="item"')
        assert 'hx-swap-oob="outerHTML"' in answer.split(">", 1)[0]
        assert roots(answer)[item.id].content == "Shelf #1: 1"


async def test_a_held_childs_effects_follow_its_own_render(app: ComponentASGI) -> None:
    async with websocket_connect(app, "/components/shelf/ws/", query={"format": "html"}) as ws:
        item = next(r for r in roots(await ws.receive_text()).values() if r.name == "item")
        await ws.send_json({"HEADERS": HTMX_HEADERS, "event": "flash", "component_id": item.id})
        assert (await ws.receive_text()).startswith(f'<article id="{item.id}"')
        effects = await ws.receive_json()
        assert effects["type"] == "effects"
        assert effects["component_id"] == item.id
        assert effects["effects"] == {"trigger": {"flash": {"product": 1}}}


async def test_a_join_with_the_pages_children_snapshots_resumes_them(
    app: ComponentASGI,
) -> None:
    page = await asgi_request(
        app, "POST", "/components/shelf/", json={}, headers={"HX-Request": "true"}
    )
    shelf, *kids = roots(page.text).values()
    clicked = await asgi_request(
        app,
        "POST",
        "/components/item/",
        json={"event": "inc", "snapshot": kids[0].snapshot},
        headers={"HX-Request": "true"},
    )
    kids[0] = roots(clicked.text)[kids[0].id]
    async with websocket_connect(app, "/components/shelf/ws/", query={"join": "message"}) as ws:
        await ws.send_json(
            {"type": "join", "snapshot": shelf.snapshot, "children": [k.snapshot for k in kids]}
        )
        joined = await ws.receive_json()
        assert joined["component_id"] == shelf.id
        assert roots(joined["html"])[kids[0].id].content == "Shelf #1: 1"
        answer = await child_event(ws, kids[0])
        assert answer["state"]["count"] == 2


async def test_a_lazy_child_of_a_held_parent_renders_in_place(app: ComponentASGI) -> None:
    async with websocket_connect(app, "/components/page/ws/") as ws:
        (feed,) = children((await ws.receive_json())["html"])
        assert (feed.name, feed.content) == ("feed", "news 0")
        assert (await child_event(ws, feed))["state"]["count"] == 1


async def test_a_streaming_parent_keeps_its_children_across_frames(app: ComponentASGI) -> None:
    stream = await sse_request(app, "/components/ticker/stream/", query={"event": "run"})
    frames = [event for event in stream.events if event.event in ("", "message")]
    assert len(frames) == 3
    notes = [next(r for r in roots(f.data).values() if r.name == "note") for f in frames]
    assert len({note.id for note in notes}) == 1
    assert [f"tick {n}" in f.data for n, f in enumerate(frames, 1)] == [True] * 3


async def test_stream_to_without_html_re_renders_the_held_children(app: ComponentASGI) -> None:
    stream = await sse_request(app, "/components/ticker/stream/", query={"event": "redraw"})
    (render, *_) = [event for event in stream.events if event.event in ("", "message")]
    (ops,) = [json.loads(event.data) for event in stream.events if event.event == "stream"]
    note = next(r for r in roots(render.data).values() if r.name == "note")
    assert ops[0]["op"] == "replace"
    assert f'id="{note.id}"' in ops[0]["html"]
