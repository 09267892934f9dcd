"""A live component's inbox: work in order, one piece at a time, a loop turn between pieces
while a backlog lasts, a task only while there is work, bounded."""

from __future__ import annotations

import asyncio

from component_framework.core.inbox import Inbox


class Recorder:
    """What an owner of an inbox sees: each piece of work begun and ended, and the drains."""

    def __init__(self, pause: asyncio.Event | None = None) -> None:
        self.seen: list[str] = []
        self.pause = pause
        self.running = 0
        self.most_at_once = 0
        self.inbox: Inbox[str] = Inbox(3, self)

    async def process(self, work: str) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.seen.append(f"begin {work}")
        try:
            if self.pause is not None:
                await self.pause.wait()
            else:
                await asyncio.sleep(0)
            self.seen.append(f"end {work}")
        except asyncio.CancelledError:
            self.seen.append(f"cancelled {work}")
            raise
        finally:
            self.running -= 1

    def drained(self) -> None:
        self.seen.append(f"drained, task {'set' if self.inbox.task else 'none'}")


async def idle(inbox: Inbox[str]) -> None:
    task = inbox.task
    if task is not None:
        await task


async def test_work_is_processed_in_order_one_piece_at_a_time() -> None:
    owner = Recorder()
    for work in "abc":
        assert owner.inbox.put(work)

    await idle(owner.inbox)

    assert owner.seen == [
        "begin a",
        "end a",
        "begin b",
        "end b",
        "begin c",
        "end c",
        "drained, task set",
    ]
    assert owner.most_at_once == 1


async def test_a_task_exists_only_while_there_is_work() -> None:
    owner = Recorder()
    assert owner.inbox.task is None

    owner.inbox.put("a")
    assert owner.inbox.task is not None
    await idle(owner.inbox)

    assert owner.inbox.task is None
    owner.inbox.put("b")  # a new piece starts a new task
    await idle(owner.inbox)
    assert owner.seen[-2:] == ["end b", "drained, task set"]


async def test_a_backlog_gives_the_loop_a_turn_between_pieces() -> None:
    turns: list[str] = []
    inbox: Inbox[int] = Inbox(10, _Noter(turns))

    async def other_connection() -> None:
        for _ in range(3):
            turns.append("other")
            await asyncio.sleep(0)

    for n in range(3):
        inbox.put(n)
    other = asyncio.get_running_loop().create_task(other_connection())
    await idle(inbox)
    await other

    assert turns.index("other") < turns.index("work 1")  # not all of the backlog first


class _Noter:
    """An owner that notes each piece of work."""

    def __init__(self, turns: list[str]) -> None:
        self.turns = turns

    async def process(self, n: int) -> None:
        await _note(self.turns, n)

    def drained(self) -> None:
        pass


async def _note(turns: list[str], n: int) -> None:
    turns.append(f"work {n}")


async def test_a_full_inbox_refuses_more_work() -> None:
    owner = Recorder(pause=asyncio.Event())
    assert all(owner.inbox.put(work) for work in "abc")
    await asyncio.sleep(0)  # "a" is taken out of the queue and waits

    assert owner.inbox.put("d")
    assert not owner.inbox.put("e")
    assert len(owner.inbox) == 3

    assert owner.pause is not None
    owner.pause.set()
    await idle(owner.inbox)
    assert [line for line in owner.seen if line.startswith("end")] == [
        "end a",
        "end b",
        "end c",
        "end d",
    ]


async def test_close_drops_queued_work_and_cancels_the_running_piece() -> None:
    owner = Recorder(pause=asyncio.Event())
    for work in "abc":
        owner.inbox.put(work)
    await asyncio.sleep(0)
    task = owner.inbox.task
    assert task is not None

    owner.inbox.close()
    await asyncio.gather(task, return_exceptions=True)

    assert owner.seen == ["begin a", "cancelled a"]  # b and c never began
    assert len(owner.inbox) == 0
    assert owner.inbox.task is None


async def test_run_now_runs_a_piece_in_the_callers_task_only_while_the_inbox_is_idle() -> None:
    owner = Recorder()
    current = asyncio.current_task()
    assert current is not None
    ran: list[str] = []

    def step(work: str) -> None:
        ran.append(work)

    assert owner.inbox.run_now("now", current, step) is None
    assert owner.inbox.put("queued")
    # Busy (a piece queued, its task started): refused, nothing run, the queue as it was.
    assert owner.inbox.run_now("refused", current, step) is False
    assert len(owner.inbox) == 1

    await idle(owner.inbox)

    assert ran == ["now"]
    assert owner.seen == ["drained, task set", "begin queued", "end queued", "drained, task set"]
    assert owner.inbox.run_now("after", current, step) is None
    assert ran == ["now", "after"]
