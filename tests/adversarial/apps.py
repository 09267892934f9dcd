"""The components and apps of the bad-input matrix, for in-process hosts and for uvicorn.

Owns the test components (each records every call of ``mount``, ``hydrate`` and its handlers in
:data:`CALLS`, process-wide, so a test can prove that no user code ran on untrusted input), the
settings (a known key, small limits so the abusive inputs stay cheap), the four host builders
(raw ``ComponentASGI``, middleware mode, Litestar ``create_component_routes``, Starlette
``Mount``) and :func:`sign`, which issues tokens with the app's key (and any issue time).

The ``audit`` component reports :data:`CALLS` of the process that serves it: that is how tests
read the counters of a uvicorn worker. Its own mount is not counted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Final

from litestar import Litestar
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.adapters.litestar import create_component_routes
from component_framework.core.component import Component, StreamingComponent, rate_limit
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.uploads import Accept, UploadFile
from component_framework.errors import Unauthorized
from component_framework.protocol.snapshot import SnapshotSigner

__all__ = [
    "ALLOWED_HOSTS",
    "BODY_LIMIT",
    "BODY_TIMEOUT",
    "CALLS",
    "CAPS",
    "HOST_BUILDERS",
    "INNER_TEXT",
    "LIMITED_BURST",
    "MAX_AGE",
    "SECRET",
    "SNAPSHOT_LIMIT",
    "UPLOAD_CHUNK",
    "UPLOAD_DIR",
    "UPLOAD_LIMIT",
    "USER_HEADER",
    "WS_BURST",
    "WS_LIMIT",
    "build_litestar",
    "build_middleware",
    "build_raw",
    "build_starlette",
    "components_of",
    "registry",
    "settings",
    "sign",
]

SECRET: Final = "adversarial-matrix-secret-key-0123456789"
OTHER_SECRET: Final = "some-other-deployment-key-9876543210"
BODY_LIMIT: Final = 16 * 1024
WS_LIMIT: Final = 16 * 1024
SNAPSHOT_LIMIT: Final = 4096
MAX_AGE: Final = 3600.0
#: Long enough for any honest body on loopback, short enough for slow-loris tests.
BODY_TIMEOUT: Final = 1.0
WS_RATE: Final = 1.0
WS_BURST: Final = 10
INNER_TEXT: Final = "inner app says hello"
#: Where every host of the matrix, in process or a server, keeps resumable uploads (shared, so
#: a test can age an upload's file whichever process created it).
UPLOAD_DIR: Final = Path(tempfile.gettempdir()) / "component-framework-matrix-uploads"
#: The largest chunk and the largest avatar: small, so the abusive uploads stay cheap.
UPLOAD_CHUNK: Final = 4096
UPLOAD_LIMIT: Final = 8 * 4096

#: ``"component.method"`` -> calls, in this process.
CALLS: Counter[str] = Counter()

TEMPLATES: Final = {
    "target.html": '<div class="target"><span class="count">{{ count }}</span></div>',
    "other.html": "<p>other {{ seen }}</p>",
    "streamer.html": "<ol>{% for step in steps %}<li>{{ step }}</li>{% endfor %}</ol>",
    "audit.html": "<pre>{{ calls | tojson }}</pre>",
    "limited.html": "<p>{{ hits }}</p>",
    "vault.html": "<p>{{ opened }}</p>",
    "finder.html": "<p>{{ q }}|{{ page }}</p>",
    "avatar.html": "<p>{{ size }}</p>",
    "roster.html": "<p>{{ here }}|{{ news | join(', ') }}</p>",
    "locker.html": "<p>{{ owner }}:{{ steps }}</p>",
    "board.html": "<p>{{ notes }}</p>",
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


@registry.register("target")
class Target(Component):
    """The component every bad input is aimed at."""

    template_name = "target.html"

    def mount(self, start: int = 0) -> None:
        CALLS["target.mount"] += 1
        self.state["count"] = start

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["target.hydrate"] += 1
        super().hydrate(state)

    def on_increment(self) -> None:
        CALLS["target.on_increment"] += 1
        self.state["count"] += 1

    def on_add(self, amount: int) -> None:
        CALLS["target.on_add"] += 1
        self.state["count"] += amount

    def on_label(self, text: str, loud: bool = False) -> None:
        CALLS["target.on_label"] += 1
        self.state["label"] = text.upper() if loud else text

    def on_go(self, url: str, how: str = "redirect") -> None:
        # A handler echoing a client's URL (a next= parameter): the effect must refuse it.
        CALLS["target.on_go"] += 1
        self.state["count"] += 100
        getattr(self, how)(url)

    def on_flash(self, name: str) -> None:
        CALLS["target.on_flash"] += 1
        self.state["count"] += 100
        self.trigger(name, {"text": "hi"})

    def on_shout(self, event: str, payload: dict[str, Any] | None = None) -> None:
        # A handler emitting what a client names: the emit must refuse anything unfit.
        CALLS["target.on_shout"] += 1
        self.state["count"] += 100
        self.emit(event, **(payload or {}))

    def _secret(self) -> None:  # never an event
        CALLS["target._secret"] += 1
        self.state["count"] = -1

    def on__hidden(self) -> None:  # "_hidden" is not a valid event name
        CALLS["target.on__hidden"] += 1
        self.state["count"] = -2


@registry.register("vault")
class Vault(Component):
    """Keeps its state on the server: the client holds a signed reference only."""

    template_name = "vault.html"
    state_on_server = True

    def mount(self) -> None:
        CALLS["vault.mount"] += 1
        self.state["opened"] = 0

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["vault.hydrate"] += 1
        super().hydrate(state)

    def on_open(self) -> None:
        CALLS["vault.on_open"] += 1
        self.state["opened"] += 1


@registry.register("listener")
class Listener(Component):
    """Hears ``added`` emitted by other components of the page (``tests/adversarial``'s
    emitted-event cases aim bad batches at it)."""

    template_name = "other.html"
    listens = ("added",)

    def mount(self) -> None:
        CALLS["listener.mount"] += 1
        self.state["seen"] = 0

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["listener.hydrate"] += 1
        super().hydrate(state)

    def on_added(self, amount: int) -> None:
        CALLS["listener.on_added"] += 1
        self.state["seen"] += amount


@registry.register("finder")
class Finder(Component):
    """URL state: ``q`` and ``page`` are read from the page URL a client names."""

    template_name = "finder.html"
    url_state = ("q", "page")
    url_history = ("page",)

    def mount(self) -> None:
        CALLS["finder.mount"] += 1
        self.state.update({"q": "", "page": 1})

    def on_search(self, q: str) -> None:
        CALLS["finder.on_search"] += 1
        self.state.update({"q": q, "page": 1})


@registry.register("other")
class Other(Component):
    """Another component: its snapshots are foreign to ``target``."""

    template_name = "other.html"

    def mount(self) -> None:
        CALLS["other.mount"] += 1
        self.state["seen"] = 0

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["other.hydrate"] += 1
        super().hydrate(state)

    def on_increment(self) -> None:
        CALLS["other.on_increment"] += 1
        self.state["seen"] += 1


@registry.register("streamer")
class Streamer(StreamingComponent):
    """A finite stream: ``steps`` renders, then ``done``."""

    template_name = "streamer.html"

    def mount(self) -> None:
        CALLS["streamer.mount"] += 1
        self.state["steps"] = []

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["streamer.hydrate"] += 1
        super().hydrate(state)

    async def on_run(self, steps: int = 2) -> Any:
        CALLS["streamer.on_run"] += 1
        for step in range(steps):
            await asyncio.sleep(0)
            self.state["steps"].append(step)
            yield

    def on_reset(self) -> None:
        CALLS["streamer.on_reset"] += 1
        self.state["steps"] = []


#: Runs of each ``limited`` event one client gets; the budget refills so slowly (one every
#: 1,000 s) that no test sees a refill.
LIMITED_BURST: Final = 2
_limited = rate_limit(per_second=0.001, burst=LIMITED_BURST)


@registry.register("limited")
class Limited(StreamingComponent):
    """Events with a declared per-client rate (``@rate_limit``). A uvicorn host serves a whole
    test module from one client address, so each test spends the budget of its own event."""

    template_name = "limited.html"

    def mount(self) -> None:
        self.state["hits"] = 0

    def _hit(self, event: str) -> None:
        CALLS[f"limited.on_{event}"] += 1
        self.state["hits"] += 1

    @_limited
    def on_http_hit(self) -> None:
        self._hit("http_hit")

    @_limited
    async def on_sse_hit(self) -> Any:  # a stream handler: starts over GET
        self._hit("sse_hit")
        yield

    @_limited
    def on_ws_hit(self) -> None:
        self._hit("ws_hit")

    @_limited
    def on_shared_hit(self) -> None:
        self._hit("shared_hit")

    @_limited
    def on_client_hit(self) -> None:
        self._hit("client_hit")


@registry.register("avatar")
class Avatar(Component):
    """Takes a PNG of at most :data:`UPLOAD_LIMIT` bytes, or a file of any type (the
    resumable upload rows)."""

    template_name = "avatar.html"

    def mount(self) -> None:
        CALLS["avatar.mount"] += 1
        self.state["size"] = 0

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["avatar.hydrate"] += 1
        super().hydrate(state)

    def on_upload(
        self, avatar: Annotated[UploadFile, Accept("image/png", max_bytes=UPLOAD_LIMIT)]
    ) -> None:
        CALLS["avatar.on_upload"] += 1
        self.state["size"] = avatar.size

    def on_attach(self, file: UploadFile) -> None:  # any type: no ``Accept``
        CALLS["avatar.on_attach"] += 1
        self.state["size"] = file.size


@registry.register("roster")
class Roster(Component):
    """Present in ``room:<room>`` and told who comes and goes (the ``on_presence`` rows): the
    framework calls ``on_presence``, and a client may name it like any event."""

    template_name = "roster.html"
    presence = True

    def mount(self, room: str = "lobby") -> None:
        CALLS["roster.mount"] += 1
        self.state.update(room=room, news=[])

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["roster.hydrate"] += 1
        super().hydrate(state)

    def topics(self) -> list[str]:
        return [f"room:{self.state['room']}"]

    def on_presence(self, joined: list[dict[str, Any]], left: list[dict[str, Any]]) -> None:
        CALLS["roster.on_presence"] += 1
        names = [str(entry.get("name", "?")) for entry in joined]
        self.state["news"] = [*names, *(f"-{entry.get('name', '?')}" for entry in left)][-5:]

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["here"] = self.present_count()
        return context


#: The header that names the matrix's user (its stand-in for a sign-in: the apps have no
#: authentication middleware, and a header reaches every host and transport unchanged).
USER_HEADER: Final = "x-user"


@registry.register("locker")
class Locker(StreamingComponent):
    """Belongs to the user who mounted it (:data:`USER_HEADER`): its authorization refuses
    anyone else (403) and a request naming no user (401), at every mount, stream and event."""

    template_name = "locker.html"

    def mount(self) -> None:
        CALLS["locker.mount"] += 1
        self.state.update(owner=self.request.headers.get(USER_HEADER, ""), steps=0)

    def hydrate(self, state: dict[str, Any]) -> None:
        CALLS["locker.hydrate"] += 1
        super().hydrate(state)

    def authorize(self, context: Any, event: str) -> bool:
        user = context.headers.get(USER_HEADER)
        if not user:
            raise Unauthorized("the locker needs a user")
        return bool(self.state.get("owner", user) == user)

    async def on_open(self, steps: int = 1) -> Any:
        CALLS["locker.on_open"] += 1
        for _ in range(steps):
            await asyncio.sleep(0)
            self.state["steps"] += 1
            yield


@registry.register("board")
class Board(StreamingComponent):
    """Live updates only (no stream handler): its stream, or its place on a socket, stays
    open and holds a hub member until the client goes; its runs' resume grace is short, so
    the at-scale cases see them freed soon after."""

    template_name = "board.html"
    live_updates = True
    stream_resume_grace = 0.3

    def mount(self) -> None:
        CALLS["board.mount"] += 1
        self.state["notes"] = 0

    def on_note(self) -> None:
        CALLS["board.on_note"] += 1
        self.state["notes"] += 1


@registry.register("audit")
class Audit(Component):
    """Reports :data:`CALLS` of the serving process (not counted itself)."""

    template_name = "audit.html"

    def mount(self) -> None:
        self.state["calls"] = dict(CALLS)


#: Small per-client caps for the at-scale cases (``test_page_bad_input``): open responses,
#: runs started through page connections, sockets, and components on one socket.
CAPS: Final = {
    "max_streams_per_client": 3,
    "max_page_streams_per_client": 4,
    "max_sockets_per_client": 3,
    "ws_max_components": 3,
}


#: The hosts the matrix's apps answer for; a request for ``localhost`` is refused.
ALLOWED_HOSTS: Final = ("127.0.0.1", "app.example")


def settings(**overrides: Any) -> Settings:
    """The matrix's settings: a known key, snapshot expiry, small limits, a short body
    timeout, a WebSocket rate that a flood exhausts, an HTTP rate no test reaches, and
    ``allowed_hosts`` (the loopback address the clients use, and the name a cross-site case
    sends; ``localhost`` is the unknown host), and small resumable uploads kept in
    :data:`UPLOAD_DIR`."""
    values: dict[str, Any] = {
        "secret_keys": (SECRET,),
        "snapshot_max_age": MAX_AGE,
        "max_snapshot_bytes": SNAPSHOT_LIMIT,
        "max_body_bytes": BODY_LIMIT,
        "ws_max_message_bytes": WS_LIMIT,
        "ws_rate": WS_RATE,
        "ws_burst": WS_BURST,
        "http_rate": 1000.0,
        "http_burst": 1_000_000,
        "body_timeout": BODY_TIMEOUT,
        "allowed_hosts": ALLOWED_HOSTS,
        "upload_resumable_directory": UPLOAD_DIR,
        "upload_chunk_bytes": UPLOAD_CHUNK,
    }
    values.update(overrides)
    return Settings(**values)


def sign(
    component: str,
    state: dict[str, Any],
    *,
    component_id: str | None = None,
    age: float = 0.0,
    key: str = SECRET,
    parent: tuple[str, str] | None = None,
) -> str:
    """A token for ``component`` as the app would issue it ``age`` seconds ago (negative: in
    the future), signed with ``key`` (a nested component's: bound to ``parent``, its parent's
    id and its key)."""
    issued = time.time() - age
    signer = SnapshotSigner([key], clock=lambda: issued, max_bytes=1 << 20)
    return signer.sign(component, component_id or f"{component}-adversary", state, parent)


def components(app: Any = None, *, in_process: bool = True, **overrides: Any) -> ComponentASGI:
    """A ``ComponentASGI`` over :data:`registry` (in process: its own hub, no signal hook)."""
    return ComponentASGI(
        app,
        registry=registry,
        renderer=renderer,
        settings=settings(**overrides),
        hub=Hub() if in_process else None,
        shutdown_on_signals=not in_process,
    )


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(INNER_TEXT)


def components_of(app: Any) -> ComponentASGI:
    """The ``ComponentASGI`` a host app built here serves (to read what it holds)."""
    found: ComponentASGI = getattr(getattr(app, "state", None), "matrix_components", app)
    return found


def _holding(outer: Any, mounted: ComponentASGI) -> Any:
    outer.state.matrix_components = mounted  # Litestar's and Starlette's app state
    return outer


def build_raw(*, in_process: bool = True, **overrides: Any) -> Any:
    """Standalone ``ComponentASGI`` at ``/components``."""
    return components(in_process=in_process, **overrides)


def build_middleware(*, in_process: bool = True, **overrides: Any) -> Any:
    """``ComponentASGI(app=starlette)``: components at ``/components``, the rest to Starlette."""
    inner = Starlette(routes=[Route("/hello", _hello)])
    return components(inner, in_process=in_process, **overrides)


def build_litestar(*, in_process: bool = True, **overrides: Any) -> Any:
    """Litestar with ``create_component_routes(app, components)``."""
    app = Litestar(route_handlers=[])
    mounted = components(in_process=in_process, **overrides)
    create_component_routes(app, mounted)
    return _holding(app, mounted)


def build_starlette(*, in_process: bool = True, **overrides: Any) -> Any:
    """``Starlette(routes=[Mount("/components", app=ComponentASGI(...))])``."""
    mounted = components(in_process=in_process, **overrides)
    outer = Starlette(routes=[Mount("/components", app=mounted), Route("/hello", _hello)])
    return _holding(outer, mounted)


HOST_BUILDERS: Final = {
    "raw": build_raw,
    "middleware": build_middleware,
    "litestar": build_litestar,
    "starlette": build_starlette,
}
