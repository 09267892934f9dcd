"""``on_both_loops``: an async test run once on asyncio and once on trio.

pytest-asyncio (``asyncio_mode = "auto"``) takes every ``async def`` test for asyncio, AnyIO's
``anyio_backend`` parametrization included; so the test here is a plain function, parametrized
by ``loop``, that runs the async body with ``anyio.run`` on that loop.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import pytest

__all__ = ["LOOPS", "on_both_loops"]

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
