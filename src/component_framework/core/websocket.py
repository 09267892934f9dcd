"""``WebSocketManager``: push broadcasts to live components from anywhere in the application.

Owns the public push API of the guide's ``services.py``. A manager is a thin handle on a
:class:`~component_framework.core.hub.Hub`: by default the process-wide hub that every
``ComponentASGI`` serves from, so a manager created anywhere reaches every live component of
the process, and, with a broker (``broker="redis://..."`` or ``COMPONENT_FRAMEWORK_BROKER_URL``),
every process of the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from component_framework.core.broker import Broker
from component_framework.core.hub import Broadcast, Hub, default_hub

__all__ = ["WebSocketManager"]


class WebSocketManager:
    """Broadcasts events to live components (WebSocket connections and live SSE streams).

    ``broker``: a broker URL (``redis://host:6379/0``) or :class:`Broker` for the default hub;
    it must agree with the hub's broker if it already has one. ``hub``: an explicit hub
    (isolated apps and tests), instead of the process-wide one.
    """

    def __init__(self, broker: Broker | str | None = None, *, hub: Hub | None = None) -> None:
        self.hub = default_hub() if hub is None else hub
        if broker is not None:
            self.hub.use_broker(broker)

    async def broadcast(
        self,
        component_name: str | None = None,
        event: str = "",
        payload: Mapping[str, Any] | None = None,
        *,
        component_id: str | None = None,
        topic: str | None = None,
    ) -> int:
        """Run ``on_<event>(**payload)`` on every live instance matching the targets and push
        each new render; an instance without that handler gets the event forwarded as a
        ``{"type": "broadcast", "event", "payload"}`` message. Targets combine: every instance
        of ``component_name``, the instance ``component_id``, instances subscribed to
        ``topic``. Returns how many instances of this process were reached (other processes
        are reached through the broker)."""
        message = Broadcast(event, dict(payload or {}), component_name, component_id, topic)
        return await self.hub.broadcast(message)

    async def send_to(
        self, component_id: str, event: str, payload: Mapping[str, Any] | None = None
    ) -> int:
        """:meth:`broadcast` to the one instance ``component_id``."""
        return await self.broadcast(event=event, payload=payload, component_id=component_id)

    async def publish(
        self,
        topic: str,
        event: str,
        payload: Mapping[str, Any] | None = None,
        *,
        component_name: str | None = None,
    ) -> int:
        """:meth:`broadcast` to the instances subscribed to ``topic`` (a chat room, ...)."""
        return await self.broadcast(component_name, event, payload, topic=topic)

    def connections(self, component_name: str | None = None) -> int:
        """How many live instances this process holds (of one component, or all)."""
        return len(self.hub.members(component_name))
