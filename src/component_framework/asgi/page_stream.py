"""The page connection: ``POST {prefix}/_page/``, every component stream of a page over one
SSE response (``docs/scaling.md``).

Owns that exchange: the connection's own checks (host, client rate, cross-site refusal, a JSON
body under the body limit: ``protocol.page``), one slot of the client's open streams for the
whole connection, then each entry in turn, started or resumed exactly as a stream of its own
would be (``asgi.sse.start_run_from``: the stream event, rates, snapshot, authorization and
the mount; a ``POST`` entry's fields read from its form body as that ``POST`` would read
them; a resume by ``<run>.<seq>`` from this worker's runs, or followed from the resume
store when another worker runs it, with the same replay bounds and grace), each answered
by a control frame (joined, finished, lost, refused: a refusal is that entry's, the others go
on). Then the runs' frames, unchanged (their ``id`` names the run,
so nothing is re-encoded), as they come, with heartbeats while all are idle, until every run
has ended (the connection closes when no component needs it), the client goes, or the server
shuts down (one ``shutdown`` frame). One run's ``error`` ends that run only. Joins and leaves
after the connection opened are a new connection with the new list (the client runtime's
reconnect), which resume makes lossless. A part of the SSE transport: it reuses
``asgi.sse``'s reader (send timeout, disconnect watch, shutdown, last frame on cancel).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from time import monotonic
from typing import TYPE_CHECKING, Final, Protocol

from component_framework.asgi.incoming import (
    Disconnected,
    RequestHeaders,
    page_of,
    read_json_text,
    request_error,
)
from component_framework.asgi.routing import PAGE_SEGMENT
from component_framework.asgi.sse import (
    _RUN_ID,
    ALLOWED_METHODS,
    FOLLOW_WAIT,
    _Heartbeat,
    _parse_last_event_id,
    _refuse,
    _StreamReader,
    start_run_from,
)
from component_framework.core import aio
from component_framework.core.access import AccessContext
from component_framework.core.events import checked_page_id
from component_framework.core.resume_store import RemoteRun
from component_framework.core.stream_run import Frame, StreamRun
from component_framework.errors import (
    ComponentError,
    MethodNotAllowed,
    ServiceUnavailable,
    StreamLost,
    error_document,
    report_failure,
)
from component_framework.protocol.page import (
    MAX_PAGE_ENTRIES,
    PageEntry,
    ended_frame,
    joined_frame,
    lost_entry_frame,
    parse_page_request,
    refused_frame,
)
from component_framework.protocol.request import (
    RequestError,
    RequestFields,
    parse_body,
    parse_query,
)
from component_framework.protocol.sse import HEARTBEAT_FRAME, SHUTDOWN_FRAME, lost_frame

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

    from component_framework.asgi.services import AppServices
    from component_framework.core.config import Settings

__all__ = ["handle_page_stream"]

_WHAT: Final = "the page connection"
#: The type of a POST stream's ``body`` on the page connection.
FORM_TYPE: Final = "application/x-www-form-urlencoded"


class _Source(Protocol):
    """What a member reads: a run of this worker (``StreamRun``) or one followed elsewhere."""

    @property
    def finished(self) -> bool: ...

    def frames_after(self, seq: int) -> list[Frame]: ...

    def detach(self, wakeup: aio.Event) -> None: ...


@dataclass(slots=True)
class _Member:
    """One entry's run on this connection and the last frame sent of it."""

    key: str
    run: _Source
    after: int


class _Follower:
    """A run another worker produces, read from the resume store by a task of its own (as
    ``asgi.sse``'s follow reads it) into frames the connection sends with the others; a run
    that goes away meanwhile ends with its ``lost`` frame."""

    def __init__(self, remote: RemoteRun, run_id: str, after: int, wakeup: aio.Event) -> None:
        self.frames: list[Frame] = []
        self.finished = False
        self._task = aio.running_loop().create_task(self._follow(remote, run_id, after, wakeup))

    async def _follow(self, remote: RemoteRun, run_id: str, after: int, wakeup: aio.Event) -> None:
        try:
            while True:
                frames = await remote.read(after, FOLLOW_WAIT)
                if frames is None:
                    lost = lost_frame(error_document(StreamLost()), run_id)
                    self.frames.append((after + 1, lost))
                    break
                if frames:
                    self.frames.extend(frames)
                    after = frames[-1][0]
                    wakeup.set()
                if remote.ended:
                    break
        finally:
            self.finished = True
            wakeup.set()
            await remote.close()

    def frames_after(self, seq: int) -> list[Frame]:
        self.frames = [frame for frame in self.frames if frame[0] > seq]
        return self.frames

    def detach(self, wakeup: aio.Event) -> None:
        self._task.cancel()


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
        await _refuse(send, exc, _WHAT, settings.debug, headers.htmx)
        return
    wakeup = aio.new_event()
    members: list[_Member] = []
    try:
        page = checked_page_id(request.page) or page_of(scope)
        opening: list[bytes] = []
        for index, entry in enumerate(request.entries):
            control, member = await _join(scope, client, entry, index, page, services, wakeup)
            opening.append(control)
            if member is not None:
                if isinstance(member.run, StreamRun):
                    member.run.attach(wakeup)
                members.append(member)
        reader = _StreamReader(send, settings, gate)
        heartbeat = _Heartbeat(aio.running_loop(), settings.stream_heartbeat, wakeup)
        try:
            frames = partial(_send_frames, reader, opening, members, wakeup, heartbeat)
            await reader._exchange(receive, wakeup, frames)
        finally:
            heartbeat.cancel()
    finally:
        for member in members:
            member.run.detach(wakeup)
        guard.close("stream", client)


async def _join(
    scope: HTTPScope,
    client: str,
    entry: PageEntry,
    index: int,
    page: str | None,
    services: AppServices,
    wakeup: aio.Event,
) -> tuple[bytes, _Member | None]:
    """Entry ``entry``'s control frame, and its run when it joined: a resume from this
    worker's runs, or a new run started as its own ``GET`` stream request would start it."""
    streams, settings, guard = services.streams, services.settings, services.guard
    try:
        if entry.resume is not None:
            resume = _parse_last_event_id(entry.resume)
            run = streams.get(resume[0]) if resume is not None else None
            if resume is not None and (run is None or run.component_name != entry.name):
                remote = None
                if _RUN_ID.fullmatch(resume[0]):  # another worker's?
                    remote = await streams.find_elsewhere(entry.name, resume[0])
                if remote is not None:
                    if remote.done_after(resume[1]):
                        await remote.close()
                        return ended_frame(entry.key), None
                    follower = _Follower(remote, resume[0], resume[1], wakeup)
                    return joined_frame(entry.key, resume[0]), _Member(
                        entry.key, follower, resume[1]
                    )
            if resume is None or run is None or run.component_name != entry.name:
                # Expired, gone, forged or never ours: the client missed frames.
                return lost_entry_frame(entry.key, error_document(StreamLost())), None
            if run.finished and not run.frames_after(resume[1]):
                return ended_frame(entry.key), None
            return joined_frame(entry.key, run.id), _Member(entry.key, run, resume[1])
        if index:  # each new run beyond the first costs a request, as its own request would
            guard.take_request(client, monotonic())
        fields, post_query = _entry_fields(entry, settings)
        context = AccessContext("sse", _stream_scope(scope, entry), client)
        guard.open("page_stream", client)  # counted while the run lives (resumes are free)
        try:
            run = await start_run_from(
                fields, entry.method, post_query, entry.name, context, services, page
            )
        except BaseException:
            guard.close("page_stream", client)
            raise
        run.on_close.append(partial(guard.close, "page_stream", client))
        await services.streams.published(run)
        return joined_frame(entry.key, run.id), _Member(entry.key, run, 0)
    except Exception as exc:  # that entry's refusal; the others go on
        error: ComponentError
        if isinstance(exc, RequestError):
            error = request_error(exc)
        else:
            error = report_failure(exc, f"starting a stream of {entry.name!r:.80}")
        document = error_document(error, debug=settings.debug)
        return refused_frame(entry.key, error.status_code, document), None


def _entry_fields(entry: PageEntry, settings: Settings) -> tuple[RequestFields, bytes]:
    """A new entry's fields and the query its ``POST`` would carry beside them: a ``GET``
    stream's from its query string, a ``POST`` stream's from its form body, read with the
    limits of that ``POST`` (field count, depth, UTF-8; its size is within the body limit as
    part of the page connection's body). Another method is refused as its own request would be."""
    depth, most = settings.max_json_depth, settings.max_fields
    if entry.method == "GET":
        query = entry.query or b""
        return parse_query(query, max_depth=depth, max_fields=most, loose_to_payload=True), b""
    if entry.method != "POST":
        raise MethodNotAllowed(entry.method, ALLOWED_METHODS)
    body = entry.body or b""
    fields = parse_body(FORM_TYPE, body, max_depth=depth, max_fields=most, loose_to_payload=True)
    return fields, entry.query or b""


def _stream_scope(scope: HTTPScope, entry: PageEntry) -> HTTPScope:
    """The request a stream's own ``GET {prefix}/{name}/stream/?query`` (or ``POST`` with its
    form body) would have been, for authorization and ``self.request``: the page connection's
    scope (client, headers, cookies, user, session) with that stream's method, path, query
    string and, for a ``POST``, its content type."""
    marker, own = "/" + PAGE_SEGMENT, f"/{entry.name}/stream/"
    path = scope["path"]
    stream: HTTPScope = {**scope, "method": entry.method, "query_string": entry.query or b""}
    if entry.method == "POST":
        kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
        stream["headers"] = [*kept, (b"content-type", FORM_TYPE.encode("ascii"))]
    stream["path"] = path[: path.rfind(marker)] + own
    raw_path = scope.get("raw_path")
    if raw_path:  # as sent, possibly longer than path under a mount
        raw = bytes(raw_path).partition(b"?")[0]
        stream["raw_path"] = raw[: raw.rfind(marker.encode())] + own.encode("utf-8")
    return stream


async def _send_frames(
    reader: _StreamReader,
    opening: list[bytes],
    members: list[_Member],
    wakeup: aio.Event,
    heartbeat: _Heartbeat,
) -> None:
    """The control frames, then every member's frames as they come; a member whose run ended
    (its last frame sent) leaves, and the connection ends with the last one."""
    for control in opening:
        await reader._write(control)
    gate = reader.gate
    while not reader.gone:
        wakeup.clear()
        sent = False
        for member in list(members):
            frames = member.run.frames_after(member.after)
            for seq, wire in frames:
                await reader._write(wire)
                if reader.gone:
                    return
                member.after = seq
            if frames:
                sent = True
            elif member.run.finished and not gate.closing:
                members.remove(member)
                member.run.detach(wakeup)
        if sent:
            heartbeat.active = True
            continue
        if gate.closing:  # before "finished": shutdown also ends the runs
            await reader._write(SHUTDOWN_FRAME)
            return
        if not members:
            return
        if heartbeat.due:
            heartbeat.due = False
            await reader._write(HEARTBEAT_FRAME)
            continue
        await wakeup.wait()
