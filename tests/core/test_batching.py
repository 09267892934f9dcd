"""The batching stream sink that stream runs and live sessions hand their component: ops in
order into batches, a flush on demand (before a render), nothing after close, and renders
for ``stream_to`` without html."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from component_framework.core.batching import BatchingSink, FrameClock, OpBatcher
from component_framework.core.component import Component
from component_framework.core.streams import StreamOp, checked_text_op, insert_op, start_op
from component_framework.testing import StateRenderer
from tests.event_loops import VirtualClock, on_both_loops, on_both_loops_in_virtual_time

HOUR = 3600.0


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def stream(self, ops: list[StreamOp]) -> None:
        self.batches.append([op.to_wire() for op in ops])


class Live(Component):
    template_name = "live.html"


def texts(batch: list[dict[str, Any]]) -> list[Any]:
    return [op.get("text") for op in batch]


async def test_the_first_op_goes_out_at_once_later_ones_wait_for_a_flush() -> None:
    emit = Batches()
    sink = BatchingSink(None, HOUR, emit)
    component = Live()
    component.stream_sink = sink

    await component.stream_text("out", "a")  # nothing sent lately: due at once
    await component.stream_text("out", "b")
    await component.stream_text("out", "c")
    assert [texts(batch) for batch in emit.batches] == [["a"]]

    assert sink.flush()
    assert [texts(batch) for batch in emit.batches] == [["a"], ["bc"]]  # adjacent texts merged
    assert not sink.flush()  # nothing pending: no empty batch


async def test_a_text_joining_a_waiting_batch_is_still_checked() -> None:
    emit = Batches()
    component = Live()
    component.stream_sink = BatchingSink(None, HOUR, emit)
    await component.stream_text("out", "a")  # at once
    await component.stream_text("out", "b")  # waits: later texts of "out" join it

    with pytest.raises(ValueError, match="expected stream to be 1-64 characters"):
        await component.stream_text("bad name", "x")
    with pytest.raises(ValueError, match="expected text to be str"):
        await component.stream_text("out", 3)  # type: ignore[arg-type]
    await component.stream_text("out", "c")
    await component.stream_text("out", "d", mode="replace")

    assert component.stream_sink.flush()
    assert emit.batches[1] == [
        {"op": "text", "stream": "out", "text": "bc", "mode": "append"},
        {"op": "text", "stream": "out", "text": "d", "mode": "replace"},
    ]


async def test_tokens_queued_without_an_op_keep_their_place_among_other_ops() -> None:
    emit = Batches()
    sink = BatchingSink(None, HOUR, emit)
    component = Live()
    component.stream_sink = sink
    await component.stream_start("out")  # a lifecycle op: at once
    await component.stream_text("out", "a")  # the first text: at once
    await component.stream_text("out", "b")  # waits for the next frame
    assert sink.flush()
    await component.stream_insert("out", "<li>x</li>")  # waits
    await component.stream_text("out", "c")  # after the insert: not merged into "b"
    await component.stream_text("".join(["o", "u", "t"]), "d")  # an equal name, checked
    await component.stream_text("other", "e")  # another stream: an op of its own
    with pytest.raises(ValueError, match="expected stream to be 1-64 characters"):
        await component.stream_text("out!", "x")  # a name no op carried is checked
    await component.stream_text("other", "f")
    assert sink.flush()

    assert [[(op["op"], op["stream"], op.get("text")) for op in b] for b in emit.batches] == [
        [("start", "out", None)],
        [("text", "out", "a")],
        [("text", "out", "b")],
        [
            ("insert", "out", None),
            ("text", "out", "cd"),
            ("text", "other", "ef"),
        ],
    ]


@on_both_loops
async def test_a_producer_that_never_waits_still_lets_the_loop_turn_after_each_frame() -> None:
    emit = Batches()
    component = Live()
    component.stream_sink = BatchingSink(None, 0.005, emit)
    turns = 0
    stop = anyio.Event()

    async def other_task() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(other_task)
        await anyio.lowlevel.checkpoint()
        started, end = turns, time.monotonic() + 0.1
        while time.monotonic() < end:  # flat out: awaits nothing but stream_text
            await component.stream_text("out", "x" * 4096)  # a full batch every 16 tokens
        frames, ran = len(emit.batches), turns - started
        stop.set()

    assert frames >= 5
    assert ran >= frames - 1  # a turn after every batch sent at once (before the next op)


async def test_a_due_batch_goes_out_from_the_timer() -> None:
    emit = Batches()
    sink = BatchingSink(None, 0.01, emit)

    component = Live()
    component.stream_sink = sink
    await component.stream_text("out", "a")
    for _ in range(100):
        if emit.batches:
            break
        await asyncio.sleep(0.01)

    assert [texts(batch) for batch in emit.batches] == [["a"]]


async def test_after_close_ops_are_dropped_and_no_timer_fires() -> None:
    emit = Batches()
    sink = BatchingSink(None, 0.01, emit)
    component = Live()
    component.stream_sink = sink
    await component.stream_text("out", "first")
    await component.stream_text("out", "pending")  # waits for the window

    sink.close()
    await component.stream_text("out", "late")
    await asyncio.sleep(0.05)

    assert [texts(batch) for batch in emit.batches] == [["first"]]
    assert not sink.flush()


async def test_stream_to_without_html_renders_with_the_sinks_renderer() -> None:
    emit = Batches()
    sink = BatchingSink(StateRenderer(), HOUR, emit)
    component = Live()
    component.state["n"] = 3
    component.stream_sink = sink

    await component.stream_to("out")

    (batch,) = emit.batches
    assert batch[0]["op"] == "replace"
    assert "3" in batch[0]["html"]
    assert batch[0]["html"] == sink.render(component)


# -- the app's frame clock: one timer for every stream ------------------------------------------


def clocked_components(count: int, clock: FrameClock) -> tuple[list[Component], list[Batches]]:
    components, emits = [], []
    for _ in range(count):
        emit = Batches()
        component = Live()
        component.stream_sink = BatchingSink(None, clock.interval, emit, clock=clock)
        components.append(component)
        emits.append(emit)
    return components, emits


async def wait_for(condition: Any, within: float = 2.0) -> None:
    for _ in range(round(within / 0.005)):
        if condition():
            return
        await anyio.sleep(0.005)
    raise AssertionError("condition not met in time")


@on_both_loops
async def test_one_clock_tick_flushes_every_waiting_stream() -> None:
    clock = FrameClock(0.5)  # long enough that all fifty are pushed before the tick
    components, emits = clocked_components(50, clock)
    assert not clock.scheduled  # nothing waits: no timer at all
    for index, component in enumerate(components):
        await component.stream_text("out", f"a{index}")  # each stream's first op: at once
        await component.stream_text("out", f"b{index}")  # waits for the tick
    assert clock.dirty == 50
    assert clock.scheduled

    await wait_for(lambda: clock.ticks >= 1)

    assert clock.ticks == 1  # one timer fired, for all fifty streams
    assert [[texts(b) for b in emit.batches] for emit in emits] == [
        [[f"a{index}"], [f"b{index}"]] for index in range(50)
    ]
    assert clock.dirty == 0
    assert not clock.scheduled  # all clean: the timer is not set again


@on_both_loops_in_virtual_time
async def test_the_first_op_after_a_quiet_frame_is_not_held_for_the_tick(
    virtual: VirtualClock,
) -> None:
    # In virtual time: on a loaded machine the real tick that flushes "b" can fire more than
    # half a frame late, and the clock then rightly takes the loop for late and holds "c"
    # for the tick (the rule of the test after the next one); here the loop is never late.
    clock = FrameClock(0.02)
    (component,), (emit,) = clocked_components(1, clock)
    await component.stream_text("out", "a")
    await component.stream_text("out", "b")
    await virtual.advance(0.02)  # the tick, on time
    assert [texts(batch) for batch in emit.batches] == [["a"], ["b"]]
    assert not clock.scheduled
    await virtual.advance(0.05)  # quiet for more than a frame

    await component.stream_text("out", "c")

    assert [texts(batch) for batch in emit.batches] == [["a"], ["b"], ["c"]]  # no wait
    assert not clock.scheduled


@on_both_loops_in_virtual_time
async def test_a_burst_between_two_ticks_is_one_frame(virtual: VirtualClock) -> None:
    # In virtual time: on a loaded machine a real burst of 1000 ops outlasted the 50 ms frame,
    # and the tick in its middle made three batches.
    clock = FrameClock(0.05)
    (component,), (emit,) = clocked_components(1, clock)
    for index in range(1000):
        await component.stream_text("out", f"{index} ")

    await virtual.advance(0.05)

    assert len(emit.batches) == 2
    assert texts(emit.batches[0]) == ["0 "]
    assert texts(emit.batches[1]) == ["".join(f"{index} " for index in range(1, 1000))]


@on_both_loops
async def test_a_closed_stream_leaves_the_clock() -> None:
    clock = FrameClock(0.02)
    (component,), (emit,) = clocked_components(1, clock)
    sink = component.stream_sink
    assert isinstance(sink, BatchingSink)
    await component.stream_text("out", "a")
    await component.stream_text("out", "pending")
    assert clock.dirty == 1

    sink.close()

    assert clock.dirty == 0
    await anyio.sleep(0.05)
    assert [texts(batch) for batch in emit.batches] == [["a"]]


async def test_a_sink_whose_interval_differs_from_the_clock_keeps_its_own_timer() -> None:
    clock = FrameClock(0.02)
    emit = Batches()
    component = Live()
    component.stream_sink = BatchingSink(None, 0.01, emit, clock=clock)
    await component.stream_text("out", "a")
    await component.stream_text("out", "b")

    assert clock.dirty == 0
    await wait_for(lambda: len(emit.batches) == 2)


@on_both_loops_in_virtual_time
async def test_while_the_loop_runs_late_a_quiet_stream_waits_for_the_tick_too(
    virtual: VirtualClock,
) -> None:
    # In virtual time: on a loaded machine the real tick that flushes "b" fired late, the
    # clock took the loop for late already, and "c" waited for the tick with "d".
    clock = FrameClock(0.02)
    (busy, quiet), (busy_emit, quiet_emit) = clocked_components(2, clock)
    await quiet.stream_text("out", "q0")  # quiet's first frame, long before the next op
    await busy.stream_text("out", "a")
    await busy.stream_text("out", "b")  # the clock's tick is now set
    await virtual.advance(0.02)  # the tick, on time: "b" goes
    await virtual.advance(0.03)  # quiet has been quiet for more than a frame
    await busy.stream_text("out", "c")  # at once: the loop is on time
    await busy.stream_text("out", "d")  # a tick is set again
    virtual.jump(0.05)  # the loop blocked: the tick is now overdue

    await quiet.stream_text("out", "q1")

    assert [texts(batch) for batch in quiet_emit.batches] == [["q0"]]  # not at once: waits
    await virtual.advance(0)  # the overdue tick fires
    assert [texts(batch) for batch in quiet_emit.batches] == [["q0"], ["q1"]]
    assert [texts(batch) for batch in busy_emit.batches] == [["a"], ["b"], ["c"], ["d"]]


async def test_a_loop_that_runs_late_with_no_tick_set_batches_quiet_streams_too() -> None:
    # Overloaded, every stream is quiet for more than a frame between two of its turns, so
    # each sends at once and no tick is ever set: the loop's turn after a stream's frame
    # must tell the clock that the loop runs late. (asyncio only: trio runs the tasks of a
    # batch in random order, so "the other task runs during this turn" cannot be arranged.)
    clock = FrameClock(0.02)
    (first, second), (first_emit, second_emit) = clocked_components(2, clock)
    busy = anyio.Event()

    async def other_work() -> None:
        await busy.wait()
        time.sleep(0.05)  # noqa: ASYNC251 - a loop turn longer than two frames, on purpose

    async with anyio.create_task_group() as group:
        group.start_soon(other_work)
        await anyio.sleep(0.01)  # other_work waits
        busy.set()
        await first.stream_text("out", "a")  # at once; the loop's next turn takes 50 ms
        await anyio.lowlevel.checkpoint()  # that turn (a paced producer waits)
        assert not clock.scheduled  # nothing waits: the clock had no tick to be late

        await second.stream_text("out", "x")  # quiet, but the loop runs late: the tick

        assert second_emit.batches == []
        await second.stream_text("out", "y")
        await wait_for(lambda: len(second_emit.batches) == 1)
        assert [texts(batch) for batch in second_emit.batches] == [["xy"]]

    # The tick came on time: the loop keeps up again, a quiet stream sends at once.
    await anyio.sleep(0.05)
    await first.stream_text("out", "b")
    assert [texts(batch) for batch in first_emit.batches] == [["a"], ["b"]]


# -- append_text schedules a batch's first token as push schedules its op ---------------------

#: What a producer does at one step: a token, another op, a token as large as a batch, or the
#: loop blocked for a while (the clock jumps without a turn: the loop runs late).
STEP_KINDS = ("token", "token", "token", "insert", "big", "blocked")
GAPS = (0.0, 0.0, 0.001, 0.004, 0.01, 0.02, 0.03, 0.05, 0.2)


async def batches_of_both_paths(
    virtual: VirtualClock, steps: list[tuple[str, float]], with_clock: bool
) -> tuple[list[Any], list[Any]]:
    """The batches (with their times) of a batcher fed through ``append_text`` and of one fed
    the same ops through ``push``, side by side on one loop in virtual time."""
    loop = asyncio.get_running_loop()
    sent: tuple[list[Any], list[Any]] = ([], [])

    def recorder(into: list[Any]) -> Any:
        return lambda ops: into.append((loop.time(), [op.to_wire() for op in ops]))

    interval = 0.02
    by_text, by_push = (
        OpBatcher(interval, recorder(into), FrameClock(interval) if with_clock else None)
        for into in sent
    )
    for batcher in (by_text, by_push):
        batcher.push(start_op("out"))
    for index, (kind, gap) in enumerate(steps):
        if kind == "blocked":
            virtual.jump(gap)
            continue
        await virtual.advance(gap)
        if kind == "insert":
            ops = [insert_op("out", f"<i>{index}</i>")] * 2
        else:
            text = f"{index} " * (2000 if kind == "big" else 1)
            ops = [checked_text_op("out", text)] * 2
            if by_text.append_text("out", text, checked=True):
                ops[0] = None  # queued by append_text, as a token stream does
        for batcher, op in zip((by_text, by_push), ops, strict=True):
            if op is not None and batcher.push(op):
                batcher.sent()
    await virtual.advance(1.0)
    return sent


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from(STEP_KINDS), st.sampled_from(GAPS)), max_size=40),
    with_clock=st.booleans(),
)
def test_append_text_sends_the_batches_push_would_at_the_same_times(
    steps: list[tuple[str, float]], with_clock: bool
) -> None:
    # append_text starts a batch with its first token without building an op, and restates
    # push's scheduling for it (flush now when due and the loop is not late, else wait for
    # the tick or a timer): written out for the paced path, so tied here to push's.
    virtual = VirtualClock("asyncio")
    options = {"loop_factory": virtual.new_asyncio_loop}
    by_text, by_push = anyio.run(
        batches_of_both_paths, virtual, steps, with_clock, backend_options=options
    )
    assert by_text == by_push
