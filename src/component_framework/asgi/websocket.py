"""The WebSocket transport: one ``/{name}/ws/`` connection, at the ASGI message level.

Owns the exchange as an explicit state machine (``CONNECTING -> OPEN -> CLOSING -> CLOSED``):
the handshake checks (shutdown, ``Origin``, component, query string), which answer with an HTTP
error through the denial-response extension when the server offers it and with a close before
accept otherwise (servers turn that into 403); then reading client frames (size limit, rate
limit, parsing) into the connection's :class:`~component_framework.core.live.LiveSession`;
sending its results out of a bounded :class:`~component_framework.core.outbox.Outbox` (the send
timeout here, the overflow policy there); and closing (client gone, a limit, a slow client,
server shutdown). The component itself, its queue and the hub belong to ``core.live``.

The common event costs no task and no coroutine: the reading task runs a plain ``def``
handler itself when the session is idle (``LiveSession.run_now``) and sends its answer at once;
a sender task is started only for messages that arrive from elsewhere (broadcasts, queued work)
and have to wait. A send of the reader's that has to wait is finished by the reader before it
reads the next message. The send timeout is one watchdog timer per connection (armed at a send,
re-armed only while sends go on), not a timeout around every send: a send still running
``ws_send_timeout`` after it started closes the connection (1013), whichever task is sending.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Coroutine, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, cast

from component_framework.asgi.guard import origin_allowed
from component_framework.asgi.incoming import RequestHeaders, request_error
from component_framework.asgi.page_entries import Carrier
from component_framework.asgi.responses import error_response
from component_framework.asgi.services import CLOSE_SERVICE_RESTART, RESTART_REASON
from component_framework.asgi.socket_members import SocketMembers, socket_session
from component_framework.asgi.socket_streams import SocketStreams
from component_framework.core import aio
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, DispatchResult
from component_framework.core.events import checked_page_id
from component_framework.core.live import Event, Join, LiveSession
from component_framework.core.outbox import OVERFLOW, Outbox, fits_alone
from component_framework.core.ratelimit import TokenBucket
from component_framework.core.streams import StreamOp
from component_framework.errors import (
    ComponentError,
    Forbidden,
    MalformedRequest,
    NotJoined,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    SlowConsumer,
    Unauthorized,
    UnsupportedMediaType,
    error_document,
    shown,
)
from component_framework.protocol.request import (
    RequestError,
    SocketOptions,
    parse_query,
    socket_options,
)
from component_framework.protocol.websocket import (
    ClientMessage,
    MessageError,
    Ref,
    broadcast_message,
    done_message,
    effects_message,
    error_message,
    htmx_child_message,
    htmx_render_message,
    pong_message,
    read_client_message,
    render_message,
    stream_message,
)

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, WebSocketScope

    from component_framework.asgi.services import AppServices

__all__ = ["SocketState", "deny_handshake", "handle_websocket"]

logger = logging.getLogger("component_framework")
_MAX_REASON_BYTES: Final = 123  # RFC 6455: a close frame's reason fits in 123 bytes
#: Seconds a client has, after our close frame went out (or failed to), to answer it.
_CLOSE_ANSWER_GRACE: Final = 5.0
#: Seconds a cancelled connection may spend sending its 1012 close (servers that stop by
#: cancelling the application, daphne and hypercorn's workers, give it no other chance).
LAST_CLOSE_TIMEOUT: Final = 0.5
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_INTERNAL_ERROR: Final = 1011
_url_snapshot_logged = False  # a snapshot in a URL is logged once per process


class SocketState(enum.Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"  # we sent (or are sending) the close frame
    CLOSED = "closed"  # the client is gone


def _reason(text: str) -> str:
    encoded = text.encode()[:_MAX_REASON_BYTES]
    return encoded.decode("utf-8", "ignore")


async def deny_handshake(
    scope: Mapping[str, Any], send: ASGISendCallable, error: ComponentError
) -> None:
    """Refuse a handshake: an HTTP answer with the JSON error when the server supports the
    denial-response extension, else a close before accept (the server answers 403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        response = error_response(error)  # the JSON error answer of every HTTP route
        headers = [*response.headers, (b"content-length", b"%d" % len(response.body))]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": response.status,
                "headers": headers,
            }
        )
        await send(
            {"type": "websocket.http.response.body", "body": response.body, "more_body": False}
        )
    else:
        reason = _reason(error.client_message)
        await send({"type": "websocket.close", "code": error.close_code, "reason": reason})


class _SocketConnection:
    """One accepted socket: reads client frames, writes the session's results."""

    __slots__ = (
        "__weakref__",  # test harnesses watch connections through weak references
        "_abandon_timer",
        "_abandoned",
        "_bucket",
        "_client",
        "_closer",
        "_held",
        "_inline",
        "_join_timer",
        "_loop",
        "_outbox",
        "_reader",
        "_reading",
        "_refused_in_a_row",
        "_released",
        "_send_started",
        "_sender",
        "_services",
        "_watchdog",
        "html",
        "members",
        "send",
        "session",
        "settings",
        "state",
        "streams",
        "target",
    )

    def __init__(
        self,
        send: ASGISendCallable,
        services: AppServices,
        client: str,
        *,
        html: bool,
        target: str | None,
    ) -> None:
        settings = services.dispatcher.settings
        self.send = send
        self.settings = settings
        self.html = html
        self.target = target
        self.state = SocketState.OPEN
        self.session: LiveSession | None = None
        #: The components joined to this socket besides its own (the page's socket), and the
        #: page-connection entries it carries (the page's streams): each made at the first
        #: message that needs it (most sockets never join or carry anything, and the pair
        #: costs an idle socket about 0.6 KB); the session holds what they are made of.
        self.members: SocketMembers | None = None
        self.streams: SocketStreams | None = None
        self._services = services
        self._client = client
        self._loop = aio.running_loop()
        #: The unsent messages, only while some wait (see :meth:`queue`).
        self._outbox: Outbox | None = None
        self._sender: aio.Task | None = None
        self._closer: aio.Task | None = None
        #: The client's message rate, made full at its first message (as full as it would
        #: be by then: a bucket never holds more than its burst).
        self._bucket: TokenBucket | None = None
        self._refused_in_a_row = 0
        self._reader: aio.Task | None = None
        self._abandoned = False
        self._reading = False
        self._abandon_timer: aio.Timer | None = None
        self._join_timer: aio.Timer | None = None
        #: The reader is taking a client message: a send of its that has to wait is
        #: ``_held`` for the reader to finish after the message (no sender task).
        self._inline = False
        self._held: aio.Unfinished | None = None
        #: Loop time at which the running send started (``None``: no send running), and the
        #: connection's one send watchdog (``None`` while no send needs watching).
        self._send_started: float | None = None
        self._watchdog: aio.Timer | None = None
        #: Set once an interrupted inline send of the reader has unwound (see _stop_sender).
        self._released: aio.Event | None = None

    async def start(self, join: Join | None) -> None:
        """Listen to the page from the accept on (no event is missed), then mount or resume
        the component as the URL asks, or wait for the ``join`` message (``join`` is
        ``None``: the snapshot stays out of the URL, and access logs)."""
        session = self._session()
        await session.listen_to_page()
        if join is None:
            self.expect_join(self.settings.ws_join_timeout)
        else:
            session.submit(join)

    def expect_join(self, timeout: float) -> None:
        """Close with 1008 unless a ``join`` message arrives within ``timeout`` seconds."""
        error = NotJoined(f"no 'join' message within {timeout:g} s of connecting")
        self._join_timer = self._loop.call_later(timeout, self.close, error)

    # -- the outlet of the live session ------------------------------------------------------

    def render(self, result: DispatchResult, ref: Ref) -> None:
        session = self.session
        if session is not None and result.component is not session.component:
            # A held child's render: swapped by its own id, never coalesced with the root's.
            if not self.html:
                self.queue(render_message(result, ref))
                return
            self.queue(htmx_child_message(result))
            if result.effects:
                self.queue(effects_message(result.effects, result.component_id, ref))
            return
        if self.html:
            self.queue(htmx_render_message(result, self.target), push=ref is None)
            if result.effects:  # after the swap they belong to; never coalesced away
                self.queue(effects_message(result.effects, result.component_id, ref))
        else:
            self.queue(render_message(result, ref), push=ref is None)

    def stream(self, ops: list[StreamOp]) -> None:
        for op in ops:
            self.queue(stream_message(op.to_wire()))

    def error(self, error: ComponentError, ref: Ref) -> None:
        if isinstance(error, Forbidden | Unauthorized) and not self._joined():
            self.close(error)  # denied before anything was shown: nothing to keep open for
            return
        self.queue(error_message(error_document(error, debug=self.settings.debug), ref))

    def forward(self, event: str, payload: Mapping[str, Any]) -> None:
        self.queue(broadcast_message(event, payload))

    def own_id(self) -> str:
        """The id of the socket's own component (``""`` until it is mounted)."""
        return "" if self.session is None else self.session.component_id

    def _joined(self) -> bool:
        return self.session is not None and self.session.component is not None

    def _members(self) -> SocketMembers:
        """The components joined to this socket, made at the first ``join`` of one (or
        ``leave``)."""
        members = self.members
        if members is None:
            session = self._session()
            members = self.members = SocketMembers(
                self, self._services, self._scope(), self._client, page=session.page,
                own_id=self.own_id,
            )  # fmt: skip
        return members

    def _streams(self) -> SocketStreams:
        """The page-connection entries this socket carries, made at the first ``stream``
        (or ``unstream``) message."""
        streams = self.streams
        if streams is None:
            session = self._session()
            tail = f"/{session.component_name}/ws"
            carrier = Carrier(self._scope(), tail, self._client, session.page)
            streams = self.streams = SocketStreams(self, self._services, carrier)
        return streams

    def _session(self) -> LiveSession:
        session = self.session
        assert session is not None  # made right after the accept
        return session

    def _scope(self) -> WebSocketScope:
        """The connection's scope (its session's access context holds it)."""
        context = self._session().context
        assert context is not None  # a socket's session always has one
        return cast("WebSocketScope", context.scope)

    def done(self, result: DispatchResult, ref: Ref) -> None:
        self.queue(done_message(result, ref))

    def overflow(self) -> None:
        self.close(SlowConsumer("the connection cannot keep up with its messages"))

    # -- the outbox ----------------------------------------------------------------------------

    def queue(self, text: str, *, push: bool = False, key: str = "") -> None:
        """Queue ``text`` for the client (``push``: a render of component ``key``, the
        socket's own by default, that nobody asked for: coalesced)."""
        if self.state is not SocketState.OPEN:
            return
        outbox = self._outbox
        if self._sender is None and (
            outbox.passes(text)
            if outbox is not None
            else fits_alone(
                text,
                max_messages=self.settings.ws_outbox_messages,
                max_bytes=self.settings.ws_outbox_bytes,
            )
        ):
            # Nothing waits: no place in the queue (a fan-out's push render, the answer to
            # the message the reader takes), and sent from here (no call between: each
            # layer of an event's path is code and data the CPU's caches have to hold).
            waiting = self._send_ready(text)
            if waiting is not None:
                self._finish_later(waiting)
            return
        if outbox is None:  # made when a message has to wait, dropped once all went out
            settings = self.settings
            outbox = self._outbox = Outbox(
                max_messages=settings.ws_outbox_messages,
                max_bytes=settings.ws_outbox_bytes,
                policy=settings.ws_outbox_policy,
            )
        if outbox.put(text, push=push, key=key) is OVERFLOW:
            self.close(SlowConsumer("the client does not take its messages fast enough"))
            return
        if self._sender is None:
            self._pump()

    def crowded(self) -> bool:
        """Whether the outbox is half full: the carried streams' frames wait meanwhile."""
        return self._outbox is not None and self._outbox.half_full()

    def _pump(self) -> None:
        """Send the outbox as far as the server takes messages at once; a send that has to
        wait goes on in a sender task, which sends the rest after it."""
        waiting = self._send_ready()
        if waiting is not None:
            self._finish_later(waiting)

    def _finish_later(self, waiting: aio.Unfinished) -> None:
        """A send had to wait: the reader finishes it after its message (no task), anyone
        else's goes on in a sender task, which then sends the rest of the outbox."""
        if self._inline:  # the reader finishes it after its message: no task
            self._sender, self._held = self._reader, waiting
        else:
            self._sender = self._loop.create_task(self._send_outbox(waiting))

    async def _send_held(self) -> None:
        """The reader finishes its send that had to wait, then the rest of the outbox (it
        reads the next message only then: a client that takes nothing is not read on)."""
        held, self._held = self._held, None
        assert held is not None
        await self._send_outbox(held)

    def _drop_held(self) -> None:
        """The reading ended before it finished its held send: stop that send."""
        held, self._held = self._held, None
        if held is None:
            return
        held.close()
        self._send_started = None
        if self._sender is self._reader:
            self._sender = None
        if self._released is not None:
            self._released.set()

    def _send_ready(self, first: str | None = None) -> aio.Unfinished | None:
        """Send ``first``, if given, then queued messages while the server takes each at once
        (no task, no timer); the first send that has to wait is handed back, watched by the
        watchdog."""
        text = first
        while self.state is SocketState.OPEN:
            if text is None:
                if self._outbox is None:  # (the common case: no call to find nothing queued)
                    break
                text = self._take_queued()
                if text is None:
                    break
            frame: Any = {"type": "websocket.send", "text": text}
            text = None
            try:
                waiting = aio.start_now(self.send(frame))
            except (OSError, RuntimeError):  # the server says the socket is gone
                self._gone()
                return None
            except Exception as exc:  # a lone surrogate from user code, or the server's fault
                self._send_failed(exc)
                return None
            if waiting is not None:
                self._send_started = self._loop.time()
                if self._watchdog is None:
                    timeout = self.settings.ws_send_timeout
                    self._watchdog = self._loop.call_later(timeout, self._watch)
                return waiting
        if self.streams is not None:  # frames held back for room may go now
            self.streams.drained()
        return None

    def _take_queued(self) -> str | None:
        """The oldest unsent message; ``None`` when none waits (the outbox goes then: an
        idle socket holds none)."""
        outbox = self._outbox
        text = None if outbox is None else outbox.take()
        if text is None:
            self._outbox = None
        return text

    async def _send_outbox(self, waiting: aio.Unfinished) -> None:
        """Finish the send that had to wait, then the rest of the outbox (on the sender task,
        or inline on the reader)."""
        unfinished: aio.Unfinished | None = waiting
        try:
            while unfinished is not None:
                await unfinished
                self._send_started = None
                unfinished = self._send_ready()
        except (OSError, RuntimeError):  # the server says the socket is gone
            self._gone()
        except Exception as exc:
            self._send_failed(exc)
        finally:
            if unfinished is not None:  # cancelled before it was awaited
                unfinished.close()
            self._send_started = None
            self._sender = None
            if self._released is not None:
                self._released.set()

    def _send_failed(self, exc: Exception) -> None:
        """A send failed otherwise than by the client leaving: close with 1011."""
        if isinstance(exc, UnicodeError):  # text the server cannot encode (a lone surrogate)
            logger.error("a WebSocket message could not be encoded", exc_info=exc)
        else:
            logger.error("the server failed a WebSocket send", exc_info=exc)
        self._sender = None
        self.close(code=CLOSE_INTERNAL_ERROR)

    def _watch(self) -> None:
        """The send watchdog: close (1013) when the running send started ``ws_send_timeout``
        ago or more; else wait for that send's own deadline, or rest when none runs."""
        self._watchdog = None
        started, timeout = self._send_started, self.settings.ws_send_timeout
        if started is None or self.state is not SocketState.OPEN:
            return
        if (remaining := started + timeout - self._loop.time()) > 0:
            self._watchdog = self._loop.call_later(remaining, self._watch)
            return
        self.close(SlowConsumer(f"the client took no message for {timeout:g} s"))

    async def _stop_sender(self) -> None:
        """Stop the send in progress, if another task runs it. A sender task is cancelled;
        the reader's inline send is interrupted by ending the reading (as for a client that
        does not answer the close): a client that takes no message will not answer either."""
        sender = self._sender
        if sender is None or sender is aio.current_task():
            return
        if sender is not self._reader:
            sender.cancel()
            await aio.wait_all([sender])
            return
        released = self._released = aio.new_event()
        self._abandoned = True
        sender.cancel()
        async with aio.timeout(self.settings.ws_send_timeout):
            await released.wait()

    # -- closing -------------------------------------------------------------------------------

    def close(
        self, error: ComponentError | None = None, code: int | None = None
    ) -> aio.Task | None:
        """Close with ``error``'s close code (or ``code``), dropping unsent messages: the task
        sending the close, or ``None`` when the socket was not open."""
        if self.state is not SocketState.OPEN:
            return None
        self.state = SocketState.CLOSING
        close_code = code if code is not None else (error.close_code if error else CLOSE_NORMAL)
        reason = _reason(error.client_message) if error is not None else ""
        if error is not None and close_code != CLOSE_SERVICE_RESTART:
            logger.info("closing a WebSocket with %d: %s", close_code, error.message)
        self._outbox = None
        self._end_sessions()
        self._closer = self._loop.create_task(self._send_close(close_code, reason))
        return self._closer

    def _abandon(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done() and self._reading:
            logger.info("a WebSocket client did not answer the close: dropping the connection")
            self._abandoned = True
            reader.cancel()

    async def _send_close(self, code: int, reason: str) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        try:
            await self._stop_sender()
        except TimeoutError:
            logger.debug("an interrupted send did not end", exc_info=True)
        # A client that neither takes our close frame nor answers it must not hold the
        # connection (and its per-client slot) forever: stop reading when the frame cannot
        # go out, or when no answer came within a grace.
        try:
            async with aio.timeout(self.settings.ws_send_timeout):
                await self._send_close_frame(code, reason)
        except (TimeoutError, OSError, RuntimeError):
            logger.debug("sending a close frame failed", exc_info=True)
            self._abandon()
        else:
            if self._reading:  # not when the reading already ended (an interrupted send)
                self._abandon_timer = self._loop.call_later(_CLOSE_ANSWER_GRACE, self._abandon)

    async def _send_close_frame(self, code: int, reason: str) -> None:
        """Send the close; a server that refuses the code (daphne's autobahn sends only 1000
        and 3000-4999) gets 1000 instead, except for 1012, whose connection is dropped (the
        client sees 1006 and reconnects, as after 1012; after 1000 it would not)."""
        try:
            await self.send({"type": "websocket.close", "code": code, "reason": reason})
        except (TimeoutError, OSError, RuntimeError):
            raise
        except Exception as refused:  # the server's own check of the code, any type
            logger.info("the server refused close code %d (%s)", code, refused)
            if code == CLOSE_SERVICE_RESTART:
                raise RuntimeError("close code refused") from refused
            await self.send({"type": "websocket.close", "code": CLOSE_NORMAL, "reason": reason})

    async def _last_close(self) -> None:
        """The server cancelled the connection (daphne stops that way, hypercorn after its
        graceful timeout): one bounded try at the 1012 close, so the client reconnects as
        after any restart instead of seeing 1006 or 1011."""
        if self.state is not SocketState.OPEN:
            return
        self.state = SocketState.CLOSING
        self._outbox = None
        if self._sender is not None and self._sender is not aio.current_task():
            self._sender.cancel()
        try:
            with aio.shield():
                async with aio.timeout(LAST_CLOSE_TIMEOUT):
                    await self._send_close_frame(CLOSE_SERVICE_RESTART, RESTART_REASON)
        except aio.cancellation(TimeoutError, OSError, RuntimeError):
            logger.debug("the close of a cancelled WebSocket did not go out", exc_info=True)

    def _gone(self) -> None:
        """The client went away: nothing more can be sent."""
        if self._join_timer is not None:
            self._join_timer.cancel()
        if self.state is SocketState.CLOSED:
            return
        self.state = SocketState.CLOSED
        self._outbox = None
        self._end_sessions()

    def _end_sessions(self) -> None:
        if self.session is not None:
            self.session.close()
        if self.members is not None:
            self.members.close()
        if self.streams is not None:
            self.streams.close()

    async def finished(self) -> None:
        """Wait for the tasks that still write to the socket (at the end of the exchange)."""
        self._gone()
        if self._abandon_timer is not None:
            self._abandon_timer.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        sender = self._sender
        if sender is not None and sender is not aio.current_task():
            sender.cancel()
        tasks = [task for task in (sender, self._closer) if task is not None]
        if tasks:
            await aio.wait_all(tasks)
        if self.session is not None:
            await self.session.aclose()
        if self.members is not None:
            await self.members.aclose()
        if self.streams is not None:
            await self.streams.aclose()

    # -- reading -------------------------------------------------------------------------------

    async def _reading_cancelled(self) -> bool:
        """The reading was cancelled: by :meth:`_abandon` (the client did not answer our
        close: the reading just ends), else by the server (one last 1012 close, and the
        cancellation goes on: ``True``)."""
        if not self._abandoned or self._reader is None:
            await self._last_close()
            return True
        self._reader.uncancel()
        return False

    def _stop_reading(self) -> None:
        """The reading ended: a send it held is stopped, the close's answer no longer
        awaited."""
        self._reading = False
        self._drop_held()
        if self._abandon_timer is not None:
            self._abandon_timer.cancel()

    def _frame(self, message: Any) -> str | None:
        """The text of a client frame to take, or ``None``: not a frame, the socket is no
        longer open, over the size limit (close 1009) or the rate limit (an error, then close
        1008), or a binary frame (refused; it counts against both limits like any frame).
        (The admission of a frame is this one call: each layer of an event's path is code and
        data that the CPU's caches have to hold.)"""
        if message["type"] != "websocket.receive" or self.state is not SocketState.OPEN:
            return None
        settings = self.settings
        limit = settings.ws_max_message_bytes
        text: Any = message.get("text")
        if text is None:
            size = len(message.get("bytes") or b"")
        else:  # UTF-8 takes at most 4 bytes a character: encode only when the limit could be hit
            size = len(text) if len(text) * 4 <= limit else len(text.encode())
        if size > limit:
            self.close(PayloadTooLarge(f"message exceeds the limit of {limit} bytes"))
            return None
        now, bucket = self._loop.time(), self._bucket
        if bucket is None:
            bucket = self._bucket = TokenBucket(settings.ws_rate, settings.ws_burst, now)
        wait = bucket.take(now)
        if wait:
            self._refused_in_a_row += 1
            if self._refused_in_a_row >= settings.ws_burst:
                self.close(RateLimited("too many messages: rate limit exceeded", wait))
            elif self._refused_in_a_row == 1:
                self.error(RateLimited("too many messages: slow down", wait), None)
            return None
        self._refused_in_a_row = 0
        if text is None:
            self.error(UnsupportedMediaType("binary frames are not accepted: send JSON text"), None)
            return None
        return str(text)

    def _take(self, text: str) -> Coroutine[Any, Any, None] | None:
        """Take one client message: what has to run in the reader (an event it runs itself)
        is handed back to await; everything else is done or queued here."""
        settings = self.settings
        try:
            message = read_client_message(
                text, max_depth=settings.max_json_depth, max_fields=settings.max_fields
            )
        except MessageError as exc:
            # Too many fields is an error for that message (the socket stays open): unlike a
            # frame over the size limit (1009), the message was read and refused in full.
            refused = PayloadTooLarge if exc.problem == "too_many_fields" else MalformedRequest
            self.error(refused(str(exc)), exc.ref)
            return None
        session = self.session
        assert session is not None
        work: Join | Event
        if isinstance(message, tuple):  # the common message: a plain event of its own component
            name, payload, ref = message
            work = Event(name, payload, ref)
            assert self._reader is not None
            running = session.run_now(work, self._reader)  # as below
            if running is not False:
                return running
            self._submit(session, work, ref)
            return None
        if message.htmx:
            self.html = True
        kind = message.type
        if kind == "event":  # (the common message first: no test of the others before it)
            assert message.event is not None
            target, members = message.component_id, self.members
            joined = None if target is None or members is None else members.session_for(target)
            if joined is not None:  # an event of a joined component (or of a child it holds)
                session = joined
                target = None if joined.component_id == target else target
            event = Event(message.event, message.payload, message.ref, message.validate, target)
            assert self._reader is not None
            # A plain def on an idle session: run here, no task, no queue.
            running = session.run_now(event, self._reader)
            if running is not False:
                return running
            work = event
        elif kind == "ping":
            self.queue(pong_message(message.ref))
            return None
        elif kind == "leave":
            self._members().leave(message.component_id, message.ref, message.join_ref)
            return None
        elif kind == "stream":
            assert message.entry is not None
            self._streams().open(message.entry, message.ref)
            return None
        elif kind == "unstream":
            assert message.key is not None
            self._streams().close_entry(message.key, message.ref)
            return None
        elif message.component is not None:  # a join of another component on the socket
            self._members().join(message.component, _join_of(message), message.target)
            return None
        else:  # the join of the socket's own component
            if self._join_timer is not None:
                self._join_timer.cancel()
                self._join_timer = None
            work = _join_of(message)
        self._submit(session, work, message.ref)
        return None

    @staticmethod
    def _submit(session: LiveSession, work: Join | Event, ref: Ref) -> None:
        """Queue ``work`` (of the message ``ref``) for ``session``."""
        if not session.submit(work):
            # The component is busy with earlier messages: say so rather than stop reading
            # (a client that is not read cannot even be seen leaving).
            busy = RateLimited("too many messages are waiting for the component", 1.0)
            session.outlet.error(busy, ref)


def _join_of(message: ClientMessage) -> Join:
    return Join(message.params, message.snapshot, message.ref, message.children, message.url)


def _connect_options(
    scope: WebSocketScope, settings: Settings
) -> tuple[Join | None, SocketOptions]:
    """The join that the URL asks for (``None`` with ``join=message``: the client sends it as
    its first message) and the URL's answer options (``protocol.request.socket_options``)."""
    try:
        fields = parse_query(
            scope["query_string"],
            max_depth=settings.max_json_depth,
            max_fields=settings.max_fields,
        )
        options = socket_options(fields)
    except RequestError as exc:
        raise request_error(exc) from None
    if options.join_by_message:
        return None, options
    if fields.snapshot is not None:
        global _url_snapshot_logged
        if not _url_snapshot_logged:  # once per process: the URL ends up in access logs
            _url_snapshot_logged = True
            logger.warning(
                "a WebSocket URL carries a snapshot, so access logs record it: connect with "
                "join=message and send the snapshot in a 'join' message instead"
            )
    return Join(fields.params, fields.snapshot), options


def _check_handshake(
    scope: WebSocketScope, component_name: str, services: AppServices, client: str
) -> tuple[Join | None, SocketOptions]:
    """The checks before accepting (a ``ComponentError`` refuses the handshake): host,
    shutdown, the handshake as a request, origin, the URL's join and options; then the
    socket is counted open for ``client``."""
    dispatcher, guard = services.dispatcher, services.guard
    settings = dispatcher.settings
    headers = RequestHeaders.of(scope)
    guard.check_host(headers.host)
    if services.sockets.closing:
        raise ServiceUnavailable("the server is shutting down")
    guard.take_request(client, monotonic())  # a handshake counts as a request
    # Browsers always send Origin on a WebSocket handshake (and cookies with it).
    if not origin_allowed(headers.origin, headers.host, settings):
        raise Forbidden(f"origin {shown(headers.origin)} may not open this socket")
    join, options = _connect_options(scope, settings)
    if join is not None and (join.params or join.snapshot):
        # What the URL asks for is checked before accepting (snapshot 400, params 422);
        # no user code runs here.
        call = ComponentCall(component_name, None, {}, join.params, join.snapshot)
        dispatcher.prepare(call)
    else:  # a bare URL or join=message: the client sends a join with what it needs
        dispatcher.registry.get(component_name)
    guard.open("socket", client)
    return join, options


async def _accept(
    scope: WebSocketScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    component_name: str,
    services: AppServices,
) -> tuple[_SocketConnection | None, Join | None]:
    """The handshake: the accepted socket's connection (with its live session) and the join
    the URL asks for; no connection when the handshake was refused or the client left
    during it (its socket no longer counted for the client)."""
    if (await receive())["type"] != "websocket.connect":
        return None, None
    guard = services.guard
    client = guard.client_address(scope)
    try:
        join, options = _check_handshake(scope, component_name, services, client)
    except ComponentError as error:
        await deny_handshake(scope, send, error)
        return None, None
    try:
        try:
            await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
        except (OSError, RuntimeError):  # the client left during the handshake
            guard.close("socket", client)
            return None, None
        page = checked_page_id(options.page)
        html, target = options.format == "html", options.target
        connection = _SocketConnection(send, services, client, html=html, target=target)
        connection.session = socket_session(
            services, component_name, connection, scope, client, page
        )
    except BaseException:
        guard.close("socket", client)
        raise
    return connection, join


async def handle_websocket(
    scope: WebSocketScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    component_name: str,
    services: AppServices,
) -> None:
    """Serve one WebSocket connection for ``component_name``.

    An open socket holds this coroutine's frame for its whole life and no other of ours:
    the handshake runs in :func:`_accept`'s (gone once the socket is open), the join is let
    go once submitted, and the reading loop is this frame's own; each client frame is taken
    by the connection's methods."""
    connection, join = await _accept(scope, receive, send, component_name, services)
    if connection is None:
        return
    try:
        services.sockets.connections.add(connection)
        try:
            await connection.start(join)
            del join
            # The reading, until the client or the server ends the connection.
            connection._reader = aio.current_task()
            connection._reading = True
            try:
                with aio.cancellable(connection._reader):  # trio: _abandon's cancel ends it
                    while True:
                        if connection.settings.ws_idle_timeout is None:
                            message = await receive()
                        else:
                            try:
                                async with aio.timeout(connection.settings.ws_idle_timeout):
                                    message = await receive()
                            except TimeoutError:
                                connection.close(code=CLOSE_GOING_AWAY)
                                continue
                        if message["type"] == "websocket.disconnect":
                            break
                        text = connection._frame(message)
                        if text is not None:
                            connection._inline = True  # a send that waits, it finishes after
                            try:
                                running = connection._take(text)
                                if running is not None:
                                    await running
                            finally:
                                connection._inline = False
                            if connection._held is not None:
                                await connection._send_held()
            except aio.cancellation():
                if await connection._reading_cancelled():
                    raise
            finally:
                connection._stop_reading()
        finally:
            services.sockets.connections.discard(connection)
            await connection.finished()
    finally:
        services.guard.close("socket", connection._client)
