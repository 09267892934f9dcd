"""The wire forms of effects, sans-IO: the render document's ``effects`` key, the htmx
headers, the WebSocket ``effects`` message and the SSE ``effects`` frame (read back with our
own decoder)."""

from __future__ import annotations

import json

from component_framework.protocol.answer import effect_headers, render_document
from component_framework.protocol.sse import SSEDecoder, effects_frame, render_frame
from component_framework.protocol.websocket import effects_message
from tests.protocol.test_builders import FakeRender

EFFECTS = {"redirect": "/thanks", "push_url": "/shop?page=2", "trigger": {"flash": {"t": 1}}}


def test_the_render_document_has_effects_only_when_there_are_some():
    assert "effects" not in render_document(FakeRender())
    assert render_document(FakeRender(effects=EFFECTS))["effects"] == EFFECTS


def test_htmx_headers_name_each_effect():
    headers = dict(effect_headers({**EFFECTS, "trigger": {"a": 1, "b": [1]}}, "c-1"))
    assert headers[b"hx-redirect"] == b"/thanks"
    assert headers[b"hx-push-url"] == b"/shop?page=2"
    assert json.loads(headers[b"hx-trigger"]) == {
        "a": {"value": 1, "target": '[id="c-1"]'},
        "b": {"value": [1], "target": '[id="c-1"]'},
    }


def test_htmx_headers_stay_ascii_and_one_line():
    headers = effect_headers(
        {"replace_url": "/ä?x=€", "trigger": {"ü": {"text": "\u2028ä\n"}}}, 'a"b\\c'
    )
    for _, value in headers:
        value.decode("ascii")
        assert b"\n" not in value
        assert b"\r" not in value
    trigger = json.loads(dict(headers)[b"hx-trigger"])
    assert trigger["ü"]["target"] == '[id="a\\"b\\\\c"]'


def test_the_websocket_message_carries_component_and_ref():
    message = json.loads(effects_message(EFFECTS, "c-1", 7))
    assert message == {"type": "effects", "component_id": "c-1", "effects": EFFECTS, "ref": 7}


def test_the_sse_frame_is_an_effects_event_without_an_id():
    (event,) = SSEDecoder().feed(effects_frame(EFFECTS, "c-1"))
    assert (event.event, event.id) == ("effects", None)
    assert json.loads(event.data) == {"component_id": "c-1", "effects": EFFECTS}


def test_an_html_render_frame_brings_its_effects_frame_and_a_json_one_does_not():
    html = SSEDecoder().feed(render_frame(FakeRender(effects=EFFECTS), "html", "r.1"))
    assert [(e.event, e.id) for e in html] == [("message", "r.1"), ("effects", None)]
    document = SSEDecoder().feed(render_frame(FakeRender(effects=EFFECTS), "json", "r.1"))
    assert len(document) == 1
    assert json.loads(document[0].data)["effects"] == EFFECTS
