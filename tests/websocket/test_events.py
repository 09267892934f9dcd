"""Client messages on an open socket: events, errors that keep the socket open, ping, join."""

from __future__ import annotations

import json
from typing import Any

from component_framework import ComponentASGI
from component_framework.testing import WebSocketTestSession, websocket_connect
from tests.websocket.helpers import ws_path


async def _opened(ws: WebSocketTestSession) -> dict[str, Any]:
    first = await ws.receive_json()
    assert first["type"] == "render", first
    return first


async def _still_usable(ws: WebSocketTestSession, expected_count: int = 1) -> None:
    answer = await ws.event("increment", ref="check")
    assert answer["type"] == "render"
    assert answer["ref"] == "check"
    assert answer["state"] == {"count": expected_count}


async def test_event_with_string_ref_answers_a_render_with_that_ref(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        first = await _opened(ws)
        answer = await ws.event("increment", ref="r1")
    assert answer["type"] == "render"
    assert answer["ref"] == "r1"
    assert answer["state"] == {"count": 1}
    assert answer["component_id"] == first["component_id"]
    assert answer["snapshot"] != first["snapshot"]
    assert '<span class="count">1</span>' in answer["html"]


async def test_int_ref_is_echoed_as_an_int(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        answer = await ws.event("increment", ref=42)
    assert answer["ref"] == 42


async def test_event_without_ref_answers_with_ref_null(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        answer = await ws.event("increment")
    assert answer["type"] == "render"
    assert answer["ref"] is None
    assert answer["state"] == {"count": 1}


async def test_async_handler_runs_and_its_state_is_rendered(app: ComponentASGI):
    async with websocket_connect(app, ws_path("sentiment")) as ws:
        await _opened(ws)
        answer = await ws.event("analyze", {"text": "good day"}, ref="a")
    assert answer["type"] == "render"
    assert answer["ref"] == "a"
    assert answer["state"] == {"text": "good day", "score": 0.8}


async def test_payload_strings_are_coerced_to_the_handler_types(app: ComponentASGI):
    async with websocket_connect(app, ws_path("typed")) as ws:
        await _opened(ws)
        answer = await ws.event("numbers", {"count": "3", "ratio": "0.5", "flag": "true"}, ref=1)
    assert answer["type"] == "render"
    assert answer["state"]["last"] == {"count": 3, "ratio": 0.5, "flag": True}


async def test_payload_that_does_not_fit_is_a_validation_error_naming_the_field(
    app: ComponentASGI,
):
    async with websocket_connect(app, ws_path("typed")) as ws:
        await _opened(ws)
        answer = await ws.event("numbers", {"count": "many", "ratio": 1.0}, ref="v")
    assert answer["type"] == "error"
    assert answer["code"] == "validation_error"
    assert answer["field"] == "count"
    assert answer["ref"] == "v"


async def test_validation_error_raised_by_the_handler_names_its_field(app: ComponentASGI):
    async with websocket_connect(app, ws_path("typed")) as ws:
        await _opened(ws)
        answer = await ws.event("validate", {"text": "   "}, ref="v")
        after = await ws.event("validate", {"text": "ok"}, ref="w")
    assert answer["code"] == "validation_error"
    assert answer["field"] == "text"
    assert after["type"] == "render"
    assert after["state"]["last"] == "ok"


async def test_unknown_event_is_event_not_found(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        answer = await ws.event("explode", ref="u")
        await _still_usable(ws)
    assert answer["type"] == "error"
    assert answer["code"] == "event_not_found"
    assert answer["ref"] == "u"


async def test_private_method_is_not_an_event(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        answer = await ws.event("_secret", ref="p")
        await _still_usable(ws)  # the count is 1, not -1: _secret never ran
    assert answer["code"] == "event_not_found"


async def test_mount_is_not_an_event(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        await ws.event("increment")
        answer = await ws.event("mount", ref="m")
        await _still_usable(ws, expected_count=2)  # mount did not reset the count
    assert answer["type"] == "error"
    assert answer["code"] == "event_not_found"


async def test_handler_exception_is_a_generic_handler_error(app: ComponentASGI):
    async with websocket_connect(app, ws_path("broken")) as ws:
        await _opened(ws)
        answer = await ws.event("boom", ref="b")
    assert answer["type"] == "error"
    assert answer["code"] == "handler_error"
    assert answer["ref"] == "b"
    assert "secret internal detail" not in json.dumps(answer)


async def test_socket_keeps_working_after_a_handler_exception(app: ComponentASGI):
    async with websocket_connect(app, ws_path("broken")) as ws:
        first = await _opened(ws)
        await ws.event("boom", ref="b")
        await ws.send_json({"type": "ping", "ref": "p"})
        pong = await ws.receive_json()
        await ws.send_json({"type": "join", "ref": "j"})
        rejoined = await ws.receive_json()
    assert pong == {"type": "pong", "ref": "p"}
    assert rejoined["type"] == "render"
    assert rejoined["state"] == first["state"]


async def test_unserialisable_state_is_an_error_and_the_socket_goes_on(app: ComponentASGI):
    async with websocket_connect(app, ws_path("broken")) as ws:
        await _opened(ws)
        answer = await ws.event("unserialisable", ref="x")
        await ws.send_json({"type": "ping", "ref": "p"})
        pong = await ws.receive_json()
    assert answer["type"] == "error"
    assert answer["ref"] == "x"
    assert pong == {"type": "pong", "ref": "p"}


async def _malformed(app: ComponentASGI, text: str) -> dict[str, Any]:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        await ws.send_text(text)
        answer = await ws.receive_json()
        await _still_usable(ws)
    assert answer["type"] == "error"
    return answer


async def test_non_json_text_is_malformed_request(app: ComponentASGI):
    answer = await _malformed(app, "not json at all")
    assert answer["code"] == "malformed_request"
    assert answer["ref"] is None


async def test_json_array_is_malformed_request(app: ComponentASGI):
    answer = await _malformed(app, '[{"type": "event", "event": "increment"}]')
    assert answer["code"] == "malformed_request"


async def test_unknown_message_type_is_malformed_request_with_ref(app: ComponentASGI):
    answer = await _malformed(app, '{"type": "subscribe", "ref": "t"}')
    assert answer["code"] == "malformed_request"
    assert answer["ref"] == "t"


async def test_event_message_without_event_name_is_malformed_request(app: ComponentASGI):
    answer = await _malformed(app, '{"type": "event", "payload": {}, "ref": "e"}')
    assert answer["code"] == "malformed_request"
    assert answer["ref"] == "e"


async def test_ref_of_a_wrong_type_is_malformed_request(app: ComponentASGI):
    answer = await _malformed(app, '{"type": "event", "event": "increment", "ref": [1]}')
    assert answer["code"] == "malformed_request"
    assert answer["ref"] is None


async def test_ref_longer_than_128_characters_is_malformed_request(app: ComponentASGI):
    message = {"type": "event", "event": "increment", "ref": "r" * 129}
    answer = await _malformed(app, json.dumps(message))
    assert answer["code"] == "malformed_request"


async def test_json_nested_too_deep_is_malformed_request(app: ComponentASGI):
    deep: Any = 1
    for _ in range(40):
        deep = {"a": deep}
    message = {"type": "event", "event": "increment", "payload": {"deep": deep}}
    answer = await _malformed(app, json.dumps(message))
    assert answer["code"] == "malformed_request"


async def test_binary_frame_is_unsupported_media_type(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        await ws.send_bytes(b'{"type": "ping"}')
        answer = await ws.receive_json()
        await _still_usable(ws)
    assert answer["type"] == "error"
    assert answer["code"] == "unsupported_media_type"


async def test_ping_answers_pong_with_the_ref(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        await ws.send_json({"type": "ping", "ref": 7})
        pong = await ws.receive_json()
    assert pong == {"type": "pong", "ref": 7}


async def test_join_with_params_replaces_the_component(app: ComponentASGI):
    async with websocket_connect(app, ws_path("greeter"), query={"name": "Bob"}) as ws:
        first = await _opened(ws)
        await ws.send_json({"type": "join", "params": {"name": "Ann", "excited": True}, "ref": 3})
        joined = await ws.receive_json()
    assert joined["type"] == "render"
    assert joined["ref"] == 3
    assert joined["state"] == {"name": "Ann", "excited": True}
    assert joined["component_id"] != first["component_id"]


async def test_join_with_a_snapshot_resumes_that_state(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        first = await _opened(ws)
        await ws.event("increment")
        kept = await ws.event("increment")
        await ws.event("increment")
        await ws.send_json({"type": "join", "snapshot": kept["snapshot"], "ref": "j"})
        resumed = await ws.receive_json()
        after = await ws.event("increment", ref="n")
    assert resumed["type"] == "render"
    assert resumed["ref"] == "j"
    assert resumed["component_id"] == first["component_id"]
    assert resumed["state"] == {"count": 2}
    assert after["state"] == {"count": 3}


async def test_join_with_a_bad_snapshot_is_an_error_and_keeps_the_component(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        await ws.event("increment")
        await ws.send_json({"type": "join", "snapshot": "v1.forged.token", "ref": "j"})
        answer = await ws.receive_json()
        await _still_usable(ws, expected_count=2)
    assert answer["type"] == "error"
    assert answer["code"] == "invalid_snapshot"
    assert answer["ref"] == "j"


async def test_failed_mount_at_connect_is_an_error_message(app: ComponentASGI):
    async with websocket_connect(app, ws_path("greeter")) as ws:
        first = await ws.receive_json()
    assert first["type"] == "error"
    assert first["code"] == "validation_error"
    assert first["field"] == "name"
    assert first["ref"] is None


async def test_event_after_a_failed_mount_is_not_joined_until_a_join(app: ComponentASGI):
    async with websocket_connect(app, ws_path("greeter")) as ws:
        await ws.receive_json()
        refused = await ws.event("anything", ref="e")
        await ws.send_json({"type": "join", "params": {"name": "Cy"}, "ref": "j"})
        joined = await ws.receive_json()
    assert refused["type"] == "error"
    assert refused["code"] == "not_joined"
    assert refused["ref"] == "e"
    assert joined["type"] == "render"
    assert joined["state"]["name"] == "Cy"


async def test_events_are_processed_in_order(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await _opened(ws)
        for index in range(30):
            await ws.send_json({"type": "event", "event": "increment", "ref": index})
        answers = [await ws.receive_json() for _ in range(30)]
    assert [answer["ref"] for answer in answers] == list(range(30))
    assert [answer["state"]["count"] for answer in answers] == list(range(1, 31))


async def test_async_events_are_processed_in_order(app: ComponentASGI):
    async with websocket_connect(app, ws_path("sentiment")) as ws:
        await _opened(ws)
        texts = [f"text {index}" for index in range(10)]
        for index, text in enumerate(texts):
            await ws.send_json({"type": "event", "event": "analyze", "payload": {"text": text},
                                "ref": index})  # fmt: skip
        answers = [await ws.receive_json() for _ in texts]
    assert [answer["ref"] for answer in answers] == list(range(10))
    assert [answer["state"]["text"] for answer in answers] == texts
