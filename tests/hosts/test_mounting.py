"""Host-specific mounting: root paths, middleware mode and the lifespan.

The contract suite checks that every host answers alike; these tests check what only some hosts
have: an outer ``root_path`` (Starlette nesting, a proxy prefix in the scope, uvicorn
``--root-path``), the wrapped app of middleware mode, and lifespan messages.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgiref.testing import ApplicationCommunicator
from starlette.applications import Starlette
from starlette.routing import Mount

from component_framework.testing import asgi_request, websocket_connect
from tests.hosts.hosts import (
    INNER_TEXT,
    InnerAppRecord,
    UvicornServer,
    build_middleware,
    build_raw,
    build_starlette_mount,
    http_host_client,
)
from tests.hosts.wire import assert_error, assert_render, count_in, parse_fragment
from tests.websocket.socket_streams import Carried, read_carried

LIFESPAN_SCOPE: dict[str, Any] = {
    "type": "lifespan",
    "asgi": {"version": "3.0", "spec_version": "2.0"},
    "state": {},
}
MESSAGE_TIMEOUT = 5.0


async def _increment_twice(app: Any, path: str, root_path: str = "") -> None:
    """Mount and increment twice at ``root_path + path``, asserting every step."""
    first = assert_render(await asgi_request(app, "POST", root_path + path, json={},
                                             root_path=root_path))  # fmt: skip
    snapshot = first["snapshot"]
    for expected in (1, 2):
        body = {"event": "increment", "snapshot": snapshot}
        response = await asgi_request(app, "POST", root_path + path, json=body,
                                      root_path=root_path)  # fmt: skip
        answer = assert_render(response)
        assert answer["state"] == {"count": expected}
        assert answer["component_id"] == first["component_id"]
        snapshot = answer["snapshot"]


# -- root_path ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/components/counter/", "/components/counter"])
async def test_raw_app_serves_under_a_root_path_in_the_path(path: str) -> None:
    """ASGI spec: ``path`` includes ``root_path`` (what uvicorn ``--root-path`` does)."""
    await _increment_twice(build_raw(), path, root_path="/api")


async def test_raw_app_serves_when_root_path_is_not_in_the_path() -> None:
    """Servers older than ASGI 2.x conventions pass ``root_path`` without prefixing ``path``."""
    app = build_raw()
    response = await asgi_request(app, "POST", "/components/counter/", json={}, root_path="/api")
    assert assert_render(response)["state"] == {"count": 0}


async def test_raw_app_under_a_root_path_does_not_serve_outside_its_prefix() -> None:
    response = await asgi_request(
        build_raw(), "POST", "/api/other/counter/", json={}, root_path="/api"
    )
    assert_error(response, 404, "not_found")


async def test_every_in_process_host_serves_under_an_outer_root_path(in_process_app: Any) -> None:
    await _increment_twice(in_process_app, "/components/counter/", root_path="/api")


async def test_starlette_mount_under_an_outer_root_path_answers_fragments() -> None:
    response = await asgi_request(
        build_starlette_mount(), "GET", "/api/components/counter/", root_path="/api"
    )
    assert response.status == 200, response.body[:500]
    assert parse_fragment(response.text).root.vals()["snapshot"]


async def test_starlette_nested_mounts_serve_components() -> None:
    inner = build_starlette_mount()
    outer = Starlette(routes=[Mount("/api", app=inner)])
    await _increment_twice(outer, "/api/components/counter/")


async def test_starlette_mount_at_a_custom_prefix_serves_components() -> None:
    app = Starlette(routes=[Mount("/widgets", app=build_raw())])
    response = await asgi_request(app, "POST", "/widgets/counter/", json={})
    assert assert_render(response)["state"] == {"count": 0}


@pytest.mark.uvicorn
async def test_uvicorn_with_root_path_serves_components(uvicorn_root_path: UvicornServer) -> None:
    async with http_host_client("uvicorn-root-path", uvicorn_root_path.base_url) as host:
        mounted = assert_render(await host.request("POST", "/components/counter/", json={}))
        body = {"event": "increment", "snapshot": mounted["snapshot"]}
        answer = assert_render(await host.request("POST", "/components/counter", json=body))
        assert answer["state"] == {"count": 1}
        fragment = await host.request("GET", "/components/counter/")
        assert count_in(fragment.text) == 0


# -- bodies without Content-Length ---------------------------------------------------------


async def test_streamed_body_over_the_limit_is_413_without_content_length(
    in_process_app: Any,
) -> None:
    """The limit holds while reading, not only against a declared ``Content-Length``."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/components/counter/",
        "raw_path": b"/components/counter/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(in_process_app, scope)
    chunk = b" " * (256 * 1024)
    for _ in range(5):
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": True})
    start = await communicator.receive_output(MESSAGE_TIMEOUT)
    assert start["type"] == "http.response.start"
    assert start["status"] == 413
    body = await communicator.receive_output(MESSAGE_TIMEOUT)
    assert json.loads(body["body"])["error"]["code"] == "payload_too_large"
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(MESSAGE_TIMEOUT)


@pytest.mark.uvicorn
@pytest.mark.parametrize("server_fixture", ["uvicorn_h11", "uvicorn_httptools"])
async def test_chunked_upload_over_the_limit_is_413_under_uvicorn(
    server_fixture: str, request: pytest.FixtureRequest
) -> None:
    server: UvicornServer = request.getfixturevalue(server_fixture)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"event": "increment", "pad": "'
        for _ in range(5):
            yield b"x" * (256 * 1024)
        yield b'"}'

    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        response = await client.post("/components/counter/", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


# -- middleware mode ------------------------------------------------------------------------


async def test_middleware_hands_paths_outside_the_prefix_to_the_inner_app() -> None:
    record = InnerAppRecord()
    app = build_middleware(record)
    response = await asgi_request(app, "GET", "/hello")
    assert response.status == 200
    assert response.text == INNER_TEXT
    assert record.paths == ["/hello"]


async def test_middleware_does_not_hand_component_paths_to_the_inner_app() -> None:
    record = InnerAppRecord()
    app = build_middleware(record)
    assert_render(await asgi_request(app, "POST", "/components/counter/", json={}))
    assert_error(await asgi_request(app, "POST", "/components/nope/", json={}), 404,
                 "component_not_found")  # fmt: skip
    assert record.paths == []


async def test_middleware_hands_lookalike_prefixes_to_the_inner_app() -> None:
    record = InnerAppRecord()
    app = build_middleware(record)
    response = await asgi_request(app, "GET", "/componentsXYZ/a")
    assert response.status == 404
    assert record.paths == ["/componentsXYZ/a"]


async def test_middleware_passes_the_lifespan_to_the_inner_app() -> None:
    record = InnerAppRecord()
    communicator = ApplicationCommunicator(build_middleware(record), dict(LIFESPAN_SCOPE))
    await communicator.send_input({"type": "lifespan.startup"})
    started = await communicator.receive_output(MESSAGE_TIMEOUT)
    assert started["type"] == "lifespan.startup.complete"
    assert record.started
    assert not record.stopped
    await communicator.send_input({"type": "lifespan.shutdown"})
    stopped = await communicator.receive_output(MESSAGE_TIMEOUT)
    assert stopped["type"] == "lifespan.shutdown.complete"
    assert record.stopped
    await communicator.wait(MESSAGE_TIMEOUT)


async def test_standalone_app_completes_its_own_lifespan() -> None:
    communicator = ApplicationCommunicator(build_raw(), dict(LIFESPAN_SCOPE))
    await communicator.send_input({"type": "lifespan.startup"})
    assert await communicator.receive_output(MESSAGE_TIMEOUT) == {
        "type": "lifespan.startup.complete"
    }
    await communicator.send_input({"type": "lifespan.shutdown"})
    assert await communicator.receive_output(MESSAGE_TIMEOUT) == {
        "type": "lifespan.shutdown.complete"
    }
    await communicator.wait(MESSAGE_TIMEOUT)


# -- the page's streams on the page's socket ------------------------------------------------


async def test_every_in_process_host_carries_a_stream_on_a_socket(in_process_app: Any) -> None:
    """The stream's own request is built from the socket's scope, whichever way the host
    mounted the app (Litestar hands over a cut path, Starlette the full one)."""
    carried = Carried()
    async with websocket_connect(in_process_app, "/components/counter/ws/") as ws:
        await ws.receive_json()
        message = {"type": "stream", "key": "r", "name": "report", "query": "report_id=7"}
        await ws.send_json(message)
        await read_carried(ws, carried, until_ended=("r",))
    frames = carried.of("r")
    assert [frame.event for frame in frames] == ["message"] * 4 + ["done"]
    assert "Summary #7" in frames[0].data
