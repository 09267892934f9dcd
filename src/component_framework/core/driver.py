"""The stream driver: how a handler whose work reaches the client as a stream is run.

Owns what every streaming caller does the same way, an SSE stream run (any handler it started)
and a live session (a generator handler over WebSocket or live SSE): a generator handler gets a
render per ``yield`` and, when the HTML changed after its last ``yield`` or the handler asked
for effects (an emit, a trigger, a redirect) after it, one final render; its ``aclose`` runs in
``finally``, so a cancelled stream still runs the handler's ``finally`` blocks; a coroutine
handler is awaited (``Settings.handler_timeout`` bounds it as well); and the whole run is
bounded by ``Settings.stream_max_seconds``, after which the handler is cancelled and
:class:`~component_framework.errors.StreamTimeout` raised.

Callers call the handler themselves (they decide whether its outcome is a stream) and say
how a render is made (a live session rolls back a state too large to sign; every caller
sends its pending stream operations first) and where each render goes (a run's frames, a
session's outlet). What failures become on the wire belongs to them too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from component_framework.core import aio
from component_framework.core.component import Component
from component_framework.core.dispatch import Dispatcher, DispatchResult, PreparedCall
from component_framework.errors import StreamTimeout

__all__ = ["drive_stream"]


async def drive_stream(
    dispatcher: Dispatcher,
    plan: PreparedCall,
    component: Component,
    outcome: Any,
    *,
    render: Callable[[Component], DispatchResult],
    show: Callable[[DispatchResult], None],
    stopped: str,
) -> DispatchResult:
    """Run what ``plan``'s handler returned (``outcome``: an async generator, a coroutine, or
    ``None`` for a sync handler) to its end and return the final render; every render made on
    the way (``render``) goes to ``show``, the final one included unless a ``yield`` already
    showed the same HTML. Past ``Settings.stream_max_seconds``: ``StreamTimeout`` with the
    message "``stopped`` was stopped after N s"."""
    limit = dispatcher.settings.stream_max_seconds
    generator = inspect.isasyncgen(outcome)
    if not generator and _expires_first(dispatcher.settings.handler_timeout, limit):
        # A coroutine's own deadline (``await_user_code``) always ends it first: one timer
        # per run instead of two (a paced run's sleeps share the loop's timer heap with them).
        if outcome is not None:
            await dispatcher.await_user_code(plan, "handler", outcome)
    else:
        deadline = aio.timeout(limit)
        try:
            async with deadline:
                if generator:
                    return await _drive_generator(
                        dispatcher, plan, component, outcome, render, show
                    )
                if outcome is not None:
                    await dispatcher.await_user_code(plan, "handler", outcome)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise StreamTimeout(f"{stopped} was stopped after {limit:g} s") from None
    result = render(component)
    show(result)
    return result


def _expires_first(handler_timeout: float | None, limit: float | None) -> bool:
    """Whether a coroutine handler's own deadline (``handler_timeout``, armed after the
    run's) comes strictly before the run's ``limit``, so the run's could never fire."""
    return handler_timeout is not None and (limit is None or handler_timeout < limit)


async def _drive_generator(
    dispatcher: Dispatcher,
    plan: PreparedCall,
    component: Component,
    generator: Any,
    render: Callable[[Component], DispatchResult],
    show: Callable[[DispatchResult], None],
) -> DispatchResult:
    last: DispatchResult | None = None
    try:
        while await dispatcher.advance(plan, generator):
            last = render(component)
            show(last)
    finally:
        await generator.aclose()  # on cancellation: runs the handler's finally blocks
    result = render(component)
    if last is None or result.html != last.html or result.effects:
        show(result)  # what changed or was asked for after the last yield reaches the page
    return result
