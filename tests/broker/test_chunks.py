"""Broker messages as text payloads under NOTIFY's limit (``core.broker_chunks``), sans-IO."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from component_framework.core.broker_chunks import (
    NOTIFY_PAYLOAD_LIMIT,
    ChunkAssembler,
    encode_chunks,
)


def _size(payload: str) -> int:
    return len(payload.encode("utf-8"))


def _assemble(payloads: list[str]) -> list[bytes]:
    assembler = ChunkAssembler()
    messages = [assembler.feed(payload) for payload in payloads]
    return [message for message in messages if message is not None]


@pytest.mark.parametrize(
    ("data", "prefix"),
    [
        (b"", "t"),
        (b'{"v":1,"e":"price_update"}', "t"),
        ("café ☕ 𝄞".encode(), "t"),
        (b"nul\x00inside", "b"),
        (bytes(range(256)), "b"),
        (b"\xff\xfe not utf-8", "b"),
    ],
    ids=["empty", "json", "multibyte", "nul", "every-byte", "not-utf8"],
)
def test_a_short_message_is_one_payload_that_comes_back_unchanged(data: bytes, prefix: str) -> None:
    payloads = encode_chunks(data)

    assert len(payloads) == 1
    assert payloads[0].startswith(prefix)
    assert "\x00" not in payloads[0]
    assert _assemble(payloads) == [data]


def test_a_message_of_exactly_the_limit_is_one_payload_and_one_byte_more_is_split() -> None:
    fits = b"x" * (NOTIFY_PAYLOAD_LIMIT - 1)  # plus the one-character prefix

    assert [_size(p) for p in encode_chunks(fits)] == [NOTIFY_PAYLOAD_LIMIT]
    assert len(encode_chunks(fits + b"x")) == 2
    assert _assemble(encode_chunks(fits + b"x")) == [fits + b"x"]


@pytest.mark.parametrize("character", ["a", "é", "☕", "𝄞"], ids=["1B", "2B", "3B", "4B"])
def test_pieces_stay_under_the_limit_and_never_cut_a_character(character: str) -> None:
    data = (character * 20_000).encode()

    payloads = encode_chunks(data, limit=1000)

    assert len(payloads) > 1
    assert all(_size(payload) <= 1000 for payload in payloads)
    assert _assemble(payloads) == [data]


def test_a_megabyte_message_travels_in_pieces_under_the_notify_limit() -> None:
    data = random.Random(19).randbytes(1 << 20)

    payloads = encode_chunks(data)

    assert all(_size(payload) <= NOTIFY_PAYLOAD_LIMIT for payload in payloads)
    assert _assemble(payloads) == [data]


def test_pieces_of_two_messages_interleaved_and_reordered_come_together() -> None:
    first, second = b"A" * 5000, "é".encode() * 3000
    mixed = encode_chunks(first, limit=700) + encode_chunks(second, limit=700)
    random.Random(4).shuffle(mixed)

    assert sorted(_assemble(mixed)) == sorted([first, second])


def test_a_repeated_piece_does_not_complete_a_message_early() -> None:
    payloads = encode_chunks(b"z" * 3000, limit=500)
    assembler = ChunkAssembler()

    outcomes = [assembler.feed(payloads[0]), assembler.feed(payloads[0])]
    outcomes += [assembler.feed(payload) for payload in payloads[1:]]

    assert outcomes[:-1] == [None] * (len(payloads))
    assert outcomes[-1] == b"z" * 3000


def test_a_message_missing_a_piece_is_dropped_once_others_crowd_it_out() -> None:
    assembler = ChunkAssembler(max_pending=2)
    lost = encode_chunks(b"lost" * 500, limit=400)
    assembler.feed(lost[0])  # its link dropped: the rest never comes

    for _ in range(2):
        for payload in encode_chunks(b"later" * 500, limit=400)[:-1]:
            assembler.feed(payload)

    assert (len(assembler), assembler.dropped) == (2, 1)


def test_a_forged_piece_count_costs_nothing() -> None:
    assembler = ChunkAssembler()

    assert assembler.feed("c0123456789abcdef:0:999999999:tpiece") is None
    assert len(assembler) == 1


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "x",
        "bnot base64!",
        "c",
        "c0123456789abcdef:0:2:",
        "cshort:0:2:tpiece",
        "c0123456789abcdef:2:2:tpiece",
        "c0123456789abcdef:-1:2:tpiece",
        "c0123456789abcdef:a:2:tpiece",
        "c0123456789abcdef:0:1000000000:tpiece",
        "c0123456789abcdef:0:1:xpiece",
    ],
)
def test_garbage_is_a_value_error(payload: str) -> None:
    with pytest.raises(ValueError, match="broker payload"):
        ChunkAssembler().feed(payload)


def test_pieces_that_disagree_with_their_message_are_a_value_error() -> None:
    assembler = ChunkAssembler()
    assembler.feed("c0123456789abcdef:0:3:tone")

    with pytest.raises(ValueError, match="disagrees"):
        assembler.feed("c0123456789abcdef:1:2:ttwo")


def test_a_limit_too_small_for_the_piece_header_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        encode_chunks(b"data", limit=10)


@given(data=st.binary(max_size=3000), limit=st.integers(min_value=44, max_value=1200))
def test_every_message_round_trips_under_any_limit(data: bytes, limit: int) -> None:
    payloads = encode_chunks(data, limit)

    assert all(_size(payload) <= limit and "\x00" not in payload for payload in payloads)
    assert _assemble(payloads) == [data]


@given(text=st.text(max_size=2000), limit=st.integers(min_value=44, max_value=600))
def test_every_text_message_round_trips_under_any_limit(text: str, limit: int) -> None:
    data = text.encode("utf-8", "surrogatepass")

    assert _assemble(encode_chunks(data, limit)) == [data]
