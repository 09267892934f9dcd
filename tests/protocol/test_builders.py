"""The output builders: a render becomes the same document or fragment on every transport,
and each SSE frame builder mirrors a WebSocket message builder (same content, other framing).
Sans-IO: exact text and bytes, read back with our own decoder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from component_framework.protocol.answer import (
    ANSWER_FORMATS,
    render_document,
    render_fragment,
    render_text,
)
from component_framework.protocol.compact import compact_json, json_string
from component_framework.protocol.sse import (
    HEARTBEAT_FRAME,
    SHUTDOWN_FRAME,
    SSEDecoder,
    SSEEncodeError,
    SSEEvent,
    StreamFramer,
    broadcast_frame,
    done_frame,
    error_frame,
    render_frame,
    stream_frame,
    stream_ops,
    text_frame,
    with_retry,
)
from component_framework.protocol.websocket import (
    broadcast_message,
    done_message,
    error_message,
    htmx_render_message,
    pong_message,
    render_message,
    stream_message,
)


@dataclass
class FakeRender:
    """Anything shaped like a render feeds the builders (core's DispatchResult is one)."""

    html: str = '<div class="c">1 &lt; 2</div>'
    state: dict[str, Any] = field(default_factory=lambda: {"count": 1})
    snapshot: str = "v2.k.payload.mac"
    component_id: str = "c-1"
    component_name: str = "counter"
    errors: dict[str, list[str]] = field(default_factory=dict)
    effects: dict[str, Any] | None = None
    listens: tuple[str, ...] = ()
    server_held: bool = False
    state_text: str | None = None
    html_text: str | None = None
    snapshot_plain: bool = False
    component_id_text: str | None = None


RENDER = FakeRender()
FRAGMENT = (
    '<div class="c" id="c-1" data-component="counter" hx-target="this" hx-swap="outerHTML"'
    ' hx-vals="{&quot;snapshot&quot;:&quot;v2.k.payload.mac&quot;}">1 &lt; 2</div>'
)
DOCUMENT = {
    "html": '<div class="c">1 &lt; 2</div>',
    "state": {"count": 1},
    "snapshot": "v2.k.payload.mac",
    "component_id": "c-1",
}
ERROR = {"code": "validation_error", "message": "Enter a number.", "field": "n"}


def read_frame(wire: bytes) -> SSEEvent:
    decoder = SSEDecoder()
    events = decoder.feed(wire)
    assert len(events) == 1
    assert not decoder.pending
    return events[0]


# -- the render, whatever carries it ------------------------------------------------------------


def test_render_document_holds_html_state_snapshot_and_id() -> None:
    assert render_document(RENDER) == DOCUMENT
    assert list(render_document(RENDER)) == ["html", "state", "snapshot", "component_id"]


def test_render_document_of_server_held_state_carries_no_state() -> None:
    document = render_document(FakeRender(server_held=True))
    assert list(document) == ["html", "snapshot", "component_id"]


def test_render_document_of_a_render_with_form_errors_carries_them() -> None:
    errors = {"age": ["Enter a whole number."], "": ["The end comes before the start."]}
    document = render_document(FakeRender(errors=errors))
    assert list(document) == ["html", "state", "snapshot", "component_id", "errors"]
    assert document["errors"] == errors
    message = json.loads(render_message(FakeRender(errors=errors), 3))
    assert list(message)[-2:] == ["errors", "ref"]


def test_render_fragment_annotates_the_root_with_id_and_snapshot() -> None:
    assert render_fragment(RENDER) == FRAGMENT


def test_render_text_is_the_fragment_or_the_compact_document() -> None:
    assert render_text(RENDER, "html") == FRAGMENT
    assert render_text(RENDER, "json") == json.dumps(DOCUMENT, separators=(",", ":"))
    assert ANSWER_FORMATS == ("html", "json")


# -- SSE frames ---------------------------------------------------------------------------------


def test_render_frame_has_no_event_line_so_htmx_swaps_it_as_a_message() -> None:
    wire = render_frame(RENDER, "html", "run.1")

    assert wire == f"id: run.1\ndata: {FRAGMENT}\n\n".encode()
    assert read_frame(wire) == SSEEvent(FRAGMENT, "message", "run.1")


def test_json_render_frame_carries_the_render_document() -> None:
    event = read_frame(render_frame(RENDER, "json", "run.2"))

    assert (event.event, event.id) == ("message", "run.2")
    assert json.loads(event.data) == DOCUMENT


def test_multiline_html_becomes_one_data_line_per_line_and_reads_back_whole() -> None:
    render = FakeRender(html="<ul>\n<li>a</li>\r\n</ul>")

    event = read_frame(render_frame(render, "html", "run.3"))

    assert event.data == render_fragment(render).replace("\r\n", "\n")


def test_stream_frame_carries_the_batch_of_ops_in_order() -> None:
    ops: list[dict[str, object]] = [
        {"op": "text", "stream": "answer", "text": "a"},
        {"op": "done", "stream": "answer"},
    ]

    wire = stream_frame(ops, "run.4")

    assert wire.startswith(b"event: stream\nid: run.4\ndata: [")
    assert json.loads(read_frame(wire).data) == ops


@pytest.mark.parametrize(
    "text", ["a", "line\nbreak\r\nand CR\r", "é 😀 \u2028", '\x00\x1f"quoted"']
)
def test_a_run_s_stream_framer_writes_the_same_bytes_as_stream_frame(text: str) -> None:
    ops: list[dict[str, object]] = [{"op": "text", "stream": "out", "text": text}]

    assert StreamFramer("run").frame(ops, 17) == stream_frame(ops, "run.17")


@given(
    stream=st.sampled_from(["out", "a-b_9", "", "two words", "line\nbreak"]),
    text=st.text(st.characters(blacklist_categories=("Cs",))),
)
def test_a_stream_framer_s_text_append_is_the_frame_of_that_op(stream: str, text: str) -> None:
    op: dict[str, object] = {"op": "text", "stream": stream, "text": text, "mode": "append"}

    assert StreamFramer("run").text(stream, text, 9) == stream_frame([op], "run.9")


def test_a_stream_framer_names_the_field_of_an_unencodable_text() -> None:
    ops: list[dict[str, object]] = [{"op": "text", "stream": "out", "text": "\ud800"}]

    with pytest.raises(SSEEncodeError, match="data"):
        StreamFramer("run").frame(ops, 1)
    with pytest.raises(SSEEncodeError, match="data"):
        StreamFramer("run").text("out", "\ud800", 1)


def test_one_text_append_is_a_compact_text_frame() -> None:
    ops: list[dict[str, object]] = [
        {"op": "text", "stream": "out", "text": "Hel lo\nworld", "mode": "append"}
    ]

    wire = stream_frame(ops, "run.4")

    assert wire == b"event:t\nid:run.4\ndata:out Hel lo\ndata: world\n\n"
    assert wire == text_frame("out", "Hel lo\nworld", "run.4")
    assert stream_ops(read_frame(wire)) == ops


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "text", "stream": "out", "text": "a\rb", "mode": "append"}],  # CR: JSON keeps it
        [{"op": "text", "stream": "out", "text": "a", "mode": "replace"}],
        [{"op": "text", "stream": "out", "text": "a", "mode": "append", "target": "p"}],
        [{"op": "text", "stream": "out", "text": "a"}, {"op": "text", "stream": "x", "text": "b"}],
        [{"op": "start", "stream": "out"}],
    ],
)
def test_every_other_batch_stays_a_json_stream_frame(ops: list[dict[str, object]]) -> None:
    event = read_frame(stream_frame(ops, "run.4"))

    assert event.event == "stream"
    assert stream_ops(event) == ops


@given(
    stream=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    text=st.text(st.characters(blacklist_categories=("Cs",))),
)
def test_a_text_append_round_trips_through_the_frame_it_becomes(stream: str, text: str) -> None:
    op: dict[str, object] = {"op": "text", "stream": stream, "text": text, "mode": "append"}

    assert stream_ops(read_frame(stream_frame([op], "run.1"))) == [op]
    assert stream_ops(read_frame(StreamFramer("run").frame([op], 1))) == [op]


def test_other_frames_carry_no_stream_ops_and_a_malformed_text_frame_is_refused() -> None:
    assert stream_ops(SSEEvent("x", "done")) is None
    with pytest.raises(ValueError, match="expected '<stream> <text>'"):
        stream_ops(SSEEvent("nospace", "t"))


def test_done_frame_carries_component_id_and_snapshot() -> None:
    wire = done_frame(RENDER, "run.5")

    assert wire == (
        b'event: done\nid: run.5\ndata: {"component_id":"c-1","snapshot":"v2.k.payload.mac"}\n\n'
    )


def test_error_frame_carries_the_error_document_as_it_is() -> None:
    wire = error_frame(ERROR, "run.6")

    assert wire == (
        b'event: error\nid: run.6\ndata: {"code":"validation_error",'
        b'"message":"Enter a number.","field":"n"}\n\n'
    )


def test_broadcast_frame_forwards_event_and_payload() -> None:
    event = read_frame(broadcast_frame("tick", {"n": 1, "text": "é"}, "run.7"))

    assert (event.event, event.id) == ("broadcast", "run.7")
    assert json.loads(event.data) == {"event": "tick", "payload": {"n": 1, "text": "é"}}


def test_with_retry_puts_the_delay_on_the_frame_itself() -> None:
    """The hint rides on a real frame: no block of its own, which some clients (httpx-sse)
    would hand over as an empty message with an empty id."""
    decoder = SSEDecoder()
    frame = done_frame(RENDER, "run.9")

    wire = with_retry(frame, 3000)

    assert wire == b"retry: 3000\n" + frame
    (event,) = decoder.feed(wire)
    assert (event.event, event.id, event.retry) == ("done", "run.9", 3000)
    assert event.data == read_frame(frame).data
    assert decoder.retry == 3000


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_with_retry_refuses_what_is_not_a_delay(bad: Any) -> None:
    with pytest.raises(SSEEncodeError, match="retry"):
        with_retry(done_frame(RENDER, "run.9"), bad)


@pytest.mark.parametrize(
    "frame", [HEARTBEAT_FRAME, b"", b"data: x\n"], ids=["comment", "empty", "unfinished"]
)
def test_with_retry_refuses_what_is_not_a_frame_with_fields(frame: bytes) -> None:
    with pytest.raises(SSEEncodeError, match="retry"):
        with_retry(frame, 3000)


def test_heartbeat_is_a_comment_and_shutdown_an_event_without_id() -> None:
    decoder = SSEDecoder()

    assert HEARTBEAT_FRAME == b": keep-alive\n\n"
    assert decoder.feed(HEARTBEAT_FRAME) == []
    assert decoder.comments == 1
    assert SHUTDOWN_FRAME == (
        b'event: shutdown\ndata: {"code":"server_shutdown",'
        b'"message":"the server is shutting down"}\n\n'
    )
    assert read_frame(SHUTDOWN_FRAME).id is None


def test_a_frame_id_that_would_break_the_frame_is_refused() -> None:
    with pytest.raises(SSEEncodeError, match="'id'"):
        done_frame(RENDER, "run\n7")


# -- WebSocket messages: the same content ---------------------------------------------------------


def test_render_message_is_the_render_document_with_type_and_ref() -> None:
    text = render_message(RENDER, "r1")

    assert json.loads(text) == {"type": "render", **DOCUMENT, "ref": "r1"}
    assert list(json.loads(text)) == ["type", *DOCUMENT, "ref"]


_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_STATES = st.dictionaries(
    st.text(),
    st.recursive(_JSON_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6),
    max_size=4,
)


@given(
    html=st.text(),
    state=_STATES,
    snapshot=st.text() | st.from_regex(r"[A-Za-z0-9_.-]*", fullmatch=True),
    component_id=st.text(),
    ref=st.none() | st.integers() | st.text(),
    errors=st.sampled_from([{}, {"name": ["required"]}]),
    effects=st.sampled_from([None, {"trigger": {"saved": {}}}]),
    server_held=st.booleans(),
    written=st.booleans(),
)
def test_render_message_is_exactly_the_whole_document_encoded_at_once(
    html: str,
    state: dict[str, Any],
    snapshot: str,
    component_id: str,
    ref: str | int | None,
    errors: dict[str, list[str]],
    effects: dict[str, Any] | None,
    server_held: bool,
    written: bool,
) -> None:
    """Whether the render brings its state's, HTML's and id's texts and says its snapshot
    needs no escaping (a signed shared render) or not."""
    state_text = compact_json(state) if written and not server_held else None
    html_text, id_text = (json_string(html), json_string(component_id)) if written else (None, None)
    plain = written and json_string(snapshot) == f'"{snapshot}"'
    render = FakeRender(html, state, snapshot, component_id, "counter", errors, effects, (),
                        server_held, state_text, html_text, plain, id_text)  # fmt: skip
    whole = {"type": "render", **render_document(render), "ref": ref}

    assert render_message(render, ref) == compact_json(whole)


def test_htmx_render_message_is_the_fragment_placed_by_target() -> None:
    assert htmx_render_message(RENDER, None) == FRAGMENT
    assert htmx_render_message(RENDER, "box") == (
        f'<div id="box" hx-swap-oob="innerHTML">{FRAGMENT}</div>'
    )


def test_stream_message_is_one_op() -> None:
    op: dict[str, object] = {"op": "text", "stream": "answer", "text": "a"}

    assert stream_message(op) == '{"type":"stream","op":"text","stream":"answer","text":"a"}'


def test_done_message_mirrors_the_done_frame() -> None:
    text = done_message(RENDER, 7)

    assert text == '{"type":"done","ref":7,"component_id":"c-1","snapshot":"v2.k.payload.mac"}'
    done = json.loads(read_frame(done_frame(RENDER, "run.1")).data)
    assert {key: value for key, value in json.loads(text).items() if key in done} == done


def test_error_message_puts_ref_after_code_and_message_then_the_rest() -> None:
    text = error_message(ERROR, "r2")

    assert text == (
        '{"type":"error","code":"validation_error","message":"Enter a number.",'
        '"ref":"r2","field":"n"}'
    )


def test_error_message_carries_the_same_document_as_the_error_frame() -> None:
    message = json.loads(error_message(ERROR, None))
    frame = json.loads(read_frame(error_frame(ERROR, "run.1")).data)

    assert {key: value for key, value in message.items() if key not in ("type", "ref")} == frame


def test_broadcast_message_mirrors_the_broadcast_frame() -> None:
    payload = {"n": 1}

    message = json.loads(broadcast_message("tick", payload))
    frame = json.loads(read_frame(broadcast_frame("tick", payload, "run.1")).data)

    assert message == {"type": "broadcast", **frame}


def test_pong_answers_with_the_ref() -> None:
    assert pong_message(None) == '{"type":"pong","ref":null}'
