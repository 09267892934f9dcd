"""The handshake: accept and initial render, mount/resume from the query, every refusal in
both denial styles, the Origin check and refusals during shutdown."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.testing import ApplicationCommunicator

from component_framework import ComponentASGI
from component_framework.testing import (
    ComponentTestClient,
    WebSocketDenied,
    websocket_connect,
    websocket_scope,
)
from tests.websocket.helpers import make_app, ws_path

FOREIGN = {"origin": "https://evil.example", "host": "app.example"}


async def test_connect_accepts_and_sends_the_initial_render_without_ref(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        assert ws.accepted["type"] == "websocket.accept"
        first = await ws.receive_json()
    assert first["type"] == "render"
    assert first["ref"] is None
    assert first["state"] == {"count": 0}
    assert first["component_id"].startswith("counter-")
    assert first["snapshot"]
    assert '<span class="count">0</span>' in first["html"]


async def test_loose_query_fields_are_mount_params(app: ComponentASGI):
    async with websocket_connect(app, ws_path("greeter"), query={"name": "Bob"}) as ws:
        first = await ws.receive_json()
    assert first["type"] == "render"
    assert first["state"] == {"name": "Bob", "excited": False}
    assert first["html"] == "<p>Hello Bob</p>"


async def test_snapshot_from_an_http_answer_resumes_the_same_component(app: ComponentASGI):
    session = await ComponentTestClient(app).mount("counter")
    await session.send("increment")
    await session.send("increment")
    query = {"snapshot": session.snapshot}
    async with websocket_connect(app, ws_path("counter"), query=query) as ws:
        first = await ws.receive_json()
    assert first["type"] == "render"
    assert first["component_id"] == session.component_id
    assert first["state"] == {"count": 2}


async def test_snapshot_from_a_websocket_render_resumes_the_same_component(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        answer = await ws.event("increment", ref="r")
    query = {"snapshot": answer["snapshot"]}
    async with websocket_connect(app, ws_path("counter"), query=query) as ws:
        first = await ws.receive_json()
        again = await ws.event("increment", ref="r2")
    assert first["component_id"] == answer["component_id"]
    assert first["state"] == {"count": 1}
    assert again["state"] == {"count": 2}


async def test_tampered_snapshot_in_the_query_is_refused_with_400(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        snapshot = (await ws.receive_json())["snapshot"]
    tampered = snapshot[:-4] + ("AAAA" if not snapshot.endswith("AAAA") else "BBBB")
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), query={"snapshot": tampered}):
            pass
    assert denied.value.status == 400
    assert denied.value.json()["error"]["code"] == "invalid_snapshot"


async def test_loose_query_fields_with_a_snapshot_are_refused_with_422(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        snapshot = (await ws.receive_json())["snapshot"]
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(
            app, ws_path("counter"), query={"snapshot": snapshot, "extra": "1"}
        ):
            pass
    assert denied.value.status == 422
    error = denied.value.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "extra"


async def test_event_in_the_query_is_refused_with_400(app: ComponentASGI):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), query={"event": "increment"}):
            pass
    assert denied.value.status == 400
    assert denied.value.json()["error"]["code"] == "malformed_request"


async def test_unknown_answer_format_is_refused_with_422(app: ComponentASGI):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), query={"format": "xml"}):
            pass
    assert denied.value.status == 422
    assert denied.value.json()["error"]["field"] == "format"


async def test_invalid_htmx_target_is_refused_with_422(app: ComponentASGI):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), query={"target": "1<bad>"}):
            pass
    assert denied.value.status == 422
    assert denied.value.json()["error"]["field"] == "target"


async def test_unknown_component_is_refused_with_a_404_json_answer(app: ComponentASGI):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("nope")):
            pass
    assert denied.value.status == 404
    assert denied.value.json()["error"]["code"] == "component_not_found"


async def test_denial_without_the_http_response_extension_is_a_close_1008(app: ComponentASGI):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("nope"), denial_response=False):
            pass
    assert denied.value.status is None
    assert denied.value.code == 1008
    assert "nope" in denied.value.reason


async def test_denial_by_http_response_sends_status_headers_and_json_body(app: ComponentASGI):
    scope = websocket_scope(ws_path("nope"))
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "websocket.connect"})
    start = await communicator.receive_output(timeout=3)
    body = await communicator.receive_output(timeout=3)
    await communicator.wait(timeout=3)
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 404
    assert (b"content-type", b"application/json") in start["headers"]
    assert body["type"] == "websocket.http.response.body"
    assert body["more_body"] is False
    assert b'"component_not_found"' in body["body"]


async def test_foreign_origin_is_refused_with_403(app: ComponentASGI):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), headers=FOREIGN):
            pass
    assert denied.value.status == 403
    assert denied.value.json()["error"]["code"] == "forbidden"


async def test_foreign_origin_without_the_extension_is_a_close_1008(app: ComponentASGI):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(
            app, ws_path("counter"), headers=FOREIGN, denial_response=False
        ):
            pass
    assert denied.value.code == 1008


async def test_close_reason_of_a_refusal_fits_in_a_close_frame(app: ComponentASGI):
    scope = websocket_scope(ws_path("counter"), denial_response=False)
    scope["headers"] = [(b"origin", "https://é".encode("latin-1") * 40), (b"host", b"app")]
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "websocket.connect"})
    close = await communicator.receive_output(timeout=3)
    await communicator.wait(timeout=3)
    assert close["type"] == "websocket.close"
    assert close["code"] == 1008
    assert len(close["reason"].encode()) <= 123


async def test_origin_of_the_same_host_is_accepted(app: ComponentASGI):
    headers = {"origin": "https://app.example", "host": "app.example"}
    async with websocket_connect(app, ws_path("counter"), headers=headers) as ws:
        assert (await ws.receive_json())["type"] == "render"


async def test_handshake_without_origin_is_accepted(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter"), headers={"host": "app.example"}) as ws:
        assert (await ws.receive_json())["type"] == "render"


async def test_origin_listed_in_allowed_origins_is_accepted():
    app = make_app(allowed_origins=("https://other.example",))
    headers = {"origin": "https://other.example", "host": "app.example"}
    async with websocket_connect(app, ws_path("counter"), headers=headers) as ws:
        assert (await ws.receive_json())["type"] == "render"


async def test_origin_not_listed_in_allowed_origins_is_still_refused():
    app = make_app(allowed_origins=("https://other.example",))
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), headers=FOREIGN):
            pass
    assert denied.value.status == 403


async def test_allowed_origins_star_accepts_any_origin():
    app = make_app(allowed_origins="*")
    async with websocket_connect(app, ws_path("counter"), headers=FOREIGN) as ws:
        assert (await ws.receive_json())["type"] == "render"


async def test_handshake_during_shutdown_is_refused_with_503(app: ComponentASGI):
    await app.shutdown()
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter")):
            pass
    assert denied.value.status == 503
    assert denied.value.json()["error"]["code"] == "service_unavailable"


async def test_handshake_during_shutdown_without_the_extension_is_a_close_1012(
    app: ComponentASGI,
):
    await app.shutdown()
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), denial_response=False):
            pass
    assert denied.value.code == 1012


async def test_first_message_other_than_connect_ends_the_exchange_quietly(app: ComponentASGI):
    communicator = ApplicationCommunicator(app, websocket_scope(ws_path("counter")))
    await communicator.send_input({"type": "websocket.disconnect", "code": 1001})
    await communicator.wait(timeout=3)
    assert await communicator.receive_nothing(timeout=0.05)
    assert len(app.hub) == 0


async def test_refused_handshake_leaves_no_member_in_the_hub(app: ComponentASGI):
    with pytest.raises(WebSocketDenied):
        async with websocket_connect(app, ws_path("counter"), headers=FOREIGN):
            pass
    await asyncio.sleep(0)
    assert len(app.hub) == 0
