"""Messages on an open socket under a real uvicorn (``--ws websockets`` and ``wsproto``):
errors answer without closing the socket, pings, joining from a snapshot signed with the key
the server got through its environment, the htmx answer format, and ten concurrent clients
that never see each other's state."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from component_framework.protocol.snapshot import SnapshotSigner
from tests.servers import UvicornServer
from tests.websocket_uvicorn.wsclient import (
    DELIBERATE_FAILURE,
    SECRET,
    WAIT,
    event,
    open_socket,
    receive_json,
    send_event,
)

pytestmark = pytest.mark.uvicorn

CLIENTS = 10
INCREMENTS = 20


async def still_counts(socket: ClientConnection, expected: int) -> None:
    answer = await event(socket, "increment", ref="after")
    assert answer["type"] == "render"
    assert answer["ref"] == "after"
    assert answer["state"] == {"count": expected}


async def test_non_json_text_is_an_error_and_the_socket_stays_usable(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter") as socket:
        await receive_json(socket)
        await socket.send("this is not json {")
        error = await receive_json(socket)
        await still_counts(socket, 1)

    assert error["type"] == "error"
    assert error["code"] == "malformed_request"
    assert error["ref"] is None


async def test_a_binary_frame_is_an_error_and_the_socket_stays_usable(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter") as socket:
        await receive_json(socket)
        await socket.send(json.dumps({"type": "event", "event": "increment"}).encode())
        error = await receive_json(socket)
        await still_counts(socket, 1)

    assert error["type"] == "error"
    assert error["code"] == "unsupported_media_type"


async def test_an_unknown_event_is_an_error_with_its_ref_and_the_socket_stays_usable(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter") as socket:
        await receive_json(socket)
        error = await event(socket, "explode", ref="x1")
        await still_counts(socket, 1)

    assert error["type"] == "error"
    assert error["code"] == "event_not_found"
    assert error["ref"] == "x1"


async def test_an_unknown_message_type_is_an_error_with_its_ref(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter") as socket:
        await receive_json(socket)
        await socket.send(json.dumps({"type": "subscribe", "ref": 7}))
        error = await receive_json(socket)
        await still_counts(socket, 1)

    assert (error["type"], error["code"], error["ref"]) == ("error", "malformed_request", 7)


async def test_a_ping_is_answered_with_a_pong_carrying_its_ref(standalone: UvicornServer) -> None:
    async with open_socket(standalone, "counter") as socket:
        await receive_json(socket)
        await socket.send(json.dumps({"type": "ping", "ref": "p"}))
        pong = await receive_json(socket)

    assert pong == {"type": "pong", "ref": "p"}


async def test_a_snapshot_signed_with_the_servers_key_resumes_at_connect(
    standalone: UvicornServer,
) -> None:
    token = SnapshotSigner((SECRET,)).sign("counter", "counter-resumed", {"count": 41})

    async with open_socket(standalone, "counter", {"snapshot": token}) as socket:
        initial = await receive_json(socket)
        answer = await event(socket, "increment", ref=1)

    assert initial["type"] == "render"
    assert initial["component_id"] == "counter-resumed"
    assert initial["state"] == {"count": 41}
    assert answer["state"] == {"count": 42}
    verified = SnapshotSigner((SECRET,)).verify(answer["snapshot"], "counter")
    assert verified.state == {"count": 42}


async def test_a_join_with_a_forged_snapshot_is_an_error_and_the_held_component_stays(
    standalone: UvicornServer,
) -> None:
    forged = SnapshotSigner(("some-other-key-0123456789abcdef",)).sign(
        "counter", "counter-forged", {"count": 1000}
    )
    async with open_socket(standalone, "counter") as socket:
        await receive_json(socket)
        await event(socket, "increment")
        await socket.send(json.dumps({"type": "join", "snapshot": forged, "ref": "j"}))
        refused = await receive_json(socket)
        await still_counts(socket, 2)

    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "invalid_snapshot", "j")


async def test_a_join_message_replaces_the_held_component(standalone: UvicornServer) -> None:
    token = SnapshotSigner((SECRET,)).sign("counter", "counter-joined", {"count": 7})
    async with open_socket(standalone, "counter") as socket:
        first = await receive_json(socket)
        await socket.send(json.dumps({"type": "join", "snapshot": token, "ref": "j"}))
        joined = await receive_json(socket)
        await still_counts(socket, 8)

    assert first["state"] == {"count": 0}
    assert (joined["type"], joined["ref"]) == ("render", "j")
    assert (joined["component_id"], joined["state"]) == ("counter-joined", {"count": 7})


async def test_a_failing_mount_is_an_error_then_not_joined_until_a_join_succeeds(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "fragile", {"fail": "true"}) as socket:
        failed = await receive_json(socket)
        early = await event(socket, "poke", ref="early")
        await socket.send(json.dumps({"type": "join", "params": {"fail": False}, "ref": "j"}))
        joined = await receive_json(socket)
        poked = await event(socket, "poke", ref="late")

    assert (failed["type"], failed["code"], failed["ref"]) == ("error", "handler_error", None)
    assert DELIBERATE_FAILURE not in failed["message"], "no internal detail leaks"
    assert (early["type"], early["code"], early["ref"]) == ("error", "not_joined", "early")
    assert (joined["type"], joined["ref"], joined["state"]) == ("render", "j", {"seen": 0})
    assert (poked["ref"], poked["state"]) == ("late", {"seen": 1})


async def test_html_format_answers_with_a_fragment_placed_into_the_target(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter", {"format": "html", "target": "box"}) as socket:
        initial = await asyncio.wait_for(socket.recv(), WAIT)
        await send_event(socket, "increment")
        answer = await asyncio.wait_for(socket.recv(), WAIT)

    assert isinstance(initial, str)
    assert initial.startswith('<div id="box" hx-swap-oob="innerHTML">')
    assert '<span class="count">0</span>' in initial
    assert isinstance(answer, str)
    assert '<span class="count">1</span>' in answer


async def test_an_htmx_extension_message_switches_the_answers_to_html(
    standalone: UvicornServer,
) -> None:
    async with open_socket(standalone, "counter") as socket:
        initial = await receive_json(socket)
        await socket.send(json.dumps({"event": "increment", "HEADERS": {"HX-Request": "true"}}))
        answer = await asyncio.wait_for(socket.recv(), WAIT)

    assert initial["type"] == "render"
    assert isinstance(answer, str)
    assert answer.startswith("<div")
    assert '<span class="count">1</span>' in answer
    assert f'id="{initial["component_id"]}"' in answer


async def test_ten_concurrent_clients_each_count_their_own_increments(
    standalone: UvicornServer,
) -> None:
    async def client(number: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with open_socket(standalone, "counter") as socket:
            initial = await receive_json(socket)
            for step in range(INCREMENTS):
                await send_event(socket, "increment", ref=f"{number}.{step}")
            answers = [await receive_json(socket) for _ in range(INCREMENTS)]
        return initial, answers

    results = await asyncio.wait_for(
        asyncio.gather(*(client(number) for number in range(CLIENTS))), 4 * WAIT
    )

    assert len({initial["component_id"] for initial, _ in results}) == CLIENTS
    for number, (initial, answers) in enumerate(results):
        assert initial["state"] == {"count": 0}
        assert [answer["ref"] for answer in answers] == [
            f"{number}.{step}" for step in range(INCREMENTS)
        ]
        assert [answer["state"]["count"] for answer in answers] == list(range(1, INCREMENTS + 1))
        assert {answer["component_id"] for answer in answers} == {initial["component_id"]}
