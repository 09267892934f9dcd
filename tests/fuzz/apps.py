"""The components the fuzz suite serves, the apps over them and the wire invariants.

Every component here is well behaved: it never raises on input that passed binding, keeps its
state small and JSON-clean, and finishes quickly. So any ``5xx`` answer, ``internal_error`` /
``handler_error`` frame or message, or WebSocket close ``1011`` seen while fuzzing is the
framework's fault, not the component's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.protocol.snapshot import SnapshotSigner

SECRET = "fuzz-secret-key-0123456789abcdef"
#: Where the app lives and the Host its requests name (same-origin checks compare with it).
PREFIX = "/components"
HOST = "testserver"
SAME_ORIGIN = f"http://{HOST}"
#: Small limits, so that huge inputs are cheap to make and to refuse.
MAX_BODY = 4096
MAX_DEPTH = 8
MAX_WS_MESSAGE = 4096
SNAPSHOT_MAX_AGE = 3600.0

TEMPLATES = {
    "counter.html": (
        '<div class="counter"><span>{{ count }}</span>'
        '<button hx-post="/components/counter/" hx-vals=\'{"event": "increment"}\'>+</button>'
        "</div>"
    ),
    "echo.html": '<p title="{{ text }}">{{ text }}{% if loud %}!{% endif %}</p>',
    "typed.html": "<div>{{ state | tojson }}</div>",
    "report.html": "<section>{% for s in sections %}<h2>{{ s }}</h2>{% endfor %}</section>",
    "live.html": '<div hx-vals=\'{"kind": "live"}\'>{{ count }}</div>',
    "note.html": "just text {{ note }}",
}

registry = ComponentRegistry()


@registry.register("counter")
class Counter(Component):
    """Sync handlers and a typed mount parameter."""

    template_name = "counter.html"

    def mount(self, start: int = 0) -> None:
        self.state["count"] = start

    def on_increment(self) -> None:
        self.state["count"] += 1

    def on_add(self, amount: int) -> None:
        self.state["count"] += amount

    def _secret(self) -> None:  # never an event
        raise AssertionError("a private method was reached")


@registry.register("echo")
class Echo(Component):
    """Client text in the state and in the HTML (escaped), an async handler, and a
    component-level authorization rule."""

    template_name = "echo.html"

    def mount(self, text: str = "") -> None:
        self.state.update({"text": text[:64], "loud": False})

    def on_say(self, text: str, loud: bool = False) -> None:
        self.state.update({"text": text[:64], "loud": loud})

    async def on_wait(self, rounds: int = 1) -> None:
        for _ in range(max(0, min(rounds, 3))):
            await asyncio.sleep(0)

    def on_secret(self) -> None:
        raise AssertionError("a denied event ran")

    def authorize(self, context: AccessContext, event: str) -> bool:
        return event != "secret" and "x-deny" not in context.headers


@registry.register("typed")
class Typed(Component):
    """Every supported kind of type hint; what was bound is kept in the state."""

    template_name = "typed.html"

    def mount(self) -> None:
        self.state["last"] = None

    def on_numbers(self, count: int, ratio: float, flag: bool = False) -> None:
        self.state["last"] = {"count": count, "ratio": ratio, "flag": flag}

    def on_choice(self, mode: Literal["a", "b", 3], limit: int | None = None) -> None:
        self.state["last"] = {"mode": mode, "limit": limit}

    def on_collect(self, ids: list[int], meta: dict[str, Any] | None = None) -> None:
        self.state["last"] = {"ids": ids, "meta": meta}

    def on_either(self, value: int | str, maybe: float | None = None) -> None:
        self.state["last"] = {"value": value, "maybe": maybe}

    def on_extra(self, **fields: Any) -> None:
        self.state["last"] = sorted(fields)


@registry.register("report")
class Report(StreamingComponent):
    """An async generator handler: one render per ``yield``, and stream operations."""

    template_name = "report.html"
    stream_event = "generate"  # two generator handlers: the one a bare stream runs

    def mount(self) -> None:
        self.state["sections"] = []

    async def on_generate(self, count: int = 2) -> Any:
        for index in range(max(0, min(count, 3))):
            await asyncio.sleep(0)
            self.state["sections"].append(f"part {index}")
            yield

    async def on_tokens(self, words: int = 2) -> Any:
        await self.stream_start("out")
        for index in range(max(0, min(words, 3))):
            await self.stream_text("out", f"word{index} ")
        await self.stream_done("out")
        yield


@registry.register("live")
class Live(Component):
    """``live_updates``: its stream stays open and carries the renders broadcasts cause."""

    template_name = "live.html"
    live_updates = True

    def mount(self, count: int = 0) -> None:
        self.state["count"] = count

    def on_bump(self, by: int = 1) -> None:
        self.state["count"] += by


@registry.register("note")
class Note(Component):
    """No ``mount`` of its own (accepts no params), a template without an element."""

    template_name = "note.html"

    def on_write(self, note: str = "") -> None:
        self.state["note"] = note[:32]


renderer = Jinja2Renderer.from_strings(TEMPLATES)
COMPONENTS = tuple(registry.names())


def fuzz_settings_for_app(**overrides: Any) -> Settings:
    """The settings of a fuzzed app: small limits, the rate limiter off unless asked for, a
    short resume grace (so a stream run left behind ends within the settle time)."""
    values: dict[str, Any] = {
        "secret_keys": (SECRET,),
        "max_body_bytes": MAX_BODY,
        "max_json_depth": MAX_DEPTH,
        "ws_max_message_bytes": MAX_WS_MESSAGE,
        "snapshot_max_age": SNAPSHOT_MAX_AGE,
        "http_rate": None,
        "stream_resume_grace": 0.05,
        "stream_heartbeat": 0.05,
        "ws_send_timeout": 2.0,
        "stream_send_timeout": 2.0,
        "body_timeout": 2.0,
        "handler_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


def make_app(**overrides: Any) -> ComponentASGI:
    """A fresh app over the fuzz components (its own hub: broadcasts stay inside it)."""
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=fuzz_settings_for_app(**overrides),
        hub=Hub(),
        shutdown_on_signals=False,
    )


SIGNER = SnapshotSigner((SECRET,), max_age=SNAPSHOT_MAX_AGE)

#: States each component can really produce (a valid token carries one of these).
VALID_STATES: dict[str, list[dict[str, Any]]] = {
    "counter": [{"count": 0}, {"count": 7}, {"count": -3}],
    "echo": [{"text": "", "loud": False}, {"text": "<b>hi</b>", "loud": True}],
    "typed": [{"last": None}, {"last": {"mode": "a", "limit": None}}],
    "report": [{"sections": []}, {"sections": ["part 0"]}],
    "live": [{"count": 0}, {"count": 2}],
    "note": [{}, {"note": "x"}],
}

Result = TypeVar("Result")


def attempt(
    call: Callable[[], Result], *errors: type[Exception]
) -> tuple[Result | None, Exception | None]:
    """``(result, None)``, or ``(None, error)`` when ``call`` raised one of ``errors`` (any
    other exception propagates and fails the example)."""
    try:
        return call(), None
    except errors as exc:
        return None, exc


# -- the documented answers -------------------------------------------------------------------

#: Every status an HTTP or SSE request may get (docs/protocol.md, streaming.md, security.md).
DOCUMENTED_STATUSES = frozenset(
    {200, 204, 304, 400, 401, 403, 404, 405, 408, 413, 415, 422, 429, 503}
)
#: Error codes that mean the server failed: never acceptable from these components.
SERVER_FAULT_CODES = frozenset(
    {"internal_error", "handler_error", "configuration_error", "transport_unavailable"}
)
#: Close codes the server may send after accepting (docs/websocket.md "Closes"; 1007 is
#: MalformedRequest's code). 1011 (a server error) is never acceptable.
WS_CLOSE_CODES = frozenset({1000, 1007, 1008, 1009, 1013})
#: Close codes of a handshake refused before accept (a server without the denial extension).
WS_DENIAL_CLOSE_CODES = frozenset({1007, 1008})
WS_DENIAL_STATUSES = frozenset({400, 403, 404, 422, 429})


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` in an ASGI header list."""
    return next((value for key, value in headers if key.lower() == name), None)


def check_error_document(body: bytes, status: int) -> dict[str, Any]:
    """The body of an error answer: ``{"error": {"code": str, "message": str, ...}}``."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise AssertionError(f"a {status} answer without a JSON body: {body[:200]!r}") from exc
    assert isinstance(document, dict), document
    error = document.get("error")
    assert isinstance(error, dict), document
    assert isinstance(error.get("code"), str), document
    assert isinstance(error.get("message"), str), document
    assert error["code"] not in SERVER_FAULT_CODES, document
    if error["code"] == "validation_error":
        assert isinstance(error.get("field"), str), document
    return error


def check_json_render(document: Any) -> None:
    """A JSON component answer: ``{"html", "state", "snapshot", "component_id"}``."""
    assert isinstance(document, dict), document
    assert sorted(document) == ["component_id", "html", "snapshot", "state"], document
    assert isinstance(document["html"], str)
    assert isinstance(document["state"], dict)
    assert isinstance(document["snapshot"], str)
    assert document["snapshot"].startswith("v2.")
    assert isinstance(document["component_id"], str)


def check_ws_server_message(text: str, refs: set[Any], *, html_possible: bool) -> dict[str, Any]:
    """One text message from the server: a documented message type with its fields (or an
    HTML fragment, when the connection may be answering htmx)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AssertionError(f"a WebSocket text message no server can send: {exc}") from exc
    try:
        message = json.loads(text)
    except ValueError:
        assert html_possible, f"a non-JSON message on a JSON connection: {text[:200]!r}"
        assert text.startswith("<"), text[:200]
        return {"type": "html"}
    assert isinstance(message, dict), message
    kind = message.get("type")
    expected: dict[str, tuple[str, ...]] = {
        "render": ("html", "state", "snapshot", "component_id", "ref"),
        "stream": ("op", "stream"),
        "error": ("code", "message", "ref"),
        "broadcast": ("event", "payload"),
        "done": ("ref", "component_id", "snapshot"),
        "pong": ("ref",),
    }
    assert kind in expected, message
    missing = [name for name in expected[kind] if name not in message]
    assert not missing, (missing, message)
    if "ref" in message:
        assert message["ref"] is None or message["ref"] in refs, (message, refs)
    if kind == "error":
        assert isinstance(message["code"], str)
        assert isinstance(message["message"], str)
        assert message["code"] not in SERVER_FAULT_CODES, message
        if message["code"] == "validation_error":
            assert isinstance(message.get("field"), str), message
        if message["code"] == "rate_limited":
            assert isinstance(message.get("retry_after"), int | float), message
    if kind in ("render", "done"):
        assert isinstance(message["snapshot"], str)
        assert message["snapshot"].startswith("v2.")
    return message


def app_is_idle(app: ComponentASGI) -> bool:
    """No open socket or stream is still counted and no stream run is still held."""
    return (
        len(app.sockets) == 0
        and len(app.hub) == 0
        and app.guard.open_count("socket") == 0
        and app.guard.open_count("stream") == 0
        and not app.streams.runs
    )


async def settle(app: ComponentASGI, before: set[asyncio.Task[Any]], limit: float = 2.0) -> None:
    """Wait until every task the app started during an example has ended and the app holds no
    connection or run; fail with the leftovers after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    current = asyncio.current_task()
    while True:
        left = {task for task in asyncio.all_tasks() if task not in before and task is not current}
        if not left and app_is_idle(app):
            return
        if loop.time() > deadline:
            raise AssertionError(
                f"left behind after {limit:g} s: tasks {sorted(t.get_name() for t in left)}, "
                f"sockets {len(app.sockets)}, hub members {len(app.hub)}, "
                f"streams {app.guard.open_count('stream')}, "
                f"runs {list(app.streams.runs)}"
            )
        await asyncio.sleep(0.01)


def query_pairs(mapping: Mapping[str, Any]) -> dict[str, str]:
    """Form values for a query string: JSON text for objects, ``str`` for the rest."""
    return {
        key: json.dumps(value) if isinstance(value, dict | list) else str(value)
        for key, value in mapping.items()
    }
