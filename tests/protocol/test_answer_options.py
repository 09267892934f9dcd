"""How a request chooses its answer, per transport: the HTTP answer format from its headers, a
stream's ``format`` field, a WebSocket URL's ``format``/``target``/``join``. Sans-IO: fields in,
a choice or a ``RequestError`` naming the field out; the chosen fields leave the loose ones."""

from __future__ import annotations

from typing import Any

import pytest

from component_framework.protocol.request import (
    RequestError,
    RequestFields,
    SocketOptions,
    http_answer_format,
    is_valid_target,
    parse_query,
    quoted,
    socket_options,
    stream_format,
)


def query(text: str) -> RequestFields:
    return parse_query(text.encode("ascii"), max_depth=8)


def stream_query(text: str) -> RequestFields:
    return parse_query(text.encode("ascii"), max_depth=8, loose_to_payload=True)


# -- HTTP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("post", "htmx", "accept", "expected"),
    [
        (True, False, None, "json"),
        (True, False, b"text/html", "json"),
        (True, True, b"application/json", "html"),
        (False, False, None, "html"),
        (False, False, b"text/html,*/*", "html"),
        (False, False, b"application/json", "json"),
        (False, True, b"application/json", "html"),
    ],
)
def test_http_answer_is_html_for_htmx_and_for_pages_json_otherwise(
    post: bool, htmx: bool, accept: bytes | None, expected: str
) -> None:
    assert http_answer_format(post, htmx, accept) == expected


# -- streams --------------------------------------------------------------------------------------


def test_stream_format_defaults_to_html() -> None:
    assert stream_format(stream_query("tag=x")) == "html"


def test_stream_format_is_taken_out_of_the_handler_payload() -> None:
    fields = stream_query("format=json&tag=x")

    assert stream_format(fields) == "json"
    assert fields.payload == {"tag": "x"}


def test_a_post_stream_reads_format_from_its_url_when_the_body_has_none() -> None:
    assert stream_format(RequestFields(payload={"tag": "x"}), b"format=json&other=1") == "json"
    assert stream_format(RequestFields(payload={"format": "html"}), b"format=json") == "html"


@pytest.mark.parametrize(
    ("value", "shown"),
    [("xml", "'xml'"), (5, "5"), (True, "True"), (["html"], "list"), ("f" * 100, None)],
)
def test_a_stream_format_other_than_html_or_json_names_the_field(value: Any, shown: Any) -> None:
    with pytest.raises(RequestError) as refused:
        stream_format(RequestFields(payload={"format": value}))

    assert (refused.value.problem, refused.value.field) == ("invalid_field", "format")
    assert str(refused.value).startswith("expected 'html' or 'json', got ")
    assert str(refused.value).endswith(shown or "...")
    assert len(str(refused.value)) < 120


# -- WebSocket URLs -------------------------------------------------------------------------------


def test_a_bare_socket_url_answers_json_and_mounts() -> None:
    fields = query("")

    assert socket_options(fields) == SocketOptions("json", None, join_by_message=False)


def test_socket_options_leave_only_the_mount_params() -> None:
    fields = query("format=html&target=box&room=7")

    assert socket_options(fields) == SocketOptions("html", "box", join_by_message=False)
    assert fields.params == {"room": "7"}


def test_socket_options_beside_a_snapshot_come_out_of_the_payload() -> None:
    fields = query("snapshot=tok&format=html")

    assert socket_options(fields).format == "html"
    assert fields.payload == {}


def test_join_by_message_takes_neither_params_nor_snapshot() -> None:
    assert socket_options(query("join=message&format=html")).join_by_message is True
    for refused in ("join=message&room=7", "join=message&snapshot=tok"):
        with pytest.raises(RequestError, match="go in the join") as error:
            socket_options(query(refused))
        assert error.value.problem == "malformed"


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("format=xml", "format", "expected 'json' or 'html', got 'xml'"),
        ("join=now", "join", "expected 'message', got 'now'"),
        ("target=%3Cscript%3E", "target", "expected the id of an element of the page"),
        ("target=a&target=b", "target", "expected the id of an element of the page"),
        ("snapshot=tok&extra=1", "extra", "unexpected field at connect (resuming takes none)"),
    ],
)
def test_a_refused_socket_option_names_its_field(url: str, field: str, message: str) -> None:
    with pytest.raises(RequestError) as refused:
        socket_options(query(url))

    assert (refused.value.problem, refused.value.field, str(refused.value)) == (
        "invalid_field",
        field,
        message,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("event=add", "events are sent as messages, not in the URL"),
        ('state={"a":1}', "'state' is not accepted over WebSocket"),
    ],
)
def test_a_socket_url_carries_no_event_and_no_state(url: str, message: str) -> None:
    with pytest.raises(RequestError, match=message) as refused:
        socket_options(query(url))

    assert refused.value.problem == "malformed"


@pytest.mark.parametrize(
    ("target", "valid"),
    [("box", True), ("a.b:c-d_1", True), ("1box", False), ("", False), ("a" * 129, False)],
)
def test_a_target_is_an_element_id(target: str, valid: bool) -> None:
    assert is_valid_target(target) is valid


def test_quoted_shows_scalars_only_when_asked() -> None:
    assert (quoted(5), quoted(5, scalars=True)) == ("int", "5")
    assert (quoted(None), quoted(None, scalars=True)) == ("NoneType", "None")
    assert quoted(10**80, scalars=True) == repr(10**80)[:64] + "..."
    assert quoted({"a": 1}, scalars=True) == "dict"
