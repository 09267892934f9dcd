"""The stream driver: a render per yield and a final one only when the state changed after
it, coroutine and sync handlers rendered once, the handler's finally blocks on every way out,
and the stream_max_seconds deadline, for any caller (it only says where renders go)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from component_framework.core.component import StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher, DispatchResult
from component_framework.core.driver import drive_stream
from component_framework.core.registry import ComponentRegistry
from component_framework.errors import HandlerError, HandlerTimeout, StreamTimeout
from component_framework.testing import StateRenderer
from tests.sample_components import SECRET

registry = ComponentRegistry()
journal: list[str] = []


@registry.register("steps")
class Steps(StreamingComponent):
    template_name = "steps.html"

    def mount(self) -> None:
        self.state["n"] = 0

    async def on_count(self, to: int, after: int = 0) -> AsyncIterator[None]:
        try:
            for n in range(1, to + 1):
                self.state["n"] = n
                yield
            self.state["n"] += after
        finally:
            journal.append("finally")

    async def on_same(self) -> AsyncIterator[None]:
        yield
        yield

    async def on_forever(self) -> AsyncIterator[None]:
        try:
            while True:
                self.state["n"] += 1
                yield
                await asyncio.sleep(0.01)
        finally:
            journal.append("finally")

    async def on_broken(self) -> AsyncIterator[None]:
        try:
            yield
            raise RuntimeError("boom")
        finally:
            journal.append("finally")

    async def on_wait(self) -> None:
        await asyncio.sleep(0)
        self.state["n"] = 7

    async def on_stall(self) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            journal.append("finally")

    def on_set(self, n: int) -> None:
        self.state["n"] = n


def dispatcher(**settings: Any) -> Dispatcher:
    return Dispatcher(registry, Settings(secret_keys=(SECRET,), **settings), StateRenderer())


async def drive(
    dispatcher: Dispatcher, event: str, payload: dict[str, Any] | None = None
) -> tuple[list[DispatchResult], DispatchResult]:
    """Start ``event`` on a fresh component and drive it; every shown render, and the final."""
    journal.clear()
    plan = dispatcher.prepare(ComponentCall("steps", event, payload or {}), mount_first=True)
    component = await dispatcher.open_component(plan)
    outcome = dispatcher.call_handler(plan, component)
    shown: list[DispatchResult] = []
    final = await drive_stream(
        dispatcher,
        plan,
        component,
        outcome,
        render=dispatcher.render,
        show=shown.append,
        stopped="the test stream",
    )
    return shown, final


def counts(results: list[DispatchResult]) -> list[int]:
    """The ``n`` each render showed (its HTML: the state dict itself lives on)."""
    return [int(re.findall(r">(\d+)<", result.html)[0]) for result in results]


async def test_each_yield_is_rendered_and_shown_then_the_final_state() -> None:
    shown, final = await drive(dispatcher(), "count", {"to": 3, "after": 10})

    assert counts(shown) == [1, 2, 3, 13]  # the change after the last yield is shown too
    assert counts([final]) == [13]
    assert journal == ["finally"]


async def test_no_final_render_is_shown_when_nothing_changed_after_the_last_yield() -> None:
    shown, final = await drive(dispatcher(), "count", {"to": 2})

    assert counts(shown) == [1, 2]
    assert final.html == shown[-1].html


async def test_a_generator_that_never_changes_the_state_shows_each_yield_only() -> None:
    shown, _ = await drive(dispatcher(), "same")

    assert counts(shown) == [0, 0]


async def test_a_coroutine_handler_is_awaited_and_rendered_once() -> None:
    shown, final = await drive(dispatcher(), "wait")

    assert counts(shown) == [7]
    assert final is shown[0]


async def test_a_sync_handler_is_rendered_once() -> None:
    shown, final = await drive(dispatcher(), "set", {"n": 4})

    assert counts(shown) == [4]
    assert final is shown[0]


async def test_past_stream_max_seconds_the_handler_is_stopped_and_its_finally_runs() -> None:
    with pytest.raises(StreamTimeout, match=r"^the test stream was stopped after 0\.05 s$"):
        await drive(dispatcher(stream_max_seconds=0.05), "forever")

    assert journal == ["finally"]


async def test_a_coroutine_past_a_shorter_stream_max_seconds_is_a_stream_timeout() -> None:
    settings = dispatcher(stream_max_seconds=0.05, handler_timeout=30.0)
    with pytest.raises(StreamTimeout, match=r"^the test stream was stopped after 0\.05 s$"):
        await drive(settings, "stall")

    assert journal == ["finally"]


@pytest.mark.parametrize("stream_max_seconds", [3600.0, None])
async def test_a_coroutine_past_a_shorter_handler_timeout_is_a_handler_timeout(
    stream_max_seconds: float | None,
) -> None:
    settings = dispatcher(stream_max_seconds=stream_max_seconds, handler_timeout=0.05)
    with pytest.raises(HandlerTimeout, match=r"took longer than 0\.05 s"):
        await drive(settings, "stall")

    assert journal == ["finally"]


async def test_a_failing_generator_is_a_handler_error_after_its_finally() -> None:
    with pytest.raises(HandlerError):
        await drive(dispatcher(), "broken")

    assert journal == ["finally"]


async def test_cancelling_the_caller_runs_the_handlers_finally_blocks() -> None:
    task = asyncio.get_running_loop().create_task(drive(dispatcher(), "forever"))
    await asyncio.sleep(0.03)

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert task.cancelled()
    assert journal == ["finally"]
