"""Compact frames on the page connection (``"frames": "compact"``, the client runtime's
opt-in): each joined run gets a number of the connection in its control frame, and its text
frames carry ``t:<n>.<seq>`` instead of ``event:t`` and the run id; a request without the
opt-in gets the frames byte for byte as before. Read back with ``protocol.page.PageDecoder``,
the compact answer is the full one, ids included, so resumes stay exact."""

from __future__ import annotations

import json
import re
from typing import Any

from component_framework.protocol.sse import SSEEvent, stream_ops
from component_framework.testing import http_scope
from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange, eventually
from tests.streaming.page_wire import controls, new, of_run, page_request
from tests.streaming.stream_components import pacer


def text_of(events: list[SSEEvent]) -> str:
    return "".join(
        str(op["text"]) for event in events for op in stream_ops(event) or [] if op["op"] == "text"
    )


def sequence(events: list[SSEEvent]) -> list[tuple[str, str]]:
    """Each frame's type and sequence number (the run id left out: each run has its own)."""
    return [(e.event, (e.id or "").rpartition(".")[2]) for e in events]


async def test_a_request_without_the_opt_in_gets_the_frames_as_before(streams: Streams) -> None:
    app = streams.app()
    hello = new("a", "tokens", text="hello world", size=3)
    plain = page_request(app, streams, [hello])
    full = page_request(app, streams, [hello], frames="full")
    await plain.run_to_end()
    await full.run_to_end()
    run = controls(plain)["a"]["run"]
    assert controls(plain)["a"] == {"key": "a", "run": run}  # no number announced
    assert b"\nt:" not in plain.body
    assert not plain.body.startswith(b"t:")
    assert plain.body.count(f"event:t\nid:{run}.".encode()) >= 1
    other = controls(full)["a"]["run"]
    assert controls(full)["a"] == {"key": "a", "run": other}
    own = streams.open(app, "tokens", query={"text": "hello world", "size": 3})
    await own.run_to_end()
    alone = own.events[0].id.rpartition(".")[0]  # type: ignore[union-attr]
    frames = text_frames(own.body, alone)
    assert frames  # the run's text frames, as its own stream writes them:
    assert text_frames(plain.body, run) == text_frames(full.body, other) == frames
    assert text_of(of_run(plain, run)) == "hello world"


def text_frames(body: bytes, run: str) -> list[bytes]:
    """The compact text frames of run ``run`` in ``body``, the run id written ``RUN``."""
    found = re.findall(rb"event:t\nid:" + run.encode() + rb"\.[^\n]*\ndata:[^\n]*\n\n", body)
    return [frame.replace(run.encode(), b"RUN") for frame in found]


async def test_the_opt_in_gets_compact_text_frames_that_read_back_as_the_full_ones(
    streams: Streams,
) -> None:
    app = streams.app()
    hello = new("a", "tokens", text="hello world", size=3)
    full = page_request(app, streams, [hello])
    compact = page_request(app, streams, [hello], frames="compact")
    await full.run_to_end()
    await compact.run_to_end()
    control = controls(compact)["a"]
    run = control["run"]
    assert control == {"key": "a", "run": run, "short": 1}
    texts = re.findall(rb"(?:^|\n\n)(t:1\.\d+\ndata:answer [^\n]*\n)\n", compact.body)
    assert texts, compact.body
    assert b"event:t\n" not in compact.body
    assert compact.body.count(run.encode()) == compact.body.count(b"id: " + run.encode()) + 1
    assert len(compact.body) < len(full.body)
    events = of_run(compact, run)
    assert sequence(events) == sequence(of_run(full, controls(full)["a"]["run"]))
    assert text_of(events) == "hello world"
    assert [int(e.id.rpartition(".")[2]) for e in events if e.id] == list(range(1, len(events) + 1))


async def test_two_runs_on_one_compact_connection_each_get_their_own_frames(
    streams: Streams,
) -> None:
    app = streams.app()
    exchange = page_request(
        app,
        streams,
        [
            new("x", "tokens", text="first answer", size=2),
            new("y", "tokens", text="second one here", size=4),
        ],
        frames="compact",
    )
    await exchange.run_to_end()
    found = controls(exchange)
    assert (found["x"]["short"], found["y"]["short"]) == (1, 2)
    assert b"\nt:1." in exchange.body
    assert b"\nt:2." in exchange.body
    assert text_of(of_run(exchange, found["x"]["run"])) == "first answer"
    assert text_of(of_run(exchange, found["y"]["run"])) == "second one here"


async def test_a_drop_mid_stream_resumes_exactly_with_the_full_run_id(streams: Streams) -> None:
    app = streams.app()
    text = "abcdefghijklmnopqrstuvwxyz"
    first = page_request(
        app, streams, [new("a", "tokens", text=text, delay=0.02, tag="held")], frames="compact"
    )
    await first.wait_until(lambda: "ghi" in text_of(first.events))
    first.disconnect()
    await first.finished()
    run = controls(first)["a"]["run"]
    last = of_run(first, run)[-1].id
    assert last is not None
    assert last.startswith(run + ".")
    await eventually(lambda: pacer.waiting("held"))  # the rest was produced while away
    second = page_request(
        app, streams, [{"key": "a", "name": "tokens", "resume": last}], frames="compact"
    )
    await second.wait_until(lambda: "page" in {e.event for e in second.events})
    assert controls(second)["a"] == {"key": "a", "run": run, "short": 1}
    pacer.grant("held", 2)
    await second.run_to_end()
    assert text_of(of_run(first, run)) + text_of(of_run(second, run)) == text
    assert [e.event for e in of_run(second, run)][-1] == "done"


async def test_bad_opt_in_values_get_a_clear_error(streams: Streams) -> None:
    app = streams.app()
    entry = new("a", "tokens", text="hi")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"streams": [entry], "frames": "short"}, '\'frames\' must be "full" or "compact"'),
        ({"streams": [entry], "frames": 1}, '\'frames\' must be "full" or "compact"'),
        ({"streams": [entry], "frames": None}, "'frames' must be"),
        ({"streams": [{**entry, "frames": "compact"}]}, "give 'frames' once, beside 'streams'"),
    ]
    for document, message in cases:
        body = json.dumps(document).encode()
        scope = http_scope(
            "POST", "/components/_page/", headers={"content-type": "application/json"}
        )
        exchange = streams.track(Exchange(app, scope, body=body).start())
        await exchange.run_to_end()
        error = exchange.json_body()["error"]
        assert (exchange.status, error["code"]) == (400, "malformed_request"), document
        assert message in error["message"], error
    assert len(app.streams) == 0
