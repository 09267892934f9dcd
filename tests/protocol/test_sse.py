"""SSE framing: one table drives encoder and decoder; the decoder is chunking-proof and never
fails on garbage; frames interoperate with sse-starlette."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from component_framework.protocol.request import MAX_NUMBER_DIGITS
from component_framework.protocol.sse import (
    SSE_CONTENT_TYPE,
    SSEDecoder,
    SSEEncodeError,
    SSEEvent,
    encode_comment,
    encode_event,
    parse_frame_id,
)

UNICODE = "emoji 😀🎉, CJK 漢字かな한글, combining e\u0301 n\u0303, RTL עברית"

#: (frame arguments, exact bytes the encoder writes, the event the decoder reads back).
FRAMES: list[tuple[dict[str, Any], bytes, SSEEvent]] = [
    ({"data": "hello"}, b"data: hello\n\n", SSEEvent("hello")),
    ({}, b"data: \n\n", SSEEvent("")),
    ({"data": "a\nb"}, b"data: a\ndata: b\n\n", SSEEvent("a\nb")),
    ({"data": "a\r\nb"}, b"data: a\ndata: b\n\n", SSEEvent("a\nb")),
    ({"data": "a\rb"}, b"data: a\ndata: b\n\n", SSEEvent("a\nb")),
    (
        {"data": "a\r\n\rb\n"},
        b"data: a\ndata: \ndata: b\ndata: \n\n",
        SSEEvent("a\n\nb\n"),
    ),
    ({"data": "\n"}, b"data: \ndata: \n\n", SSEEvent("\n")),
    (
        {"data": '<div id="x">\n  <p>hi</p>\r\n</div>'},
        b'data: <div id="x">\ndata:   <p>hi</p>\ndata: </div>\n\n',
        SSEEvent('<div id="x">\n  <p>hi</p>\n</div>'),
    ),
    ({"data": " leading"}, b"data:  leading\n\n", SSEEvent(" leading")),
    ({"data": "k: v"}, b"data: k: v\n\n", SSEEvent("k: v")),
    ({"data": ": not a comment"}, b"data: : not a comment\n\n", SSEEvent(": not a comment")),
    ({"data": "a\x00b"}, b"data: a\x00b\n\n", SSEEvent("a\x00b")),
    (
        {"data": "u2028\u2028nel\x85ff\x0cvt\x0b"},
        "data: u2028\u2028nel\x85ff\x0cvt\x0b\n\n".encode(),
        SSEEvent("u2028\u2028nel\x85ff\x0cvt\x0b"),
    ),
    ({"data": UNICODE}, f"data: {UNICODE}\n\n".encode(), SSEEvent(UNICODE)),
    ({"data": "x", "event": "update"}, b"event: update\ndata: x\n\n", SSEEvent("x", "update")),
    ({"data": "x", "event": "message"}, b"event: message\ndata: x\n\n", SSEEvent("x")),
    ({"data": "x", "event": ""}, b"event: \ndata: x\n\n", SSEEvent("x")),
    ({"data": "x", "id": "42"}, b"id: 42\ndata: x\n\n", SSEEvent("x", id="42")),
    ({"data": "x", "id": ""}, b"id: \ndata: x\n\n", SSEEvent("x", id="")),
    ({"data": "x", "retry": 3000}, b"retry: 3000\ndata: x\n\n", SSEEvent("x", retry=3000)),
    ({"data": "x", "retry": 0}, b"retry: 0\ndata: x\n\n", SSEEvent("x", retry=0)),
    (
        {"data": "é", "event": "ünï 漢", "id": "ид-😀"},
        "event: ünï 漢\nid: ид-😀\ndata: é\n\n".encode(),
        SSEEvent("é", "ünï 漢", "ид-😀"),
    ),
    (
        {"data": "a\nb", "event": "e", "id": "7", "retry": 10},
        b"event: e\nid: 7\nretry: 10\ndata: a\ndata: b\n\n",
        SSEEvent("a\nb", "e", "7", 10),
    ),
]
FRAME_IDS = [repr(arguments)[:60] for arguments, _, _ in FRAMES]
ALL_FRAMES = b"".join(encoded for _, encoded, _ in FRAMES)
ALL_EVENTS = [event for _, _, event in FRAMES]


def decode(*chunks: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    assert decoder.close() == []
    return events


def chunkings(stream: bytes, *, every_split_up_to: int = 400) -> Iterator[list[bytes]]:
    """The same stream whole, byte by byte, and (if small) split in two at every position."""
    yield [stream]
    yield [stream[i : i + 1] for i in range(len(stream))]
    if len(stream) <= every_split_up_to:
        for cut in range(len(stream) + 1):
            yield [stream[:cut], stream[cut:]]


def decode_every_way(stream: bytes) -> list[SSEEvent]:
    """Decode ``stream`` every way :func:`chunkings` offers; all ways must agree."""
    results = [decode(*chunks) for chunks in chunkings(stream)]
    for result in results[1:]:
        assert result == results[0]
    return results[0]


# -- one table, both directions ---------------------------------------------------------------


@pytest.mark.parametrize(("arguments", "encoded", "event"), FRAMES, ids=FRAME_IDS)
def test_encoder_writes_the_exact_frame(
    arguments: dict[str, Any], encoded: bytes, event: SSEEvent
) -> None:
    assert encode_event(**arguments) == encoded


@pytest.mark.parametrize(("arguments", "encoded", "event"), FRAMES, ids=FRAME_IDS)
def test_decoder_reads_the_frame_back_however_it_is_chunked(
    arguments: dict[str, Any], encoded: bytes, event: SSEEvent
) -> None:
    assert decode_every_way(encoded) == [event]


@pytest.mark.parametrize(("arguments", "encoded", "event"), FRAMES, ids=FRAME_IDS)
def test_trailing_partial_frame_is_pending_and_never_dispatched(
    arguments: dict[str, Any], encoded: bytes, event: SSEEvent
) -> None:
    stream = encoded + encoded[:-1]  # the second frame lacks its blank line
    for chunks in chunkings(stream):
        decoder = SSEDecoder()
        events = [found for chunk in chunks for found in decoder.feed(chunk)]

        assert events == [event]
        assert decoder.pending
        assert decoder.close() == []


def test_the_whole_table_as_one_stream_decodes_in_order_byte_by_byte() -> None:
    assert decode(*(ALL_FRAMES[i : i + 1] for i in range(len(ALL_FRAMES)))) == ALL_EVENTS


def test_the_whole_table_as_one_stream_decodes_at_every_split() -> None:
    for cut in range(len(ALL_FRAMES) + 1):
        assert decode(ALL_FRAMES[:cut], ALL_FRAMES[cut:]) == ALL_EVENTS


def test_content_type_is_event_stream_in_utf8() -> None:
    assert SSE_CONTENT_TYPE == "text/event-stream; charset=utf-8"


# -- the encoder ------------------------------------------------------------------------------


def test_every_frame_has_a_data_line_and_ends_with_one_blank_line() -> None:
    for arguments, _, _ in FRAMES:
        frame = encode_event(**arguments)

        assert b"\ndata: " in b"\n" + frame
        assert frame.endswith(b"\n\n")
        assert not frame.endswith(b"\n\n\n")
        assert b"\r" not in frame


def test_comment_is_a_colon_line_then_a_blank_line() -> None:
    assert encode_comment("keep-alive") == b": keep-alive\n\n"


def test_empty_comment_is_a_bare_colon() -> None:
    assert encode_comment() == b":\n\n"


@pytest.mark.parametrize("text", ["a\nb", "a\r\nb", "a\rb"])
def test_comment_line_ends_become_separate_comment_lines(text: str) -> None:
    assert encode_comment(text) == b": a\n: b\n\n"


def test_comment_frames_decode_to_no_events_but_are_counted() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(encode_comment("one\ntwo") + encode_comment()) == []
    assert decoder.comments == 3
    assert not decoder.pending


@pytest.mark.parametrize("field", ["event", "id"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\nb", "\n", "end\r"])
def test_line_end_in_event_or_id_is_an_encode_error_naming_the_field(field: str, bad: str) -> None:
    arguments: dict[str, Any] = {field: bad}

    with pytest.raises(SSEEncodeError, match=field) as excinfo:
        encode_event("x", **arguments)

    assert excinfo.value.field == field


def test_nul_in_id_is_an_encode_error() -> None:
    with pytest.raises(SSEEncodeError, match="NUL") as excinfo:
        encode_event("x", id="a\x00b")

    assert excinfo.value.field == "id"


def test_nul_in_event_name_is_framed() -> None:
    assert encode_event("x", event="a\x00b") == b"event: a\x00b\ndata: x\n\n"


@pytest.mark.parametrize("retry", [-1, -1000, True, 1.5, "10"])
def test_retry_that_is_not_a_non_negative_int_is_an_encode_error(retry: Any) -> None:
    with pytest.raises(SSEEncodeError, match="retry") as excinfo:
        encode_event("x", retry=retry)

    assert excinfo.value.field == "retry"


def test_encode_error_is_a_value_error() -> None:
    assert issubclass(SSEEncodeError, ValueError)


@pytest.mark.parametrize("field", ["data", "event", "id"])
def test_lone_surrogate_is_an_encode_error_naming_the_field(field: str) -> None:
    arguments: dict[str, Any] = {"data": "ok", field: "a\ud800"}

    with pytest.raises(SSEEncodeError, match="surrogate") as excinfo:
        encode_event(**arguments)

    assert excinfo.value.field == field


# -- the decoder: line ends -------------------------------------------------------------------


@pytest.mark.parametrize("end", ["\n", "\r", "\r\n"], ids=["LF", "CR", "CRLF"])
def test_each_line_end_style_frames_the_same_events(end: str) -> None:
    stream = end.join(["event: e", "id: 1", "data: a", "data: b", "", "data: c", "", ""])

    assert decode_every_way(stream.encode()) == [
        SSEEvent("a\nb", "e", "1"),
        SSEEvent("c"),
    ]


def test_mixed_line_ends_in_one_stream() -> None:
    stream = b"data: a\rdata: b\ndata: c\r\n\r\ndata: d\n\r"

    assert decode_every_way(stream) == [SSEEvent("a\nb\nc"), SSEEvent("d")]


def test_cr_ending_one_chunk_and_lf_starting_the_next_are_one_line_end() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [SSEEvent("a\nb")]
    assert decoder.feed(b"\n") == []  # the LF completes the CR: no second blank line
    assert not decoder.pending


def test_cr_then_empty_chunks_then_lf_is_still_one_line_end() -> None:
    decoder = SSEDecoder()

    decoder.feed(b"data: a\r")
    decoder.feed(b"")
    decoder.feed(b"")

    assert decoder.feed(b"\n\n") == [SSEEvent("a")]


def test_two_crs_are_two_line_ends() -> None:
    assert decode_every_way(b"data: a\r\r") == [SSEEvent("a")]


def test_lf_cr_is_two_line_ends() -> None:
    assert decode_every_way(b"data: a\n\r") == [SSEEvent("a")]


# -- the decoder: BOM and UTF-8 ---------------------------------------------------------------


def test_leading_bom_is_stripped() -> None:
    assert decode_every_way(b"\xef\xbb\xbfdata: x\n\n") == [SSEEvent("x")]


def test_only_the_first_bom_is_stripped() -> None:
    # The second BOM is part of the field name, which is then unknown and ignored.
    assert decode_every_way(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n") == [SSEEvent("y")]


def test_bom_after_the_start_of_the_stream_is_data() -> None:
    assert decode_every_way(b"data: \xef\xbb\xbfx\n\n") == [SSEEvent("\ufeffx")]


def test_bom_after_empty_chunks_is_still_the_leading_bom() -> None:
    assert decode(b"", b"\xef", b"", b"\xbb\xbf", b"data: x\n\n") == [SSEEvent("x")]


@pytest.mark.parametrize("character", ["é", "€", "漢", "😀"])
def test_multibyte_character_split_across_chunks(character: str) -> None:
    stream = f"data: {character}\n\n".encode()

    assert decode_every_way(stream) == [SSEEvent(character)]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert decode_every_way(b"data: a\xffb\xe2\x28c\n\n") == [SSEEvent("a\ufffdb\ufffd(c")]


def test_truncated_utf8_at_end_of_stream_is_pending() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\n\n\xe2\x82")

    assert decoder.pending


# -- the decoder: fields ----------------------------------------------------------------------


def test_comment_lines_are_ignored_and_counted() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b": one\ndata: a\n:two\n:\ndata: b\n\n")

    assert events == [SSEEvent("a\nb")]
    assert decoder.comments == 3


def test_unknown_fields_are_ignored() -> None:
    stream = b"foo: bar\ndata: x\nData: y\nevent : z\nretry-after: 5\n\n"

    assert decode_every_way(stream) == [SSEEvent("x")]


def test_field_without_colon_has_an_empty_value() -> None:
    assert decode_every_way(b"data\ndata\n\n") == [SSEEvent("\n")]


def test_event_without_colon_resets_the_type_to_message() -> None:
    assert decode_every_way(b"event: custom\nevent\ndata: x\n\n") == [SSEEvent("x")]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"data:x", "x"),
        (b"data: x", "x"),
        (b"data:  x", " x"),
        (b"data:\tx", "\tx"),
        (b"data: x ", "x "),
        (b"data:", ""),
        (b"data: ", ""),
        (b"data:  ", " "),
    ],
)
def test_exactly_one_space_after_the_colon_is_removed(line: bytes, value: str) -> None:
    assert decode_every_way(line + b"\n\n") == [SSEEvent(value)]


def test_only_the_first_colon_separates_name_from_value() -> None:
    assert decode_every_way(b"data: a: b:c\n\n") == [SSEEvent("a: b:c")]


def test_event_type_applies_to_its_frame_only() -> None:
    stream = b"event: first\ndata: a\n\ndata: b\n\n"

    assert decode_every_way(stream) == [SSEEvent("a", "first"), SSEEvent("b")]


def test_empty_event_type_dispatches_as_message() -> None:
    assert decode_every_way(b"event:\ndata: x\n\n") == [SSEEvent("x")]


def test_last_event_field_of_a_frame_wins() -> None:
    assert decode_every_way(b"event: a\nevent: b\ndata: x\n\n") == [SSEEvent("x", "b")]


@pytest.mark.parametrize("value", [b"abc", b"12a", b"1.5", b"-1", b" 1", b"1 ", b"", b"\xd9\xa3"])
def test_retry_that_is_not_all_ascii_digits_is_ignored(value: bytes) -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b"retry: " + value + b"\ndata: x\n\n")

    assert events == [SSEEvent("x")]
    assert decoder.retry is None


def test_retry_with_digits_sets_the_reconnection_time() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b"retry: 0042\ndata: x\n\n")

    assert events == [SSEEvent("x", retry=42)]
    assert decoder.retry == 42


def test_retry_in_a_frame_without_data_still_sets_the_reconnection_time() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(b"retry: 5000\n\n") == []
    assert decoder.retry == 5000


def test_retry_with_more_digits_than_python_parses_is_ignored() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b"retry: " + b"9" * 10_000 + b"\ndata: x\n\n")

    assert events == [SSEEvent("x")]
    assert decoder.retry is None


def test_retry_applies_to_its_frame_only() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b"retry: 10\ndata: a\n\ndata: b\n\n")

    assert events == [SSEEvent("a", retry=10), SSEEvent("b")]
    assert decoder.retry == 10


# -- the decoder: ids -------------------------------------------------------------------------


def test_last_event_id_persists_across_events_without_id() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\n")

    assert events == [SSEEvent("a", id="1"), SSEEvent("b")]
    assert decoder.last_event_id == "1"


def test_empty_id_resets_the_last_event_id() -> None:
    decoder = SSEDecoder()

    decoder.feed(b"id: 1\ndata: a\n\n")
    events = decoder.feed(b"id\ndata: b\n\n")

    assert events == [SSEEvent("b", id="")]
    assert decoder.last_event_id == ""


def test_id_containing_nul_is_ignored() -> None:
    decoder = SSEDecoder()

    decoder.feed(b"id: 1\ndata: a\n\n")
    events = decoder.feed(b"id: 2\x003\ndata: b\n\n")

    assert events == [SSEEvent("b")]
    assert decoder.last_event_id == "1"


def test_id_in_a_frame_without_data_still_sets_the_last_event_id() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(b"id: 7\n\n") == []
    assert decoder.last_event_id == "7"


def test_last_event_id_is_set_when_the_frame_is_dispatched_not_before() -> None:
    decoder = SSEDecoder()

    decoder.feed(b"id: 9\ndata: x\n")

    assert decoder.last_event_id == ""


def test_last_event_id_starts_empty() -> None:
    assert SSEDecoder().last_event_id == ""


# -- the decoder: dispatch and end of stream --------------------------------------------------


def test_blank_line_without_data_dispatches_nothing() -> None:
    assert decode_every_way(b"\n\n\r\n\r\n") == []


def test_blank_line_without_data_resets_the_event_type() -> None:
    assert decode_every_way(b"event: lost\n\ndata: x\n\n") == [SSEEvent("x")]


def test_frame_with_only_unknown_fields_dispatches_nothing() -> None:
    assert decode_every_way(b"foo: bar\n\n") == []


def test_incomplete_final_event_is_discarded_at_close() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(b"data: complete\n\ndata: incomplete\n") == [SSEEvent("complete")]
    assert decoder.pending
    assert decoder.close() == []
    assert decoder.pending  # close still reports that something was discarded


def test_nothing_is_pending_at_a_frame_boundary() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\n\n")

    assert not decoder.pending
    assert decoder.close() == []
    assert not decoder.pending


def test_partial_line_is_pending() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"dat")

    assert decoder.pending


def test_complete_comment_is_not_pending() -> None:
    decoder = SSEDecoder()
    decoder.feed(b": keep-alive\n")

    assert not decoder.pending


def test_close_is_idempotent() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\n")

    assert decoder.close() == []
    assert decoder.close() == []


def test_feed_after_close_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.close()

    with pytest.raises(RuntimeError, match="after close"):
        decoder.feed(b"data: x\n\n")


def test_a_long_line_fed_byte_by_byte_is_one_line() -> None:
    stream = b"data: " + b"x" * 20_000 + b"\n\n"

    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == [SSEEvent("x" * 20_000)]


# -- frame ids as a client sends them back ----------------------------------------------------


def test_a_frame_id_is_read_back_as_its_run_id_and_sequence_number() -> None:
    assert parse_frame_id("Ab_-9.0") == ("Ab_-9", 0)
    assert parse_frame_id("run.with.dots.42") == ("run.with.dots", 42)


@pytest.mark.parametrize("value", ["run", ".5", "run.", "run.+5", "run.-5", "run.1_0", "run.²"])
def test_a_frame_id_without_a_run_id_and_ascii_digits_is_not_one(value: str) -> None:
    assert parse_frame_id(value) is None


def test_a_sequence_number_has_at_most_the_digits_a_numeric_header_may_have() -> None:
    # One limit for both: a Content-Length of more digits is refused as well.
    longest = "9" * MAX_NUMBER_DIGITS
    assert parse_frame_id(f"run.{longest}") == ("run", int(longest))
    assert parse_frame_id(f"run.0{longest}") is None
    assert parse_frame_id(f"run.{'9' * 5000}") is None  # refused, not converted


# -- properties -------------------------------------------------------------------------------

#: Any UTF-8-encodable text (so no lone surrogates), with plenty of line ends of every style.
DATA_TEXT = st.lists(st.characters(codec="utf-8") | st.sampled_from(["\r", "\n", "\r\n"])).map(
    "".join
)
FIELD_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"))


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(stream)) for cut in cuts})
    return [stream[start:end] for start, end in pairwise([0, *points, len(stream)])]


def normalise_line_ends(text: str) -> str:
    return re.sub(r"\r\n|\r", "\n", text)


@settings(max_examples=200)
@given(
    data=DATA_TEXT,
    event=st.none() | FIELD_TEXT,
    id=st.none() | FIELD_TEXT,
    retry=st.none() | st.integers(min_value=0, max_value=2**40),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_round_trip_through_any_chunking_keeps_every_field(
    data: str, event: str | None, id: str | None, retry: int | None, cuts: list[int]
) -> None:
    stream = encode_event(data, event=event, id=id, retry=retry)

    events = decode(*split_at(stream, cuts))

    assert events == [SSEEvent(normalise_line_ends(data), event or "message", id, retry)]


@settings(max_examples=200)
@given(
    frames=st.lists(st.tuples(DATA_TEXT, st.none() | FIELD_TEXT), max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12),
)
def test_stream_of_frames_and_heartbeats_round_trips_in_order(
    frames: list[tuple[str, str | None]], cuts: list[int]
) -> None:
    stream = encode_comment("hello") + b"".join(
        encode_event(data, event=event) + encode_comment("keep-alive") for data, event in frames
    )

    events = decode(*split_at(stream, cuts))

    assert events == [
        SSEEvent(normalise_line_ends(data), event or "message") for data, event in frames
    ]


#: Fragments that make garbage look like a stream often enough to reach every branch.
STREAM_PIECES = st.sampled_from(
    [
        b"data",
        b"event",
        b"id",
        b"retry",
        b":",
        b" ",
        b"\r",
        b"\n",
        b"\r\n",
        b"\x00",
        b"7",
        b"x",
        b"\xef\xbb\xbf",
        b"\xe2\x82",
        b"\xac",
        b"\xf0\x9f\x98",
        b"\x80",
        b"\xff",
    ]
)
GARBAGE = st.binary(max_size=300) | st.lists(STREAM_PIECES, max_size=80).map(b"".join)


@settings(max_examples=300)
@given(stream=GARBAGE, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_garbage_in_any_chunking_never_raises_and_decodes_like_the_whole(
    stream: bytes, cuts: list[int]
) -> None:
    whole = SSEDecoder()
    chunked = SSEDecoder()

    expected = whole.feed(stream)
    events = [event for chunk in split_at(stream, cuts) for event in chunked.feed(chunk)]

    assert events == expected
    assert all(isinstance(event, SSEEvent) for event in events)
    assert (chunked.pending, chunked.last_event_id, chunked.retry, chunked.comments) == (
        whole.pending,
        whole.last_event_id,
        whole.retry,
        whole.comments,
    )
    assert chunked.close() == []


# -- interop with sse-starlette ---------------------------------------------------------------

INTEROP_CASES: list[dict[str, Any]] = [
    {"data": "hello"},
    {"data": ""},
    {"data": "a\nb\r\nc\rd"},
    {"data": "<ul>\n  <li>one</li>\n</ul>\n"},
    {"data": " spaced ", "event": "update"},
    {"data": UNICODE, "event": "stream_text", "id": "msg-1"},
    {"data": "x", "id": ""},
    {"data": "x", "event": "done", "id": "99", "retry": 1500},
]
INTEROP_IDS = [repr(case)[:50] for case in INTEROP_CASES]


def expected_event(case: dict[str, Any]) -> SSEEvent:
    return SSEEvent(
        normalise_line_ends(case["data"]),
        case.get("event") or "message",
        case.get("id"),
        case.get("retry"),
    )


@pytest.mark.parametrize("sep", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
@pytest.mark.parametrize("case", INTEROP_CASES, ids=INTEROP_IDS)
def test_sse_starlette_frames_decode_to_the_same_values(case: dict[str, Any], sep: str) -> None:
    from sse_starlette import ServerSentEvent

    theirs = ServerSentEvent(**case, sep=sep).encode()

    assert decode_every_way(theirs) == [expected_event(case)]


@pytest.mark.parametrize("case", INTEROP_CASES, ids=INTEROP_IDS)
def test_our_frames_decode_like_sse_starlette_frames(case: dict[str, Any]) -> None:
    from sse_starlette import ServerSentEvent

    ours = encode_event(**case)
    theirs = ServerSentEvent(**case).encode()

    assert decode(ours) == decode(theirs)


def test_sse_starlette_comment_is_a_comment_to_our_decoder() -> None:
    from sse_starlette import ServerSentEvent

    decoder = SSEDecoder()

    assert decoder.feed(ServerSentEvent(comment="ping").encode()) == []
    assert decoder.comments == 1


def test_our_heartbeat_is_byte_identical_to_sse_starlette_with_lf() -> None:
    from sse_starlette import ServerSentEvent

    assert encode_comment("keep-alive") == ServerSentEvent(comment="keep-alive", sep="\n").encode()


def test_our_frame_is_byte_identical_to_sse_starlette_for_plain_data_with_lf() -> None:
    from sse_starlette import ServerSentEvent

    assert encode_event("a\nb") == ServerSentEvent("a\nb", sep="\n").encode()
