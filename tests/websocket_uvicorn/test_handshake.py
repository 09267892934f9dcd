"""Handshake refusals as a real client sees them under uvicorn (which offers the
``websocket.http.response`` extension): an HTTP error with the framework's JSON body before
the upgrade, which the ``websockets`` client raises as ``InvalidStatus``; and the ``Origin``
rules (same host or ``COMPONENT_FRAMEWORK_ALLOWED_ORIGINS``: accepted)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from component_framework.protocol.snapshot import SnapshotSigner
from tests.servers import LOOPBACK, UvicornServer
from tests.websocket_uvicorn.wsclient import (
    TRUSTED_ORIGIN,
    WAIT,
    event,
    open_socket,
    receive_json,
    ws_url,
)

pytestmark = pytest.mark.uvicorn


async def refusal(url: str, **options: Any) -> tuple[int, str, dict[str, Any]]:
    """Status, content type and JSON body of a refused handshake."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=WAIT, close_timeout=WAIT, **options):
            pass
    response = refused.value.response
    assert response.body is not None
    return response.status_code, response.headers["content-type"], json.loads(response.body)


async def test_unknown_component_is_refused_with_404_and_the_json_error(
    standalone: UvicornServer,
) -> None:
    status, content_type, body = await refusal(ws_url(standalone, "nope"))

    assert status == 404
    assert content_type == "application/json"
    assert body == {"error": {"code": "component_not_found", "message": "unknown component 'nope'"}}


async def test_a_foreign_origin_is_refused_with_403(standalone: UvicornServer) -> None:
    status, content_type, body = await refusal(
        ws_url(standalone, "counter"), origin=Origin("https://evil.example")
    )

    assert status == 403
    assert content_type == "application/json"
    assert body["error"]["code"] == "forbidden"


async def test_the_same_host_on_another_port_is_a_foreign_origin(
    standalone: UvicornServer,
) -> None:
    other_port = 1 if standalone.port != 1 else 2
    status, _, body = await refusal(
        ws_url(standalone, "counter"), origin=Origin(f"http://{LOOPBACK}:{other_port}")
    )

    assert status == 403
    assert body["error"]["code"] == "forbidden"


async def test_the_servers_own_origin_is_accepted(standalone: UvicornServer) -> None:
    own = Origin(f"http://{LOOPBACK}:{standalone.port}")
    async with open_socket(standalone, "counter", origin=own) as socket:
        initial = await receive_json(socket)
        answer = await event(socket, "increment", ref=1)

    assert initial["state"] == {"count": 0}
    assert answer["state"] == {"count": 1}


async def test_an_origin_allowed_by_the_environment_is_accepted(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter", origin=Origin(TRUSTED_ORIGIN)) as socket:
        initial = await receive_json(socket)

    assert initial["type"] == "render"
    assert initial["state"] == {"count": 0}


async def test_an_unknown_answer_format_is_refused_with_422_naming_the_field(
    standalone: UvicornServer,
) -> None:
    status, _, body = await refusal(ws_url(standalone, "counter", {"format": "xml"}))

    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["field"] == "format"


async def test_a_forged_snapshot_in_the_url_is_refused_with_400(
    standalone: UvicornServer,
) -> None:
    forged = SnapshotSigner(("some-other-key-0123456789abcdef",)).sign(
        "counter", "counter-forged", {"count": 1000}
    )
    status, _, body = await refusal(ws_url(standalone, "counter", {"snapshot": forged}))

    assert status == 400
    assert body["error"]["code"] == "invalid_snapshot"


async def test_a_mount_parameter_that_does_not_fit_is_refused_with_422(
    standalone: UvicornServer,
) -> None:
    status, _, body = await refusal(ws_url(standalone, "counter", {"colour": "red"}))

    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["field"] == "colour"


async def test_an_event_in_the_url_is_refused_with_400(standalone: UvicornServer) -> None:
    status, _, body = await refusal(ws_url(standalone, "counter", {"event": "increment"}))

    assert status == 400
    assert body["error"]["code"] == "malformed_request"


async def test_a_websocket_to_the_http_route_of_a_component_is_refused_with_404(
    standalone: UvicornServer,
) -> None:
    status, _, body = await refusal(ws_url(standalone, "", path="/components/counter/"))

    assert status == 404
    assert body["error"]["code"] == "not_found"


async def test_a_websocket_outside_the_prefix_is_refused_with_404(
    standalone: UvicornServer,
) -> None:
    status, _, body = await refusal(ws_url(standalone, "", path="/elsewhere/counter/ws/"))

    assert status == 404
    assert body["error"]["code"] == "not_found"


# -- joining by message (join=message): the snapshot stays out of the URL ----------------------


async def test_join_by_message_resumes_the_component_of_the_snapshot(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter") as socket:
        await receive_json(socket)
        answer = await event(socket, "increment", ref=1)

    async with open_socket(standalone, "counter", {"join": "message"}) as socket:
        await socket.send(json.dumps({"type": "join", "snapshot": answer["snapshot"], "ref": "j"}))
        resumed = await receive_json(socket)
        again = await event(socket, "increment", ref=2)

    assert (resumed["type"], resumed["ref"]) == ("render", "j")
    assert resumed["component_id"] == answer["component_id"]
    assert resumed["state"] == {"count": 1}
    assert again["state"] == {"count": 2}


async def test_a_forged_snapshot_by_message_is_an_invalid_snapshot_error(
    standalone: UvicornServer,
) -> None:
    forged = SnapshotSigner(("some-other-key-0123456789abcdef",)).sign(
        "counter", "counter-forged", {"count": 1000}
    )
    async with open_socket(standalone, "counter", {"join": "message"}) as socket:
        await socket.send(json.dumps({"type": "join", "snapshot": forged, "ref": "j"}))
        refused = await receive_json(socket)
        early = await event(socket, "increment", ref=1)  # no component on this connection

    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "invalid_snapshot", "j")
    assert refused["reason"] == "unknown_key"
    assert early["code"] == "not_joined"
