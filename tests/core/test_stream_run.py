"""A stream run's readers: who is woken, and how, when a frame is kept or the run ends."""

from __future__ import annotations

from collections.abc import Callable

from component_framework.core import aio
from component_framework.core.stream_run import StreamRun
from component_framework.core.streams import text_op
from tests.event_loops import on_both_loops

Log = list[tuple[str, tuple[bool, ...]]]


def new_run() -> StreamRun:
    return StreamRun(
        "run", "ticker", "fragment", grace=60.0, max_frames=8, max_bytes=4096,
        on_closed=lambda run: None,
    )  # fmt: skip


def readers_of(run: StreamRun) -> tuple[list[aio.Event], Log]:
    """Readers as the transports attach them: two waiting on their event (one of which left),
    two called instead (the first of which makes the second leave while it is called), and
    one that left; each call logs which events were already set."""
    events = [aio.new_event() for _ in range(5)]
    log: Log = []

    def listener(name: str, then: Callable[[], None] = lambda: None) -> Callable[[], None]:
        def called() -> None:
            log.append((name, tuple(event.is_set() for event in events)))
            then()

        return called

    run.attach(events[0])
    run.attach(events[1])
    run.attach(events[2], listener("first", then=lambda: run.detach(events[3])))
    run.attach(events[3], listener("second"))
    run.attach(events[4], listener("gone"))
    run.detach(events[1])
    run.detach(events[4])
    return events, log


def woken(trigger: Callable[[StreamRun], None]) -> tuple[tuple[bool, ...], Log]:
    run = new_run()
    events, log = readers_of(run)
    trigger(run)
    return tuple(event.is_set() for event in events), log


FRAMES: list[Callable[[StreamRun], None]] = [
    lambda run: run.stream([text_op("out", "a")]),
    lambda run: run.stream([text_op("out", "a"), text_op("out", "b", mode="replace")]),
    lambda run: run.emit_broadcast("saved", {"id": 1}),
    lambda run: run.emit_listening("page-1"),
]


@on_both_loops
async def test_a_new_frame_wakes_the_readers_as_the_end_of_the_run_does() -> None:
    # ``_keep`` wakes the readers with its own copy of ``_wake``'s loops (once per frame):
    # a frame and the end must wake the same readers, the same way, in the same order.
    ended = woken(lambda run: run.mark_finished())
    closed = woken(lambda run: run.close())

    assert ended == closed
    only_the_first_set = (True, False, False, False, False)  # a called reader's event stays clear
    assert ended == (
        only_the_first_set,
        [("first", only_the_first_set), ("second", only_the_first_set)],
    )
    for frame in FRAMES:
        assert woken(frame) == ended
