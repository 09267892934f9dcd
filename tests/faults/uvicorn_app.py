"""The apps the real-server fault tests run: ``uvicorn tests.faults.uvicorn_app:<app>``.

``app``: the fault components with settings from the environment (``COMPONENT_FRAMEWORK_*``).
``slow``: the same with short send timeouts and small buffers, for slow-consumer tests, plus a
``probe`` component (a POST mounts it) that reports what the app holds: open streams and
sockets, hub members and the largest socket outbox. Both use the process-wide hub, so the
``megaphone`` component's broadcasts reach every live component of the process. The journal
goes to the file named by ``FAULTS_JOURNAL``, so a test can read after the process exited which
handlers started and which ran their ``finally`` blocks. Only server processes import this.
"""

from __future__ import annotations

from component_framework import ComponentASGI, Settings
from component_framework.core.component import Component
from component_framework.core.websocket import WebSocketManager
from tests.faults import components

__all__ = ["SLOW_SETTINGS", "app", "slow"]

#: The limits of ``slow`` (the tests read them from here).
SLOW_SETTINGS = {
    "stream_send_timeout": 1.0,
    "stream_resume_grace": 0.2,
    "stream_replay_frames": 16,
    "stream_replay_bytes": 1024 * 1024,
    "ws_send_timeout": 5.0,
    "ws_outbox_messages": 64,
    "ws_outbox_bytes": 1024 * 1024,
}


@components.registry.register("probe")
class Probe(Component):
    """What ``slow`` holds right now."""

    template_name = "probe.html"

    def mount(self) -> None:
        outboxes = [  # a socket makes its outbox only while a message waits
            0 if connection._outbox is None else len(connection._outbox)
            for connection in slow.sockets.connections
        ]
        self.state.update(
            {
                "runs": len(slow.streams),
                "open_streams": slow.guard.open_count("stream"),
                "open_sockets": slow.guard.open_count("socket"),
                "sockets": len(slow.sockets),
                "members": len(slow.hub),
                "largest_outbox": max(outboxes, default=0),
            }
        )


@components.registry.register("megaphone")
class Megaphone(Component):
    """Broadcasts ``count`` handlerless events of ``size`` characters to the boards of
    ``room`` (each reaches a socket as a message of its own)."""

    template_name = "probe.html"

    def mount(self) -> None:
        self.state["reached"] = 0

    async def on_blast(self, room: str, count: int, size: int) -> None:
        manager = WebSocketManager()
        for index in range(count):
            payload = {"index": index, "filler": "f" * size}
            self.state["reached"] += await manager.broadcast(
                "board", "notice", payload, topic=f"room:{room}"
            )


app = ComponentASGI(
    registry=components.registry, renderer=components.renderer, settings=Settings.from_env()
)
slow = ComponentASGI(
    registry=components.registry,
    renderer=components.renderer,
    settings=Settings.from_env(**SLOW_SETTINGS),
)
