"""Stream operations (wire shape, validation) and the lossless, rate-limited coalescer."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from component_framework.core.streams import (
    StreamCoalescer,
    StreamOp,
    delete_op,
    done_op,
    error_op,
    insert_op,
    replace_op,
    start_op,
    text_op,
)

# -- wire shape -----------------------------------------------------------------------------

WIRE: list[tuple[StreamOp, dict[str, object]]] = [
    (start_op("response"), {"op": "start", "stream": "response"}),
    (
        text_op("response", "Hel"),
        {"op": "text", "stream": "response", "text": "Hel", "mode": "append"},
    ),
    (
        text_op("status", "50%", mode="replace", target=".pct"),
        {"op": "text", "stream": "status", "text": "50%", "mode": "replace", "target": ".pct"},
    ),
    (
        insert_op("log", "<li>a</li>", at="prepend", target="ul"),
        {"op": "insert", "stream": "log", "html": "<li>a</li>", "at": "prepend", "target": "ul"},
    ),
    (
        insert_op("log", "<li>b</li>"),
        {"op": "insert", "stream": "log", "html": "<li>b</li>", "at": "append"},
    ),
    (replace_op("out", "<p>x</p>"), {"op": "replace", "stream": "out", "html": "<p>x</p>"}),
    (
        replace_op("out", "", target="#list"),
        {"op": "replace", "stream": "out", "html": "", "target": "#list"},
    ),
    (
        delete_op("messages", "#msg-42"),
        {"op": "delete", "stream": "messages", "selector": "#msg-42"},
    ),
    (
        error_op("response", "model timed out"),
        {"op": "error", "stream": "response", "text": "model timed out"},
    ),
    (done_op("a-B_9"), {"op": "done", "stream": "a-B_9"}),
]
WIRE_IDS = [f"{op.op}-{index}" for index, (op, _) in enumerate(WIRE)]


def test_the_wire_table_covers_every_op_kind() -> None:
    assert {op.op for op, _ in WIRE} == {
        "start",
        "text",
        "insert",
        "replace",
        "delete",
        "error",
        "done",
    }


@pytest.mark.parametrize(("op", "wire"), WIRE, ids=WIRE_IDS)
def test_to_wire_carries_op_stream_and_only_the_fields_set(
    op: StreamOp, wire: dict[str, object]
) -> None:
    assert op.to_wire() == wire
    assert list(op.to_wire())[:2] == ["op", "stream"]


@pytest.mark.parametrize(("op", "wire"), WIRE, ids=WIRE_IDS)
def test_from_wire_reads_what_to_wire_wrote_through_json(
    op: StreamOp, wire: dict[str, object]
) -> None:
    assert StreamOp.from_wire(json.loads(json.dumps(op.to_wire()))) == op
    assert StreamOp.from_wire(wire) == op


def test_from_wire_reads_a_websocket_message_ignoring_its_envelope_and_unknown_keys() -> None:
    message = {"type": "stream", "op": "text", "stream": "r", "text": "x", "future": 1}
    assert StreamOp.from_wire(message) == StreamOp("text", "r", text="x")


def test_from_wire_treats_null_as_absent() -> None:
    data = {"op": "done", "stream": "r", "text": None, "html": None, "target": None}
    assert StreamOp.from_wire(data) == done_op("r")


REJECTED: list[tuple[object, str]] = [
    (["op", "text"], "stream op: expected a JSON object, got list"),
    (
        {"stream": "r"},
        "stream op: expected op to be one of 'start', 'text', 'insert', 'replace', "
        "'delete', 'error' or 'done', got None",
    ),
    ({"op": "append", "stream": "r"}, "got 'append'"),
    ({"op": 3, "stream": "r"}, "got 3"),
    ({"op": "start"}, "stream_start: missing stream"),
    ({"op": "start", "stream": 7}, "stream_start: expected stream to be str, got int"),
    ({"op": "start", "stream": ""}, "stream_start: expected stream to be 1-64 characters"),
    ({"op": "start", "stream": "a b"}, "got 'a b'"),
    ({"op": "start", "stream": "caf\u00e9"}, "expected stream to be 1-64 characters"),
    ({"op": "start", "stream": "a" * 65}, "expected stream to be 1-64 characters"),
    ({"op": "start", "stream": "r\n"}, "expected stream to be 1-64 characters"),
    ({"op": "text", "stream": "r"}, "stream_text: missing text"),
    ({"op": "text", "stream": "r", "text": 5}, "stream_text: expected text to be str, got int"),
    (
        {"op": "text", "stream": "r", "text": "x", "mode": "prepend"},
        "stream_text: expected mode to be 'append' or 'replace', got 'prepend'",
    ),
    (
        {"op": "text", "stream": "r", "text": "x", "html": "<b>"},
        "stream_text: a text op takes no html",
    ),
    (
        {"op": "text", "stream": "r", "text": "x", "target": ""},
        "stream_text: expected target to be a CSS selector, got ''",
    ),
    ({"op": "insert", "stream": "r"}, "stream_insert: missing html"),
    (
        {"op": "insert", "stream": "r", "html": "<i>", "at": "middle"},
        "stream_insert: expected at to be 'append' or 'prepend', got 'middle'",
    ),
    (
        {"op": "insert", "stream": "r", "html": ["<i>"]},
        "stream_insert: expected html to be str, got list",
    ),
    (
        {"op": "replace", "stream": "r", "html": "<i>", "at": "append"},
        "stream_to: a replace op takes no at",
    ),
    ({"op": "delete", "stream": "r"}, "stream_delete: missing selector"),
    (
        {"op": "delete", "stream": "r", "selector": "  "},
        "stream_delete: expected selector to be a CSS",
    ),
    ({"op": "error", "stream": "r"}, "stream_error: missing text"),
    ({"op": "done", "stream": "r", "text": "bye"}, "stream_done: a done op takes no text"),
    ({"op": "start", "stream": "r", "mode": "append"}, "stream_start: a start op takes no mode"),
]


@pytest.mark.parametrize(("data", "message"), REJECTED, ids=[m[:40] for _, m in REJECTED])
def test_from_wire_rejects_bad_input_saying_what_was_expected(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        StreamOp.from_wire(data)  # type: ignore[arg-type]


Factory = Callable[..., StreamOp]
#: (factory, positional arguments, keyword arguments, expected message); the arguments are
#: deliberately of the wrong type, as an untyped caller would pass them.
FACTORY_ERRORS: list[tuple[Factory, tuple[object, ...], dict[str, object], str]] = [
    (text_op, ("r", 5), {}, "stream_text: expected text to be str, got int"),
    (text_op, ("r", b"x"), {}, "stream_text: expected text to be str, got bytes"),
    (
        text_op,
        ("r", "x"),
        {"mode": "prepend"},
        "stream_text: expected mode to be 'append' or 'replace', got 'prepend'",
    ),
    (text_op, ("r r", "x"), {}, "stream_text: expected stream to be 1-64 characters"),
    (insert_op, ("r", None), {}, "stream_insert: missing html"),
    (
        insert_op,
        ("r", "<i>"),
        {"at": "end"},
        "stream_insert: expected at to be 'append' or 'prepend', got 'end'",
    ),
    (replace_op, ("r", 1), {}, "stream_to: expected html to be str, got int"),
    (replace_op, ("r", "<i>"), {"target": ""}, "stream_to: expected target to be a CSS selector"),
    (delete_op, ("r", ""), {}, "stream_delete: expected selector to be a CSS selector, got ''"),
    (
        error_op,
        ("r", RuntimeError("x")),
        {},
        "stream_error: expected error to be str, got RuntimeError",
    ),
    (start_op, (None,), {}, "stream_start: expected stream to be str, got NoneType"),
    (done_op, ("x" * 65,), {}, "stream_done: expected stream to be 1-64 characters"),
]


@pytest.mark.parametrize(
    ("factory", "args", "kwargs", "message"),
    FACTORY_ERRORS,
    ids=[entry[-1][:40] for entry in FACTORY_ERRORS],
)
def test_factories_reject_bad_arguments_naming_the_component_method(
    factory: Factory, args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        factory(*args, **kwargs)


def test_the_constructor_validates_so_no_invalid_op_exists() -> None:
    with pytest.raises(ValueError, match="stream_start: a start op takes no text"):
        StreamOp("start", "r", text="x")
    with pytest.raises(ValueError, match="stream op: expected op to be one of"):
        StreamOp("push", "r")  # type: ignore[arg-type]


def test_validate_catches_an_op_mutated_after_construction() -> None:
    op = text_op("r", "x")
    op.text = 3  # type: ignore[assignment]
    with pytest.raises(ValueError, match="expected text to be str, got int"):
        op.validate()


def test_a_64_character_stream_name_is_accepted() -> None:
    assert start_op("a" * 64).stream == "a" * 64


def test_size_is_close_to_the_encoded_length() -> None:
    for op, _ in [*WIRE, (text_op("r", "x" * 1000), {})]:
        encoded = len(json.dumps(op.to_wire(), separators=(",", ":"), ensure_ascii=False))
        assert encoded * 0.75 <= op.size() <= encoded * 1.5 + 10
    assert text_op("r", "ab").size() - text_op("r", "a").size() == 1


# -- wire properties ------------------------------------------------------------------------

STREAM_NAMES = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=64)
SELECTORS = st.sampled_from(["#a", ".b", "li:last-child", "[data-x='1']"])
OPTIONAL_TARGET = st.none() | SELECTORS


def any_op(
    streams: st.SearchStrategy[str] = STREAM_NAMES,
    texts: st.SearchStrategy[str] | None = None,
    targets: st.SearchStrategy[str | None] = OPTIONAL_TARGET,
) -> st.SearchStrategy[StreamOp]:
    texts = st.text() if texts is None else texts
    return st.one_of(
        st.builds(start_op, streams),
        st.builds(text_op, streams, texts, st.sampled_from(["append", "replace"]), targets),
        st.builds(insert_op, streams, texts, st.sampled_from(["append", "prepend"]), targets),
        st.builds(replace_op, streams, texts, targets),
        st.builds(delete_op, streams, SELECTORS),
        st.builds(error_op, streams, texts),
        st.builds(done_op, streams),
    )


@given(any_op())
def test_every_valid_op_survives_a_json_round_trip(op: StreamOp) -> None:
    assert StreamOp.from_wire(json.loads(json.dumps(op.to_wire()))) == op


WIRE_KEYS = ["op", "stream", "text", "html", "mode", "at", "target", "selector", "type"]
WIRE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.sampled_from(["start", "text", "insert", "replace", "delete", "error", "done"]),
    st.sampled_from(["append", "prepend", "replace", "r", "#a"]),
    st.lists(st.integers(), max_size=2),
)


@given(st.dictionaries(st.sampled_from(WIRE_KEYS), WIRE_VALUES))
def test_garbage_either_parses_to_a_valid_op_or_raises_value_error(data: dict[str, object]) -> None:
    try:
        op = StreamOp.from_wire(data)
    except ValueError:
        return
    assert StreamOp.from_wire(op.to_wire()) == op


# -- coalescer: merging and order -----------------------------------------------------------


def push_all(coalescer: StreamCoalescer, ops: Iterable[StreamOp], now: float = 0.0) -> None:
    for op in ops:
        coalescer.push(op, now)


def settled() -> StreamCoalescer:
    """A coalescer that flushed at time 0, so nothing pushed soon after is due yet."""
    coalescer = StreamCoalescer()
    coalescer.push(text_op("warmup", "w"), 0.0)
    coalescer.flush(0.0)
    return coalescer


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "expected interval > 0, got 0"),
        ({"interval": -1.0}, "expected interval > 0"),
        ({"interval": float("nan")}, "expected interval > 0"),
        ({"interval": 0.1, "max_delay": 0.05}, "expected max_delay >= interval (0.1), got 0.05"),
        ({"max_delay": float("inf")}, "expected max_delay >= interval"),
        ({"max_batch_bytes": 0}, "expected max_batch_bytes > 0, got 0"),
        ({"max_batch_bytes": True}, "expected max_batch_bytes > 0, got True"),
    ],
)
def test_coalescer_rejects_settings_it_cannot_honour(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        StreamCoalescer(**kwargs)  # type: ignore[arg-type]


def test_unmergeable_ops_come_out_in_push_order_across_kinds_and_streams() -> None:
    ops = [
        start_op("a"),
        text_op("a", "x"),
        start_op("b"),
        insert_op("b", "<li>1</li>"),
        text_op("a", "y"),
        replace_op("b", "<p/>"),
        delete_op("b", "li"),
        insert_op("b", "<li>2</li>"),
        insert_op("b", "<li>3</li>"),
        error_op("a", "boom"),
        done_op("b"),
    ]
    coalescer = StreamCoalescer()
    push_all(coalescer, ops)
    assert coalescer.pending == len(ops)
    flushed = coalescer.flush(0.0)
    assert flushed == ops
    assert all(out is op for out, op in zip(flushed, ops, strict=True))
    assert coalescer.pending == 0
    assert coalescer.pending_bytes == 0


def test_consecutive_appends_to_the_same_place_become_one_op() -> None:
    coalescer = StreamCoalescer()
    push_all(coalescer, [text_op("r", "Hel"), text_op("r", "lo, "), text_op("r", "world")])
    assert coalescer.pending == 1
    assert coalescer.pending_bytes == text_op("r", "Hello, world").size()
    assert coalescer.flush(0.0) == [text_op("r", "Hello, world")]


def test_appends_never_merge_across_another_op_or_place() -> None:
    ops = [
        text_op("a", "1"),
        insert_op("a", "<hr>"),
        text_op("a", "2"),
        text_op("b", "3"),
        text_op("a", "4"),
        text_op("a", "5", target="#t"),
        text_op("a", "6"),
    ]
    coalescer = StreamCoalescer()
    push_all(coalescer, ops)
    assert coalescer.flush(0.0) == ops


def test_appends_after_a_text_replace_join_the_replace() -> None:
    coalescer = StreamCoalescer()
    push_all(
        coalescer,
        [text_op("s", "Loading", mode="replace"), text_op("s", "."), text_op("s", ".")],
    )
    assert coalescer.flush(0.0) == [text_op("s", "Loading..", mode="replace")]


def test_a_text_replace_after_appends_is_kept_separate() -> None:
    ops = [text_op("s", "a"), text_op("s", "b", mode="replace"), text_op("s", "c", mode="replace")]
    coalescer = StreamCoalescer()
    push_all(coalescer, ops)
    assert coalescer.flush(0.0) == ops


def test_a_replace_supersedes_the_replace_just_before_it() -> None:
    coalescer = StreamCoalescer()
    push_all(coalescer, [replace_op("o", "<p>1</p>"), replace_op("o", "<p>22</p>")])
    assert coalescer.pending == 1
    assert coalescer.pending_bytes == replace_op("o", "<p>22</p>").size()
    assert coalescer.flush(0.0) == [replace_op("o", "<p>22</p>")]


def test_replaces_of_different_targets_are_all_kept() -> None:
    ops = [replace_op("o", "1"), replace_op("o", "2", target="#x"), replace_op("p", "3")]
    coalescer = StreamCoalescer()
    push_all(coalescer, ops)
    assert coalescer.flush(0.0) == ops


def test_the_coalescer_does_not_change_the_ops_it_was_given() -> None:
    first = text_op("r", "a")
    coalescer = StreamCoalescer()
    push_all(coalescer, [first, text_op("r", "b")])
    assert coalescer.flush(0.0) == [text_op("r", "ab")]
    assert first == text_op("r", "a")


# -- coalescer: timing ----------------------------------------------------------------------


def test_nothing_queued_is_never_due() -> None:
    coalescer = StreamCoalescer()
    assert not coalescer.ready(100.0)
    assert coalescer.next_deadline() is None
    assert coalescer.flush(100.0) == []


def test_the_first_op_goes_out_at_once() -> None:
    coalescer = StreamCoalescer()
    coalescer.push(text_op("r", "x"), 5.0)
    assert coalescer.next_deadline() == 5.0
    assert coalescer.ready(5.0)


def test_the_first_text_after_a_start_goes_out_at_once() -> None:
    coalescer = StreamCoalescer()
    coalescer.push(start_op("r"), 0.0)
    assert coalescer.ready(0.0)
    coalescer.flush(0.0)  # a frame of lifecycle ops alone: it holds nothing back
    coalescer.push(text_op("r", "first token"), 0.001)
    assert coalescer.ready(0.001)


def test_an_op_after_a_flush_waits_for_the_interval() -> None:
    coalescer = settled()
    coalescer.push(text_op("r", "x"), 0.001)
    assert coalescer.next_deadline() == pytest.approx(1 / 60)
    assert not coalescer.ready(0.001)
    assert not coalescer.ready(0.016)
    assert coalescer.ready(1 / 60)
    assert coalescer.ready(0.5)


def test_an_op_long_after_the_last_flush_is_due_when_pushed() -> None:
    coalescer = settled()
    coalescer.push(text_op("r", "x"), 3.0)
    assert coalescer.next_deadline() == 3.0
    assert coalescer.ready(3.0)


def test_an_empty_flush_does_not_hold_back_the_next_op() -> None:
    coalescer = settled()
    assert coalescer.flush(1.0) == []
    coalescer.push(text_op("r", "x"), 1.001)
    assert coalescer.ready(1.001)


@pytest.mark.parametrize("lifecycle", [start_op("r"), done_op("r"), error_op("r", "no")])
def test_a_lifecycle_op_is_due_at_once_behind_the_ops_before_it(lifecycle: StreamOp) -> None:
    coalescer = settled()
    coalescer.push(text_op("r", "partial"), 0.001)
    assert not coalescer.ready(0.002)
    coalescer.push(lifecycle, 0.002)
    assert coalescer.ready(0.002)
    assert coalescer.next_deadline() == 0.001
    assert coalescer.flush(0.002) == [text_op("r", "partial"), lifecycle]


def test_the_byte_budget_makes_a_flush_due_at_once() -> None:
    coalescer = StreamCoalescer(max_batch_bytes=100)
    coalescer.push(text_op("w", "w"), 0.0)
    coalescer.flush(0.0)
    coalescer.push(text_op("r", "x" * 40), 0.001)
    assert not coalescer.ready(0.001)
    coalescer.push(text_op("r", "y" * 40), 0.002)
    assert coalescer.pending_bytes >= 100
    assert coalescer.ready(0.002)
    assert coalescer.next_deadline() == 0.001


def test_one_op_over_the_byte_budget_is_due_at_once() -> None:
    coalescer = StreamCoalescer(max_batch_bytes=10)
    coalescer.push(start_op("w"), 0.0)
    coalescer.flush(0.0)
    coalescer.push(insert_op("r", "<li>long enough</li>"), 0.001)
    assert coalescer.ready(0.001)


def test_the_flush_time_restarts_the_interval() -> None:
    coalescer = settled()
    coalescer.push(text_op("r", "a"), 0.01)
    assert coalescer.flush(0.02) == [text_op("r", "a")]
    coalescer.push(text_op("r", "b"), 0.021)
    assert coalescer.next_deadline() == pytest.approx(0.02 + 1 / 60)


def test_max_delay_bounds_the_wait_when_an_op_is_stamped_before_the_last_flush() -> None:
    # A transport may stamp an op when the handler produced it and push it after a flush that
    # the writer made meanwhile; the rate rule alone would then let it wait interval + lag.
    coalescer = StreamCoalescer(interval=0.04, max_delay=0.05)
    coalescer.push(text_op("w", "w"), 10.0)
    coalescer.flush(10.0)
    coalescer.push(text_op("r", "x"), 9.98)
    assert coalescer.next_deadline() == pytest.approx(10.03)
    assert not coalescer.ready(10.02)
    assert coalescer.ready(9.98 + 0.05)


# -- coalescer: a transport loop and the no-loss property -----------------------------------


@dataclass
class Driver:
    """What a transport does: push, flush when ready, otherwise sleep until the deadline."""

    coalescer: StreamCoalescer
    flushed: list[StreamOp] = field(default_factory=list)
    flush_times: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    _oldest: float = 0.0

    def _flush(self, now: float) -> None:
        ops = self.coalescer.flush(now)
        assert ops
        self.flushed.extend(ops)
        self.flush_times.append(now)
        self.waits.append(now - self._oldest)

    def sleep_until(self, now: float) -> None:
        deadline = self.coalescer.next_deadline()
        if deadline is not None and deadline <= now:
            assert self.coalescer.ready(deadline)
            self._flush(deadline)

    def push(self, op: StreamOp, now: float) -> None:
        self.sleep_until(now)
        if self.coalescer.pending == 0:
            self._oldest = now
        self.coalescer.push(op, now)
        if self.coalescer.ready(now):
            self._flush(now)

    def drain(self) -> None:
        deadline = self.coalescer.next_deadline()
        if deadline is not None:
            self._flush(deadline)


Place = tuple[str, str | None]
Content = tuple[tuple[str, str], ...]


@dataclass
class DomModel:
    """Just enough DOM: per stream and target, a run of text and HTML pieces; plus a log of
    lifecycle ops and deletes, each with a copy of all content at that moment."""

    content: dict[Place, list[tuple[str, str]]] = field(default_factory=dict)
    log: list[tuple[str, str, str | None, dict[Place, Content]]] = field(default_factory=list)

    def apply(self, op: StreamOp) -> None:
        pieces = self.content.setdefault((op.stream, op.target), [])
        if op.op == "text":
            assert op.text is not None
            if op.mode == "replace":
                pieces.clear()
            if pieces and pieces[-1][0] == "text":
                pieces[-1] = ("text", pieces[-1][1] + op.text)
            else:
                pieces.append(("text", op.text))
        elif op.op == "insert":
            assert op.html is not None
            pieces.insert(0 if op.at == "prepend" else len(pieces), ("html", op.html))
        elif op.op == "replace":
            assert op.html is not None
            pieces[:] = [("html", op.html)]
        else:
            detail = op.selector if op.op == "delete" else op.text
            frozen = {place: tuple(run) for place, run in self.content.items()}
            self.log.append((op.op, op.stream, detail, frozen))


def replay(ops: Iterable[StreamOp]) -> DomModel:
    model = DomModel()
    for op in ops:
        model.apply(op)
    return model


SMALL_OPS = any_op(
    streams=st.sampled_from(["a", "b"]),
    texts=st.text(alphabet="xyz<", max_size=3),
    targets=st.sampled_from([None, "#t"]),
)
STEPS = st.lists(
    st.tuples(SMALL_OPS, st.one_of(st.just(0.0), st.floats(0.0, 0.002), st.floats(0.0, 0.2))),
    max_size=60,
)


@dataclass(frozen=True)
class Limits:
    interval: float
    max_delay: float
    max_batch_bytes: int

    def coalescer(self) -> StreamCoalescer:
        return StreamCoalescer(
            interval=self.interval, max_delay=self.max_delay, max_batch_bytes=self.max_batch_bytes
        )


@st.composite
def limits(draw: st.DrawFn) -> Limits:
    interval = draw(st.floats(0.001, 0.05))
    return Limits(interval, interval * draw(st.floats(1.0, 3.0)), draw(st.integers(1, 400)))


def drive(coalescer: StreamCoalescer, steps: list[tuple[StreamOp, float]]) -> Driver:
    driver = Driver(coalescer)
    now = 0.0
    for op, gap in steps:
        now += gap
        driver.push(op, now)
    driver.drain()
    return driver


@settings(max_examples=300)
@given(limits(), STEPS)
def test_coalescing_loses_nothing(limits: Limits, steps: list[tuple[StreamOp, float]]) -> None:
    pushed = [op for op, _ in steps]
    coalescer = limits.coalescer()
    driver = drive(coalescer, steps)
    assert coalescer.pending == 0
    assert len(driver.flushed) <= len(pushed)
    assert replay(driver.flushed) == replay(pushed)
    lifecycle = {"start", "done", "error"}
    assert sum(op.op in lifecycle for op in driver.flushed) == sum(
        op.op in lifecycle for op in pushed
    )


@settings(max_examples=200)
@given(limits(), STEPS)
def test_no_op_waits_longer_than_max_delay(
    limits: Limits, steps: list[tuple[StreamOp, float]]
) -> None:
    driver = drive(limits.coalescer(), steps)
    assert all(wait <= limits.max_delay + 1e-9 for wait in driver.waits)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.text(alphabet="ab", min_size=1, max_size=2), st.floats(0.0, 0.01)),
        max_size=200,
    )
)
def test_appends_alone_flush_at_most_once_per_interval(steps: list[tuple[str, float]]) -> None:
    coalescer = StreamCoalescer(max_batch_bytes=10**9)
    driver = drive(coalescer, [(text_op("r", text), gap) for text, gap in steps])
    gaps = [later - earlier for earlier, later in itertools.pairwise(driver.flush_times)]
    assert all(gap >= 1 / 60 - 1e-9 for gap in gaps)
    assert "".join(op.text or "" for op in driver.flushed) == "".join(text for text, _ in steps)


def test_a_burst_of_ten_thousand_tokens_in_one_second_makes_at_most_61_frames() -> None:
    tokens = [chr(ord("a") + index % 26) for index in range(10_000)]
    coalescer = StreamCoalescer()
    driver = drive(
        coalescer,
        [(text_op("r", token), 0.0 if i == 0 else 1e-4) for i, token in enumerate(tokens)],
    )
    assert len(driver.flush_times) <= 61
    assert all(op.op == "text" for op in driver.flushed)
    assert "".join(op.text or "" for op in driver.flushed) == "".join(tokens)
    assert max(driver.waits) <= 1 / 60 + 1e-9


def test_the_common_text_append_is_the_same_op_as_the_validated_one() -> None:
    assert text_op("out", "x") == StreamOp("text", "out", text="x", mode="append")
    with pytest.raises(ValueError, match="expected text to be str"):
        text_op("out", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected stream to be 1-64 characters"):
        text_op("bad name", "x")


def test_merged_text_appends_stay_valid_ops() -> None:
    coalescer = StreamCoalescer(interval=1.0, max_delay=1.0)
    coalescer.push(text_op("out", "a"), 0.0)
    coalescer.flush(0.0)
    coalescer.push(text_op("out", "b"), 0.1)
    coalescer.push(text_op("out", "c"), 0.2)

    (merged,) = coalescer.flush(1.5)

    assert merged == StreamOp("text", "out", text="bc", mode="append")
    merged.validate()


# -- the token path: a text append without building the op ----------------------------------


def test_append_text_joins_the_waiting_text_op_of_its_stream() -> None:
    coalescer = StreamCoalescer()
    coalescer.push(text_op("r", "Hel"), 0.0)

    assert coalescer.append_text("r", "lo, ")
    assert coalescer.append_text("r", "world")

    assert coalescer.pending == 1
    assert coalescer.pending_bytes == text_op("r", "Hello, world").size()
    assert coalescer.flush(0.0) == [text_op("r", "Hello, world")]


@pytest.mark.parametrize(
    "queued",
    [
        [],  # nothing waits
        [text_op("other", "x")],  # another stream
        [text_op("r", "x", target="#t")],  # another place in the stream
        [insert_op("r", "<hr>")],  # not a text op
        [start_op("r"), text_op("r", "x")],  # a lifecycle op makes the batch due at once
        [text_op("r", "x" * 100)],  # past the byte budget: due at once
    ],
    ids=["empty", "other-stream", "target", "insert", "lifecycle", "budget"],
)
def test_append_text_takes_nothing_that_push_would_handle_differently(
    queued: list[StreamOp],
) -> None:
    coalescer = StreamCoalescer(max_batch_bytes=120)
    push_all(coalescer, queued)

    assert not coalescer.append_text("r", "y" * 20)

    assert coalescer.flush(0.0) == queued


def test_start_text_starts_a_batch_as_pushing_its_op_would() -> None:
    coalescer = StreamCoalescer(interval=0.02, max_delay=0.06)
    coalescer.push(text_op("r", "a"), 0.0)
    coalescer.flush(0.0)

    assert coalescer.start_text("r", "Hel", 0.005) == 0.02  # a frame after the last flush
    assert coalescer.append_text("r", "lo")
    assert coalescer.pending_bytes == text_op("r", "Hello").size()
    assert coalescer.flush(0.02) == [text_op("r", "Hello")]


@pytest.mark.parametrize(
    ("queued", "text"),
    [
        ([insert_op("r", "<hr>")], "y"),  # ops wait: push merges or queues behind them
        ([], "y" * 120),  # the text alone fills the byte budget: the batch is pressing
    ],
    ids=["ops-wait", "budget"],
)
def test_start_text_queues_nothing_when_the_batch_would_not_start_plain(
    queued: list[StreamOp], text: str
) -> None:
    coalescer = StreamCoalescer(max_batch_bytes=120)
    push_all(coalescer, queued)

    assert coalescer.start_text("r", text, 0.0) is None

    assert coalescer.flush(0.0) == queued


def test_a_flush_never_changes_an_op_the_caller_pushed() -> None:
    coalescer = StreamCoalescer()
    op = text_op("r", "a")
    coalescer.push(op, 0.0)
    assert coalescer.append_text("r", "b")

    assert coalescer.flush(0.0) == [text_op("r", "ab")]
    assert op == text_op("r", "a")


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.text(max_size=30),
            st.booleans(),
            st.sampled_from([0.0, 0.004, 0.01, 0.03]),
        ),
        max_size=60,
    )
)
def test_start_text_queues_what_pushing_the_op_queues(
    steps: list[tuple[str, str, bool, float]],
) -> None:
    pushed, started = StreamCoalescer(max_batch_bytes=80), StreamCoalescer(max_batch_bytes=80)
    now = 0.0
    for stream, text, flush, step in steps:
        now += step
        pushed.push(text_op(stream, text), now)
        deadline = started.start_text(stream, text, now)
        if deadline is None:
            started.push(text_op(stream, text), now)
        else:
            assert deadline == pushed.next_deadline()
        assert started.pending_bytes == pushed.pending_bytes
        assert started.ready(now) == pushed.ready(now)
        if flush:
            assert started.flush(now) == pushed.flush(now)
    assert started.flush(now) == pushed.flush(now)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.text(max_size=3), st.booleans()), max_size=60
    )
)
def test_append_text_queues_what_pushing_the_op_queues(
    steps: list[tuple[str, str, bool]],
) -> None:
    pushed, appended = StreamCoalescer(max_batch_bytes=80), StreamCoalescer(max_batch_bytes=80)
    for stream, text, insert in steps:
        op = insert_op(stream, "<hr>") if insert else text_op(stream, text)
        pushed.push(op, 0.0)
        if insert or not appended.append_text(stream, text):
            appended.push(op, 0.0)
        assert appended.ready(0.0) == pushed.ready(0.0)
        assert appended.pending_bytes == pushed.pending_bytes
    assert appended.flush(0.0) == pushed.flush(0.0)


# -- coalescer: ready() is next_deadline()'s rule in one call --------------------------------

#: What a transport does to a coalescer: push an op, append a token, flush, each at a time.
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["push", "append_text", "flush"]),
        SMALL_OPS,
        st.one_of(st.just(0.0), st.floats(-0.01, 0.01), st.floats(0.0, 0.2)),
    ),
    max_size=30,
)


def probe_times(coalescer: StreamCoalescer, now: float, limits: Limits) -> list[float]:
    """Times around every edge of the due rule: the deadline, and each bound it is made of
    (the oldest op, the last flush plus the interval, the oldest op plus the delay), each
    exactly and one float either side."""
    deadline = coalescer.next_deadline()
    edges = [now, now - limits.interval, now + limits.interval, now + limits.max_delay]
    if deadline is not None:
        edges += [deadline, deadline + limits.interval, deadline - limits.max_delay]
    return [time for edge in edges for time in (math.nextafter(edge, -math.inf), edge,
                                                 math.nextafter(edge, math.inf))]  # fmt: skip


@settings(max_examples=200)
@given(limits(), ACTIONS)
def test_ready_is_due_by_next_deadline_or_pressing_in_every_state_at_every_time(
    limits: Limits, actions: list[tuple[str, StreamOp, float]]
) -> None:
    # ``ready`` restates ``next_deadline``'s rule to save the frame clock a call: a change to
    # one rule that the other does not follow fails here.
    coalescer = limits.coalescer()
    now = 0.0
    for action, op, gap in actions:
        now += gap
        if action == "push":
            coalescer.push(op, now)
        elif action == "append_text":
            if not coalescer.append_text(op.stream, op.text or "t"):
                coalescer.push(text_op(op.stream, op.text or "t"), now)
        else:
            coalescer.flush(now)
        for time in probe_times(coalescer, now, limits):
            deadline = coalescer.next_deadline()
            due_by_time = deadline is not None and time >= deadline
            assert coalescer.ready(time) == (coalescer.pressing() or due_by_time), (time, deadline)
            assert not coalescer.pressing() or deadline is not None  # pressing: something waits


# -- the batch start_text begins is held without an op: the same as pushing every op ---------

#: A transport's calls on a coalescer: push any op, start a batch with a token, append a
#: token, flush; each after a gap (the texts are those of SMALL_OPS' text ops).
TOKEN_ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["push", "start_text", "append_text", "flush"]),
        SMALL_OPS,
        st.one_of(st.just(0.0), st.floats(0.0, 0.01), st.floats(0.0, 0.2)),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(limits(), TOKEN_ACTIONS)
def test_a_batch_begun_by_start_text_behaves_as_its_ops_pushed_one_by_one(
    limits: Limits, actions: list[tuple[str, StreamOp, float]]
) -> None:
    # The reference is pushed ops only: every token start_text or append_text takes is
    # pushed to it as its op, so the batch held in the coalescer's fields must answer every
    # question and flush every op as those ops queued one by one would.
    tokens, reference = limits.coalescer(), limits.coalescer()
    now = 0.0
    for action, op, gap in actions:
        now += gap
        text = op.text or "t"
        if action == "push":
            tokens.push(op, now)
            reference.push(op, now)
        elif action == "flush":
            assert tokens.flush(now) == reference.flush(now)
        else:
            reference.push(text_op(op.stream, text), now)
            if action == "start_text":
                deadline = tokens.start_text(op.stream, text, now)
                if deadline is None:
                    tokens.push(text_op(op.stream, text), now)
                else:
                    assert deadline == reference.next_deadline()
            elif tokens.append_text(op.stream, text):
                assert not reference.pressing()  # taken only when the batch stays as due
            else:
                tokens.push(text_op(op.stream, text), now)
        assert tokens.pending == reference.pending
        assert tokens.pending_bytes == reference.pending_bytes
        assert tokens.pressing() == reference.pressing()
        assert tokens.next_deadline() == reference.next_deadline()
        for time in probe_times(reference, now, limits):
            assert tokens.ready(time) == reference.ready(time)
    assert tokens.flush(now) == reference.flush(now)
    assert tokens.pending == 0


def test_a_batch_begun_by_start_text_queues_behind_it_what_comes_after_it() -> None:
    coalescer = StreamCoalescer(interval=0.02, max_delay=0.06)
    assert coalescer.start_text("r", "Hel", 0.0) == 0.0
    assert coalescer.append_text("r", "lo")
    coalescer.push(text_op("r", ", "), 0.001)
    coalescer.push(insert_op("r", "<hr>"), 0.002)  # the held batch becomes a queued op
    coalescer.push(done_op("r"), 0.003)

    assert coalescer.pending == 3
    assert coalescer.pressing()
    assert coalescer.flush(0.003) == [text_op("r", "Hello, "), insert_op("r", "<hr>"), done_op("r")]
    assert coalescer.start_text("r", "again", 0.004) == 0.023  # the held list, cleared, reused
    assert coalescer.flush(0.023) == [text_op("r", "again")]


def test_append_text_leaves_a_begun_batch_that_it_would_fill_to_push() -> None:
    size = text_op("r", "Hel").size()
    coalescer = StreamCoalescer(max_batch_bytes=size + 2)
    coalescer.start_text("r", "Hel", 0.0)

    assert not coalescer.append_text("r", "lo")  # would reach the budget: push makes it due
    assert not coalescer.append_text("other", "x")  # another stream
    assert coalescer.append_text("r", "l")

    assert coalescer.pending_bytes == size + 1
    assert not coalescer.pressing()
    assert coalescer.flush(0.0) == [text_op("r", "Hell")]
