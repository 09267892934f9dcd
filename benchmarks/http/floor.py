"""The counter event done by hand: the work every contender must do, with nothing around it.

:class:`CounterWork` is the floor's logic (contender a) and also what the plain Litestar handler
runs (contender c): check the content type, parse the JSON body, verify the snapshot with the
same :class:`SnapshotSigner` (so the HMAC work is identical), run the handler, render the same
Jinja2 template with the same context a ``Component`` gets, sign the new state, encode the JSON
answer. :class:`FloorApp` wraps it in the smallest honest ASGI app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import jinja2

from benchmarks.common.asgi import serve_lifespan
from benchmarks.common.counter import COMPONENT_NAME, CONTENT_TYPE, PATH, SECRET_KEY, TEMPLATE
from component_framework.protocol.snapshot import SnapshotError, SnapshotSigner

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope

__all__ = ["CounterWork", "FloorApp"]

Outcome = tuple[int, bytes]


def _increment(state: dict[str, Any]) -> None:
    state["count"] += 1


def _decrement(state: dict[str, Any]) -> None:
    state["count"] = max(0, state["count"] - 1)


_HANDLERS: Final[dict[str, Callable[[dict[str, Any]], None]]] = {
    "increment": _increment,
    "decrement": _decrement,
}


def _error(status: int, code: str, message: str) -> Outcome:
    return status, json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")


class CounterWork:
    """One counter event from request body to answer body, with no framework."""

    def __init__(self) -> None:
        self.signer = SnapshotSigner([SECRET_KEY])
        environment = jinja2.Environment(autoescape=True)
        self.template = environment.from_string(TEMPLATE)

    def handle(self, content_type: str | None, body: bytes) -> Outcome:
        """Return the status and JSON body answering ``body``."""
        if content_type is None or not content_type.startswith(CONTENT_TYPE):
            return _error(415, "unsupported_media_type", "expected application/json")
        try:
            document = json.loads(body)
        except ValueError:
            return _error(400, "malformed", "body is not JSON")
        if not isinstance(document, dict):
            return _error(400, "malformed", "expected a JSON object")
        handler = _HANDLERS.get(document.get("event"))  # type: ignore[arg-type]
        token = document.get("snapshot")
        if handler is None:
            return _error(404, "event_not_found", "unknown event")
        if not isinstance(token, str):
            return _error(400, "invalid_snapshot", "snapshot required")
        try:
            snapshot = self.signer.verify(token, COMPONENT_NAME)
        except SnapshotError as exc:
            return _error(400, "invalid_snapshot", str(exc))
        state = snapshot.state
        handler(state)
        context = dict(state)
        context["state"] = state
        context["component_id"] = snapshot.component_id
        context["component_name"] = COMPONENT_NAME
        html = self.template.render(context)
        answer = {
            "html": html,
            "state": state,
            "snapshot": self.signer.sign(COMPONENT_NAME, snapshot.component_id, state),
            "component_id": snapshot.component_id,
        }
        return 200, json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class FloorApp:
    """A bare ASGI app serving only ``POST /components/counter/`` through :class:`CounterWork`."""

    def __init__(self) -> None:
        self.work = CounterWork()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] != PATH:
            status, payload = _error(404, "not_found", "not found")
        elif scope["method"] != "POST":
            status, payload = _error(405, "method_not_allowed", "POST only")
        else:
            content_type = None
            for name, value in scope["headers"]:
                if name == b"content-type":
                    content_type = value.decode("latin-1")
                    break
            body = b""
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            status, payload = self.work.handle(content_type, body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode("ascii")),
                ],
                "trailers": False,
            }
        )
        await send({"type": "http.response.body", "body": payload, "more_body": False})
