"""The SSE transport: one ``text/event-stream`` exchange for ``/{name}/stream/``.

Owns the exchange: reading the request (query string, or a body for POST), starting a stream run
or resuming one from ``Last-Event-ID`` (from this worker's runs, or following another
worker's run through the resume store), the response headers, sending frames as the run produces
them (with heartbeats while idle), and ending: after ``done``/``error``, on client disconnect
(seen from ``http.disconnect`` or from a failing or stalled ``send``), or on server shutdown (a
final ``shutdown`` frame). A failure before the first frame is the HTTP transport's JSON error
answer (htmx headers included); after it, the run's ``error`` frame.
The run itself (task, replay, grace) belongs to ``core.stream_run``; a live subscription's
outlet to ``asgi.live_stream``.
"""

from __future__ import annotations

import logging
from functools import partial
from time import monotonic
from typing import TYPE_CHECKING, Any, Final

from component_framework.asgi.incoming import (
    Disconnected,
    RequestHeaders,
    page_of,
    read_body,
    request_error,
)
from component_framework.asgi.live_stream import start_live_stream
from component_framework.asgi.responses import Response, error_response, send_response
from component_framework.core import aio
from component_framework.core.access import AccessContext
from component_framework.core.component import StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher
from component_framework.core.events import checked_page_id
from component_framework.core.resume_store import RemoteRun
from component_framework.core.stream_run import Frame, StreamRun
from component_framework.errors import (
    ComponentError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    StreamLost,
    error_document,
    report_failure,
)
from component_framework.protocol.request import (
    MOUNT_EVENT,
    PAGE_FIELD,
    RequestError,
    RequestFields,
    merge_loose,
    parse_body,
    parse_query,
    stream_format,
)
from component_framework.protocol.sse import (
    HEARTBEAT_FRAME,
    LOST_ID_SUFFIX,
    RUN_ID,
    SHUTDOWN_FRAME,
    SSE_CONTENT_TYPE,
    lost_frame,
    parse_frame_id,
    with_retry,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

    from component_framework.asgi.services import AppServices, StreamGate

__all__ = ["StreamNotFound", "handle_sse", "refuse_stream_start", "start_run_from"]

logger = logging.getLogger("component_framework")
ALLOWED_METHODS: Final = ("GET", "POST")
_HEADERS: Final = (
    (b"content-type", SSE_CONTENT_TYPE.encode("ascii")),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
)
#: Seconds a cancelled stream may spend sending its shutdown frame (servers that stop by
#: cancelling the application, daphne and hypercorn's workers, give it no other chance).
LAST_FRAME_TIMEOUT: Final = 0.5
#: Longest wait for a followed run's next frame before looking at the client, the shutdown
#: gate and the heartbeat again (seconds).
FOLLOW_WAIT: Final = 0.5


class StreamNotFound(NotFound):
    """The component has no stream to run for this request."""

    code = "stream_not_found"


class Heartbeat:
    """A keep-alive comment when a connection sent nothing for a whole interval.

    One timer per interval and connection (not one per wait, which would cost a timer for
    every frame): each tick marks a beat due, unless frames went out since the last tick."""

    def __init__(self, loop: aio.Loop, interval: float, wakeup: aio.Event) -> None:
        self.loop, self.interval, self.wakeup = loop, interval, wakeup
        self.active = False  # something was sent since the last tick
        self.due = False
        self.timer = loop.call_later(interval, self._tick)

    def _tick(self) -> None:
        if not self.active:
            self.due = True
            self.wakeup.set()
        self.active = False
        self.timer = self.loop.call_later(self.interval, self._tick)

    def cancel(self) -> None:
        self.timer.cancel()


class StreamReader:
    """One client reading one run: sends its frames until the run ends or the client goes.

    While its task waits with nothing left to send (:meth:`wait_idle`), the run calls
    :meth:`_on_frame` for each new frame, which sends it there and then when the server
    takes it at once (the common case): no task wakes per frame. A send that has to wait
    (flow control), or fails, is handed to the task (``unfinished``, ``failure``), which
    bounds it with ``stream_send_timeout``.

    Its interface for an exchange that sends frames of its own (the page connection,
    ``asgi.page_stream``, whose frames come from several runs): :meth:`exchange` around its
    frame loop, which sends with :meth:`write`, finishes a send a run's call started with
    :meth:`finish_send`, waits with :meth:`wait_idle`, and stops when ``gone``; its runs' calls
    send new frames with :meth:`send_now`."""

    def __init__(self, send: ASGISendCallable, settings: Settings, gate: StreamGate) -> None:
        self.send = send
        self.settings = settings
        self.gate = gate
        self.gone = False
        self.retry_sent = False
        #: The last frame sent (or being sent), by sequence number.
        self.after = 0
        self.idle = False
        self.unfinished: aio.Unfinished | None = None
        #: ``unfinished`` carries the exchange's first frame (with the ``retry`` hint).
        self.unfinished_first = False
        self.failure: Exception | None = None

    async def write(self, data: bytes, *, more: bool = True) -> None:
        """Send ``data`` as the body's next part (bounded; a client gone sets ``gone``)."""
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    def _framed(self, frame: bytes) -> bytes:
        """``frame``, with the ``retry:`` hint if it is the first frame of this exchange (a
        separate retry block would reach httpx-sse's callers as an empty message)."""
        if self.retry_sent:
            return frame
        self.retry_sent = True
        return with_retry(frame, self.settings.stream_retry_ms)

    async def _send(self, message: Any) -> None:
        if self.gone:
            return
        try:
            # Most sends complete at once (the server buffers them): no timer for those; only
            # a send that waits (flow control) is bounded.
            waiting = aio.start_now(self.send(message))
        except (OSError, RuntimeError):  # the server says the client is gone
            self.gone = True
            return
        if waiting is not None:
            self._hand_over(waiting, message)
            await self.finish_send()

    def _hand_over(self, waiting: aio.Unfinished, message: Any) -> None:
        """``waiting`` (the send of ``message``) is for the task to finish."""
        self.unfinished = waiting
        self.unfinished_first = message.get("body", b"").startswith(b"retry:")

    async def _write_now(self, data: bytes, *, more: bool) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def _watch_disconnect(self, receive: ASGIReceiveCallable, wakeup: aio.Event) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception:  # a server whose receive fails after the request: the client is gone
            logger.debug("receive failed while streaming", exc_info=True)
        self.gone = True
        wakeup.set()

    async def _last_frame(self) -> None:
        """The server cancelled the exchange (daphne stops that way, hypercorn after its
        graceful timeout): one bounded try at the ``shutdown`` frame and the body's end, so
        the client learns the server went away rather than reading a cut-off stream."""
        if self.unfinished is not None:  # that frame is given up, as a cancelled send would be
            self.unfinished.close()
            self.unfinished = None
            self.retry_sent = not self.unfinished_first  # the hint goes on the shutdown frame
        if self.gone:
            return
        try:
            with aio.shield():
                async with aio.timeout(LAST_FRAME_TIMEOUT):
                    last = self._framed(SHUTDOWN_FRAME)
                    await self._write_now(last, more=True)
                    await self._write_now(b"", more=False)
        except aio.cancellation(TimeoutError, OSError, RuntimeError):
            logger.debug("the shutdown frame of a cancelled stream did not go out", exc_info=True)
        self.gone = True

    async def _start(self) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": list(_HEADERS)}
        await self._send({**start, "trailers": False})
        await self.write(b"")  # the head goes out now (hypercorn and daphne wait for a body)

    async def exchange(
        self,
        receive: ASGIReceiveCallable,
        wakeup: aio.Event,
        frames: Callable[[], Awaitable[None]],
    ) -> None:
        """The exchange around ``frames`` (which sends the frames): the response starts, the
        client's disconnect and the server's shutdown set ``wakeup``, the body ends when the
        client is still there, and a cancelled exchange gets its last frame."""
        gate = self.gate
        gate.wakeups.add(wakeup)
        watcher = aio.running_loop().create_task(self._watch_disconnect(receive, wakeup))
        try:
            await self._start()
            await frames()
            if not self.gone:
                await self.write(b"", more=False)
        except aio.cancellation():
            await self._last_frame()
            raise
        finally:
            watcher.cancel()
            gate.wakeups.discard(wakeup)

    async def serve(self, receive: ASGIReceiveCallable, run: StreamRun, after: int) -> None:
        """Send ``run``'s frames after sequence ``after`` as they come; returns when the
        exchange ends."""
        self.after = after
        wakeup = aio.new_event()
        heartbeat = Heartbeat(aio.running_loop(), self.settings.stream_heartbeat, wakeup)
        run.attach(wakeup, partial(self._on_frame, run, wakeup, heartbeat))
        try:
            await self.exchange(
                receive, wakeup, partial(self._serve_frames, run, wakeup, heartbeat)
            )
        finally:
            heartbeat.cancel()
            run.detach(wakeup)
            if self.unfinished is not None:  # cancelled before the task finished it
                self.unfinished.close()
                self.unfinished = None

    def _on_frame(self, run: StreamRun, wakeup: aio.Event, heartbeat: Heartbeat) -> None:
        """``run`` has a new frame or ended: :meth:`send_now` for this stream."""
        self.after = self.send_now(run, self.after, self._framed, wakeup, heartbeat)

    def send_now(
        self,
        run: StreamRun,
        after: int,
        wire: Callable[[bytes], bytes],
        wakeup: aio.Event,
        heartbeat: Heartbeat,
    ) -> int:
        """The run's call on a new frame or its end, for a follower of ``run`` that has sent
        its frames up to ``after``: while this reader's task waits with nothing to send, the
        new frames (each as ``wire`` writes it) go out there and then, as long as the server
        takes them at once (no task wakes per frame); anything else (a send that has to
        wait or fails, the run's end) is the task's, woken. Returns the sequence number of
        the last frame sent (``after`` when none was)."""
        if not self.idle or self.gone:
            wakeup.set()
            return after
        wires = run.wires
        if wires and run.next_seq == after + 2:  # the common case: one new frame
            new: Iterable[Frame] = ((after + 1, wires[-1]),)
        else:
            new = run.frames_after(after)
        for seq, frame in new:
            message: Any = {"type": "http.response.body", "body": wire(frame), "more_body": True}
            try:
                waiting = aio.start_now(self.send(message))
            except (OSError, RuntimeError):  # the server says the client is gone
                self.gone = True
            except Exception as exc:  # the server's fault: the task raises it
                self.failure = exc
            else:
                after = seq
                heartbeat.active = True
                if waiting is None:
                    continue
                self._hand_over(waiting, message)
            self.idle = False
            wakeup.set()
            return after
        if run.finished:
            wakeup.set()
        return after

    async def finish_send(self) -> None:
        """The task's part of a send the run's call started: finish it (bounded), or raise
        what it raised."""
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure
        waiting = self.unfinished
        if waiting is None:
            return
        try:
            async with aio.timeout(self.settings.stream_send_timeout):
                await waiting
        except (TimeoutError, OSError, RuntimeError):
            # A stalled or failed send means the client is gone (uvicorn may raise, or block
            # on flow control when the reader stopped reading).
            self.gone = True
        # Cancelled, it stays for _last_frame, which gives the frame up (keeping its hint).
        self.unfinished = None
        waiting.close()

    async def _serve_frames(self, run: StreamRun, wakeup: aio.Event, heartbeat: Heartbeat) -> None:
        gate = self.gate
        while not self.gone:
            wakeup.clear()
            await self.finish_send()
            if self.gone:
                return
            frames = run.frames_after(self.after)
            for seq, wire in frames:
                self.after = seq  # before the send: the run's call must not send it again
                await self.write(self._framed(wire))
                if self.gone:
                    return
            if frames:
                heartbeat.active = True
                continue
            if gate.closing:  # before "finished": shutdown also ends the runs
                await self.write(self._framed(SHUTDOWN_FRAME))
                break
            if run.finished:
                break
            if heartbeat.due:
                heartbeat.due = False
                await self.write(HEARTBEAT_FRAME)
                continue
            await self.wait_idle(wakeup)

    async def wait_idle(self, wakeup: aio.Event) -> None:
        """Wait for ``wakeup`` with nothing left to send: meanwhile the runs' calls send new
        frames themselves (:meth:`send_now`)."""
        self.idle = True
        try:
            await wakeup.wait()
        finally:
            self.idle = False

    async def follow(
        self, receive: ASGIReceiveCallable, remote: RemoteRun, run_id: str, after: int
    ) -> None:
        """Send the frames of a run another worker produces (from the resume store) after
        ``after``, as they come; a run that goes away meanwhile (cancelled, expired, lost
        with the store) ends with a ``lost`` frame. Returns when the exchange ends."""
        wakeup = aio.new_event()  # the disconnect watcher's; reads are bounded by FOLLOW_WAIT
        try:
            await self.exchange(
                receive, wakeup, partial(self._follow_frames, remote, run_id, after)
            )
        finally:
            await remote.close()

    async def _follow_frames(self, remote: RemoteRun, run_id: str, after: int) -> None:
        gate, settings = self.gate, self.settings
        quiet_since = monotonic()
        while not self.gone:
            if gate.closing:
                await self.write(self._framed(SHUTDOWN_FRAME))
                break
            frames = await remote.read(after, FOLLOW_WAIT)
            if frames is None:
                lost = lost_frame(error_document(StreamLost()), run_id)
                await self.write(self._framed(lost))
                break
            for seq, wire in frames:
                await self.write(self._framed(wire))
                after = seq
            if remote.ended:
                break
            if frames:
                quiet_since = monotonic()
            elif monotonic() - quiet_since >= settings.stream_heartbeat:
                quiet_since = monotonic()
                await self.write(HEARTBEAT_FRAME)


def _stream_event(
    dispatcher: Dispatcher, name: str, fields: RequestFields, method: str
) -> str | None:
    """The event the stream runs; ``None`` for a live subscription (``live_updates``).
    ``event=mount`` names no event, as over HTTP. A ``GET`` may name only a stream handler
    (``Component.is_stream_event``): other handlers change state, and a cross-site ``<img>``
    or link sends a ``GET`` without ``Origin``; they start over ``POST`` (405 otherwise)."""
    cls = dispatcher.registry.get(name)
    named = fields.event
    if named is not None and named != MOUNT_EVENT:
        if method == "GET" and cls.event_handler(named) and not cls.is_stream_event(named):
            raise MethodNotAllowed(
                "GET",
                ["POST"],
                f"event {named!r} is not a stream handler: a GET stream request starts only "
                "async generator handlers (or the component's stream_event); send it with POST",
            )
        return named
    event = cls.default_stream_event() if issubclass(cls, StreamingComponent) else None
    if event is None and not cls.live_updates:
        raise StreamNotFound(
            f"component {name!r} has no stream: give it one async generator handler "
            "(StreamingComponent), set stream_event, name the event in the request, or set "
            "live_updates = True to stream the renders that broadcasts cause"
        )
    return event


async def _fields(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    headers: RequestHeaders,
    services: AppServices,
) -> RequestFields:
    settings = services.settings
    depth, most = settings.max_json_depth, settings.max_fields
    if scope["method"] == "GET":
        query = scope["query_string"]
        return parse_query(query, max_depth=depth, max_fields=most, loose_to_payload=True)
    limit, deadlines = settings.max_body_bytes, services.guard.body_deadlines
    body = await read_body(receive, limit, headers.content_length, deadlines)
    kind = headers.content_type
    return parse_body(kind, body, max_depth=depth, max_fields=most, loose_to_payload=True)


async def _start_run(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    name: str,
    headers: RequestHeaders,
    context: AccessContext,
    services: AppServices,
) -> StreamRun:
    fields = await _fields(scope, receive, headers, services)
    post_query = scope["query_string"] if scope["method"] == "POST" else b""
    method = scope["method"]
    named = checked_page_id(fields.payload.get(PAGE_FIELD))
    page = None if named else page_of(scope)  # the header, read only when the field is not
    return await start_run_from(fields, method, post_query, name, context, services, page)


async def start_run_from(
    fields: RequestFields,
    method: str,
    post_query: bytes,
    name: str,
    context: AccessContext,
    services: AppServices,
    page: str | None,
) -> StreamRun:
    """Start the run a stream request for ``name`` asks for with ``fields`` (``method``'s:
    a ``GET`` starts only stream handlers): every check (rates, snapshot, authorization) and
    the mount happen here, before any frame. ``page``: the page id the request named beside
    its fields. The page connection (``asgi.page_stream``) starts each of its runs here too."""
    dispatcher, streams = services.dispatcher, services.streams
    if services.stream_gate.closing:  # the body may arrive after a shutdown began: start nothing
        raise ServiceUnavailable("the server is shutting down")
    frame_format = stream_format(fields, post_query)
    event = _stream_event(dispatcher, name, fields, method)
    # The runtime's page id, on every stream (an EventSource can name it in the URL only);
    # never a handler's field nor a mount argument.
    page = checked_page_id(fields.payload.pop(PAGE_FIELD, None)) or page
    if event is None:  # a live subscription: mount (or resume), then renders from broadcasts
        # It runs no event, so loose fields are mount params, as on a WebSocket URL.
        params = dict(fields.params)
        merge_loose(params, fields.payload)  # a field given twice: RequestError, a 400
        call = ComponentCall(name, None, {}, params, fields.snapshot, fields.state, context)
    else:
        call = ComponentCall(
            name, event, fields.payload, fields.params, fields.snapshot, fields.state, context
        )
    plan = dispatcher.prepare(call, mount_first=True)
    cls = plan.cls
    grace = getattr(cls, "stream_resume_grace", None)
    if grace is None:
        grace = dispatcher.settings.stream_resume_grace
    if event is None:
        dispatcher.check_mount_access(plan)  # a denial is a 403 / 401, not a stream
        hub = services.hub
        return await start_live_stream(dispatcher, hub, streams, call, frame_format, grace, page)
    # Mount and authorize before the response starts: a denial or a failing mount is an
    # ordinary JSON error answer, and nothing of the component reaches a denied client.
    component = await dispatcher.open_component(plan)
    # What its handler emits reaches the page's live listeners too.
    page_events = None if page is None else partial(services.hub.emit_to_page, page, depth=1)
    return streams.start_run(dispatcher, plan, frame_format, grace, component, page_events)


async def handle_sse(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    component_name: str,
    services: AppServices,
) -> None:
    """Serve one stream request for ``component_name``."""
    guard, gate, streams = services.guard, services.stream_gate, services.streams
    debug = services.settings.debug
    headers = RequestHeaders.of(scope)
    after = 0
    opened = False
    remote: RemoteRun | None = None
    client = guard.client_address(scope)
    try:
        guard.check_host(headers.host)
        if scope["method"] not in ALLOWED_METHODS:
            raise MethodNotAllowed(scope["method"], ALLOWED_METHODS)
        if gate.closing:
            raise ServiceUnavailable("the server is shutting down")
        guard.take_request(client, monotonic())
        # An empty Last-Event-ID is no id at all (EventSource never sends one).
        resume = parse_frame_id(headers.last_event_id) if headers.last_event_id else None
        if headers.last_event_id:
            run = streams.get(resume[0]) if resume is not None else None
            after = resume[1] if resume else 0
            if run is None or run.component_name != component_name:
                if resume is not None and RUN_ID.fullmatch(resume[0]):  # another worker's?
                    remote = await streams.find_elsewhere(component_name, resume[0])
                if remote is None:
                    # Expired, gone or never ours: not "finished", the client missed frames.
                    await send_response(send, _lost(resume[0] if resume else "", headers, services))
                    return
                if remote.done_after(after):
                    await remote.close()
                    await send_response(send, _no_content())  # finished anywhere: 204
                    return
            elif run.finished and not run.frames_after(after):
                # Finished: 204 tells EventSource to stop reconnecting.
                await send_response(send, _no_content())
                return
        else:
            # Starting work is a state change: a cross-site page may not start it.
            guard.check_origin(headers.origin, headers.fetch_site, headers.host, "stream start")
            guard.open("stream", client)
            try:
                context = AccessContext("sse", scope, client)
                run = await _start_run(scope, receive, component_name, headers, context, services)
                await streams.published(run)  # before the client can learn the run's id
            except BaseException:
                guard.close("stream", client)
                raise
            opened = True
    except Disconnected:
        return
    except Exception as exc:  # before the response started: the JSON error answer of HTTP
        if remote is not None:
            await remote.close()
        await refuse_stream_start(send, exc, component_name, debug, headers.htmx)
        return
    if not opened:
        try:
            guard.open("stream", client)
        except ComponentError as error:
            if remote is not None:
                await remote.close()
            await refuse_stream_start(send, error, component_name, debug, headers.htmx)
            return
    reader = StreamReader(send, services.settings, gate)
    try:
        if remote is not None:
            assert resume is not None
            await reader.follow(receive, remote, resume[0], after)
        else:
            assert run is not None
            await reader.serve(receive, run, after)
    finally:
        guard.close("stream", client)


async def refuse_stream_start(
    send: ASGISendCallable, exc: Exception, name: str, debug: bool, htmx: bool
) -> None:
    """Answer a stream request that failed before its response started, as HTTP does: a
    ``RequestError`` as the client's fault, anything else reported as a server fault (the
    page connection, a part of this transport, refuses its requests so too)."""
    if isinstance(exc, RequestError):
        error = request_error(exc)
    else:
        error = report_failure(exc, f"starting a stream of {name!r:.80}")
    await send_response(send, error_response(error, debug=debug, htmx=htmx, component=name))


def _no_content() -> Response:
    return Response(204, (), b"")


def _lost(run_id: str, headers: RequestHeaders, services: AppServices) -> Response:
    """The answer to a resume of a stream this server does not have: one ``lost`` frame
    (``StreamLost``, with the retry hint as every first frame), whose id a reconnect sends
    back to be answered ``204``."""
    if (headers.last_event_id or "").endswith(LOST_ID_SUFFIX):
        return _no_content()  # the client was told; a plain EventSource asks once more
    shown_id = run_id if RUN_ID.fullmatch(run_id) else "unknown"
    frame = lost_frame(error_document(StreamLost()), shown_id)
    return Response(200, _HEADERS, with_retry(frame, services.settings.stream_retry_ms))
