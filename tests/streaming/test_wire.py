"""What an SSE exchange puts on the wire: headers, framing, ids, the final frames, the JSON
format, stream operations, and the JSON errors answered before any frame."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from component_framework.protocol.sse import SSEEvent, stream_ops
from component_framework.testing import asgi_request, sse_request
from tests.streaming import stream_components
from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange, stream_scope
from tests.streaming.stream_components import SECRET_DETAIL, pacer

# Markup, an ampersand, quotes, a newline and non-ASCII: all of it must arrive as text.
TOKENS_TEXT = "Hello <b>bold</b> & 'quoted' \"text\"\nsecond line: ünïcödé ✓ 🚀"


def raw_blocks(body: bytes) -> list[list[str]]:
    """The body split into frames (blank-line separated), each as its lines."""
    return [block.split("\n") for block in body.decode().split("\n\n") if block]


def field_values(block: list[str], name: str) -> list[str]:
    prefix = f"{name}: "
    return [line[len(prefix) :] for line in block if line.startswith(prefix)]


#: The frames that carry stream ops: JSON batches and compact text appends.
OP_FRAMES = frozenset({"stream", "t"})


def ops_of(events: list[SSEEvent]) -> list[dict[str, Any]]:
    """Every stream op of the ``stream`` and compact text frames, in order."""
    ops: list[dict[str, Any]] = []
    for event in events:
        batch = stream_ops(event)
        if batch is not None:
            assert batch, "a stream frame carries at least one op"
            ops.extend(batch)
    return ops


@pytest.mark.parametrize("slash", ["/", ""], ids=["slash", "no-slash"])
async def test_headers_retry_hint_ids_and_done_frame(streams: Streams, slash: str) -> None:
    app = streams.app(stream_retry_ms=1500)
    pacer.grant("wire", 3)
    scope = stream_scope(
        "paced", query={"tag": "wire", "steps": 3}, path=f"/components/paced/stream{slash}"
    )
    exchange = await streams.track(Exchange(app, scope).start()).run_to_end()

    assert exchange.status == 200
    assert exchange.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert exchange.headers["cache-control"] == "no-cache"
    assert exchange.headers["x-accel-buffering"] == "no"
    bodies = [m for m in exchange.messages if m["type"] == "http.response.body"]
    assert bodies[0]["body"] == b"", "an empty body sends the head out at once"
    assert bodies[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert all(m["more_body"] for m in bodies[:-1])

    frames = raw_blocks(exchange.body)
    # The retry hint rides on the first frame: a block of its own would reach httpx-sse's
    # callers as an empty message with an empty id.
    assert frames[0][0] == "retry: 1500", frames[0]
    assert not any(line.startswith("retry") for block in frames[1:] for line in block)
    assert exchange.events[0].retry == 1500
    assert len(frames) == 4, frames  # three renders, then done
    run_ids = set()
    for index, block in enumerate(frames, start=1):
        (frame_id,) = field_values(block, "id")
        run_id, _, seq = frame_id.rpartition(".")
        assert run_id
        assert seq == str(index)
        run_ids.add(run_id)
        assert field_values(block, "data"), f"frame without data: {block}"
    assert len(run_ids) == 1
    for block in frames[:3]:  # renders: no event line, so their type is "message"
        assert not any(line.startswith("event") for line in block), block
    assert field_values(frames[3], "event") == ["done"]

    events = exchange.events
    assert [e.event for e in events] == ["message", "message", "message", "done"]
    # Multi-line HTML is framed as several data lines and decodes back whole.
    assert len(field_values(frames[0], "data")) == 4
    assert "<p>step 1</p>" in events[0].data
    assert "<p>step 3</p>" in events[2].data
    done = json.loads(events[3].data)
    assert set(done) == {"component_id", "snapshot"}
    assert done["component_id"] in events[0].data  # the render's root carries the id


async def test_done_snapshot_continues_over_http(streams: Streams) -> None:
    app = streams.app()
    pacer.grant("next", 2)
    exchange = await streams.open(app, "paced", query={"tag": "next", "steps": 2}).run_to_end()
    done = json.loads(exchange.events[-1].data)

    response = await asgi_request(
        app, "POST", "/components/paced/", json={"event": "bump", "snapshot": done["snapshot"]}
    )

    assert response.status == 200, response.text
    answer = response.json()
    assert answer["state"] == {"tag": "next", "step": 2, "bumps": 1}
    assert answer["component_id"] == done["component_id"]


async def test_post_with_a_json_body_streams(streams: Streams) -> None:
    app = streams.app()
    exchange = await streams.open(
        app, "paced", method="POST", json_body={"event": "run", "tag": "post", "steps": 1}
    ).run_to_end()

    assert exchange.status == 200
    assert [e.event for e in exchange.events] == ["message", "done"]
    assert "<p>post</p>" in exchange.events[0].data


async def test_post_with_a_payload_object_streams(streams: Streams) -> None:
    app = streams.app()
    body = {"payload": {"tag": "object", "steps": 1}}
    response = await sse_request(app, "/components/paced/stream/", method="POST", json=body)

    assert response.status == 200
    assert [e.event for e in response.events] == ["message", "done"]


def assert_json_render(event: SSEEvent, step: int) -> dict[str, Any]:
    assert event.event == "message"
    document: dict[str, Any] = json.loads(event.data)
    assert set(document) == {"html", "state", "snapshot", "component_id"}
    assert document["state"]["step"] == step
    assert f"<p>step {step}</p>" in document["html"]
    return document


async def test_json_format_over_post(streams: Streams) -> None:
    app = streams.app()
    pacer.grant("json-post", 2)
    exchange = await streams.open(
        app,
        "paced",
        method="POST",
        query={"format": "json"},
        json_body={"tag": "json-post", "steps": 2},
    ).run_to_end()

    assert [e.event for e in exchange.events] == ["message", "message", "done"]
    first = assert_json_render(exchange.events[0], 1)
    second = assert_json_render(exchange.events[1], 2)
    done = json.loads(exchange.events[2].data)
    assert first["component_id"] == second["component_id"] == done["component_id"]


async def test_json_format_over_get(streams: Streams) -> None:
    """``?format=json`` selects the frame format; it is not a handler argument."""
    app = streams.app()
    pacer.grant("json-get", 2)
    exchange = await streams.open(
        app, "paced", query={"tag": "json-get", "steps": 2, "format": "json"}
    ).run_to_end()

    assert exchange.status == 200, exchange.body
    assert [e.event for e in exchange.events] == ["message", "message", "done"]
    assert_json_render(exchange.events[0], 1)
    assert_json_render(exchange.events[1], 2)


async def test_json_format_in_a_post_body(streams: Streams) -> None:
    app = streams.app()
    exchange = await streams.open(
        app, "paced", method="POST", json_body={"format": "json", "tag": "json-body", "steps": 1}
    ).run_to_end()

    assert [e.event for e in exchange.events] == ["message", "done"]
    assert_json_render(exchange.events[0], 1)


async def test_json_format_applies_to_stream_frames_unchanged(streams: Streams) -> None:
    """Only render frames change shape; ``stream`` ops and ``done`` are the same in both."""
    app = streams.app()
    exchange = await streams.open(
        app, "tokens", query={"text": "a<b", "size": 1, "format": "json"}
    ).run_to_end()

    assert [e.event for e in exchange.events][-2:] == ["message", "done"]
    assert "".join(op.get("text", "") for op in ops_of(exchange.events)) == "a<b"
    render = json.loads(exchange.events[-2].data)
    assert render["state"] == {"answer": "a<b"}
    assert set(json.loads(exchange.events[-1].data)) == {"component_id", "snapshot"}


async def test_stream_ops_arrive_in_order_as_text(streams: Streams) -> None:
    app = streams.app()
    exchange = await streams.open(
        app, "tokens", query={"text": TOKENS_TEXT, "size": 3}
    ).run_to_end()

    kinds = [e.event for e in exchange.events]
    assert kinds[-2:] == ["message", "done"]
    assert set(kinds[:-2]) <= OP_FRAMES, "the ops come before the final render"
    for event in exchange.events:
        assert event.id is not None
    ops = ops_of(exchange.events)
    assert ops[0] == {"op": "start", "stream": "answer"}
    assert ops[-1] == {"op": "done", "stream": "answer"}
    texts = ops[1:-1]
    assert texts
    for op in texts:
        assert op.keys() == {"op", "stream", "text", "mode"}, op  # text, never html
        assert (op["op"], op["stream"], op["mode"]) == ("text", "answer", "append")
    assert "".join(op["text"] for op in texts) == TOKENS_TEXT
    # The final render escapes the same text.
    assert "&lt;b&gt;bold&lt;/b&gt;" in exchange.events[-2].data
    assert "<b>" not in exchange.events[-2].data


async def test_a_burst_of_text_ops_is_coalesced_without_loss(streams: Streams) -> None:
    app = streams.app()
    pieces = 1000
    text = "".join(f"<{index % 10}>" for index in range(pieces))  # 1,000 pieces of 3 chars
    exchange = await streams.open(
        app, "tokens", method="POST", json_body={"text": text, "size": 3}
    ).run_to_end(within=10)

    stream_frames = [e for e in exchange.events if e.event in OP_FRAMES]
    ops = ops_of(exchange.events)
    assert "".join(op["text"] for op in ops if op["op"] == "text") == text
    assert [op["op"] for op in ops if op["op"] != "text"] == ["start", "done"]
    # 1,000 stream_text calls (plus start and done) in a burst: a handful of frames.
    assert len(stream_frames) * 10 <= pieces, len(stream_frames)


async def test_stream_ops_reach_the_client_without_waiting_for_a_yield(streams: Streams) -> None:
    app = streams.app()
    exchange = streams.open(app, "tokens", query={"text": "first second", "size": 6, "tag": "op"})

    await exchange.wait_until(
        lambda: "".join(op.get("text", "") for op in ops_of(exchange.events)) == "first second",
        within=1.0,
    )
    assert pacer.waiting("op"), "delivered while the handler is still running"
    assert {e.event for e in exchange.events} <= OP_FRAMES

    pacer.grant("op", 2)
    await exchange.run_to_end()
    assert [e.event for e in exchange.events][-2:] == ["message", "done"]


async def test_paced_text_ops_are_batched_to_about_60_frames_per_second(streams: Streams) -> None:
    app = streams.app()
    pieces = 120
    text = "".join(f"{index % 10}" for index in range(pieces))
    loop = asyncio.get_running_loop()
    began = loop.time()
    exchange = await streams.open(
        app, "tokens", query={"text": text, "size": 1, "delay": 0.004}
    ).run_to_end(within=10)
    elapsed = loop.time() - began

    stream_frames = [e for e in exchange.events if e.event in OP_FRAMES]
    assert "".join(op.get("text", "") for op in ops_of(exchange.events)) == text
    # Tokens every ~4 ms (up to 250/s): at most ~60 frames/s (plus start and done)...
    assert len(stream_frames) <= elapsed * 60 * 1.25 + 3, (len(stream_frames), elapsed)
    # ...but delivered as they come, not held back to the end.
    assert len(stream_frames) >= min(5, elapsed * 60 / 2), (len(stream_frames), elapsed)


async def test_plain_async_handler_streams_its_ops_then_one_render(streams: Streams) -> None:
    app = streams.app()
    exchange = await streams.open(app, "writer", query={"text": "<i>hi</i>"}).run_to_end()

    assert [e.event for e in exchange.events][-2:] == ["message", "done"]
    assert ops_of(exchange.events) == [
        {"op": "start", "stream": "out"},
        {"op": "text", "stream": "out", "text": "<i>hi</i>", "mode": "append"},
        {"op": "insert", "stream": "out", "html": "<li>item</li>", "at": "append"},
        {"op": "done", "stream": "out"},
    ]
    assert "&lt;i&gt;hi&lt;/i&gt;" in exchange.events[-2].data


async def test_exception_mid_stream_sends_a_safe_error_frame_and_ends_cleanly(
    streams: Streams, caplog: pytest.LogCaptureFixture
) -> None:
    app = streams.app()
    with caplog.at_level(logging.ERROR, logger="component_framework"):
        exchange = await streams.open(app, "failing").run_to_end()

    assert exchange.status == 200
    assert [e.event for e in exchange.events] == ["message", "error"]
    error = json.loads(exchange.events[1].data)
    assert error["code"] == "handler_error"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert SECRET_DETAIL not in exchange.body.decode()
    assert exchange.messages[-1]["more_body"] is False
    assert exchange.task is not None
    assert exchange.task.exception() is None
    # The details (traceback included) are in the log.
    assert "Traceback" in caplog.text
    assert SECRET_DETAIL in caplog.text
    assert any(record.exc_info for record in caplog.records)


@pytest.mark.parametrize(
    ("method", "path", "query", "status", "code"),
    [
        ("GET", "/components/missing/stream/", {}, 404, "component_not_found"),
        ("GET", "/components/plain/stream/", {}, 404, "stream_not_found"),
        (
            "GET",
            "/components/paced/stream/",
            {"tag": "x", "steps": "many"},
            422,
            "validation_error",
        ),
        ("GET", "/components/tokens/stream/", {}, 422, "validation_error"),
        ("GET", "/components/paced/stream/", {"event": "nope"}, 404, "event_not_found"),
        (
            "GET",
            "/components/paced/stream/",
            {"tag": "x", "format": "xml"},
            422,
            "validation_error",
        ),
        ("PUT", "/components/paced/stream/", {"tag": "x"}, 405, "method_not_allowed"),
        ("DELETE", "/components/paced/stream/", {"tag": "x"}, 405, "method_not_allowed"),
    ],
    ids=[
        "unknown",
        "not-streaming",
        "bad-param",
        "missing-param",
        "unknown-event",
        "unknown-format",
        "put",
        "delete",
    ],
)
async def test_request_errors_are_json_before_any_frame(
    streams: Streams, method: str, path: str, query: dict[str, str], status: int, code: str
) -> None:
    app = streams.app()
    response = await sse_request(app, path, method=method, query=query)

    assert response.status == status, response.body
    assert response.header("content-type") == "application/json"
    assert response.events == []
    assert json.loads(response.body)["error"]["code"] == code
    if status == 405:
        assert response.header("allow") == "GET, POST"
    assert len(app.streams) == 0
    assert stream_components.journal.entries == []


async def test_validation_error_names_the_field(streams: Streams) -> None:
    app = streams.app()
    response = await sse_request(
        app, "/components/paced/stream/", query={"tag": "x", "steps": "many"}
    )
    assert response.status == 422
    error = json.loads(response.body)["error"]
    assert error["field"] == "steps"
    assert error["message"] == "Enter a whole number."


async def test_malformed_post_body_is_400_before_any_frame(streams: Streams) -> None:
    app = streams.app()
    scope = stream_scope("paced", method="POST", headers={"content-type": "application/json"})
    exchange = await streams.track(Exchange(app, scope, body=b"{not json").start()).run_to_end()

    assert exchange.status == 400
    assert exchange.headers["content-type"] == "application/json"
    assert exchange.json_body()["error"]["code"] == "malformed_request"
    assert len(app.streams) == 0
