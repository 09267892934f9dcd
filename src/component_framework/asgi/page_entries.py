"""Joining one entry of a page connection: the one path every carrier of page streams takes.

Owns what an entry (``protocol.page.PageEntry``: a new run's query, or a resume point) becomes,
whoever carries it (the SSE page connection, ``asgi.page_stream``, or an open WebSocket,
``asgi.socket_streams``): a new run started exactly as a stream of its own would start
(``asgi.sse.start_run_from``: the stream event, rates, snapshot, authorization and the mount;
a ``POST`` entry's fields read from its form body as that ``POST`` would read them; counted in
``max_page_streams_per_client`` while it lives; a request of the client's rate when the
carrier says so), or a run resumed by ``<run>.<seq>`` from this worker's runs or followed
from the resume store when another worker runs it, with the same replay bounds and grace. The
answer is the entry's control frame (joined, finished, lost, refused: ``protocol.page``) and,
when it joined, the :class:`PageMember` the carrier reads frames from. A stream's request is
built from the carrier's scope (:func:`stream_scope`). Does not own sending: the carriers
write the frames, each in its own way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, Protocol

from component_framework.asgi.incoming import request_error
from component_framework.asgi.sse import ALLOWED_METHODS, FOLLOW_WAIT, start_run_from
from component_framework.core import aio
from component_framework.core.access import AccessContext
from component_framework.core.stream_run import Frame
from component_framework.errors import (
    ComponentError,
    MethodNotAllowed,
    StreamLost,
    error_document,
    report_failure,
)
from component_framework.protocol.page import (
    PageEntry,
    ShortFrames,
    ended_frame,
    joined_frame,
    lost_entry_frame,
    refused_frame,
)
from component_framework.protocol.request import (
    RequestError,
    RequestFields,
    parse_body,
    parse_query,
)
from component_framework.protocol.sse import RUN_ID, lost_frame, parse_frame_id

if TYPE_CHECKING:
    from asgiref.typing import HTTPScope

    from component_framework.asgi.services import AppServices
    from component_framework.core.config import Settings
    from component_framework.core.resume_store import RemoteRun

__all__ = ["FORM_TYPE", "Carrier", "PageMember", "join_entry", "stream_scope"]

#: The type of a POST stream's ``body`` in a page-connection entry.
FORM_TYPE: Final = "application/x-www-form-urlencoded"


class _Source(Protocol):
    """What a member reads: a run of this worker (``StreamRun``) or one followed elsewhere."""

    @property
    def finished(self) -> bool: ...

    def frames_after(self, seq: int) -> list[Frame]: ...

    def detach(self, wakeup: aio.Event) -> None: ...


@dataclass(slots=True)
class PageMember:
    """One entry's run on a carrier (``run_id`` names it) and the last frame sent of it;
    ``short``: how a carrier with compact frames writes them (``None``: as they are);
    ``key_event``: the event the carrier attached it with when not the carrier's wakeup
    (the one to detach)."""

    key: str
    run_id: str
    run: _Source
    after: int
    short: ShortFrames | None = None
    key_event: aio.Event | None = None

    def wire(self, frame: bytes) -> bytes:
        """``frame`` (one of its run's) as its carrier writes it."""
        short = self.short
        return frame if short is None else short.frame(frame)


class _Follower:
    """A run another worker produces, read from the resume store by a task of its own (as
    ``asgi.sse``'s follow reads it) into frames the carrier sends with the others; a run
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


@dataclass(frozen=True, slots=True)
class Carrier:
    """Who carries the entries: the scope a stream's request is built from (``scope``, its
    route's tail ``tail`` replaced by the stream's own), the client, the page id, and whether a
    new run costs a request of the client's rate (the page connection's first run is paid by
    the connection's own request)."""

    scope: Mapping[str, Any]
    tail: str
    client: str
    page: str | None


async def join_entry(
    carrier: Carrier,
    entry: PageEntry,
    services: AppServices,
    wakeup: aio.Event,
    *,
    charge: bool,
    short: int | None = None,
) -> tuple[bytes, PageMember | None]:
    """Entry ``entry``'s control frame, and its member when it joined (attached to
    ``wakeup``): a resume from this worker's runs, or followed from another worker's, or a new
    run started as its own ``GET`` stream request would start it (``charge``: it costs a
    request of the client's rate). ``short``: the carrier writes compact frames, and this
    number (its own, announced in the control frame) stands for the run in them."""
    try:
        if entry.resume is not None:
            control, member = await _resume(entry, entry.resume, services, wakeup)
        else:
            control, member = await _start(carrier, entry, services, wakeup, charge=charge)
        if member is not None and short is not None:
            member.short = ShortFrames(member.run_id, short)
            control = joined_frame(entry.key, member.run_id, short)
        return control, member
    except Exception as exc:  # that entry's refusal; the others go on
        error: ComponentError
        if isinstance(exc, RequestError):
            error = request_error(exc)
        else:
            error = report_failure(exc, f"starting a stream of {entry.name!r:.80}")
        document = error_document(error, debug=services.settings.debug)
        return refused_frame(entry.key, error.status_code, document), None


async def _resume(
    entry: PageEntry, point: str, services: AppServices, wakeup: aio.Event
) -> tuple[bytes, PageMember | None]:
    streams = services.streams
    resume = parse_frame_id(point)
    run = streams.get(resume[0]) if resume is not None else None
    if resume is not None and (run is None or run.component_name != entry.name):
        remote = None
        if RUN_ID.fullmatch(resume[0]):  # another worker's?
            remote = await streams.find_elsewhere(entry.name, resume[0])
        if remote is not None:
            if remote.done_after(resume[1]):
                await remote.close()
                return ended_frame(entry.key), None
            follower = _Follower(remote, resume[0], resume[1], wakeup)
            return joined_frame(entry.key, resume[0]), PageMember(
                entry.key, resume[0], follower, resume[1]
            )
    if resume is None or run is None or run.component_name != entry.name:
        # Expired, gone, forged or never ours: the client missed frames.
        return lost_entry_frame(entry.key, error_document(StreamLost())), None
    if run.finished and not run.frames_after(resume[1]):
        return ended_frame(entry.key), None
    run.attach(wakeup)
    return joined_frame(entry.key, run.id), PageMember(entry.key, run.id, run, resume[1])


async def _start(
    carrier: Carrier,
    entry: PageEntry,
    services: AppServices,
    wakeup: aio.Event,
    *,
    charge: bool,
) -> tuple[bytes, PageMember]:
    settings, guard, client = services.settings, services.guard, carrier.client
    if charge:  # each new run costs a request, as its own request would
        guard.take_request(client, monotonic())
    fields, post_query = _entry_fields(entry, settings)
    context = AccessContext("sse", stream_scope(carrier.scope, carrier.tail, entry), client)
    guard.open("page_stream", client)  # counted while the run lives (resumes are free)
    try:
        run = await start_run_from(
            fields, entry.method, post_query, entry.name, context, services, carrier.page
        )
    except BaseException:
        guard.close("page_stream", client)
        raise
    run.on_close.append(partial(guard.close, "page_stream", client))
    await services.streams.published(run)
    run.attach(wakeup)
    return joined_frame(entry.key, run.id), PageMember(entry.key, run.id, run, 0)


def _entry_fields(entry: PageEntry, settings: Settings) -> tuple[RequestFields, bytes]:
    """A new entry's fields and the query its ``POST`` would carry beside them: a ``GET``
    stream's from its query string, a ``POST`` stream's from its form body, read with the
    limits of that ``POST`` (field count, depth, UTF-8; its size is within the carrier's
    message or body limit). Another method is refused as its own request would be."""
    depth, most = settings.max_json_depth, settings.max_fields
    if entry.method == "GET":
        query = entry.query or b""
        return parse_query(query, max_depth=depth, max_fields=most, loose_to_payload=True), b""
    if entry.method != "POST":
        raise MethodNotAllowed(entry.method, ALLOWED_METHODS)
    body = entry.body or b""
    fields = parse_body(FORM_TYPE, body, max_depth=depth, max_fields=most, loose_to_payload=True)
    return fields, entry.query or b""


_SCHEMES = {"ws": "http", "wss": "https"}


def stream_scope(scope: Mapping[str, Any], tail: str, entry: PageEntry) -> HTTPScope:
    """The request a stream's own ``GET {prefix}/{name}/stream/?query`` (or ``POST`` with its
    form body) would have been, for authorization and ``self.request``: the carrier's scope
    (client, headers, cookies, user, session) with that stream's method, path, query string
    and, for a ``POST``, its content type; ``tail`` is the carrier's own route after the
    prefix (``/_page``, ``/<name>/ws``), which the stream's replaces. A WebSocket's scope
    becomes an HTTP one (``ws`` -> ``http``, ``wss`` -> ``https``)."""
    own = f"/{entry.name}/stream/"
    scheme = scope.get("scheme") or "http"
    query = entry.query or b""
    stream: Any = {**scope, "type": "http", "method": entry.method, "query_string": query}
    stream["scheme"] = _SCHEMES.get(scheme, scheme)
    if entry.method == "POST":
        kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
        stream["headers"] = [*kept, (b"content-type", FORM_TYPE.encode("ascii"))]
    path = scope["path"]
    stream["path"] = path[: path.rfind(tail)] + own
    raw_path = scope.get("raw_path")
    if raw_path:  # as sent, possibly longer than path under a mount
        raw = bytes(raw_path).partition(b"?")[0]
        stream["raw_path"] = raw[: raw.rfind(tail.encode())] + own.encode("utf-8")
    result: HTTPScope = stream
    return result
