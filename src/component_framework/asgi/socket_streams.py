"""Page-connection entries carried by an open WebSocket: the page's streams on its socket.

Owns a socket's streams (``{"type": "stream", "key", "name", "query" | "resume"}`` adds one,
``{"type": "unstream", "key"}`` stops one): each entry is joined through
``asgi.page_entries.join_entry``, the page connection's own path (a new run started as its own
``GET`` stream would be, counted in ``max_page_streams_per_client`` and costing a request of
the client's rate; a resume from this worker's runs or followed from the resume store), in a
task of its own so the socket goes on reading meanwhile. Its control frame and then its run's
frames go out as socket text messages, byte for byte the page connection's SSE frames (the
client runtime routes them by their ``<run>.<seq>`` id, as it routes the page connection's;
an entry that asked for compact frames gets a number of this socket, never reused, and its
run's text frames carry it: ``protocol.page.ShortFrames``);
never push renders, so the outbox never coalesces them away. One pump task per socket, only
while an entry is carried, moves frames into the outbox while the outbox is under half its
bounds (a run's frames wait in its replay buffer meanwhile, as they wait for a slow SSE
reader), so a slow client is the socket's (outbox bound, send watchdog) and nothing is dropped
silently. A run's ``done`` or ``error`` ends that entry only. Does not own the socket:
``asgi.websocket`` hands it the messages and closes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

from component_framework.asgi.page_entries import Carrier, PageMember, join_entry
from component_framework.core import aio
from component_framework.errors import (
    ClientError,
    MalformedRequest,
    NotJoined,
    RateLimited,
    error_document,
)
from component_framework.protocol.page import MAX_PAGE_ENTRIES, PageEntry, refused_frame
from component_framework.protocol.websocket import Ref, error_message, unstreamed_message

if TYPE_CHECKING:
    from component_framework.asgi.services import AppServices
    from component_framework.core.config import Settings

__all__ = ["SocketStreams", "StreamLink"]

#: Most entries one socket carries at once (the page connection's bound per request).
MAX_SOCKET_STREAMS: Final = MAX_PAGE_ENTRIES


class StreamLink(Protocol):
    """What the streams need of their socket: the settings, the outbox and its fill."""

    settings: Settings

    def queue(self, text: str, *, push: bool = False, key: str = "") -> None:
        """Queue a message for the client."""
        ...

    def crowded(self) -> bool:
        """Whether the outbox holds half its bounds or more (wait before adding frames)."""
        ...


class _Joining:
    """An entry whose join runs (its key is taken; an ``unstream`` meanwhile cancels it);
    ``run_id``: the run it resumes, if it resumes one."""

    __slots__ = ("run_id",)

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id


class SocketStreams:
    """The entries one socket carries (see the module docstring)."""

    def __init__(self, link: StreamLink, services: AppServices, carrier: Carrier) -> None:
        self._link = link
        self._services = services
        self._carrier = carrier
        self._entries: dict[str, PageMember | _Joining] = {}
        self._shorts = 0  # the last number given to an entry that asked for compact frames
        self._wakeup: aio.Event | None = None  # made at the first entry: most sockets carry none
        self._pump: aio.Task | None = None
        self._tasks: set[aio.Task] | None = None  # made at the first: an empty set is 216 B
        self._closed = False
        #: The pump waits for the outbox to drain (:meth:`drained` wakes it).
        self._held_back = False

    def _woken(self) -> aio.Event:
        """The event set on new frames of any carried run (and when the outbox drained)."""
        if self._wakeup is None:
            self._wakeup = aio.new_event()
        return self._wakeup

    def __len__(self) -> int:
        return len(self._entries)

    def open(self, entry: PageEntry, ref: Ref) -> None:
        """Carry ``entry``: its control frame, then its run's frames. A key in use, or a
        ``resume`` of a run the socket already carries (or is resuming) under another key
        (each of its frames would go out twice), is a ``malformed_request`` ``error`` with the
        message's ``ref``; past the bound the entry is refused, ``429``."""
        if entry.key in self._entries:
            error = MalformedRequest(f"stream key {entry.key!r} is in use on this socket")
            self._refuse(error, ref)
            return
        resumed = entry.resume and (entry.resume.rpartition(".")[0] or entry.resume)
        twin = next((k for k, e in self._entries.items() if resumed and e.run_id == resumed), None)
        if twin is not None:  # carried twice, each of its frames would go out twice
            message = f"stream {entry.key!r:.80} resumes the run stream {twin!r} carries"
            self._refuse(MalformedRequest(message + ": a run is resumed once"), ref)
            return
        if len(self._entries) >= MAX_SOCKET_STREAMS:
            limit = RateLimited(f"this socket carries {MAX_SOCKET_STREAMS} streams already", 1.0)
            document = error_document(limit, debug=self._link.settings.debug)
            self._link.queue(refused_frame(entry.key, limit.status_code, document).decode())
            return
        joining = self._entries[entry.key] = _Joining(resumed or None)
        short = None
        if entry.compact:  # never one number for two runs on this socket
            short = self._shorts = self._shorts + 1
        task = aio.running_loop().create_task(self._join(entry, joining, short))
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _join(self, entry: PageEntry, joining: _Joining, short: int | None) -> None:
        wakeup = self._woken()
        control, member = await join_entry(
            self._carrier, entry, self._services, wakeup, charge=True, short=short
        )
        if self._closed or self._entries.get(entry.key) is not joining:  # left meanwhile
            if member is not None:
                member.run.detach(wakeup)
            return
        self._link.queue(control.decode())
        if member is None:
            del self._entries[entry.key]
            return
        self._entries[entry.key] = member
        if self._pump is None:
            self._pump = aio.running_loop().create_task(self._send_frames())
        wakeup.set()

    def close_entry(self, key: str, ref: Ref) -> None:
        """Stop carrying entry ``key`` (its run goes on within its resume grace, as after a
        page connection left it); ``not_joined`` when the socket carries none of that key."""
        carried = self._entries.pop(key, None)
        if carried is None:
            self._refuse(NotJoined(f"no stream {key!r} on this socket"), ref)
            return
        if isinstance(carried, PageMember):
            carried.run.detach(self._woken())
        self._link.queue(unstreamed_message(key, ref))

    def _refuse(self, error: ClientError, ref: Ref) -> None:
        self._link.queue(error_message(error_document(error), ref))

    def drained(self) -> None:
        """The outbox emptied: frames held back for it may go now."""
        if self._held_back:
            self._held_back = False
            self._woken().set()

    async def _send_frames(self) -> None:
        """Every member's frames as they come, while the outbox has room (members take turns
        to go first); a member whose run ended (its last frame queued) leaves; the task ends
        when the socket carries no entry."""
        link, wakeup, turn = self._link, self._woken(), 0
        try:
            while not self._closed and self._entries:
                wakeup.clear()
                members = [m for m in self._entries.values() if isinstance(m, PageMember)]
                turn = (turn + 1) % (len(members) or 1)
                sent = False
                for member in members[turn:] + members[:turn]:
                    if link.crowded():
                        break
                    sent = self._send_member(member) or sent
                if not sent or link.crowded():  # drained() or a new frame wakes it
                    self._held_back = link.crowded()
                    await wakeup.wait()
                else:
                    await aio.checkpoint()  # a loop turn: the sender and the reader go on
        finally:
            self._pump = None

    def _send_member(self, member: PageMember) -> bool:
        """Queue ``member``'s next frames while there is room; whether any went."""
        link = self._link
        frames = member.run.frames_after(member.after)
        for seq, wire in frames:
            if link.crowded():
                return True
            link.queue(member.wire(wire).decode())
            member.after = seq
        if member.run.finished and not member.run.frames_after(member.after):
            del self._entries[member.key]  # its last frame is queued: the entry ends now
            member.run.detach(self._woken())
        return bool(frames)

    def close(self) -> None:
        """The socket is closing or gone: every run is left to its grace (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for carried in self._entries.values():
            if isinstance(carried, PageMember):
                carried.run.detach(self._woken())
        self._entries.clear()
        if self._wakeup is not None:
            self._wakeup.set()

    async def aclose(self) -> None:
        """:meth:`close`, then wait for the joins (each leaves its run to its grace) and the
        pump to end."""
        self.close()
        if self._pump is not None:
            self._pump.cancel()
        tasks = [*(self._tasks or ()), *([self._pump] if self._pump is not None else [])]
        if tasks:
            await aio.wait_all(tasks)
