"""What the transports of one app share: its services, in one small object.

Owns :class:`AppServices`, which ``ComponentASGI`` builds once and hands to every transport
with each exchange (``handle_*(scope, receive, send, name, services)``): the dispatcher and its
settings, the client guard, the hub, the stream runs, the static files, the resumable uploads
and the two registries that the app's shutdown path shares with the transports:
:class:`StreamGate` (open SSE streams) and :class:`SocketRegistry` (open WebSockets). Holds no
exchange itself and imports no transport, so each transport depends on this module and on none
of the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from component_framework.asgi.guard import ClientGuard
from component_framework.asgi.static import StaticFiles
from component_framework.core import aio
from component_framework.core.config import Settings
from component_framework.core.dispatch import Dispatcher
from component_framework.core.hub import Hub
from component_framework.core.resumable import ResumableUploads
from component_framework.core.stream_run import StreamRegistry
from component_framework.errors import ComponentError, ServiceUnavailable

__all__ = [
    "CLOSE_SERVICE_RESTART",
    "RESTART_REASON",
    "AppServices",
    "OpenSocket",
    "SocketRegistry",
    "StreamGate",
]

#: The close code of every socket at shutdown (service restart: clients reconnect elsewhere).
CLOSE_SERVICE_RESTART: Final = 1012
#: The reason that close carries.
RESTART_REASON: Final = "the server is restarting"


class StreamGate:
    """What the app tells its open streams: wake up (new state) and whether to stop now."""

    def __init__(self) -> None:
        self.closing = False
        self.wakeups: set[aio.Event] = set()

    def close(self) -> None:
        """Ask every open stream to send its final frame and end."""
        self.closing = True
        for wakeup in self.wakeups:
            wakeup.set()


class OpenSocket(Protocol):
    """An open WebSocket as shutdown sees it (``asgi.websocket``'s connection)."""

    def close(
        self, error: ComponentError | None = None, code: int | None = None
    ) -> aio.Task | None:
        """Close with ``error``'s close code, or ``code``: the task sending the close, or
        ``None`` when the connection was not open."""
        ...


class SocketRegistry:
    """The open connections of one app, so that shutdown can close them."""

    def __init__(self) -> None:
        self.connections: set[OpenSocket] = set()
        self.closing = False

    def close_all(self) -> list[aio.Task]:
        """Close every connection with 1012 (service restart: clients reconnect elsewhere);
        the tasks sending those closes."""
        self.closing = True
        error = ServiceUnavailable(RESTART_REASON)
        closing = (
            connection.close(error, CLOSE_SERVICE_RESTART) for connection in list(self.connections)
        )
        return [task for task in closing if task is not None]

    def __len__(self) -> int:
        return len(self.connections)


@dataclass(slots=True, frozen=True)
class AppServices:
    """The services of one app, as its transports use them."""

    dispatcher: Dispatcher
    guard: ClientGuard
    hub: Hub
    streams: StreamRegistry
    stream_gate: StreamGate
    sockets: SocketRegistry
    static: StaticFiles
    #: Resumable uploads (``/_uploads/``, and the events that claim them).
    uploads: ResumableUploads

    @property
    def settings(self) -> Settings:
        """The settings in force (the dispatcher's)."""
        return self.dispatcher.settings
