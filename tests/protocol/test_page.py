"""The page connection's wire format (``protocol.page``), sans-IO: the request's shape and
limits, and the control frames as an SSE decoder reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework.protocol.page import (
    MAX_PAGE_ENTRIES,
    PAGE_EVENT,
    PageDecoder,
    PageEntry,
    ShortFrames,
    ended_frame,
    joined_frame,
    lost_entry_frame,
    parse_page_entry,
    parse_page_request,
    refused_frame,
)
from component_framework.protocol.request import RequestError
from component_framework.protocol.sse import SSEDecoder, StreamFramer, encode_event


def parse(document: Any) -> Any:
    return parse_page_request(
        json.dumps(document), max_depth=8, max_fields=5000, max_entries=MAX_PAGE_ENTRIES
    )


def test_a_request_lists_new_and_resumed_streams_in_order() -> None:
    request = parse(
        {
            "page": "p" * 32,
            "streams": [
                {"key": "1", "name": "report", "query": "report_id=7&_page=x"},
                {"key": "2", "name": "ticker", "resume": "abc.4"},
            ],
        }
    )
    assert request.page == "p" * 32
    assert request.entries == (
        PageEntry("1", "report", query=b"report_id=7&_page=x"),
        PageEntry("2", "ticker", resume="abc.4"),
    )


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "malformed"),
        ({}, "malformed"),
        ({"streams": []}, "malformed"),
        ({"streams": "x"}, "malformed"),
        ({"streams": [1]}, "malformed"),
        ({"streams": [{"key": "a", "name": "n"}]}, "malformed"),  # neither query nor resume
        ({"streams": [{"key": "a", "name": "n", "query": "", "resume": "r.1"}]}, "malformed"),
        ({"streams": [{"key": "", "name": "n", "query": ""}]}, "malformed"),
        ({"streams": [{"key": "k" * 65, "name": "n", "query": ""}]}, "malformed"),
        ({"streams": [{"key": "a", "name": 3, "query": ""}]}, "malformed"),
        ({"streams": [{"key": "a", "name": "n", "query": 3}]}, "malformed"),
        ({"streams": [{"key": "a", "name": "n", "resume": ""}]}, "malformed"),
        ({"streams": [{"key": "a", "name": "n", "query": "", "extra": 1}]}, "malformed"),
        ({"streams": [{"key": "a", "name": "n", "query": ""}], "other": 1}, "malformed"),
        (
            {
                "streams": [
                    {"key": "a", "name": "n", "query": ""},
                    {"key": "a", "name": "m", "query": ""},
                ]
            },
            "malformed",
        ),
        (
            {
                "streams": [
                    {"key": str(n), "name": "n", "query": ""} for n in range(MAX_PAGE_ENTRIES + 1)
                ]
            },
            "too_many_fields",
        ),
    ],
)
def test_a_request_of_another_shape_is_refused(document: Any, problem: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse(document)
    assert refused.value.problem == problem


def test_the_largest_request_is_read() -> None:
    entries = [{"key": str(n), "name": "n", "query": "a=1"} for n in range(MAX_PAGE_ENTRIES)]
    assert len(parse({"streams": entries}).entries) == MAX_PAGE_ENTRIES


def test_text_that_is_no_json_is_refused() -> None:
    with pytest.raises(RequestError):
        parse_page_request("{", max_depth=8, max_fields=100, max_entries=4)


def test_control_frames_decode_as_page_events_without_an_id() -> None:
    document = {"code": "stream_lost", "message": "gone"}
    wire = (
        joined_frame("a", "run1")
        + ended_frame("b")
        + lost_entry_frame("c", document)
        + refused_frame("d", 403, {"code": "forbidden", "message": "no"})
    )
    events = SSEDecoder().feed(wire)
    assert {event.event for event in events} == {PAGE_EVENT}
    assert {event.id for event in events} == {None}
    assert [json.loads(event.data) for event in events] == [
        {"key": "a", "run": "run1"},
        {"key": "b", "end": "finished"},
        {"key": "c", "end": "lost", "error": document},
        {
            "key": "d",
            "end": "refused",
            "status": 403,
            "error": {"code": "forbidden", "message": "no"},
        },
    ]


def test_the_opt_in_to_compact_frames_is_read_beside_streams_and_in_a_socket_entry() -> None:
    entry = {"key": "a", "name": "x", "query": ""}
    assert parse({"streams": [entry]}).compact is False
    assert parse({"streams": [entry], "frames": "full"}).compact is False
    assert parse({"streams": [entry], "frames": "compact"}).compact is True
    assert parse_page_entry({**entry, "frames": "compact"}).compact is True
    for bad in ("Compact", "", 1, None, ["compact"]):
        with pytest.raises(RequestError, match='\'frames\' must be "full" or "compact"'):
            parse({"streams": [entry], "frames": bad})
        with pytest.raises(RequestError, match="'frames' must be"):
            parse_page_entry({**entry, "frames": bad})
    with pytest.raises(RequestError, match="beside 'streams'"):
        parse({"streams": [{**entry, "frames": "compact"}]})


RUN = "AbCdEfGhIjKlMnOp"


def _compact_answer() -> tuple[bytes, bytes]:
    """A page connection's answer with two runs, in the long form and in the compact one."""
    first, second = StreamFramer(RUN), StreamFramer("other-run-000001")
    frames = [
        (RUN, encode_event("<p>1</p>", id=f"{RUN}.1")),
        (RUN, first.text("out", "hello ", 2)),
        ("other-run-000001", second.text("out", "two\nlines", 1)),
        (RUN, first.frame([{"op": "start", "stream": "out"}], 3)),
        (RUN, first.text("out", "world", 4)),
    ]
    shorts = {RUN: ShortFrames(RUN, 1), "other-run-000001": ShortFrames("other-run-000001", 2)}
    long = joined_frame("a", RUN) + joined_frame("b", "other-run-000001")
    compact = joined_frame("a", RUN, 1) + joined_frame("b", "other-run-000001", 2)
    for run, wire in frames:
        long += wire
        compact += shorts[run].frame(wire)
    return long, compact


def test_short_frames_shorten_text_frames_only_and_read_back_as_the_long_ones() -> None:
    long, compact = _compact_answer()
    assert b"t:1.2\ndata:out hello \n\n" in compact
    assert b"t:2.1\ndata:out two\ndata: lines\n\n" in compact
    assert b"event:t" not in compact
    assert compact.count(RUN.encode()) == 3  # its control frame, the render, the JSON batch
    expected = [(e.event, e.id, e.data) for e in SSEDecoder().feed(long) if e.event != "page"]
    whole = PageDecoder().feed(compact)
    decoder = PageDecoder()
    one_by_one = [event for index in range(len(compact)) for event in
                  decoder.feed(compact[index : index + 1])]  # fmt: skip
    trailing = PageDecoder().feed(compact + b"t:1.5\ndata:out cut")
    for events in (whole, one_by_one, trailing):
        assert [(e.event, e.id, e.data) for e in events if e.event != "page"] == expected


def test_a_number_no_control_frame_announced_keeps_its_short_id() -> None:
    events = PageDecoder().feed(b"t:7.3\ndata:out x\n\n")
    assert [(e.event, e.id, e.data) for e in events] == [("t", "7.3", "out x")]
