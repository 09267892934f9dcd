"""The page connection's wire format (``protocol.page``), sans-IO: the request's shape and
limits, and the control frames as an SSE decoder reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework.protocol.page import (
    MAX_PAGE_ENTRIES,
    PAGE_EVENT,
    PageEntry,
    ended_frame,
    joined_frame,
    lost_entry_frame,
    parse_page_request,
    refused_frame,
)
from component_framework.protocol.request import RequestError
from component_framework.protocol.sse import SSEDecoder


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
