"""The sans-IO parts of nesting: a snapshot bound to a parent and key, and the reserved
request fields ``children``, ``component_id`` and ``lazy``."""

from __future__ import annotations

import pytest

from component_framework.protocol.request import (
    DEFAULT_MAX_FIELDS,
    RequestError,
    parse_body,
    parse_query,
    socket_options,
)
from component_framework.protocol.snapshot import SnapshotError, SnapshotSigner

SIGNER = SnapshotSigner(["protocol-nesting-key-0123456789"])


def test_a_child_snapshot_carries_its_parent_and_key() -> None:
    token = SIGNER.sign("item", "item-1", {"count": 1}, ("shelf-1", "7"))
    snapshot = SIGNER.verify(token, "item")
    assert (snapshot.parent, snapshot.state) == (("shelf-1", "7"), {"count": 1})
    assert SIGNER.verify(SIGNER.sign("item", "item-1", {}), "item").parent is None


def test_a_snapshot_verifies_for_any_component_when_none_is_named() -> None:
    token = SIGNER.sign("item", "item-1", {}, ("shelf-1", "7"))
    assert SIGNER.verify(token, None).component_name == "item"
    with pytest.raises(SnapshotError) as refused:
        SIGNER.verify(token, "note")
    assert refused.value.problem == "foreign"


def test_children_travel_as_a_json_array_or_its_text_in_a_form() -> None:
    json_body = parse_body("application/json", b'{"children": ["a", "b"]}', max_depth=8)
    assert json_body.children == ("a", "b")
    form = parse_body(
        "application/x-www-form-urlencoded", b"children=%5B%22a%22%5D&x=1", max_depth=8
    )
    assert (form.children, form.params) == (("a",), {"x": "1"})
    assert parse_query(b"lazy=tok&snapshot=", max_depth=8).lazy == "tok"


@pytest.mark.parametrize(
    "body",
    [b'{"children": {"a": "b"}}', b'{"children": [1]}', b'{"component_id": 3}', b'{"lazy": []}'],
)
def test_reserved_nesting_fields_have_fixed_types(body: bytes) -> None:
    with pytest.raises(RequestError):
        parse_body("application/json", body, max_depth=8)


def test_children_are_bounded_by_the_default_field_limit() -> None:
    body = b'{"children": [' + b",".join(b'"t"' for _ in range(DEFAULT_MAX_FIELDS + 1)) + b"]}"
    with pytest.raises(RequestError) as refused:
        parse_body("application/json", body, max_depth=8)
    assert refused.value.problem == "too_many_fields"


@pytest.mark.parametrize("query", [b"children=%5B%22a%22%5D", b"lazy=t", b"component_id=c"])
def test_a_socket_url_takes_no_nesting_field(query: bytes) -> None:
    fields = parse_query(query, max_depth=8)
    with pytest.raises(RequestError):
        socket_options(fields)
