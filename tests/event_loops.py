"""``on_both_loops``: an async test run once on asyncio and once on trio; and
``on_both_loops_in_virtual_time``: the same, on loops whose clock stands still until the test
moves it (timers fire exactly on time, however loaded the machine).

pytest-asyncio (``asyncio_mode = "auto"``) takes every ``async def`` test for asyncio, AnyIO's
``anyio_backend`` parametrization included; so the test here is a plain function, parametrized
by ``loop``, that runs the async body with ``anyio.run`` on that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio.testing

__all__ = ["LOOPS", "VirtualClock", "on_both_loops", "on_both_loops_in_virtual_time"]

LOOPS = ("asyncio", "trio")


def on_both_loops(
    body: Callable[[], Coroutine[Any, Any, None]],
) -> Callable[[str], None]:
    """A test (named and documented as ``body``) that runs ``body`` on each of :data:`LOOPS`."""

    def test(loop: str) -> None:
        anyio.run(body, backend=loop)

    test.__name__ = test.__qualname__ = body.__name__
    test.__doc__ = body.__doc__
    test.__module__ = body.__module__
    marked: Callable[[str], None] = pytest.mark.parametrize("loop", LOOPS)(test)
    return marked


class _StillLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is a number the test moves (:class:`VirtualClock`)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def time(self) -> float:
        return self.now


class VirtualClock:
    """The clock of a loop in virtual time: it stands still; :meth:`advance` moves it on and
    lets every timer that became due run, in order, before it returns."""

    #: Turns of the loop given after a move: a due timer runs within two on either loop.
    TURNS = 10

    def __init__(self, loop: str) -> None:
        self.loop = loop
        self.trio_clock = trio.testing.MockClock()  # rate 0: still unless jumped
        self._asyncio_loop: _StillLoop | None = None

    def new_asyncio_loop(self) -> asyncio.AbstractEventLoop:
        self._asyncio_loop = _StillLoop()
        return self._asyncio_loop

    def jump(self, seconds: float) -> None:
        """Move the clock on without a turn of the loop: as if the loop had been blocked."""
        if self._asyncio_loop is not None:
            self._asyncio_loop.now += seconds
        else:
            self.trio_clock.jump(seconds)

    async def advance(self, seconds: float) -> None:
        """Move the clock on, then let the loop turn: each timer now due fires."""
        self.jump(seconds)
        for _ in range(self.TURNS):
            await anyio.lowlevel.checkpoint()


def on_both_loops_in_virtual_time(
    body: Callable[[VirtualClock], Coroutine[Any, Any, None]],
) -> Callable[[str], None]:
    """:func:`on_both_loops` for a body that takes the :class:`VirtualClock` of its loop
    (it must not sleep: the clock moves only by ``advance``)."""

    def test(loop: str) -> None:
        clock = VirtualClock(loop)
        options: dict[str, Any] = (
            {"loop_factory": clock.new_asyncio_loop}
            if loop == "asyncio"
            else {"clock": clock.trio_clock}
        )
        anyio.run(body, clock, backend=loop, backend_options=options)

    test.__name__ = test.__qualname__ = body.__name__
    test.__doc__ = body.__doc__
    test.__module__ = body.__module__
    marked: Callable[[str], None] = pytest.mark.parametrize("loop", LOOPS)(test)
    return marked
