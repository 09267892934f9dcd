"""The page connection: ``POST {prefix}/_page/``, every component stream of a page over one
SSE response (``docs/scaling.md``).

Owns that exchange: the connection's own checks (host, client rate, cross-site refusal, a JSON
body under the body limit: ``protocol.page``), one slot of the client's open streams for the
whole connection, then each entry in turn, joined through ``asgi.page_entries`` (the path an
open WebSocket's entries take too: started or resumed exactly as a stream of its own would
be, a ``POST`` entry's fields read from its form body as that ``POST`` would read them), each
answered by a control frame (joined, finished, lost, refused: a refusal is that
entry's, the others go on). Then the runs' frames, unchanged (their ``id`` names the run, so
nothing is re-encoded; on a connection that asked for compact frames, the entry's number
stands for the run in its text frames: ``protocol.page.ShortFrames``), as they come (while
the task waits, a run's new frame is sent by the run's call, as ``asgi.sse``'s idle reader
sends it: no task wakes per frame), with heartbeats while all are idle, until every run has
ended (the connection closes when no component needs it), the client goes, or the server
shuts down (one ``shutdown`` frame). One run's ``error`` ends that run only. Joins and leaves
after the connection opened are a new connection with the new list (the client runtime's
reconnect), which resume makes lossless. A part of the SSE transport: it reuses
``asgi.sse``'s reader through its interface (``StreamReader``: send timeout, disconnect
watch, shutdown, last frame on cancel).
"""

from __future__ import annotations

from functools import partial
from time import monotonic
from typing import TYPE_CHECKING, Final

from component_framework.asgi.incoming import (
    Disconnected,
    RequestHeaders,
    page_of,
    read_json_text,
)
from component_framework.asgi.page_entries import Carrier, PageMember, join_entry
from component_framework.asgi.routing import PAGE_SEGMENT
from component_framework.asgi.sse import Heartbeat, StreamReader, refuse_stream_start
from component_framework.core import aio
from component_framework.core.events import checked_page_id
from component_framework.core.stream_run import StreamRun
from component_framework.errors import MethodNotAllowed, ServiceUnavailable
from component_framework.protocol.page import MAX_PAGE_ENTRIES, parse_page_request
from component_framework.protocol.sse import HEARTBEAT_FRAME, SHUTDOWN_FRAME

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

    from component_framework.asgi.services import AppServices

__all__ = ["handle_page_stream"]

_WHAT: Final = "the page connection"


async def handle_page_stream(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    name: str,
    services: AppServices,
) -> None:
    """Serve one page connection (``name`` is empty: the route names no component)."""
    headers = RequestHeaders.of(scope)
    guard, gate, settings = services.guard, services.stream_gate, services.settings
    client = guard.client_address(scope)
    try:
        guard.check_host(headers.host)
        if scope["method"] != "POST":
            raise MethodNotAllowed(scope["method"], ["POST"])
        if gate.closing:
            raise ServiceUnavailable("the server is shutting down")
        now = monotonic()
        guard.take_request(client, now)
        # It starts work: a cross-site page may not open it (a resume alone would be allowed,
        # but a request that only resumes costs a same-site client nothing).
        guard.check_origin(headers.origin, headers.fetch_site, headers.host, "stream start")
        limit, deadlines = settings.max_body_bytes, guard.body_deadlines
        what = "a page connection's list of streams"
        text = await read_json_text(receive, headers, limit, deadlines, now, what)
        request = parse_page_request(
            text,
            max_depth=settings.max_json_depth,
            max_fields=settings.max_fields,
            max_entries=MAX_PAGE_ENTRIES,
        )
        guard.open("stream", client)  # the connection is one open stream of the client
    except Disconnected:
        return
    except Exception as exc:  # before the response started: the JSON error answer of HTTP
        await refuse_stream_start(send, exc, _WHAT, settings.debug, headers.htmx)
        return
    wakeup = aio.new_event()
    members: list[PageMember] = []
    try:
        page = checked_page_id(request.page) or page_of(scope)
        carrier = Carrier(scope, "/" + PAGE_SEGMENT, client, page)
        opening: list[bytes] = []
        new_runs = 0  # the entries before this one that asked for a new run
        for number, entry in enumerate(request.entries, 1):
            # Each new run beyond the first costs a request, as its own request would.
            charge = new_runs > 0
            short = number if request.compact else None
            control, member = await join_entry(
                carrier, entry, services, wakeup, charge=charge, short=short
            )
            new_runs += entry.resume is None
            opening.append(control)
            if member is not None:
                members.append(member)
        reader = StreamReader(send, settings, gate)
        heartbeat = Heartbeat(aio.running_loop(), settings.stream_heartbeat, wakeup)
        for member in members:
            if isinstance(member.run, StreamRun):  # called on its frames (a followed run: woken)
                listener = partial(_on_frame, reader, member, member.run, wakeup, heartbeat)
                member.key_event = member.run.attach(aio.new_event(), listener)
                member.run.detach(wakeup)  # after: the run never sees no reader meanwhile
        try:
            frames = partial(_send_frames, reader, opening, members, wakeup, heartbeat)
            await reader.exchange(receive, wakeup, frames)
        finally:
            heartbeat.cancel()
    finally:
        for member in members:
            member.run.detach(member.key_event or wakeup)
        guard.close("stream", client)


async def _send_frames(
    reader: StreamReader,
    opening: list[bytes],
    members: list[PageMember],
    wakeup: aio.Event,
    heartbeat: Heartbeat,
) -> None:
    """The control frames, then every member's frames as they come; a member whose run ended
    (its last frame sent) leaves, and the connection ends with the last one."""
    for control in opening:
        await reader.write(control)
    gate = reader.gate
    while not reader.gone:
        wakeup.clear()
        await reader.finish_send()  # one the runs' calls started
        if reader.gone:
            return
        sent = False
        for member in list(members):
            frames = member.run.frames_after(member.after)
            for seq, wire in frames:
                member.after = seq  # before the send: the run's call must not send it again
                await reader.write(member.wire(wire))
                if reader.gone:
                    return
            if frames:
                sent = True
            elif member.run.finished and not gate.closing:
                members.remove(member)
                member.run.detach(member.key_event or wakeup)
        if sent:
            heartbeat.active = True
            continue
        if gate.closing:  # before "finished": shutdown also ends the runs
            await reader.write(SHUTDOWN_FRAME)
            return
        if not members:
            return
        if heartbeat.due:
            heartbeat.due = False
            await reader.write(HEARTBEAT_FRAME)
            continue
        await reader.wait_idle(wakeup)


def _on_frame(
    reader: StreamReader,
    member: PageMember,
    run: StreamRun,
    wakeup: aio.Event,
    heartbeat: Heartbeat,
) -> None:
    """``member``'s run has a new frame or ended: while the connection's task waits with
    nothing to send, the frame goes out there and then, as its carrier writes it, when the
    server takes it at once (as for a stream of its own: ``StreamReader.send_now``)."""
    member.after = reader.send_now(run, member.after, member.wire, wakeup, heartbeat)
