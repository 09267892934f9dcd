"""The host's authentication reaches the checks: Starlette's ``AuthenticationMiddleware`` and
Litestar's ``AbstractAuthenticationMiddleware`` put the user in the scope, and
``IsAuthenticated``, ``authorize`` and the page global see it, on HTTP, SSE and WebSocket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.base import DefineMiddleware

from component_framework import ComponentASGI
from component_framework.adapters.litestar import create_component_routes
from component_framework.testing import (
    WebSocketDenied,
    WebSocketTestSession,
    asgi_request,
    sse_request,
    websocket_scope,
)
from tests.security.components import MARK, journal
from tests.security.hosts import CookieAuthentication, litestar_host, starlette_host
from tests.security.wire import WAIT, make_app

HOSTS: dict[str, Callable[[ComponentASGI], Any]] = {
    "starlette": starlette_host,
    "litestar": litestar_host,
    "litestar-plugin": lambda components: litestar_host(components, plugin=True),
}


@pytest.fixture(params=sorted(HOSTS))
def host(request: pytest.FixtureRequest) -> Any:
    return HOSTS[request.param](make_app())


def _cookie(user: str | None) -> dict[str, str]:
    return {"cookie": f"user={user}"} if user else {}


async def test_is_authenticated_sees_the_hosts_user(host: Any):
    anonymous = await asgi_request(host, "POST", "/components/members/", json={})
    assert anonymous.status == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    signed_in = await asgi_request(
        host, "POST", "/components/members/", json={}, headers=_cookie("ada")
    )
    assert signed_in.status == 200
    assert journal.of("members") == ["mount"]


async def test_authorize_sees_the_hosts_user_name(host: Any):
    mounted = await asgi_request(
        host,
        "POST",
        "/components/document/",
        json={"params": {"owner": "ada"}},
        headers=_cookie("bob"),
    )
    snapshot = mounted.json()["snapshot"]
    body = {"event": "delete", "snapshot": snapshot}
    bob = await asgi_request(
        host, "POST", "/components/document/", json=body, headers=_cookie("bob")
    )
    assert bob.status == 403
    ada = await asgi_request(
        host, "POST", "/components/document/", json=body, headers=_cookie("ada")
    )
    assert ada.status == 200
    assert journal.of("document").count("delete") == 1


async def test_whoami_renders_the_user_the_checks_saw(host: Any):
    answer = await asgi_request(
        host, "POST", "/components/whoami/", json={}, headers=_cookie("ada")
    )
    assert answer.json()["state"] == {"user": "ada", "client": "127.0.0.1"}


async def test_stream_start_sees_the_hosts_user(host: Any):
    answer = await sse_request(
        host,
        "/components/members/stream/",
        headers=_cookie("ada"),
        max_events=1,
        give_up_after=WAIT,
    )
    assert answer.status == 200
    assert MARK in answer.events[0].data
    assert journal.of("members") == ["mount"]


async def test_websocket_join_sees_the_hosts_user(host: Any):
    scope = websocket_scope("/components/members/ws/", headers=_cookie("ada"))
    async with WebSocketTestSession(host, scope, WAIT) as ws:
        assert (await ws.receive_json())["type"] == "render"
        assert (await ws.event("ping"))["state"] == {"pings": 1}


async def test_websocket_without_the_hosts_user_is_closed_with_1008(host: Any):
    scope = websocket_scope("/components/members/ws/")
    async with WebSocketTestSession(host, scope, WAIT) as ws:
        closed = await ws.receive()
    assert closed == {"type": "websocket.close", "code": 1008, "reason": "authentication required"}
    assert journal.of("members") == []


@pytest.mark.parametrize("name", ["starlette", "litestar-plugin"])
async def test_page_global_renders_only_what_the_hosts_user_may_see(name: str):
    host = HOSTS[name](make_app())
    anonymous = await asgi_request(host, "GET", "/page")
    assert anonymous.status == 200
    assert anonymous.text == "<main>|</main>"
    signed_in = await asgi_request(host, "GET", "/page", headers=_cookie("ada"))
    members, vault = signed_in.text.removeprefix("<main>").removesuffix("</main>").split("|")
    assert MARK in members
    assert vault == ""
    assert journal.of("vault") == []


async def test_litestar_app_guards_run_for_the_component_routes_too():
    seen: list[str] = []

    def signed_in_only(connection: ASGIConnection[Any, Any, Any, Any], handler: Any) -> None:
        seen.append(connection.scope["type"])
        if connection.scope.get("user") is None:
            raise NotAuthorizedException("sign in first")

    app = Litestar(middleware=[DefineMiddleware(CookieAuthentication)], guards=[signed_in_only])
    create_component_routes(app, make_app())
    refused = await asgi_request(app, "POST", "/components/public/", json={})
    assert refused.status == 401
    assert journal.entries == []
    allowed = await asgi_request(
        app, "POST", "/components/public/", json={}, headers=_cookie("ada")
    )
    assert allowed.status == 200
    with pytest.raises(WebSocketDenied):
        async with WebSocketTestSession(app, websocket_scope("/components/public/ws/"), WAIT):
            pass
    assert seen == ["http", "http", "websocket"]
