"""The check that an asyncio-only adapter runs on asyncio, with an error that says what to do.

The library itself runs on asyncio and trio (``core.aio``); some optional dependencies are
asyncio's alone (redis-py's asyncio client, asyncpg, Litestar's channels). Their adapters call
:func:`running_asyncio_loop` before touching the loop, so that under trio they fail with one
clear ``ConfigurationError`` instead of an error from deep inside the dependency.
"""

from __future__ import annotations

import asyncio

from component_framework.errors import ConfigurationError

__all__ = ["running_asyncio_loop"]


def running_asyncio_loop(who: str, because: str) -> asyncio.AbstractEventLoop:
    """The running asyncio loop; a ``ConfigurationError`` naming ``who`` needs asyncio and
    ``because`` of what, when the code runs on another event loop (trio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigurationError(
            f"{who} needs asyncio ({because}), and this code runs on another event loop "
            "(trio?): serve the app with an asyncio server, or use the in-process hub"
        ) from None
