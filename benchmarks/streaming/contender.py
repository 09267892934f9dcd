"""The streaming benchmark's contender: the same token stream through sse-starlette.

sse-starlette is the SSE library a user would otherwise pick. :func:`build_contender_app` (a
uvicorn factory, served by the same command as :mod:`benchmarks.streaming.app`) is a Starlette
app whose endpoint, at the same path and with the same query
(``GET /components/tokens/stream/?tokens=N&rate=R&stamp=1&hold=S``), returns an
``EventSourceResponse`` yielding one ``{"data": token}`` per token, with the same token text
(:func:`benchmarks.streaming.app.paced_tokens`) on the same absolute schedule, then one
``event: done`` frame (``data: done``) so that a client can tell a finished stream from a cut
one. It keeps sse-starlette's defaults (CRLF separators, a ping every 15 s), and adds
``GET /_bench/stats`` like the app under test.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from benchmarks.common.probes import raise_open_files
from benchmarks.streaming.app import COMPONENT, GcPauses, StatsApp, paced_tokens

__all__ = ["DONE_DATA", "build_contender_app"]

#: The data of the contender's last frame (``event: done``).
DONE_DATA: Final = "done"


def _number(request: Request, name: str, default: float) -> float:
    value = request.query_params.get(name)
    return default if value is None else float(value)


async def _tokens(tokens: int, rate: float, stamp: bool, hold: float) -> AsyncIterator[Any]:
    async for text in paced_tokens(tokens, rate, stamp=stamp, hold=hold):
        yield {"data": text}
    yield {"event": "done", "data": DONE_DATA}


async def _stream(request: Request) -> Any:
    from sse_starlette import EventSourceResponse  # imported in the server process only

    tokens = int(_number(request, "tokens", 1))
    rate = _number(request, "rate", 0)
    stamp = request.query_params.get("stamp") == "1"
    hold = _number(request, "hold", 0)
    return EventSourceResponse(_tokens(tokens, rate, stamp, hold))


def build_contender_app() -> Any:
    """uvicorn factory: sse-starlette on Starlette at ``/components/tokens/stream/``, plus
    ``GET /_bench/stats``."""
    raise_open_files(65536)
    import sse_starlette  # noqa: F401  # at startup, with the other imports (a frozen GC keeps it)

    pauses = GcPauses()
    gc.callbacks.append(pauses.callback)
    path = f"/components/{COMPONENT}/stream/"
    return StatsApp(Starlette(routes=[Route(path, _stream)]), pauses)
