"""Live SSE subscriptions: a live session whose results become the frames of a stream run.

Owns the SSE side of ``live_updates`` (DESIGN.md section 4): starting the subscription (a
:class:`~component_framework.core.live.LiveSession` that mounts or resumes the component,
then renders whatever broadcasts change) and its outlet, which turns each result into a frame
of the run, as ``asgi.websocket``'s connection turns them into messages. The run (frame
numbers, replay, resume grace, the task that holds the session) belongs to
``core.stream_run``, the frames' bytes to ``protocol.sse``; sending them to a client is
``asgi.sse``'s, exactly as for a handler's run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from component_framework.core.dispatch import ComponentCall, Dispatcher, DispatchResult
from component_framework.core.hub import Hub
from component_framework.core.live import Join, LiveSession, Ref
from component_framework.core.stream_run import FrameFormat, StreamRegistry, StreamRun
from component_framework.core.streams import StreamOp
from component_framework.errors import ComponentError, SlowConsumer

__all__ = ["start_live_stream"]


class _LiveFrames:
    """The outlet of a live SSE subscription: its session's results as frames of its run."""

    def __init__(self, run: StreamRun) -> None:
        self.run = run
        self.session: LiveSession | None = None

    def render(self, result: DispatchResult, ref: Ref) -> None:
        self.run.emit_render(result)

    def stream(self, ops: list[StreamOp]) -> None:
        self.run.stream(ops)

    def error(self, error: ComponentError, ref: Ref) -> None:
        if self.session is not None and self.session.component is None:
            self.run.emit_error(error)  # the mount failed: the stream has nothing to show
            self.run.close_after_finish()
        # A failing broadcast handler is logged and the subscription goes on.

    def forward(self, event: str, payload: Mapping[str, Any]) -> None:
        self.run.emit_broadcast(event, payload)

    def done(self, result: DispatchResult, ref: Ref) -> None:
        self.run.emit_render(result)

    def overflow(self) -> None:
        self.run.emit_error(SlowConsumer("the stream cannot keep up with its broadcasts"))
        self.run.close_after_finish()


async def start_live_stream(
    dispatcher: Dispatcher,
    hub: Hub,
    streams: StreamRegistry,
    call: ComponentCall,
    frame_format: FrameFormat,
    grace: float,
    page: str | None = None,
) -> StreamRun:
    """Start a live subscription: mount (or resume) ``call``'s component, send its render,
    then a render whenever broadcasts (or events emitted on its ``page``) change it, until
    the run is closed. A class that lists events hears its page's from the start (a
    ``listening`` frame says so first)."""
    settings = dispatcher.settings
    run = streams.open_run(call.component_name, frame_format, grace, settings)
    outlet = _LiveFrames(run)
    session = LiveSession(
        dispatcher,
        hub,
        call.component_name,
        outlet,
        inbox_limit=settings.ws_inbox_messages,
        frame_interval=settings.stream_frame_interval,
        context=call.context,
        page=page,
    )
    outlet.session = session
    if await session.listen_to_page():  # before the mount: no event of the page is missed
        assert page is not None
        run.emit_listening(page)
    session.submit(Join(call.params, call.snapshot))
    streams.hold_live(run, session)
    return run
