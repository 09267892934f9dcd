"""The batching stream sink that stream runs and live sessions hand their component: ops in
order into batches, a flush on demand (before a render), nothing after close, and renders
for ``stream_to`` without html."""

from __future__ import annotations

import asyncio
from typing import Any

from component_framework.core.batching import BatchingSink
from component_framework.core.component import Component
from component_framework.core.streams import StreamOp
from component_framework.testing import StateRenderer

HOUR = 3600.0


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, ops: list[StreamOp]) -> None:
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
