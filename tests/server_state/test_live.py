"""Server-held state on the transports that hold a component (WebSocket, SSE stream runs)
and on the ones that carry it (emitted-event batches, nested children, lazy loads): the
reference token works everywhere a snapshot does, and no state leaves the server."""

from __future__ import annotations

import json
import re

from component_framework import testing
from component_framework.core.state_store import MemoryStateStore
from component_framework.testing import websocket_connect
from tests.server_state.components import PASSWORD, app
from tests.server_state.test_http import JSON, payload_of, post


def ws_path(name: str) -> str:
    return f"/components/{name}/ws/"


async def test_websocket_renders_carry_a_reference_and_no_state() -> None:
    application = app()
    async with websocket_connect(application, ws_path("vault")) as ws:
        mounted = await ws.receive_json()
        opened = await ws.event("open")
    for message in (mounted, opened):
        assert "state" not in message
        assert PASSWORD not in json.dumps(message)
    assert payload_of(opened["snapshot"])["v"] == payload_of(mounted["snapshot"])["v"] + 1


async def test_a_socket_resumes_from_the_store_and_http_takes_over() -> None:
    application = app()
    async with websocket_connect(application, ws_path("vault")) as ws:
        await ws.receive_json()
        await ws.event("open")
        last = await ws.event("open")
    async with websocket_connect(application, ws_path("vault"), query={"join": "message"}) as ws:
        await ws.send_json({"type": "join", "snapshot": last["snapshot"], "ref": "j"})
        resumed = await ws.receive_json()
        after = await ws.event("open")
    assert "<b>2</b>" in resumed["html"]
    assert "<b>3</b>" in after["html"]
    answer = await post(application, {"event": "open", "snapshot": after["snapshot"]})
    assert answer.status == 200
    assert "<b>4</b>" in answer.json()["html"]


async def test_a_socket_joining_with_a_replayed_reference_gets_stale_state() -> None:
    application = app()
    first = (await post(application, {})).json()["snapshot"]
    await post(application, {"event": "open", "snapshot": first})
    async with websocket_connect(application, ws_path("vault"), query={"join": "message"}) as ws:
        await ws.send_json({"type": "join", "snapshot": first, "ref": "j"})
        error = await ws.receive_json()
    assert (error["type"], error["code"]) == ("error", "stale_state")


async def test_a_socket_joining_with_expired_state_gets_state_expired() -> None:
    clock = Clock()
    application = app(MemoryStateStore(clock=clock), state_ttl=5)
    snapshot = (await post(application, {})).json()["snapshot"]
    clock.now += 6
    async with websocket_connect(application, ws_path("vault"), query={"join": "message"}) as ws:
        await ws.send_json({"type": "join", "snapshot": snapshot, "ref": "j"})
        error = await ws.receive_json()
    assert (error["type"], error["code"]) == ("error", "state_expired")


async def test_an_sse_stream_run_stores_every_frame_and_sends_no_state() -> None:
    application = app()
    snapshot = (await post(application, {}, name="ticker")).json()["snapshot"]
    stream = await testing.sse_request(
        application,
        "/components/ticker/stream/",
        method="POST",
        json={"event": "run", "snapshot": snapshot, "format": "json"},
        headers=JSON,
    )
    assert stream.status == 200
    assert PASSWORD not in stream.body.decode()
    documents = [json.loads(event.data) for event in stream.events if event.data.startswith("{")]
    assert documents
    assert all("state" not in document for document in documents)
    last = documents[-1]["snapshot"]
    answer = await post(application, {"event": "run", "snapshot": last}, name="ticker")
    assert answer.status == 200
    assert "<b>6</b>" in answer.json()["html"]
    replay = await post(application, {"event": "run", "snapshot": snapshot}, name="ticker")
    assert replay.json()["error"]["code"] == "stale_state"


async def test_an_emitted_event_batch_runs_on_a_server_held_listener() -> None:
    application = app()
    mounted = (await post(application, {})).json()
    batch = {
        "events": [{"event": "knock", "payload": {}}],
        "listeners": [
            {"component": "vault", "id": mounted["component_id"], "snapshot": mounted["snapshot"]}
        ],
        "format": "json",
    }
    answer = await testing.asgi_request(
        application, "POST", "/components/_emit/", json=batch, headers=JSON
    )
    result = answer.json()["results"][0]
    assert "state" not in result
    assert "<b>10</b>" in result["html"]
    again = await testing.asgi_request(
        application, "POST", "/components/_emit/", json=batch, headers=JSON
    )
    assert again.json()["results"][0]["error"]["code"] == "stale_state"


def child_snapshot(html: str) -> str:
    """The snapshot in the drawer child's hx-vals."""
    match = re.search(r'class="drawer"[^>]*hx-vals="([^"]*)"', html)
    assert match is not None, html
    return str(json.loads(match.group(1).replace("&quot;", '"'))["snapshot"])


async def test_a_server_held_child_keeps_its_state_through_its_parents_events() -> None:
    application = app()
    shelf = (await post(application, {}, name="shelf")).json()
    assert PASSWORD not in shelf["html"]
    child = child_snapshot(shelf["html"])
    assert payload_of(child)["v"] == 1
    drawer_id = payload_of(child)["i"]
    put = await post(
        application, {"event": "put", "snapshot": child}, name="drawer"
    )  # the child's own event
    child = put.json()["snapshot"]
    again = await post(
        application,
        {"event": "add", "snapshot": shelf["snapshot"], "children": [child]},
        name="shelf",
    )
    assert again.status == 200
    html = again.json()["html"]
    assert "<u>1</u>" in html
    assert drawer_id in html
    newer = child_snapshot(html)
    assert payload_of(newer)["v"] == 3
    stale = await post(
        application,
        {"event": "add", "snapshot": again.json()["snapshot"], "children": [child]},
        name="shelf",
    )
    assert stale.status == 409
    assert stale.json()["error"]["code"] == "stale_state"


async def test_a_lazy_server_held_component_mounts_with_a_reference() -> None:
    application = app()
    lobby = (await post(application, {}, name="lobby")).json()["html"]
    match = re.search(r'hx-get="([^"]*)"', lobby)
    assert match is not None, lobby
    url = match.group(1).replace("&amp;", "&")
    path, _, query = url.partition("?")
    lazy = dict(part.split("=", 1) for part in query.split("&"))["lazy"]
    loaded = await testing.asgi_request(application, "GET", path, query={"lazy": lazy})
    assert loaded.status == 200
    assert PASSWORD not in loaded.body.decode()
    snapshot = re.search(r"snapshot&quot;:&quot;([^&]*)&quot;", loaded.body.decode())
    assert snapshot is not None
    opened = await post(application, {"event": "open", "snapshot": snapshot.group(1)})
    assert opened.status == 200
    assert "<b>1</b>" in opened.json()["html"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
