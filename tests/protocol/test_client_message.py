"""The common event message is read as the general field rules read it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from component_framework.protocol.websocket import (
    ClientMessage,
    MessageError,
    parse_client_message,
    read_client_message,
)

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
plain_events = st.fixed_dictionaries(
    {"type": st.just("event")},
    optional={
        "event": st.none() | st.integers() | st.text(max_size=8),
        "payload": st.none()
        | st.lists(scalars, max_size=2)
        | st.dictionaries(st.text(max_size=4), scalars, max_size=3),
        "ref": st.none() | st.integers() | st.text(max_size=8),
    },
)


def _read(document: dict[str, Any]) -> ClientMessage | tuple[str, str, object]:
    try:
        return parse_client_message(json.dumps(document), max_depth=8)
    except MessageError as error:
        return error.problem, str(error), error.ref


@given(document=plain_events)
def test_a_plain_event_message_reads_as_with_one_more_field_that_changes_nothing(
    document: dict[str, Any],
) -> None:
    # "params": null is a reserved field at its default: the message takes the general rules.
    assert _read(document) == _read({**document, "params": None})


def test_a_plain_event_message_gives_the_event_its_payload_and_ref() -> None:
    text = '{"type": "event", "event": "increment", "payload": {"by": 2}, "ref": 7}'
    message = parse_client_message(text, max_depth=8)
    assert (message.type, message.event, message.payload, message.ref) == (
        "event",
        "increment",
        {"by": 2},
        7,
    )
    assert (message.params, message.snapshot, message.component_id, message.htmx) == (
        {},
        None,
        None,
        False,
    )


@given(document=plain_events)
def test_the_readers_plain_event_is_what_the_parsed_message_holds(
    document: dict[str, Any],
) -> None:
    # The socket's reader takes a plain event as (event, payload, ref): the same three fields,
    # the same errors; anything else comes back as the ClientMessage parse_client_message gives.
    text = json.dumps(document)

    def both(read: Any) -> object:
        try:
            message = read(text, max_depth=8)
        except MessageError as error:
            return error.problem, str(error), error.ref
        if isinstance(message, tuple):  # the reader's plain event, as a message to compare
            return ClientMessage("event", message[0], message[1], ref=message[2])
        return message

    assert both(read_client_message) == both(parse_client_message)


def test_only_a_plain_event_is_read_as_its_three_fields() -> None:
    plain = '{"type": "event", "event": "increment", "payload": {"by": 2}, "ref": 7}'
    assert read_client_message(plain, max_depth=8) == ("increment", {"by": 2}, 7)
    assert read_client_message('{"type": "event", "event": "go"}', max_depth=8) == ("go", {}, None)
    of_a_child = '{"type": "event", "event": "go", "component_id": "c-1"}'
    message = read_client_message(of_a_child, max_depth=8)
    assert isinstance(message, ClientMessage)
    assert (message.event, message.component_id) == ("go", "c-1")
    ping = read_client_message('{"type": "ping", "ref": 3}', max_depth=8)
    assert isinstance(ping, ClientMessage)
    assert (ping.type, ping.ref) == ("ping", 3)


@pytest.mark.parametrize("kind", ["event", "ping"])
@pytest.mark.parametrize("ref", [None, 0, -3, 2**70, "", "r" * 128])
def test_a_ref_that_is_an_int_or_a_short_string_is_echoed_as_sent(kind: str, ref: object) -> None:
    text = json.dumps({"type": kind, "event": "increment", "ref": ref})
    assert parse_client_message(text, max_depth=8).ref == ref


@pytest.mark.parametrize("kind", ["event", "ping"])
@pytest.mark.parametrize("ref", [True, False, 1.5, "r" * 129, [1], {"a": 1}])
def test_any_other_ref_is_refused_as_malformed(kind: str, ref: object) -> None:
    text = json.dumps({"type": kind, "event": "increment", "ref": ref})
    with pytest.raises(MessageError, match="'ref' must be a string of at most 128") as caught:
        parse_client_message(text, max_depth=8)
    assert (caught.value.problem, caught.value.ref) == ("malformed", None)
