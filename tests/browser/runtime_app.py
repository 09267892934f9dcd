"""The app the client-runtime browser tests drive (``tests/browser/test_runtime.py``).

``app`` is :class:`_Recorder` around ``components = ComponentASGI(app=inner)`` (middleware
mode, its own registry, hub and settings; htmx and its extensions from ``node_modules`` through
``Settings.vendor_directory``). Every page loads ``components.script_tags()``, has
``<body hx-ext="component-framework">``, the htmx config that keeps htmx from writing inline
styles or evaluating code, and a strict Content-Security-Policy header (:data:`CSP`).

Pages (``inner``, a Starlette app):

- ``/sse?script=NAME``: the ``ops`` component, whose ``sse-connect`` element runs the stream
  script ``NAME`` (see :data:`SCRIPTS`) into its ``data-stream`` elements, over the runtime's
  page connection (``&own=1``: on a connection of its own, ``data-page-connection="off"``);
  ``/sse-around``: the ``sse-connect`` element around the component instead; ``/sse-two``:
  two such components;
- ``/ws``: the ``wsbox`` component inside ``#ws-box`` (``ws-connect`` with ``format=html`` and
  ``target=ws-box``): a list with a ``ws-send`` form, a slow event, failing events and stream
  scripts over the socket;
- ``/ws-vault``: the same with ``vaultbox``, a ``wsbox`` whose state stays on the server
  (:data:`STATE_STORE`, a memory store);
- ``/http``: the ``slowhttp`` component (``hx-post``): a slow ``async`` event and an ``int`` field;
- ``/burst``: no component, two stream elements for ``componentFramework.applyOps`` (one in a
  scrollable box styled by ``/runtime.css``).

Test routes: ``GET /record`` (JSON of :data:`RECORD`), ``POST /record/reset``, ``POST
/arm-drop?after=K`` (the next stream response is ended by the server after ``K`` body chunks,
once; ``&forget=1``: resumes are then answered ``204`` by this wrapper, ``&forget=lost``: they
reach the app with a run id it never issued, as on another worker), ``POST
/test/close-sockets`` (close every socket with 1012), ``POST
/test/restart?down=S`` (close every socket with 1012 and refuse handshakes for ``S`` seconds, as
a restarting server does), ``POST /test/broadcast``
(``tick`` to every live ``wsbox``), ``POST /test/forget-state`` (the state store forgets every
server-held state, as one that expired or restarted), ``POST /poked`` (what an inserted
``hx-post`` button calls).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.core.component import StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.state_store import MemoryStateStore
from component_framework.core.websocket import WebSocketManager
from component_framework.errors import PayloadValidationError

__all__ = [
    "ANSWER_TOKENS",
    "CSP",
    "FAIL_MESSAGE",
    "GAP",
    "REFUSE_MESSAGE",
    "RESUME_TOKENS",
    "SLOW",
    "TEXT_TOKENS",
    "app",
    "components",
]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent.parent
NODE_MODULES: Final = REPO_ROOT / "node_modules"
CSP: Final = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'"
#: Seconds between stream operations of a script: longer than the server's batching window
#: (1/60 s), so each operation travels in a frame (or message) of its own.
GAP: Final = 0.03
#: How long the slow events take (the loading state is visible meanwhile).
SLOW: Final = 1.2
TEXT_TOKENS: Final = tuple(f"w{i} " for i in range(12))
RESUME_TOKENS: Final = tuple(f"r{i:02d} " for i in range(30))
ANSWER_TOKENS: Final = tuple(f"a{i} " for i in range(40))
FAIL_MESSAGE: Final = "the model went away"
REFUSE_MESSAGE: Final = "This text is not acceptable."
STREAM_PATH: Final = "/components/ops/stream"

STREAM_ELEMENTS: Final = (
    '<p class="text-out" data-stream="text"></p>'
    '<ul class="list" data-stream="list"><li class="seed">seed</li></ul>'
    '<div class="panel" data-stream="panel">'
    '<span class="inner">old inner</span><span class="other">other</span></div>'
)
TEMPLATES: Final = {
    "ops.html": (
        '<div class="ops">'
        "{% if not outer %}"
        '<div class="stream-host" hx-ext="sse" '
        'sse-connect="/components/ops/stream/?script={{ script }}">'
        "{% endif %}" + STREAM_ELEMENTS + "{% if not outer %}</div>{% endif %}"
        '<p id="poke-result"></p>'
        "</div>"
    ),
    "wsbox.html": (
        '<div class="wsbox">'
        '<p class="ticks">ticks: {{ ticks }}</p>'
        '<p class="slow-done">slow: {{ slow_done }}</p>'
        '<ul class="items">{% for item in items %}<li class="item">{{ item }}</li>{% endfor %}</ul>'
        '<form class="add-form" ws-send hx-vals=\'{"event": "add"}\'>'
        '<input name="text" autocomplete="off"><button type="submit">Add</button></form>'
        '<button class="slow" ws-send hx-vals=\'{"event": "slow"}\'>Slow</button>'
        '<button class="explode" ws-send hx-vals=\'{"event": "explode"}\'>Explode</button>'
        '<button class="refuse" ws-send hx-vals=\'{"event": "refuse"}\'>Refuse</button>'
        '<button class="run-text" ws-send '
        'hx-vals=\'{"event": "run_ops", "script": "text"}\'>Text</button>'
        '<button class="run-html" ws-send '
        'hx-vals=\'{"event": "run_ops", "script": "html"}\'>HTML</button>'
        '<button class="answer-btn" ws-send hx-vals=\'{"event": "answer"}\'>Answer</button>'
        '{% if answering %}<p class="answer" data-stream="answer">{{ answer }}</p>{% endif %}'
        "{% if streams %}" + STREAM_ELEMENTS + "{% endif %}"
        "</div>"
    ),
    "slowhttp.html": (
        '<div class="slowhttp">'
        '<p class="value">value: {{ value }}</p>'
        '<p class="works">works: {{ works }}</p>'
        '<button class="work" hx-post="/components/slowhttp/" '
        'hx-vals=\'{"event": "work"}\'>Work</button>'
        '<form class="set-form" hx-post="/components/slowhttp/" hx-vals=\'{"event": "set"}\'>'
        '<input name="value" autocomplete="off"><button type="submit">Set</button></form>'
        "</div>"
    ),
    "page.html": (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8"><title>runtime {{ title }}</title>\n'
        '<meta name="htmx-config" '
        'content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>\n'
        "{{ scripts | safe }}\n"
        '<link rel="stylesheet" href="/runtime.css">\n'
        '</head><body hx-ext="component-framework">\n'
        "{{ body | safe }}\n"
        "</body></html>\n"
    ),
}
STYLESHEET: Final = """
.scrollbox { height: 120px; overflow-y: auto; border: 1px solid #888; }
.scrollbox p { margin: 0; height: 20px; line-height: 20px; }
"""


class _Record:
    """What the tests read back through ``/record``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.runs: dict[str, int] = {}
        self.streams: list[dict[str, Any]] = []
        self.sockets: list[dict[str, Any]] = []
        self.pages: list[dict[str, Any]] = []
        self.pokes = 0
        self.drop_after: int | None = None
        #: Answer every resume (a request with Last-Event-ID) with 204, as a server does that
        #: no longer knows the stream (another worker, a restart).
        #: How the next resumes are answered: "204" (by this wrapper), "lost" (by the app,
        #: which is handed an id it never issued, as another worker would be), or None.
        self.forget_resumes: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "streams": self.streams,
            "sockets": self.sockets,
            "pages": self.pages,
            "pokes": self.pokes,
        }


RECORD: Final = _Record()
hub = Hub()
manager = WebSocketManager(hub=hub)
registry = ComponentRegistry()


async def text_script(component: StreamingComponent) -> None:
    """Start, many text appends, a text replace, one more append, done."""
    await component.stream_start("text")
    for token in TEXT_TOKENS:
        await component.stream_text("text", token)
        await asyncio.sleep(GAP)
    await component.stream_text("text", "REPLACED", mode="replace")
    await asyncio.sleep(GAP)
    await component.stream_text("text", " +more")
    await asyncio.sleep(GAP)
    await component.stream_done("text")


async def html_script(component: StreamingComponent) -> None:
    """Insert (append, prepend), delete, replace inside a target, replace the whole element."""
    await component.stream_start("list")
    for op in (
        lambda: component.stream_insert("list", '<li class="appended">appended</li>'),
        lambda: component.stream_insert(
            "list", '<li class="prepended">prepended</li>', at="prepend"
        ),
        lambda: component.stream_insert("list", '<li class="gone">to delete</li>'),
        lambda: component.stream_delete("list", ".gone"),
        lambda: component.stream_to("panel", html="<b>inner new</b>", target=".inner"),
        lambda: component.stream_to(
            "panel",
            html=(
                '<em class="whole">whole new</em>'
                '<button class="poke" hx-post="/poked" hx-target="#poke-result" '
                'hx-swap="innerHTML">Poke</button>'
            ),
        ),
    ):
        await op()
        await asyncio.sleep(GAP)
    await component.stream_done("list")


async def fail_script(component: StreamingComponent) -> None:
    """Partial text, then ``stream_error``."""
    await component.stream_start("text")
    await component.stream_text("text", "partial ")
    await asyncio.sleep(GAP)
    await component.stream_text("text", "content")
    await asyncio.sleep(GAP)
    await component.stream_error("text", FAIL_MESSAGE)


async def raise_script(component: StreamingComponent) -> None:
    """Partial text, then the handler raises."""
    await component.stream_start("text")
    await component.stream_text("text", "partial ")
    await asyncio.sleep(GAP)
    await component.stream_text("text", "content")
    await asyncio.sleep(GAP * 3)
    raise ValueError("the handler failed half-way")


async def resume_script(component: StreamingComponent) -> None:
    """Many spaced appends: long enough for the connection to be dropped in the middle."""
    await component.stream_start("text")
    for token in RESUME_TOKENS:
        await component.stream_text("text", token)
        await asyncio.sleep(GAP)
    await component.stream_done("text")


SCRIPTS: Final = {
    "text": text_script,
    "html": html_script,
    "fail": fail_script,
    "raise": raise_script,
    "resume": resume_script,
}


@registry.register("ops")
class OpsComponent(StreamingComponent):
    """Runs a stream script over SSE (its ``sse-connect`` element names the script)."""

    template_name = "ops.html"

    def mount(self, script: str = "text", outer: bool = False) -> None:
        if script not in SCRIPTS:
            raise PayloadValidationError("script", f"expected one of {sorted(SCRIPTS)}")
        self.state.update({"script": script, "outer": outer})

    async def on_run(self, script: str = "text") -> AsyncIterator[None]:
        RECORD.runs[script] = RECORD.runs.get(script, 0) + 1
        await SCRIPTS[script](self)
        yield


@registry.register("wsbox")
class WsBoxComponent(StreamingComponent):
    """A list over WebSocket, with slow, failing and streaming events."""

    template_name = "wsbox.html"

    def mount(self) -> None:
        self.state.update(
            {"items": [], "ticks": 0, "slow_done": 0, "streams": False, "answering": False}
        )

    def on_add(self, text: str) -> None:
        if text.strip():
            self.state["items"] = [*self.state["items"], text.strip()]

    async def on_slow(self) -> None:
        await asyncio.sleep(SLOW)
        self.state["slow_done"] += 1

    def on_tick(self) -> None:
        self.state["ticks"] += 1

    def on_explode(self) -> None:
        raise ValueError("boom")

    def on_refuse(self) -> None:
        raise PayloadValidationError("text", REFUSE_MESSAGE)

    async def on_answer(self) -> AsyncIterator[None]:
        """Chat style: an empty answer element, its tokens as (coalesced) text ops, then a
        render of the whole answer right behind the last op."""
        self.state.update({"answering": True, "answer": ""})
        yield
        for token in ANSWER_TOKENS:
            await self.stream_text("answer", token)
        self.state["answer"] = "".join(ANSWER_TOKENS)

    async def on_run_ops(self, script: str) -> AsyncIterator[None]:
        self.state["streams"] = True
        yield  # the (empty) stream elements appear; the operations then fill them
        await SCRIPTS[script](self)


@registry.register("slowhttp")
class SlowHttpComponent(StreamingComponent):
    """Over plain HTTP: a slow ``async`` event and an ``int`` field."""

    template_name = "slowhttp.html"

    def mount(self) -> None:
        self.state.update({"value": 0, "works": 0})

    async def on_work(self) -> None:
        await asyncio.sleep(SLOW)
        self.state["works"] += 1

    def on_set(self, value: int) -> None:
        self.state["value"] = value


renderer = Jinja2Renderer.from_strings(TEMPLATES)


def _page(title: str, body: str, htmx: int = 2) -> HTMLResponse:
    html = renderer.environment.get_template("page.html").render(
        title=title, scripts=components.script_tags(htmx=htmx), body=body
    )
    return HTMLResponse(html, headers={"content-security-policy": CSP})


def _component(name: str, **params: Any) -> str:
    """The component's fragment, noting its id and snapshot as served."""
    html = str(renderer.environment.globals["component"](name, **params))
    component_id = re.search(r' id="([^"]+)"', html)
    snapshot = re.search(r'hx-vals="\{&quot;snapshot&quot;:&quot;([^&]+)&quot;\}"', html)
    RECORD.pages.append(
        {
            "component": name,
            "id": component_id.group(1) if component_id else None,
            "snapshot": snapshot.group(1) if snapshot else None,
        }
    )
    return html


async def sse_page(request: Request) -> HTMLResponse:
    script = request.query_params.get("script", "text")
    body = _component("ops", script=script)
    if request.query_params.get("own"):  # its stream on a connection of its own
        body = f'<div data-page-connection="off">{body}</div>'
    return _page(f"sse {script}", body)


async def sse_around_page(request: Request) -> HTMLResponse:
    script = request.query_params.get("script", "text")
    body = (
        '<div class="stream-host" hx-ext="sse" '
        f'sse-connect="/components/ops/stream/?script={script}">'
        + _component("ops", script=script, outer=True)
        + "</div>"
    )
    return _page(f"sse around {script}", body)


async def sse_two_page(request: Request) -> HTMLResponse:
    script = request.query_params.get("script", "text")
    body = _component("ops", script=script) + _component("ops", script=script)
    return _page(f"two sse {script}", body)


@registry.register("vaultbox")
class VaultBoxComponent(WsBoxComponent):
    """``wsbox`` with its state on the server: the page holds a signed reference only."""

    state_on_server = True


#: Where ``vaultbox`` keeps its state (``POST /test/forget-state`` empties it).
STATE_STORE = MemoryStateStore()


async def ws_page(request: Request) -> HTMLResponse:
    body = (
        '<div id="ws-box" hx-ext="ws" ws-connect="/components/wsbox/ws/?format=html&target=ws-box">'
        + _component("wsbox")
        + "</div>"
    )
    return _page("ws", body)


async def ws_vault_page(request: Request) -> HTMLResponse:
    body = (
        '<div id="ws-box" hx-ext="ws" '
        'ws-connect="/components/vaultbox/ws/?format=html&target=ws-box">'
        + _component("vaultbox")
        + "</div>"
    )
    return _page("ws vault", body)


async def forget_state(request: Request) -> JSONResponse:
    forgotten = len(STATE_STORE)
    await STATE_STORE.close()  # a memory store's close forgets every entry
    return JSONResponse({"forgotten": forgotten})


async def http_page(request: Request) -> HTMLResponse:
    return _page("http", _component("slowhttp"))


async def http_htmx4_page(request: Request) -> HTMLResponse:
    """The ``/http`` page with the tags of ``script_tags(htmx=4)``: htmx 4 as the app serves it."""
    return _page("http htmx 4", _component("slowhttp"), htmx=4)


async def burst_page(request: Request) -> HTMLResponse:
    body = (
        '<div id="burst-host"><p class="burst" data-stream="burst"></p></div>'
        '<div id="scroll-host"><div class="scrollbox" id="scrollbox">'
        '<div class="log" data-stream="log"></div></div></div>'
    )
    return _page("burst", body)


async def stylesheet(request: Request) -> Response:
    return Response(STYLESHEET, media_type="text/css")


async def favicon(request: Request) -> Response:
    return Response(status_code=204)


async def record(request: Request) -> JSONResponse:
    return JSONResponse(RECORD.as_json())


async def record_reset(request: Request) -> JSONResponse:
    RECORD.reset()
    return JSONResponse({"ok": True})


async def arm_drop(request: Request) -> JSONResponse:
    RECORD.drop_after = int(request.query_params["after"])
    RECORD.forget_resumes = {"1": "204", "lost": "lost"}.get(request.query_params.get("forget", ""))
    return JSONResponse({"ok": True})


async def close_sockets(request: Request) -> JSONResponse:
    count = len(components.sockets)
    components.sockets.close_all()
    # close_all() is the shutdown path: it also refuses every later handshake. This route
    # only drops the connections, so the clients' reconnects must be accepted again.
    components.sockets.closing = False
    return JSONResponse({"closed": count})


async def restart(request: Request) -> JSONResponse:
    """Like a server restart: close every socket with 1012, then refuse handshakes (503, the
    shutdown answer) for ``down`` seconds before accepting them again."""
    count = len(components.sockets)
    components.sockets.close_all()
    down = float(request.query_params.get("down", "1.5"))
    asyncio.get_running_loop().call_later(down, _reopen)
    return JSONResponse({"closed": count})


def _reopen() -> None:
    components.sockets.closing = False


async def broadcast(request: Request) -> JSONResponse:
    event = request.query_params.get("event", "tick")
    reached = await manager.broadcast(component_name="wsbox", event=event, payload={})
    return JSONResponse({"reached": reached})


async def poked(request: Request) -> PlainTextResponse:
    RECORD.pokes += 1
    return PlainTextResponse(f"poked {RECORD.pokes}")


inner = Starlette(
    routes=[
        Route("/sse", sse_page),
        Route("/sse-around", sse_around_page),
        Route("/sse-two", sse_two_page),
        Route("/ws", ws_page),
        Route("/ws-vault", ws_vault_page),
        Route("/test/forget-state", forget_state, methods=["POST"]),
        Route("/http", http_page),
        Route("/http-htmx4", http_htmx4_page),
        Route("/burst", burst_page),
        Route("/runtime.css", stylesheet),
        Route("/favicon.ico", favicon),
        Route("/record", record),
        Route("/record/reset", record_reset, methods=["POST"]),
        Route("/arm-drop", arm_drop, methods=["POST"]),
        Route("/test/close-sockets", close_sockets, methods=["POST"]),
        Route("/test/restart", restart, methods=["POST"]),
        Route("/test/broadcast", broadcast, methods=["POST"]),
        Route("/poked", poked, methods=["POST"]),
    ]
)
components = ComponentASGI(
    app=inner,
    registry=registry,
    renderer=renderer,
    settings=Settings(
        secret_keys=("browser-runtime-test-key-0123456789abcdef",),
        vendor_directory=NODE_MODULES,
        stream_retry_ms=300,
    ),
    hub=hub,
    state_store=STATE_STORE,
)
register_component_global(renderer.environment, components)


class _Recorder:
    """Notes every stream request and socket handshake of the components (query string,
    ``Last-Event-ID``, answer) and, when armed, ends one stream response early."""

    def __init__(self, app: ComponentASGI) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(STREAM_PATH):
            await self._stream(scope, receive, send)
        elif scope["type"] == "websocket" and scope["path"].startswith("/components/"):
            await self._socket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _stream(self, scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        last_event_id = headers.get(b"last-event-id")
        entry: dict[str, Any] = {
            "query": scope["query_string"].decode("latin-1"),
            "last_event_id": None if last_event_id is None else last_event_id.decode("latin-1"),
            "status": None,
            "dropped_after": None,
        }
        RECORD.streams.append(entry)
        if last_event_id is not None and RECORD.forget_resumes == "lost":
            seq = last_event_id.rpartition(b".")[2]
            forged = [(k, v) for k, v in scope["headers"] if k != b"last-event-id"]
            forged.append((b"last-event-id", b"forgotten-run." + seq))
            scope = {**scope, "headers": forged}
            entry["last_event_id"] = "forgotten-run." + seq.decode("latin-1")
        elif last_event_id is not None and RECORD.forget_resumes:
            entry["status"] = 204
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        drop_after, RECORD.drop_after = RECORD.drop_after, None
        chunks = 0

        async def recording_send(message: Any) -> None:
            nonlocal chunks
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            elif message["type"] == "http.response.body" and drop_after is not None:
                if entry["dropped_after"] is not None:
                    return  # the response is over for the client: swallow the rest
                chunks += 1
                if chunks >= drop_after and message.get("more_body", False):
                    entry["dropped_after"] = chunks
                    await send({**message, "more_body": False})
                    return
            await send(message)

        await self.app(scope, receive, recording_send)

    async def _socket(self, scope: Any, receive: Any, send: Any) -> None:
        query = scope["query_string"].decode("latin-1")
        entry: dict[str, Any] = {
            "path": scope["path"],
            "query": query,
            "snapshot": parse_qs(query).get("snapshot", [None])[0],
            "outcome": None,
            "join_error": None,
        }
        RECORD.sockets.append(entry)
        joining = False

        async def recording_receive() -> Any:
            nonlocal joining
            message = await receive()
            text = message.get("text") if message["type"] == "websocket.receive" else None
            if text and text.startswith('{"type":"join"') and entry["snapshot"] is None:
                entry["snapshot"] = json.loads(text).get("snapshot")  # the snapshot it resumes
                joining = True
            return message

        async def recording_send(message: Any) -> None:
            nonlocal joining
            kind = message["type"]
            if joining and kind == "websocket.send":  # the answer to the join
                joining = False
                text = message.get("text") or ""
                if text.startswith("{") and json.loads(text).get("type") == "error":
                    entry["join_error"] = json.loads(text)["code"]
            if entry["outcome"] is None:
                if kind == "websocket.accept":
                    entry["outcome"] = "accepted"
                elif kind == "websocket.http.response.start":
                    entry["outcome"] = f"refused {message['status']}"
                elif kind == "websocket.close":
                    entry["outcome"] = f"refused close {message.get('code')}"
            elif kind == "websocket.close":
                entry["closed"] = message.get("code")
            await send(message)

        await self.app(scope, recording_receive, recording_send)


app = _Recorder(components)
