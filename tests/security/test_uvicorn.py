"""The security checks over a real uvicorn on loopback: the host's authentication reaching
``IsAuthenticated`` and ``authorize`` over HTTP and WebSocket, a slow-loris body answered with
408, and where the client address comes from behind a proxy (uvicorn's own proxy headers, or
``trusted_proxies`` when those are off)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.security.uvicorn_app import BODY_TIMEOUT
from tests.servers import LOOPBACK, UvicornServer, post_stalled_body, uvicorn_server

pytestmark = pytest.mark.uvicorn

APP = "tests.security.uvicorn_app:app"
WAIT = 5.0


def _arguments(*extra: str) -> list[str]:
    return ["--lifespan", "on", "--no-access-log", *extra]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """uvicorn with its own proxy headers for 127.0.0.1 (its default, made explicit)."""
    log_dir = tmp_path_factory.mktemp("security-uvicorn")
    with uvicorn_server(APP, log_dir, _arguments("--forwarded-allow-ips", LOOPBACK)) as running:
        yield running
    assert "Traceback" not in running.log(), running.log()


@pytest.fixture(scope="module")
def server_trusting_us(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """uvicorn with ``--no-proxy-headers``; the app trusts 127.0.0.1 as a proxy itself."""
    log_dir = tmp_path_factory.mktemp("security-uvicorn-proxies")
    env = {"COMPONENT_FRAMEWORK_TRUSTED_PROXIES": LOOPBACK}
    with uvicorn_server(APP, log_dir, _arguments("--no-proxy-headers"), env) as running:
        yield running


def _post(server: UvicornServer, name: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    with httpx.Client(base_url=server.base_url, timeout=WAIT) as client:
        return client.post(f"/components/{name}/", json=body, headers=headers)


def _ws_url(server: UvicornServer, name: str, query: str = "") -> str:
    return f"ws://{LOOPBACK}:{server.port}/components/{name}/ws/{query}"


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return message


async def _event(ws: ClientConnection, event: str, **payload: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "event", "event": event, "payload": payload}))
    return await _receive(ws)


# -- authorization with the host's user ----------------------------------------------------------


def test_http_checks_see_the_user_of_starlettes_authentication(server: UvicornServer):
    assert _post(server, "members", {}).status_code == 401
    assert _post(server, "members", {}, cookie="user=ada").status_code == 200
    mounted = _post(server, "document", {"params": {"owner": "ada"}}, cookie="user=bob")
    delete = {"event": "delete", "snapshot": mounted.json()["snapshot"]}
    denied = _post(server, "document", delete, cookie="user=bob")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    assert _post(server, "document", delete, cookie="user=ada").status_code == 200


async def test_websocket_join_without_a_user_is_closed_with_1008(server: UvicornServer):
    async with connect(_ws_url(server, "members"), open_timeout=WAIT) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "authentication required"


async def test_websocket_denied_event_is_an_error_and_the_socket_stays(server: UvicornServer):
    url = _ws_url(server, "document", '?params={"owner":"ada"}')
    async with connect(url, open_timeout=WAIT, additional_headers={"cookie": "user=bob"}) as ws:
        assert (await _receive(ws))["type"] == "render"
        denied = await _event(ws, "delete")
        assert (denied["type"], denied["code"]) == ("error", "forbidden")
        edited = await _event(ws, "edit", text="still open")
        assert edited["state"]["text"] == "still open"


# -- slow clients ---------------------------------------------------------------------------


def test_body_that_stops_arriving_is_answered_with_408(server: UvicornServer):
    started = time.monotonic()
    answer = post_stalled_body(server.port, "/components/public/", WAIT * 2)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started >= BODY_TIMEOUT * 0.9  # not refused before the deadline


# -- the client address behind a proxy --------------------------------------------------------


def _client_seen(server: UvicornServer, **headers: str) -> str:
    answer = _post(server, "whoami", {}, **headers)
    assert answer.status_code == 200, answer.text
    client: str = answer.json()["state"]["client"]
    return client


def test_uvicorn_proxy_headers_already_name_the_client(server: UvicornServer):
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default (--forwarded-allow-ips) and
    # rewrites the ASGI client before the app sees it, with no trusted_proxies configured.
    assert _client_seen(server, **{"x-forwarded-for": "198.51.100.7"}) == "198.51.100.7"


def test_trusted_proxies_name_the_client_when_uvicorn_does_not(server_trusting_us: UvicornServer):
    assert _client_seen(server_trusting_us) == LOOPBACK
    forwarded = {"x-forwarded-for": "6.6.6.6, 198.51.100.7"}  # the left hop is the client's own
    assert _client_seen(server_trusting_us, **forwarded) == "198.51.100.7"
