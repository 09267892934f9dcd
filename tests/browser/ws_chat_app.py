"""The app the WebSocket chat browser test drives: a chat room over htmx's ws extension.

``app`` is ``ComponentASGI(app=inner)`` (middleware mode) with a hub of its own. ``inner`` is a
Starlette app serving:

- ``/``: the chat page: htmx 2 and htmx-ext-ws (both from ``node_modules``, no CDN) and one
  element with ``hx-ext="ws"`` and ``ws-connect`` (:data:`CHAT_MARKUP`); no script of ours;
- ``/static/htmx/`` and ``/static/htmx-ws/``: the npm packages' folders.

The chat component holds the room's messages in its state. ``on_send`` publishes the message
to the room's topic; every live chat of the room, the sender's included, appends it in
``on_message`` and its new render is pushed to its page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager

__all__ = ["CHAT_MARKUP", "MAX_MESSAGES", "app"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent.parent
NODE_MODULES: Final = REPO_ROOT / "node_modules"
HTMX_DIST: Final = NODE_MODULES / "htmx.org" / "dist"
HTMX_WS: Final = NODE_MODULES / "htmx-ext-ws"
MAX_MESSAGES: Final = 50

#: The chat as docs/websocket.md shows it: the fragments go into ``#chat-box``.
CHAT_MARKUP: Final = (
    '<div id="chat-box" hx-ext="ws" '
    'ws-connect="/components/chat/ws/?format=html&target=chat-box">'
    '<p class="connecting">Connecting&hellip;</p></div>'
)
PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>chat</title>
<link rel="icon" href="data:,">
<script src="/static/htmx/htmx.min.js"></script>
<script src="/static/htmx-ws/ws.js"></script>
</head>
<body>
<h1>Chat</h1>
{markup}
</body>
</html>
"""
TEMPLATES: Final = {
    "chat.html": (
        '<div class="chat" data-room="{{ room }}">'
        '<ul class="messages">{% for message in messages %}<li>{{ message }}</li>{% endfor %}</ul>'
        '<form ws-send hx-vals=\'{"event": "send"}\'>'
        '<input name="text" autocomplete="off" placeholder="Say something">'
        "<button>Send</button>"
        "</form></div>"
    ),
}

hub = Hub()
manager = WebSocketManager(hub=hub)
registry = ComponentRegistry()


@registry.register("chat")
class ChatComponent(Component):
    """One room's chat: messages arrive by broadcast, on every page of the room."""

    template_name = "chat.html"

    def mount(self, room: str = "lobby") -> None:
        self.state.update({"room": room, "messages": []})

    def topics(self) -> list[str]:
        return [f"room:{self.state['room']}"]

    async def on_send(self, text: str) -> None:
        if text.strip():
            await manager.publish(f"room:{self.state['room']}", "message", {"text": text})

    def on_message(self, text: str) -> None:
        self.state["messages"] = [*self.state["messages"], text][-MAX_MESSAGES:]


async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.format(markup=CHAT_MARKUP))


inner = Starlette(
    routes=[
        Route("/", index),
        Mount("/static/htmx", app=StaticFiles(directory=HTMX_DIST, check_dir=False)),
        Mount("/static/htmx-ws", app=StaticFiles(directory=HTMX_WS, check_dir=False)),
    ]
)
app = ComponentASGI(
    app=inner,
    registry=registry,
    renderer=Jinja2Renderer.from_strings(TEMPLATES),
    settings=Settings(secret_keys=("browser-ws-chat-test-key-0123456789abcdef",)),
    hub=hub,
)
