"""``self.request`` on every host and transport: a user signed in through a real session
(Starlette ``SessionMiddleware`` + ``AuthenticationMiddleware``, the same on FastAPI, Litestar's
cookie sessions + an authentication middleware) reaches ``mount``, ``hydrate``, handlers,
``before_render``, ``get_context`` and the template, over HTTP, SSE, WebSocket (the
handshake's request, for the connection's life, broadcasts included) and the page global.
The request is never in the snapshot."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from component_framework import ComponentASGI, Settings
from component_framework.core.hub import Hub
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import (
    WebSocketTestSession,
    asgi_request,
    sse_request,
    websocket_scope,
)
from tests.request import components
from tests.request.hosts import fastapi_host, litestar_host, starlette_host

WAIT = 5.0
HOSTS: dict[str, Callable[[ComponentASGI], Any]] = {
    "starlette": starlette_host,
    "fastapi": fastapi_host,
    "litestar": litestar_host,
    "litestar-plugin": lambda app: litestar_host(app, plugin=True),
}
EVERY_HOOK = ["mount", "before_render", "get_context"]


def make_components() -> ComponentASGI:
    return ComponentASGI(
        registry=components.registry,
        renderer=components.renderer,
        settings=Settings(secret_keys=(components.SECRET,)),
        hub=Hub(),
        shutdown_on_signals=False,
    )


@pytest.fixture(autouse=True)
def _forget_what_was_seen() -> None:
    components.seen.clear()


@pytest.fixture(params=sorted(HOSTS))
def served(request: pytest.FixtureRequest) -> tuple[str, ComponentASGI, Any]:
    app = make_components()
    return request.param, app, HOSTS[request.param](app)


async def sign_in(host: Any, name: str) -> dict[str, str]:
    """POST /login?name=...: the host's session cookie, as a ``cookie`` header."""
    answer = await asgi_request(host, "POST", "/login", query={"name": name})
    assert answer.status in (200, 201), answer.text
    cookie = answer.header("set-cookie")
    assert cookie is not None
    return {"cookie": cookie.split(";")[0]}


def hooks_of(transport: str) -> list[tuple[str, str | None]]:
    return [(hook, user) for hook, user, seen in components.seen if seen == transport]


async def test_http_mount_and_event_see_the_signed_in_user_in_every_hook(served: Any):
    _, _, host = served
    cookie = await sign_in(host, "ada")
    mounted = await asgi_request(host, "POST", "/components/greeting/", json={}, headers=cookie)
    assert mounted.json()["html"] == "<p>Hello ada over http (0)</p>"
    snapshot = mounted.json()["snapshot"]
    body = {"event": "ping", "snapshot": snapshot}
    answer = await asgi_request(host, "POST", "/components/greeting/", json=body, headers=cookie)
    assert answer.json()["html"] == "<p>Hello ada over http (1)</p>"
    expected = [*EVERY_HOOK, "hydrate", "on_ping", "before_render", "get_context"]
    assert hooks_of("http") == [(hook, "ada") for hook in expected]


async def test_http_without_a_session_sees_nobody(served: Any):
    _, _, host = served
    answer = await asgi_request(host, "POST", "/components/greeting/", json={})
    assert answer.json()["html"] == "<p>Hello stranger over http (0)</p>"
    assert {user for _, user in hooks_of("http")} == {None}


async def test_the_snapshot_never_carries_the_request(served: Any):
    _, _, host = served
    cookie = await sign_in(host, "ada")
    mounted = await asgi_request(host, "POST", "/components/greeting/", json={}, headers=cookie)
    document = mounted.json()
    assert document["state"] == {"count": 0}
    payload = document["snapshot"].split(".")[2]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"ada" not in decoded
    assert cookie["cookie"].split("=", 1)[1].encode() not in decoded
    assert b"request" not in decoded


async def test_a_live_sse_stream_sees_the_user_of_its_request(served: Any):
    _, _, host = served
    cookie = await sign_in(host, "grace")
    answer = await sse_request(
        host, "/components/greeting/stream/", headers=cookie, max_events=1, give_up_after=WAIT
    )
    assert answer.status == 200
    assert answer.events[0].data.startswith("<p ")
    assert "Hello grace over sse (0)" in answer.events[0].data
    assert hooks_of("sse") == [(hook, "grace") for hook in EVERY_HOOK]


async def test_a_websocket_keeps_the_handshakes_user_for_events_and_broadcasts(served: Any):
    _, app, host = served
    cookie = await sign_in(host, "alan")
    scope = websocket_scope("/components/greeting/ws/", headers=cookie)
    async with WebSocketTestSession(host, scope, WAIT) as ws:
        first = await ws.receive_json()
        assert first["html"] == "<p>Hello alan over websocket (0)</p>"
        answer = await ws.event("ping")
        assert answer["html"] == "<p>Hello alan over websocket (1)</p>"
        await WebSocketManager(hub=app.hub).broadcast(component_name="greeting", event="tick")
        pushed = await ws.receive_json()
        assert pushed["html"] == "<p>Hello alan over websocket (11)</p>"
    assert ("on_tick", "alan") in hooks_of("websocket")
    assert {user for _, user in hooks_of("websocket")} == {"alan"}


@pytest.mark.parametrize("name", ["starlette", "fastapi", "litestar-plugin"])
async def test_the_page_global_gives_the_component_the_pages_request(name: str):
    host = HOSTS[name](make_components())
    cookie = await sign_in(host, "ada")
    page = await asgi_request(host, "GET", "/page", headers=cookie)
    assert page.status == 200
    assert "Hello ada over page (0)" in page.text
    assert hooks_of("page") == [(hook, "ada") for hook in EVERY_HOOK]


async def test_session_and_auth_are_what_the_middleware_put_in_the_scope():
    app = make_components()
    host = litestar_host(app)
    cookie = await sign_in(host, "ada")
    captured: list[Any] = []

    class Spy(components.Greeting):
        def mount(self) -> None:
            captured.append(self.request)
            super().mount()

    components.registry.register("greeting-spy")(Spy)
    try:
        await asgi_request(host, "POST", "/components/greeting-spy/", json={}, headers=cookie)
    finally:
        components.registry.unregister("greeting-spy")
    request = captured[0]
    assert request.session == {"user": "ada"}
    assert request.auth == "session"
    assert request.cookies["session"] == cookie["cookie"].split("=", 1)[1].strip('"')
    assert request.client == "127.0.0.1"
