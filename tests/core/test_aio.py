"""core.aio, the seam to the event loop: each primitive behaves the same on asyncio and trio
(anyio's pytest plugin runs every test on both)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import anyio
import pytest
import sniffio

from component_framework.core import aio
from tests.event_loops import LOOPS, on_both_loops


@on_both_loops
async def test_timeout_raises_timeout_error_and_says_it_expired() -> None:
    deadline = aio.timeout(0.05)
    with pytest.raises(TimeoutError):
        async with deadline:
            await anyio.sleep(5)
    assert deadline.expired()


@on_both_loops
async def test_timeout_that_did_not_fire_lets_other_errors_through() -> None:
    deadline = aio.timeout(5)
    with pytest.raises(ValueError, match="own"):
        async with deadline:
            raise ValueError("own")
    assert not deadline.expired()
    async with aio.timeout(None):  # no limit
        await aio.checkpoint()


@on_both_loops
async def test_timers_fire_once_unless_cancelled() -> None:
    loop = aio.running_loop()
    fired: list[str] = []
    loop.call_later(0.01, fired.append, "later")
    loop.call_at(loop.time() + 0.01, fired.append, "at")
    loop.call_later(0.01, fired.append, "cancelled").cancel()
    loop.call_soon(fired.append, "soon")
    await anyio.sleep(0.1)
    assert sorted(fired) == ["at", "later", "soon"]


@on_both_loops
async def test_a_cancelled_task_runs_its_finally_and_reports_done() -> None:
    ended: list[str] = []
    started = aio.new_event()
    seen: list[Any] = []

    async def work() -> None:
        seen.append(aio.current_task())
        started.set()
        try:
            await aio.sleep_forever()
        finally:
            ended.append("finally")

    task = aio.running_loop().create_task(work())
    task.add_done_callback(lambda done: ended.append("callback"))
    await started.wait()
    assert seen == [task]  # the task knows itself
    assert not task.done()
    task.cancel()
    await aio.wait_all([task])
    assert task.done()
    assert ended == ["finally", "callback"]


@on_both_loops
async def test_a_failing_task_does_not_fail_its_waiter_or_the_loop() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = aio.running_loop().create_task(broken())
    await aio.wait_all([task])
    assert task.done()
    await aio.checkpoint()  # the loop goes on (under trio a system task's error would end it)


@on_both_loops
async def test_an_event_can_be_cleared_and_set_again() -> None:
    event = aio.new_event()
    event.set()
    await event.wait()
    event.clear()
    assert not event.is_set()
    with anyio.move_on_after(0.05) as waited:
        await event.wait()
    assert waited.cancelled_caught
    event.set()
    assert event.is_set()


@on_both_loops
async def test_after_turn_calls_back_on_a_later_turn_of_the_loop_not_in_the_caller() -> None:
    order: list[str] = []

    async def ready_task() -> None:
        order.append("ready task")

    async with anyio.create_task_group() as group:
        group.start_soon(ready_task)
        aio.after_turn(order.append, "callback")
        assert order == []  # not called in the caller
        for _ in range(5):
            await aio.checkpoint()

    assert sorted(order) == ["callback", "ready task"]


@on_both_loops
async def test_a_lock_serialises_its_holders() -> None:
    lock, order = aio.new_lock(), []

    async def hold(name: str) -> None:
        async with lock:
            order.append(f"{name} in")
            await anyio.sleep(0.01)
            order.append(f"{name} out")

    async with anyio.create_task_group() as group:
        group.start_soon(hold, "a")
        group.start_soon(hold, "b")
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


@on_both_loops
async def test_a_shielded_block_still_runs_after_a_cancel() -> None:
    sent: list[str] = []

    async def cancelled_then_says_goodbye() -> None:
        try:
            await aio.sleep_forever()
        except aio.cancellation():
            with aio.shield():
                async with aio.timeout(1):
                    await anyio.sleep(0.01)
                    sent.append("goodbye")
            raise

    task = aio.running_loop().create_task(cancelled_then_says_goodbye())
    await anyio.sleep(0.01)
    task.cancel()
    await aio.wait_all([task])
    assert sent == ["goodbye"]


@on_both_loops
async def test_to_thread_runs_the_function_elsewhere() -> None:
    assert await aio.to_thread(sum, [1, 2, 3]) == 6


@pytest.mark.parametrize("loop", LOOPS)
def test_on_both_loops_runs_on_the_loop_it_names(loop: str) -> None:
    """The helper the tests here use is honest: its trio runs see no asyncio loop."""

    async def running() -> aio.Loop:
        return aio.running_loop()

    found = anyio.run(running, backend=loop)
    assert isinstance(found, asyncio.AbstractEventLoop) == (loop == "asyncio")


@on_both_loops
async def test_waiting_for_tasks_can_give_up_and_leave_them_running() -> None:
    task = aio.running_loop().create_task(aio.sleep_forever())
    with anyio.fail_after(5):
        await aio.wait_all([task], within=0.05)
    assert not task.done()
    task.cancel()
    await aio.wait_all([task])
    assert task.done()


@on_both_loops
async def test_start_now_finishes_what_does_not_wait_and_hands_back_what_does() -> None:
    steps: list[str] = []

    async def at_once() -> None:
        steps.append("at once")

    async def waits() -> None:
        steps.append("before")
        await anyio.sleep(0.01)
        steps.append("after")

    finished = aio.start_now(at_once())
    if finished is not None:  # trio: nothing runs before the awaiting
        await finished
    assert steps == ["at once"]
    unfinished = aio.start_now(waits())
    assert unfinished is not None
    await unfinished
    assert steps == ["at once", "before", "after"]


async def test_start_now_runs_a_coroutine_up_to_its_first_wait_on_asyncio() -> None:
    steps: list[str] = []
    gate = asyncio.Event()

    async def waits() -> None:
        steps.append("before")
        await gate.wait()
        steps.append("after")

    async def fails() -> None:
        raise OSError("gone")

    unfinished = aio.start_now(waits())
    assert steps == ["before"]  # ran in the caller
    assert unfinished is not None
    finisher = asyncio.get_running_loop().create_task(_finish(unfinished))
    await asyncio.sleep(0)
    gate.set()
    await finisher
    assert steps == ["before", "after"]
    with pytest.raises(OSError, match="gone"):  # raised in the caller
        aio.start_now(fails())


async def test_cancelling_the_task_that_finishes_a_started_coroutine_cancels_it() -> None:
    cleaned: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("finally")

    unfinished = aio.start_now(waits())
    assert unfinished is not None
    finisher = asyncio.get_running_loop().create_task(_finish(unfinished))
    await asyncio.sleep(0)
    finisher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finisher
    assert cleaned == ["finally"]


@on_both_loops
async def test_result_now_gives_what_does_not_wait_and_hands_back_what_does() -> None:
    async def at_once() -> str:
        return "ready"

    async def waits() -> str:
        await anyio.sleep(0.01)
        return "later"

    done, value = aio.result_now(at_once())
    if not done:  # trio: nothing runs before the awaiting
        value = await value
    assert value == "ready"
    done, rest = aio.result_now(waits())
    assert not done
    assert await rest == "later"


async def test_result_now_runs_a_coroutine_in_the_caller_on_asyncio() -> None:
    gate = asyncio.Event()

    async def message() -> dict[str, str]:
        return {"type": "http.request"}

    async def waits() -> str:
        await gate.wait()
        return "after"

    async def fails() -> str:
        raise OSError("gone")

    assert aio.result_now(message()) == (True, {"type": "http.request"})
    done, rest = aio.result_now(waits())
    assert not done
    finisher = asyncio.get_running_loop().create_task(_result_of(rest))
    await asyncio.sleep(0)
    gate.set()
    assert await finisher == "after"
    with pytest.raises(OSError, match="gone"):  # raised in the caller
        aio.result_now(fails())


@on_both_loops
async def test_start_now_and_result_now_run_in_the_caller_on_asyncio_and_never_on_trio() -> None:
    # Both functions write out the same "under trio" test (a hot path): each must take the
    # branch of the loop it runs on, in a process where trio is imported.
    on_asyncio = sniffio.current_async_library() == "asyncio"
    assert "trio" in sys.modules
    ran: list[str] = []

    async def ready(name: str) -> str:
        ran.append(name)
        return name

    started = aio.start_now(ready("start_now"))
    done, value = aio.result_now(ready("result_now"))

    if on_asyncio:
        assert (started, done, value) == (None, True, "result_now")
        assert ran == ["start_now", "result_now"]  # in the caller
    else:
        assert started is not None
        assert not done
        assert ran == []  # nothing before the awaiting
        await started
        assert await value == "result_now"
        assert ran == ["start_now", "result_now"]


_WITHOUT_TRIO = textwrap.dedent(
    """
    import asyncio, sys
    from component_framework.core import aio

    async def ready():
        return "ready"

    def looked_up():
        raise AssertionError("asked asyncio for its running loop")

    async def main():
        assert "trio" not in sys.modules
        aio._get_running_loop = looked_up
        assert aio.result_now(ready()) == (True, "ready")
        assert aio.start_now(ready()) is None
        done, rest = aio.result_now(asyncio.sleep(0.01, "later"))
        assert not done
        assert await rest == "later"
        assert "trio" not in sys.modules
        print("ok")

    asyncio.run(main())
    """
)


def test_a_process_without_trio_still_runs_ready_coroutines_in_the_caller() -> None:
    """Where trio was never imported, ``result_now`` and ``start_now`` know they run on
    asyncio without asking asyncio for its running loop (a ``getpid()`` system call per call
    before Python 3.12): the same answers, no look-up, and trio still not imported."""
    finished = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TRIO], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ok"


async def _result_of(rest: Any) -> Any:
    return await rest


async def _finish(unfinished: aio.Unfinished) -> None:
    await unfinished
