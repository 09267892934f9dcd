"""A POST stream's entry in the page connection's request (``protocol.page``), sans-IO: its
method and form body are read as given, and a body where no POST stream could carry one is
refused with the whole request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework.protocol.page import MAX_PAGE_ENTRIES, PageEntry, parse_page_request
from component_framework.protocol.request import RequestError


def parse(*entries: dict[str, Any]) -> tuple[PageEntry, ...]:
    text = json.dumps({"streams": list(entries)})
    request = parse_page_request(text, max_depth=8, max_fields=5000, max_entries=MAX_PAGE_ENTRIES)
    return request.entries


def test_a_post_entry_keeps_its_method_query_and_form_body() -> None:
    (entry,) = parse(
        {"key": "p", "name": "answer", "method": "POST", "query": "format=json", "body": "q=é"}
    )

    assert entry == PageEntry(
        "p", "answer", query=b"format=json", method="POST", body="q=é".encode()
    )


def test_an_entry_without_a_method_is_a_get_stream_and_has_no_body() -> None:
    (entry,) = parse({"key": "g", "name": "ticker", "query": "a=1"})

    assert (entry.method, entry.body) == ("GET", None)


def test_a_post_may_leave_its_body_out() -> None:
    (entry,) = parse({"key": "p", "name": "answer", "method": "POST", "query": ""})

    assert (entry.method, entry.body) == ("POST", None)


def test_another_method_is_kept_for_the_transport_to_refuse_as_its_own_request_would() -> None:
    (entry,) = parse({"key": "p", "name": "answer", "method": "DELETE", "query": ""})

    assert entry.method == "DELETE"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"query": "", "body": "a=1"}, "'body' is a POST stream's"),
        ({"method": "GET", "query": "", "body": "a=1"}, "'body' is a POST stream's"),
        ({"method": "POST", "query": "", "body": ["a", "1"]}, "'body' is a POST stream's"),
        ({"method": "", "query": ""}, "'method' must be a string of 1 to 16"),
        ({"method": "P" * 17, "query": ""}, "'method' must be a string of 1 to 16"),
        ({"method": "POST", "resume": "run.1"}, "a resume takes no 'method' or 'body'"),
        ({"body": "", "resume": "run.1"}, "a resume takes no 'method' or 'body'"),
    ],
    ids=[
        "body-without-post",
        "body-on-get",
        "body-not-text",
        "empty-method",
        "long-method",
        "method-on-resume",
        "body-on-resume",
    ],
)
def test_a_misplaced_or_misshapen_method_or_body_refuses_the_request(
    entry: dict[str, Any], says: str
) -> None:
    with pytest.raises(RequestError, match=says) as refused:
        parse({"key": "k", "name": "answer", **entry})

    assert refused.value.problem == "malformed"
