"""The WebSocket transport on every documented host, each under a real uvicorn with
``--ws websockets`` and ``--ws wsproto``: standalone ``ComponentASGI``, standalone behind
``uvicorn --root-path /app`` (uvicorn prefixes ``scope["path"]`` with the root path, as a proxy
that strips ``/app`` would expect: the client still connects to ``/components/...``), Litestar
pattern B (``create_component_routes(app)``), Litestar with the guide's endpoint list
(``component_endpoint``, ``component_stream_endpoint``, ``component_websocket_endpoint``),
Starlette ``Mount("/components", ...)`` and middleware mode (``ComponentASGI(app=inner)``);
Litestar and Starlette also behind ``--root-path /app``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus

from tests.servers import UvicornServer
from tests.websocket_uvicorn.wsclient import (
    WS_IMPLEMENTATIONS,
    event,
    open_socket,
    receive_json,
    serve,
)

pytestmark = pytest.mark.uvicorn

#: host id -> (app in ws_app, extra uvicorn arguments)
HOSTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "standalone": ("standalone", ()),
    "root-path": ("standalone", ("--root-path", "/app")),
    "litestar-routes": ("litestar_routes", ()),
    "litestar-endpoints": ("litestar_endpoints", ()),
    "starlette-mount": ("starlette_mount", ()),
    "middleware": ("middleware", ()),
    "litestar-routes-root-path": ("litestar_routes", ("--root-path", "/app")),
    "starlette-mount-root-path": ("starlette_mount", ("--root-path", "/app")),
}
PARAMS = list(itertools.product(HOSTS, WS_IMPLEMENTATIONS))


@pytest.fixture(scope="module", params=PARAMS, ids=["-".join(p) for p in PARAMS])
def host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UvicornServer]:
    """One uvicorn per (host, WebSocket implementation), shared by this module's tests."""
    host_id, ws = request.param
    app, extra = HOSTS[host_id]
    with serve(app, ws, tmp_path_factory.mktemp(f"ws-{host_id}-{ws}"), *extra) as server:
        yield server


async def test_counter_renders_at_connect_and_answers_an_event_with_its_ref(
    host: UvicornServer,
) -> None:
    async with open_socket(host, "counter") as socket:
        initial = await receive_json(socket)
        answer = await event(socket, "increment", ref="inc-1")
        again = await event(socket, "increment", ref=2)

    assert initial["type"] == "render"
    assert initial["ref"] is None
    assert initial["state"] == {"count": 0}
    assert '<span class="count">0</span>' in initial["html"]
    assert initial["component_id"].startswith("counter-")
    assert answer["type"] == "render"
    assert answer["ref"] == "inc-1"
    assert answer["state"] == {"count": 1}
    assert '<span class="count">1</span>' in answer["html"]
    assert answer["component_id"] == initial["component_id"]
    assert answer["snapshot"] != initial["snapshot"]
    assert (again["ref"], again["state"]) == (2, {"count": 2})


async def test_unknown_component_is_refused_with_a_json_404(host: UvicornServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(host, "no_such_component"):
            pass

    response = refused.value.response
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.body is not None
    assert b'"code":"component_not_found"' in response.body


async def test_a_broadcast_from_a_handler_pushes_a_render_to_the_tickers(
    host: UvicornServer,
) -> None:
    room = f"hosts-{host.port}"
    async with (
        open_socket(host, "ticker", {"room": room}) as ticker,
        open_socket(host, "announcer") as announcer,
    ):
        mounted = await receive_json(ticker)
        await receive_json(announcer)
        answer = await event(announcer, "announce", {"text": "hi", "room": room}, ref="a")
        pushed = await receive_json(ticker)

    assert mounted["state"] == {"room": room, "ticks": 0, "last": ""}
    assert (answer["ref"], answer["state"]) == ("a", {"reached": 1})
    assert pushed["type"] == "render"
    assert pushed["ref"] is None
    assert pushed["state"] == {"room": room, "ticks": 1, "last": "hi"}
    assert pushed["component_id"] == mounted["component_id"]
