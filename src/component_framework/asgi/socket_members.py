"""The components joined to an open WebSocket besides its own: the page's socket.

Owns a socket's joined components (``{"type": "join", "component": name, ...}`` adds one,
``{"type": "leave", "component_id": id}`` removes it, or ``"join_ref"``, the ``ref`` of its join,
before the join's answer named its id): each is a
:class:`~component_framework.core.live.LiveSession` of its own, joined through the same code
as a socket's first component (the per-client request budget, the component's lookup, then
the session's join: snapshot or params, mount or hydrate, authorization), with its own queue,
rate-declared events, hub membership and errors. Its messages are tagged with its component
id (:class:`MemberOutlet`), so the client runtime routes them; its failures, refusals and slow
queue end it alone. Does not own the socket (reading, the outbox, closing): that is
``asgi.websocket``, which hands every member message to :meth:`SocketMembers.join`,
:meth:`SocketMembers.leave` and :meth:`SocketMembers.session_for`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol

from component_framework.core import aio
from component_framework.core.access import AccessContext
from component_framework.core.live import Join, LiveSession
from component_framework.errors import (
    ClientError,
    ComponentError,
    NotJoined,
    RateLimited,
    SlowConsumer,
    error_document,
)
from component_framework.protocol.websocket import (
    Ref,
    broadcast_message,
    done_message,
    effects_message,
    error_message,
    htmx_child_message,
    htmx_render_message,
    left_message,
    render_message,
    stream_message,
)

if TYPE_CHECKING:
    from asgiref.typing import WebSocketScope

    from component_framework.asgi.services import AppServices
    from component_framework.core.config import Settings
    from component_framework.core.dispatch import DispatchResult
    from component_framework.core.live import Outlet
    from component_framework.core.streams import StreamOp

__all__ = ["MemberLink", "MemberOutlet", "SocketMembers", "socket_session"]

logger = logging.getLogger("component_framework")


def socket_session(
    services: AppServices,
    name: str,
    outlet: Outlet,
    scope: WebSocketScope,
    client: str,
    page: str | None,
) -> LiveSession:
    """A live session of component ``name`` held by a socket (its own or a joined one):
    the socket's client for authorization, the app's queue and frame settings."""
    settings = services.dispatcher.settings
    return LiveSession(
        services.dispatcher,
        services.hub,
        name,
        outlet,
        inbox_limit=settings.ws_inbox_messages,
        frame_interval=settings.stream_frame_interval,
        context=AccessContext("websocket", scope, client),
        page=page,
    )


class MemberLink(Protocol):
    """What a member needs of its socket: the settings, the answer format and the outbox."""

    settings: Settings
    html: bool

    def queue(self, text: str, *, push: bool = False, key: str = "") -> None:
        """Queue a message (``push``: a render of component ``key`` nobody asked for)."""
        ...


class MemberOutlet:
    """The outlet of one joined component: its messages, tagged with its component id."""

    def __init__(
        self,
        link: MemberLink,
        members: SocketMembers,
        name: str,
        target: str | None,
        join_ref: Ref = None,
    ) -> None:
        self.link = link
        self.members = members
        self.name = name
        self.target = target
        self.join_ref = join_ref
        self.session: LiveSession | None = None
        #: The id of the component, once its join was answered (``None``: joining).
        self.joined_id: str | None = None
        #: Left or ended: what its work still produces is not sent.
        self.dropped = False

    def render(self, result: DispatchResult, ref: Ref) -> None:
        if self.dropped:  # a join left before its answer: nothing of it goes out
            return
        if self.joined_id is None:  # the answer to the join
            if not self.members.admit(self, result.component_id, ref):
                return
            self.joined_id = result.component_id
        link, own = self.link, self.session is not None and self._is_root(result)
        push = ref is None and own
        if not link.html:
            link.queue(render_message(result, ref), push=push, key=result.component_id)
            return
        html = htmx_render_message(result, self.target) if own else htmx_child_message(result)
        link.queue(html, push=push, key=result.component_id)
        if result.effects:
            link.queue(effects_message(result.effects, result.component_id, ref))

    def _is_root(self, result: DispatchResult) -> bool:
        assert self.session is not None
        return result.component is self.session.component

    def stream(self, ops: list[StreamOp]) -> None:
        if self.dropped:
            return
        for op in ops:
            self.link.queue(stream_message(op.to_wire(), self.joined_id))

    def error(self, error: ComponentError, ref: Ref) -> None:
        if self.dropped:
            return
        document = error_document(error, debug=self.link.settings.debug)
        self.link.queue(error_message(document, ref, self.joined_id))
        if self.joined_id is None:  # a refused join: nothing is held
            self.members.drop(self)

    def forward(self, event: str, payload: Mapping[str, Any]) -> None:
        if self.dropped:
            return
        self.link.queue(broadcast_message(event, payload, self.joined_id))

    def done(self, result: DispatchResult, ref: Ref) -> None:
        if self.dropped:
            return
        self.link.queue(done_message(result, ref))

    def overflow(self) -> None:
        """Its queue is full: this component ends alone, the socket and the others go on."""
        self.error(SlowConsumer("the component cannot keep up with its messages"), None)
        self.members.drop(self)


class SocketMembers:
    """The joined components of one socket (see the module docstring); ``own_id`` says the
    id of the socket's own component (``""``: none yet)."""

    def __init__(
        self,
        link: MemberLink,
        services: AppServices,
        scope: WebSocketScope,
        client: str,
        *,
        page: str | None,
        own_id: Callable[[], str],
    ) -> None:
        self._link = link
        self._services = services
        self._scope = scope
        self._client = client
        self._page = page
        self._own_id = own_id
        self._outlets: list[MemberOutlet] = []
        self._tasks: set[aio.Task] | None = None  # made at the first: an empty set is 216 B
        self._closed = False

    def __len__(self) -> int:
        return len(self._outlets)

    def join(self, name: str, join: Join, target: str | None = None) -> None:
        """Add component ``name`` (mount with ``join.params`` or resume ``join.snapshot``;
        ``target``: where its HTML renders go, as a socket URL's); a refusal is an error
        message with the join's ``ref``."""
        services = self._services
        settings = services.dispatcher.settings
        try:
            if len(self._outlets) + 1 >= settings.ws_max_components:
                limit = settings.ws_max_components
                raise RateLimited(f"this socket holds {limit} components already", 1.0)
            services.guard.take_request(self._client, monotonic())  # as a socket's handshake
            services.dispatcher.registry.get(name)
        except ComponentError as error:
            document = error_document(error, debug=settings.debug)
            self._link.queue(error_message(document, join.ref))
            return
        outlet = MemberOutlet(self._link, self, name, target, join.ref)
        outlet.session = socket_session(
            services, name, outlet, self._scope, self._client, self._page
        )
        self._outlets.append(outlet)
        self._track(self._start(outlet.session, join))

    async def _start(self, session: LiveSession, join: Join) -> None:
        await session.listen_to_page()  # from now on: no event of the page is missed
        session.submit(join)

    def admit(self, outlet: MemberOutlet, component_id: str, ref: Ref) -> bool:
        """Whether a joined component may stay: not when the socket holds its id already."""
        taken = component_id == self._own_id() or any(
            other.joined_id == component_id for other in self._outlets
        )
        if taken:
            error = ClientError(f"component {component_id[:64]!r} is on this socket already")
            outlet.error(error, ref)  # refused like any join: then dropped
        return not taken

    def session_for(self, component_id: str) -> LiveSession | None:
        """The joined session holding ``component_id`` (itself or a held child), if any."""
        for outlet in self._outlets:
            session = outlet.session
            joined = outlet.joined_id is not None and session is not None
            if joined and session is not None and session.holds(component_id):
                return session
        return None

    def leave(self, component_id: str | None, ref: Ref, join_ref: Ref = None) -> None:
        """Remove the joined component ``component_id``, or the one whose join had the ref
        ``join_ref`` (answered or not yet); ``not_joined`` when none is."""
        for outlet in self._outlets:
            by_ref = join_ref is not None and outlet.join_ref == join_ref
            if (component_id is not None and outlet.joined_id == component_id) or by_ref:
                self.drop(outlet)
                self._link.queue(left_message(outlet.joined_id, ref, join_ref))
                return
        named = f"component {component_id[:64]!r}" if component_id else f"join {join_ref!r:.64}"
        error = NotJoined(f"no {named} joined this socket")
        document = error_document(error, debug=self._link.settings.debug)
        tag = component_id[:128] if component_id is not None else None
        self._link.queue(error_message(document, ref, tag))

    def drop(self, outlet: MemberOutlet) -> None:
        """End one member: out of the hub, its work cancelled (its ``finally`` blocks run)."""
        if outlet not in self._outlets:
            return
        outlet.dropped = True
        self._outlets.remove(outlet)
        session = outlet.session
        if session is not None:
            session.close()
            if not self._closed:
                self._track(session.aclose())

    def _track(self, work: Any) -> None:
        task = aio.running_loop().create_task(work)
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def close(self) -> None:
        """The socket is closing or gone: every member ends (idempotent)."""
        self._closed = True
        for outlet in self._outlets:
            if outlet.session is not None:
                outlet.session.close()

    async def aclose(self) -> None:
        """:meth:`close`, then wait for every member's running work to end."""
        self.close()
        tasks = [task for task in self._tasks or () if task is not aio.current_task()]
        if tasks:
            await aio.wait_all(tasks)
        for outlet in self._outlets:
            if outlet.session is not None:
                await outlet.session.aclose()
        self._outlets.clear()
