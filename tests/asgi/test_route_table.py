"""The route tables of ``ComponentASGI``: every route kind, asked for over HTTP and over a
WebSocket handshake, reaches exactly one exchange with the app's one set of services; paths
that name no route get their 404 from the app itself. Through the wire, in process."""

from __future__ import annotations

from typing import Any

import pytest

from component_framework import ComponentASGI, testing
from component_framework.asgi.routing import RouteKind
from component_framework.asgi.services import AppServices
from component_framework.core.hub import Hub
from tests import sample_components

#: One path per route kind (the component, its stream and socket, a static file, the batch
#: of emitted events).
PATHS = {
    RouteKind.COMPONENT: "/components/counter/",
    RouteKind.STREAM: "/components/report/stream/",
    RouteKind.WEBSOCKET: "/components/counter/ws/",
    RouteKind.STATIC: "/components/_static/component-framework.js",
    RouteKind.UPLOADS: "/components/_uploads/",
    RouteKind.EMIT: "/components/_emit/",
    RouteKind.PAGE: "/components/_page/",
}


def test_every_route_kind_has_a_path_in_this_table() -> None:
    assert set(PATHS) == set(RouteKind)


def test_the_app_hands_its_transports_one_set_of_services(components_app: ComponentASGI) -> None:
    services = components_app.services

    assert isinstance(services, AppServices)
    assert services.dispatcher is components_app.dispatcher
    assert services.settings is components_app.settings
    assert (services.guard, services.hub, services.static) == (
        components_app.guard,
        components_app.hub,
        components_app.static,
    )
    assert (services.streams, services.stream_gate, services.sockets) == (
        components_app.streams,
        components_app.stream_gate,
        components_app.sockets,
    )


async def test_http_on_the_component_route_is_the_http_exchange(
    components_app: ComponentASGI,
) -> None:
    response = await testing.asgi_request(components_app, "POST", PATHS[RouteKind.COMPONENT])

    assert response.status == 200
    assert response.json()["state"] == {"count": 0}


async def test_http_on_the_stream_route_is_the_sse_exchange(components_app: ComponentASGI) -> None:
    response = await testing.sse_request(
        components_app, PATHS[RouteKind.STREAM], query={"report_id": 7}
    )

    assert response.status == 200
    assert response.header("content-type") == "text/event-stream; charset=utf-8"
    assert response.events[-1].event == "done"


async def test_http_on_a_static_route_serves_the_file(components_app: ComponentASGI) -> None:
    response = await testing.asgi_request(components_app, "GET", PATHS[RouteKind.STATIC])

    assert response.status == 200
    assert "javascript" in (response.header("content-type") or "")


async def test_http_on_the_uploads_route_is_the_resumable_upload_exchange(
    components_app: ComponentASGI,
) -> None:
    response = await testing.asgi_request(components_app, "GET", PATHS[RouteKind.UPLOADS])

    assert response.status == 405
    assert response.header("allow") == "POST"


async def test_http_on_the_emit_route_is_the_batch_exchange(
    components_app: ComponentASGI,
) -> None:
    response = await testing.asgi_request(components_app, "POST", PATHS[RouteKind.EMIT], json={})

    assert response.status == 400
    assert "'events' must be a non-empty list" in response.json()["error"]["message"]


async def test_http_on_the_socket_route_says_it_is_a_websocket_endpoint(
    components_app: ComponentASGI,
) -> None:
    response = await testing.asgi_request(components_app, "GET", PATHS[RouteKind.WEBSOCKET])

    assert response.status == 404
    assert "connect with a WebSocket client" in response.json()["error"]["message"]


async def test_a_handshake_on_the_socket_route_is_the_websocket_exchange(
    components_app: ComponentASGI,
) -> None:
    async with testing.websocket_connect(components_app, PATHS[RouteKind.WEBSOCKET]) as socket:
        render = await socket.receive_json()

    assert render["type"] == "render"
    assert render["state"] == {"count": 0}


@pytest.mark.parametrize("kind", [kind for kind in RouteKind if kind is not RouteKind.WEBSOCKET])
async def test_a_handshake_on_any_other_route_is_refused_with_404(
    components_app: ComponentASGI, kind: RouteKind
) -> None:
    with pytest.raises(testing.WebSocketDenied) as denied:
        async with testing.websocket_connect(components_app, PATHS[kind]):
            pass

    assert denied.value.status == 404
    assert denied.value.json()["error"]["message"] == "no WebSocket endpoint here"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/components/counter/nope/", "nothing is served at '/components/counter/nope/'"),
        ("/elsewhere/", "no component is served here"),
    ],
)
async def test_http_on_no_route_is_a_404_from_the_app(
    components_app: ComponentASGI, path: str, message: str
) -> None:
    response = await testing.asgi_request(components_app, "GET", path)

    assert response.status == 404
    assert response.json()["error"]["message"] == message


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/components/counter/nope/", "no WebSocket endpoint here"),
        ("/elsewhere/", "nothing is served here"),
    ],
)
async def test_a_handshake_on_no_route_is_refused_by_the_app(
    components_app: ComponentASGI, path: str, message: str
) -> None:
    with pytest.raises(testing.WebSocketDenied) as denied:
        async with testing.websocket_connect(components_app, path):
            pass

    assert denied.value.json()["error"]["message"] == message


async def test_paths_outside_the_mount_go_to_the_wrapped_app() -> None:
    seen: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = ComponentASGI(
        inner,
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=sample_components.SETTINGS,
        hub=Hub(),
    )

    outside = await testing.asgi_request(app, "GET", "/elsewhere/")
    inside = await testing.asgi_request(app, "GET", "/components/counter/nope/")

    assert (outside.status, seen) == (204, ["/elsewhere/"])
    assert inside.status == 404
