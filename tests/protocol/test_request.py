"""Request parsing: JSON and form bodies, query strings, reserved fields, limits and garbage."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from component_framework.protocol.request import (
    RequestError,
    RequestFields,
    decode_json_object,
    json_depth,
    parse_body,
    parse_query,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEPTH = 32
REQUEST_PROBLEMS = {"malformed", "unsupported_media_type", "too_deep", "too_many_fields"}


def parse_json(document: Any) -> RequestFields:
    return parse_body(JSON, json.dumps(document).encode("utf-8"), max_depth=DEPTH)


def parse_form(body: str | bytes) -> RequestFields:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return parse_body(FORM, raw, max_depth=DEPTH)


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- JSON bodies --------------------------------------------------------------------------

JSON_CASES: dict[str, tuple[Any, RequestFields]] = {
    "empty object is a mount": ({}, RequestFields()),
    "event with snapshot": (
        {"event": "increment", "snapshot": "tok"},
        RequestFields(event="increment", snapshot="tok"),
    ),
    "payload object": (
        {"event": "add", "snapshot": "tok", "payload": {"amount": 3}},
        RequestFields(event="add", snapshot="tok", payload={"amount": 3}),
    ),
    "params object": ({"params": {"user_id": 7}}, RequestFields(params={"user_id": 7})),
    "raw state": ({"state": {"count": 2}}, RequestFields(state={"count": 2})),
    "loose fields join params at mount": (
        {"user_id": 7, "name": "Ada"},
        RequestFields(params={"user_id": 7, "name": "Ada"}),
    ),
    "loose fields join params with event mount": (
        {"event": "mount", "user_id": 7},
        RequestFields(event="mount", params={"user_id": 7}),
    ),
    "loose fields join payload for an event": (
        {"event": "add", "snapshot": "tok", "amount": 3},
        RequestFields(event="add", snapshot="tok", payload={"amount": 3}),
    ),
    "loose fields merge into payload object": (
        {"event": "add", "snapshot": "tok", "payload": {"a": 1}, "b": [2]},
        RequestFields(event="add", snapshot="tok", payload={"a": 1, "b": [2]}),
    ),
    "loose fields merge into params object": (
        {"params": {"a": 1}, "b": {"c": None}},
        RequestFields(params={"a": 1, "b": {"c": None}}),
    ),
    "loose fields of a re-render with snapshot join payload": (
        {"snapshot": "tok", "x": 1},
        RequestFields(snapshot="tok", payload={"x": 1}),
    ),
    "null reserved fields are absent": (
        {"event": None, "snapshot": None, "payload": None, "params": None, "state": None},
        RequestFields(),
    ),
    "empty event is a mount": ({"event": ""}, RequestFields()),
    "empty snapshot is absent": ({"snapshot": "", "event": "x"}, RequestFields(event="x")),
    "empty event with loose fields mounts with params": (
        {"event": "", "name": "Ada"},
        RequestFields(params={"name": "Ada"}),
    ),
}


@pytest.mark.parametrize(("document", "expected"), JSON_CASES.values(), ids=list(JSON_CASES.keys()))
def test_json_body_fields(document: Any, expected: RequestFields) -> None:
    assert parse_json(document) == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"event":"add","snapshot":"tok","amount":3}',
        b'  {"event": "add", "snapshot": "tok", "amount": 3}  \n',
        b'{\r\n  "amount": 3,\r\n  "snapshot": "tok",\r\n  "event": "add"\r\n}\r\n',
        b'{"event":"\\u0061dd","snapshot":"tok","amount":3}',
    ],
    ids=["compact", "padded", "pretty crlf reordered", "unicode escape"],
)
def test_json_body_layout_does_not_change_fields(body: bytes) -> None:
    assert parse_body(JSON, body, max_depth=DEPTH) == RequestFields(
        event="add", snapshot="tok", payload={"amount": 3}
    )


def test_json_body_keeps_unicode_text() -> None:
    body = json.dumps({"text": "é ✓ 日本"}, ensure_ascii=False).encode("utf-8")

    assert parse_body(JSON, body, max_depth=DEPTH).params == {"text": "é ✓ 日本"}


@pytest.mark.parametrize("is_mount", [True, False])
def test_is_mount_follows_the_event(is_mount: bool) -> None:
    fields = RequestFields(event=None if is_mount else "increment")

    assert fields.is_mount is is_mount


def test_event_named_mount_is_a_mount() -> None:
    assert RequestFields(event="mount").is_mount


# -- content types and charsets -----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; charset=utf8",
        "application/json ; foo=bar",
    ],
)
def test_json_content_type_variants_are_accepted(content_type: str) -> None:
    assert parse_body(content_type, b'{"a": 1}', max_depth=DEPTH).params == {"a": 1}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
    ],
)
def test_form_content_type_variants_are_accepted(content_type: str) -> None:
    assert parse_body(content_type, b"a=1", max_depth=DEPTH).params == {"a": "1"}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        "application/json; charset=utf-16",
    ],
)
def test_charset_other_than_utf8_is_unsupported(content_type: str) -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_body(content_type, b'{"a": 1}', max_depth=DEPTH)

    assert excinfo.value.problem == "unsupported_media_type"
    assert "utf-8" in str(excinfo.value)


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "application/xml",
        "application/json-patch+json",
        None,
        "",
    ],
)
def test_unsupported_media_type_with_a_body_is_refused(content_type: str | None) -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_body(content_type, b'{"a": 1}', max_depth=DEPTH)

    assert excinfo.value.problem == "unsupported_media_type"
    assert "application/json" in str(excinfo.value)


@pytest.mark.parametrize("content_type", [JSON, FORM, "text/plain", "multipart/form-data", None])
@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n\t"])
def test_empty_body_is_a_mount_whatever_the_type(content_type: str | None, body: bytes) -> None:
    fields = parse_body(content_type, body, max_depth=DEPTH)

    assert fields == RequestFields()
    assert fields.is_mount


# -- form bodies --------------------------------------------------------------------------

FORM_CASES: dict[str, tuple[str, RequestFields]] = {
    "event with snapshot": (
        "event=increment&snapshot=tok",
        RequestFields(event="increment", snapshot="tok"),
    ),
    "loose fields join params at mount": (
        "name=Ada&excited=on",
        RequestFields(params={"name": "Ada", "excited": "on"}),
    ),
    "loose fields join payload for an event": (
        "event=add&snapshot=tok&amount=3",
        RequestFields(event="add", snapshot="tok", payload={"amount": "3"}),
    ),
    "repeated field becomes a list": (
        "event=collect&snapshot=tok&ids=1&ids=2&ids=3",
        RequestFields(event="collect", snapshot="tok", payload={"ids": ["1", "2", "3"]}),
    ),
    "payload as JSON text": (
        "event=add&snapshot=tok&payload=" + quote('{"amount": 3, "tags": ["a"]}'),
        RequestFields(event="add", snapshot="tok", payload={"amount": 3, "tags": ["a"]}),
    ),
    "params as JSON text": (
        "params=" + quote('{"user_id": 7}'),
        RequestFields(params={"user_id": 7}),
    ),
    "state as JSON text": ("state=" + quote('{"count": 2}'), RequestFields(state={"count": 2})),
    "empty payload field": (
        "event=x&snapshot=tok&payload=",
        RequestFields(event="x", snapshot="tok"),
    ),
    "loose field merges with payload JSON": (
        "event=x&snapshot=tok&payload=" + quote('{"a": 1}') + "&b=2",
        RequestFields(event="x", snapshot="tok", payload={"a": 1, "b": "2"}),
    ),
    "plus and percent escapes": (
        "text=hello+world%21&tag=a%2Bb",
        RequestFields(params={"text": "hello world!", "tag": "a+b"}),
    ),
    "percent-encoded utf-8": ("name=%C3%A9%E2%9C%93", RequestFields(params={"name": "é✓"})),
    "blank values are kept": ("flag=&other", RequestFields(params={"flag": "", "other": ""})),
    "empty segments are skipped": ("&a=1&&b=2&", RequestFields(params={"a": "1", "b": "2"})),
    "empty event is a mount": ("event=&snapshot=", RequestFields()),
    "empty event with loose fields mounts with params": (
        "event=&name=Ada",
        RequestFields(params={"name": "Ada"}),
    ),
}


@pytest.mark.parametrize(("body", "expected"), FORM_CASES.values(), ids=list(FORM_CASES.keys()))
def test_form_body_fields(body: str, expected: RequestFields) -> None:
    assert parse_form(body) == expected


@pytest.mark.parametrize(("query", "expected"), FORM_CASES.values(), ids=list(FORM_CASES.keys()))
def test_query_string_follows_form_rules(query: str, expected: RequestFields) -> None:
    assert parse_query(query.encode("ascii"), max_depth=DEPTH) == expected


@pytest.mark.parametrize(
    "body",
    [
        "event=add&snapshot=tok&amount=3",
        "amount=3&snapshot=tok&event=add",
        "event=add&amount=3&snapshot=tok&",
        "event=%61dd&snapshot=tok&%61mount=3",
        "event=add&snapshot=tok&payload=" + quote('{"amount": "3"}'),
    ],
    ids=["plain", "reordered", "trailing ampersand", "escaped names", "payload JSON"],
)
def test_form_layout_does_not_change_fields(body: str) -> None:
    assert parse_form(body) == RequestFields(event="add", snapshot="tok", payload={"amount": "3"})


def test_raw_utf8_form_body_is_decoded() -> None:
    assert parse_form("name=é✓".encode()).params == {"name": "é✓"}


def test_empty_query_string_is_a_mount() -> None:
    assert parse_query(b"", max_depth=DEPTH) == RequestFields()


def test_non_ascii_query_string_is_malformed() -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_query("name=é".encode(), max_depth=DEPTH)

    assert excinfo.value.problem == "malformed"


# -- malformed requests -------------------------------------------------------------------

MALFORMED_JSON: dict[str, bytes] = {
    "event is a number": b'{"event": 1}',
    "event is a boolean": b'{"event": true}',
    "event is an object": b'{"event": {}}',
    "snapshot is a number": b'{"snapshot": 5}',
    "snapshot is a list": b'{"snapshot": ["a"]}',
    "payload is a list": b'{"event": "x", "payload": []}',
    "payload is a string": b'{"event": "x", "payload": "{}"}',
    "params is a string": b'{"params": "x"}',
    "state is a number": b'{"state": 3}',
    "array document": b"[]",
    "string document": b'"text"',
    "number document": b"1",
    "null document": b"null",
    "truncated": b'{"event": "x"',
    "trailing data": b'{"a": 1} {"b": 2}',
    "single quotes": b"{'a': 1}",
    "invalid utf-8": b'{"a": "\xff"}',
    "utf-8 bom": b'\xef\xbb\xbf{"a": 1}',
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": Infinity}',
    "negative Infinity": b'{"a": -Infinity}',
    "loose field clashes with payload key": (
        b'{"event": "x", "snapshot": "t", "payload": {"a": 1}, "a": 2}'
    ),
    "loose field clashes with params key": b'{"params": {"a": 1}, "a": 2}',
    "reserved key twice": b'{"event": "a", "event": "b"}',
    "loose key twice": b'{"a": 1, "a": 2}',
    "key twice in payload": b'{"event": "x", "snapshot": "t", "payload": {"a": 1, "a": 2}}',
    "key twice deep inside": b'{"params": {"a": [{"b": 1, "b": 1}]}}',
}


@pytest.mark.parametrize("body", MALFORMED_JSON.values(), ids=list(MALFORMED_JSON.keys()))
def test_malformed_json_body_is_refused(body: bytes) -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_body(JSON, body, max_depth=DEPTH)

    assert excinfo.value.problem == "malformed"


def test_reserved_field_type_error_says_expected_and_got() -> None:
    with pytest.raises(RequestError, match=r"'event' must be a string, got int"):
        parse_body(JSON, b'{"event": 1}', max_depth=DEPTH)


def test_clashing_loose_field_is_named() -> None:
    with pytest.raises(RequestError, match="'a'"):
        parse_body(JSON, b'{"params": {"a": 1}, "a": 2}', max_depth=DEPTH)


MALFORMED_FORMS: dict[str, bytes] = {
    "duplicate event": b"event=a&event=b",
    "duplicate snapshot": b"snapshot=a&snapshot=b&event=x",
    "duplicate payload": b"event=x&payload=%7B%7D&payload=%7B%7D",
    "duplicate params": b"params=%7B%7D&params=%7B%7D",
    "duplicate state": b"state=%7B%7D&state=%7B%7D",
    "payload is not JSON": b"event=x&snapshot=t&payload=abc",
    "payload is a JSON array": b"event=x&snapshot=t&payload=%5B1%5D",
    "params is a JSON string": b"params=%22x%22",
    "state is a JSON number": b"state=3",
    "percent-encoded invalid utf-8": b"name=%FF",
    "raw invalid utf-8": b"name=\xff",
    "loose field clashes with payload key": b"event=x&snapshot=t&payload=%7B%22a%22%3A1%7D&a=2",
    "key twice in payload JSON": b"event=x&snapshot=t&payload=%7B%22a%22%3A1%2C%22a%22%3A2%7D",
}


@pytest.mark.parametrize("body", MALFORMED_FORMS.values(), ids=list(MALFORMED_FORMS.keys()))
def test_malformed_form_body_is_refused(body: bytes) -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_form(body)

    assert excinfo.value.problem == "malformed"


def test_duplicate_reserved_form_field_is_named() -> None:
    with pytest.raises(RequestError, match="'event' appears more than once"):
        parse_form("event=a&event=b")


def test_repeated_loose_field_after_reserved_one_is_fine() -> None:
    assert parse_form("event=x&snapshot=t&tag=a&tag=b").payload == {"tag": ["a", "b"]}


def test_json_key_given_twice_is_named_in_the_message() -> None:
    with pytest.raises(RequestError, match="holds the key 'amount' twice"):
        parse_body(JSON, b'{"event": "x", "amount": 1, "amount": 2}', max_depth=DEPTH)


def test_huge_json_key_given_twice_is_cut_short_in_the_message() -> None:
    key = "k" * 1_000_000
    body = json.dumps({"x": 1}).replace('"x": 1', f'"{key}": 1, "{key}": 2').encode()

    with pytest.raises(RequestError) as excinfo:
        parse_body(JSON, body, max_depth=DEPTH)

    assert excinfo.value.problem == "malformed"
    assert len(str(excinfo.value)) < 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "x:y", "a": 1}',
        b'{"a:b": 1, "a:b": 2}',
        b'{"params": {"url": "http://x", "start": 1, "start": 2}}',
        b'{"a"  :  1,\n "a":2}',
    ],
    ids=["colon in a value", "colon in the key", "colon elsewhere", "spaced out"],
)
def test_key_given_twice_is_found_whatever_else_holds_a_colon(body: bytes) -> None:
    with pytest.raises(RequestError, match="twice in one JSON object"):
        parse_body(JSON, body, max_depth=DEPTH)


def test_colons_inside_strings_are_not_repeated_keys() -> None:
    body = b'{"event": "x:y", "snapshot": "t", "payload": {"url": "http://a:8000/", "b:c": ":"}}'

    assert parse_body(JSON, body, max_depth=DEPTH).payload == {"url": "http://a:8000/", "b:c": ":"}


def test_same_key_in_two_objects_is_not_a_duplicate() -> None:
    document = {"event": "x", "snapshot": "t", "payload": {"a": {"id": 1}, "b": {"id": 2}}}

    assert parse_json(document).payload == {"a": {"id": 1}, "b": {"id": 2}}


# -- field counts -------------------------------------------------------------------------


def test_form_at_the_field_limit_is_accepted() -> None:
    body = "&".join(f"f{index}=1" for index in range(10))

    assert len(parse_body(FORM, body.encode(), max_depth=DEPTH, max_fields=10).params) == 10


def test_form_over_the_field_limit_is_too_many_fields_naming_the_limit() -> None:
    body = "&".join(f"f{index}=1" for index in range(11))

    with pytest.raises(RequestError) as excinfo:
        parse_body(FORM, body.encode(), max_depth=DEPTH, max_fields=10)

    assert excinfo.value.problem == "too_many_fields"
    assert str(excinfo.value).startswith("form data holds 11 fields, over the limit of 10")


def test_empty_form_segments_are_not_fields() -> None:
    body = "a=1" + "&" * 5000 + "b=2"

    assert parse_body(FORM, body.encode(), max_depth=DEPTH, max_fields=2).params == {
        "a": "1",
        "b": "2",
    }


def test_query_string_over_the_field_limit_is_too_many_fields() -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_query(b"a&" * 11, max_depth=DEPTH, max_fields=10)

    assert excinfo.value.problem == "too_many_fields"
    assert str(excinfo.value).startswith("query string holds 11 fields")


def test_keys_of_json_objects_count_at_every_level() -> None:
    document = {"event": "x", "snapshot": "t", "payload": {"a": {"b": [{"c": 1, "d": 2}]}}}
    body = json.dumps(document).encode()  # 3 + 1 + 1 + 2 = 7 keys

    assert parse_body(JSON, body, max_depth=DEPTH, max_fields=7).payload == document["payload"]
    with pytest.raises(RequestError) as excinfo:
        parse_body(JSON, body, max_depth=DEPTH, max_fields=6)
    assert excinfo.value.problem == "too_many_fields"
    assert str(excinfo.value).startswith("body holds 7 fields, over the limit of 6")


def test_keys_of_json_in_form_fields_count_with_the_form_fields() -> None:
    body = "event=x&snapshot=t&payload=" + quote(json.dumps({"a": 1, "b": {"c": 2}}))  # 3 + 3

    assert parse_body(FORM, body.encode(), max_depth=DEPTH, max_fields=6).event == "x"
    with pytest.raises(RequestError) as excinfo:
        parse_body(FORM, body.encode(), max_depth=DEPTH, max_fields=5)
    assert excinfo.value.problem == "too_many_fields"


def test_default_field_limit_is_a_thousand() -> None:
    at_limit = json.dumps({f"k{index}": index for index in range(1000)}).encode()
    over = json.dumps({f"k{index}": index for index in range(1001)}).encode()

    assert len(parse_body(JSON, at_limit, max_depth=DEPTH).params) == 1000
    with pytest.raises(RequestError, match="over the limit of 1000"):
        parse_body(JSON, over, max_depth=DEPTH)


def test_a_million_repeated_form_fields_are_refused_by_counting_alone() -> None:
    """The issue-11 body (``a&`` 300,000 times, 586 KiB) took 55 s in the quadratic merge."""
    with pytest.raises(RequestError) as excinfo:
        parse_body(FORM, b"a&" * 1_000_000, max_depth=DEPTH)

    assert excinfo.value.problem == "too_many_fields"
    assert "holds 1000000 fields" in str(excinfo.value)


def test_a_hundred_thousand_repeats_of_one_field_merge_into_one_list_in_linear_time() -> None:
    """Under a raised limit the merge runs: quadratic copying would take minutes (and hit the
    suite's timeout); appending takes milliseconds."""
    body = b"event=x&snapshot=t&" + b"tag=v&" * 100_000

    fields = parse_body(FORM, body, max_depth=DEPTH, max_fields=200_000)

    assert fields.payload["tag"] == ["v"] * 100_000


def test_a_hundred_thousand_json_keys_are_counted_under_a_raised_limit() -> None:
    document = {"params": {f"k{index}": {"v": index} for index in range(100_000)}}

    fields = parse_json_with_limit(document, 200_001)

    assert len(fields.params) == 100_000
    with pytest.raises(RequestError, match="holds 200001 fields"):
        parse_json_with_limit(document, 200_000)


def parse_json_with_limit(document: Any, max_fields: int) -> RequestFields:
    body = json.dumps(document).encode("utf-8")
    return parse_body(JSON, body, max_depth=DEPTH, max_fields=max_fields)


# -- nesting limit ------------------------------------------------------------------------


def _json_at_depth(depth: int) -> str:
    """A JSON object of exactly ``depth`` levels: the body object plus nested lists."""
    return '{"event": "x", "snapshot": "t", "a": ' + nested_lists(depth - 1) + "}"


def test_json_body_at_the_nesting_limit_is_accepted() -> None:
    body = _json_at_depth(DEPTH).encode("ascii")

    assert parse_body(JSON, body, max_depth=DEPTH).event == "x"


def test_json_body_over_the_nesting_limit_is_too_deep() -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_body(JSON, _json_at_depth(DEPTH + 1).encode("ascii"), max_depth=DEPTH)

    assert excinfo.value.problem == "too_deep"
    assert str(DEPTH) in str(excinfo.value)


def _form_with_payload_depth(depth: int) -> str:
    """A form whose ``payload`` JSON is ``depth`` levels deep (the object plus lists)."""
    return "event=x&snapshot=t&payload=" + quote('{"a": ' + nested_lists(depth - 1) + "}")


def test_form_payload_one_level_below_the_limit_is_accepted() -> None:
    """``payload`` sits one level below the request, as it does in a JSON body."""
    body = _form_with_payload_depth(DEPTH - 1)

    assert parse_form(body).payload == json.loads(unquote(body.split("payload=", 1)[1]))


def test_form_payload_reaching_the_limit_is_too_deep() -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_form(_form_with_payload_depth(DEPTH))

    assert excinfo.value.problem == "too_deep"


@pytest.mark.parametrize(
    "body",
    [
        nested_lists(100_000),
        "[" * 100_000,
        '{"a": ' * 100_000 + "1" + "}" * 100_000,
        '{"payload": ' + nested_lists(100_000) + "}",
    ],
    ids=["closed lists", "unclosed lists", "objects", "inside payload"],
)
def test_extremely_deep_json_body_is_too_deep_not_recursion_error(body: str) -> None:
    with pytest.raises(RequestError) as excinfo:
        parse_body(JSON, body.encode("ascii"), max_depth=DEPTH)

    assert excinfo.value.problem == "too_deep"


@pytest.mark.parametrize("field", ["payload", "params", "state"])
def test_extremely_deep_json_in_form_field_is_too_deep(field: str) -> None:
    body = f"{field}=" + quote(nested_lists(100_000))

    with pytest.raises(RequestError) as excinfo:
        parse_form(body)

    assert excinfo.value.problem == "too_deep"


def test_extremely_deep_json_in_query_string_is_too_deep() -> None:
    query = "payload=" + quote('{"a": ' + nested_lists(100_000) + "}")

    with pytest.raises(RequestError) as excinfo:
        parse_query(query.encode("ascii"), max_depth=DEPTH)

    assert excinfo.value.problem == "too_deep"


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        (1, 0),
        ("text", 0),
        (None, 0),
        ([], 1),
        ({}, 1),
        ([[1]], 2),
        ({"a": {"b": []}}, 3),
        ([1, [2, [3]], {"x": 1}], 3),
    ],
)
def test_json_depth_counts_containers(value: Any, depth: int) -> None:
    assert json_depth(value) == depth


def _depth_and_keys(value: Any) -> tuple[int, int]:
    """The oracle: depth and object keys at every level, by plain recursion."""
    if isinstance(value, dict):
        below = [_depth_and_keys(child) for child in value.values()]
        return 1 + max((d for d, _ in below), default=0), len(value) + sum(k for _, k in below)
    if isinstance(value, list):
        below = [_depth_and_keys(child) for child in value]
        return 1 + max((d for d, _ in below), default=0), sum(k for _, k in below)
    return 0, 0


_names = st.text(alphabet="abcxyz", max_size=3)
_scalars = st.none() | st.booleans() | st.integers() | st.text(alphabet="abc", max_size=3)
#: Objects of scalars and of objects of scalars (the fast path), and deeper ones.
_objects = st.dictionaries(
    _names,
    _scalars
    | st.dictionaries(_names, _scalars, max_size=3)
    | st.recursive(
        _scalars,
        lambda children: (
            st.lists(children, max_size=2) | st.dictionaries(_names, children, max_size=2)
        ),
        max_leaves=6,
    ),
    max_size=4,
)


@given(document=_objects)
def test_depth_and_key_limits_count_every_level_of_an_object(document: dict[str, Any]) -> None:
    depth, keys = _depth_and_keys(document)
    text = json.dumps(document)
    assert json_depth(document) == depth
    assert decode_json_object(text, depth, max_fields=keys) == document
    with pytest.raises(RequestError) as too_deep:
        decode_json_object(text, depth - 1, max_fields=keys)
    assert too_deep.value.problem == "too_deep"
    if keys:
        with pytest.raises(RequestError) as too_many:
            decode_json_object(text, depth, max_fields=keys - 1)
        assert too_many.value.problem == "too_many_fields"


def test_json_depth_handles_nesting_deeper_than_the_recursion_limit() -> None:
    value: list[Any] = []
    for _ in range(100_000):
        value = [value]

    assert json_depth(value) == 100_001


# -- invariants ---------------------------------------------------------------------------

CONTENT_TYPES = [JSON, FORM, f"{FORM}; charset=utf-8", "text/plain", None]
RESERVED_OR_LOOSE = st.sampled_from(["event", "payload", "params", "snapshot", "state", "a", "b"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
protocol_like_bodies = st.one_of(
    st.binary(),
    st.dictionaries(RESERVED_OR_LOOSE, json_values).map(lambda d: json.dumps(d).encode()),
    st.lists(st.tuples(RESERVED_OR_LOOSE, st.text(max_size=10))).map(
        lambda pairs: "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()
    ),
)


@settings(max_examples=200)
@given(body=protocol_like_bodies, content_type=st.sampled_from(CONTENT_TYPES))
def test_any_body_parses_or_raises_request_error(body: bytes, content_type: str | None) -> None:
    try:
        outcome: RequestFields | RequestError = parse_body(content_type, body, max_depth=DEPTH)
    except RequestError as exc:
        outcome = exc

    assert isinstance(outcome, RequestFields) or outcome.problem in REQUEST_PROBLEMS


@settings(max_examples=200)
@given(query=st.binary())
def test_any_query_string_parses_or_raises_request_error(query: bytes) -> None:
    try:
        outcome: RequestFields | RequestError = parse_query(query, max_depth=DEPTH)
    except RequestError as exc:
        outcome = exc

    assert isinstance(outcome, RequestFields) or outcome.problem in REQUEST_PROBLEMS - {
        "unsupported_media_type"
    }


# -- the JSON body's cheap pre-test and the full ambiguity check agree ------------------------

#: JSON objects that are plain, ambiguous (a key twice, a lone surrogate) or look so (a colon
#: or a ``\u`` where no key is repeated).
AMBIGUITY_TABLE = [
    r"{}",
    r'{"a": 1}',
    r'{"a": 1, "a": 2}',
    r'{"a": 1, "\u0061": 2}',
    r'{"\u0061": 1}',
    r'{"a:b": 1, "a": 2}',
    r'{"a": "x:y:z"}',
    r'{"a": "1", "b": {"a": "2"}}',
    r'{"a": {"b": 1, "b": 2}}',
    r'{"a": [{"b": 1}, {"b": 1, "b": 2}]}',
    r'{"a": [{"b": 1}, {"b": 2}]}',
    r'{"a": "\ud800"}',
    r'{"\udfff": 1}',
    r'{"a": "\ud83d\ude00"}',
    r'{"a": "\u00e9"}',
    r'{"a": "\\u"}',
    r'{"a": "\\ud800"}',
    r'{"a": "\\", "a": 1}',
    r'{"a": ":", "b": ":", "c": 3}',
    r'{"a": ":", "a": ":"}',
    r'{"a" : 1 ,"b":{"c":[1,{"d":"\"e\":"}]}}',
]


def plain_reading(text: str) -> dict[str, Any] | str:
    """An independent reading: the object, or ``"malformed"`` when a key is repeated in one
    object or a lone surrogate makes it not text."""
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        repeated = repeated or len({key for key, _ in items}) < len(items)
        return dict(items)

    document = json.loads(text, object_pairs_hook=pairs)
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "malformed"
    return "malformed" if repeated else document


def body_reading(text: str) -> dict[str, Any] | str:
    try:
        return decode_json_object(text, DEPTH)
    except RequestError as exc:
        return exc.problem


def form_field_reading(text: str) -> dict[str, Any] | str:
    try:
        return parse_body(FORM, urlencode({"params": text}).encode(), max_depth=DEPTH + 1).params
    except RequestError as exc:
        return exc.problem


@pytest.mark.parametrize("text", AMBIGUITY_TABLE)
def test_a_json_body_and_a_json_form_field_are_refused_alike_when_ambiguous(text: str) -> None:
    # The JSON body's path runs the ambiguity check only past a cheap pre-test written out in
    # ``decode_json_object`` (a hot path); an object field of a form runs the whole check every
    # time. Both must read each text as a reader that sees every key does.
    assert body_reading(text) == form_field_reading(text) == plain_reading(text)


_KEYS = st.sampled_from(["a", "b", "\\u0061", "a:", ":", "\\ud800", "\\\\u"])
_VALUES = st.sampled_from(["1", '"x:y"', '"\\ud800"', '"\\u00e9"', '"\\\\u"', "[]", '":"'])


@st.composite
def _object_texts(draw: st.DrawFn, depth: int = 2) -> str:
    members = []
    for key in draw(st.lists(_KEYS, max_size=4)):
        nested = depth > 0 and draw(st.booleans())
        value = draw(_object_texts(depth - 1)) if nested else draw(_VALUES)
        members.append(f'"{key}": {value}')
    return "{" + ", ".join(members) + "}"


@settings(max_examples=300)
@given(_object_texts())
def test_any_object_text_is_read_alike_by_the_body_and_the_form_field(text: str) -> None:
    assert body_reading(text) == form_field_reading(text) == plain_reading(text)
