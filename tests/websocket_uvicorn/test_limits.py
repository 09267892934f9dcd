"""Message size, rate and join-timeout limits under a real uvicorn. The ``limited`` app allows
1024-byte client messages (``Settings.ws_max_message_bytes``) and uvicorn runs with
``--ws-max-size 4096``:
a message between the two is closed by the framework (1009 with its own reason), a larger
one by uvicorn itself before the app sees it. Observed with uvicorn 0.54: both ``--ws
websockets`` (legacy, reason empty) and ``--ws wsproto`` (reason "Message exceeds the maximum
size (4096 bytes)") close with 1009; HOST-FACTS.md expects 1006 from the legacy one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.servers import UvicornServer
from tests.websocket_uvicorn.wsclient import (
    LIMITED_JOIN_TIMEOUT,
    LIMITED_MAX_MESSAGE_BYTES,
    WAIT,
    close_code_of,
    event,
    open_socket,
    receive_json,
    send_event,
    serve,
)

pytestmark = pytest.mark.uvicorn

UVICORN_MAX_SIZE = 4096
CLOSE_MESSAGE_TOO_BIG = 1009
FLOOD = 2000
APP_REASON = f"message exceeds the limit of {LIMITED_MAX_MESSAGE_BYTES} bytes"


@pytest.fixture(scope="module")
def limited(ws_impl: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    log_dir = tmp_path_factory.mktemp(f"ws-limited-{ws_impl}")
    with serve("limited", ws_impl, log_dir, "--ws-max-size", str(UVICORN_MAX_SIZE)) as server:
        yield server


def padded_event(size: int) -> str:
    """An increment event (ref 1) padded with JSON whitespace to exactly ``size`` bytes."""
    head = '{"type":"event","event":"increment","ref":1'
    return head + " " * (size - len(head) - 1) + "}"


async def fresh_socket_counts(server: UvicornServer) -> None:
    async with open_socket(server, "counter") as socket:
        await receive_json(socket)
        answer = await event(socket, "increment", ref=1)
    assert answer["state"] == {"count": 1}


async def test_a_message_at_the_limit_is_read(limited: UvicornServer) -> None:
    async with open_socket(limited, "counter") as socket:
        await receive_json(socket)
        await socket.send(padded_event(LIMITED_MAX_MESSAGE_BYTES))
        answer = await receive_json(socket)

    assert answer["type"] == "render"
    assert answer["ref"] == 1
    assert answer["state"] == {"count": 1}


async def test_a_message_over_the_apps_limit_closes_with_1009(limited: UvicornServer) -> None:
    async with open_socket(limited, "counter") as socket:
        await receive_json(socket)
        await socket.send(padded_event(LIMITED_MAX_MESSAGE_BYTES + 1))
        code, reason = await close_code_of(socket)

    assert (code, reason) == (CLOSE_MESSAGE_TOO_BIG, APP_REASON)
    await fresh_socket_counts(limited)


async def test_the_limit_counts_utf8_bytes_not_characters(limited: UvicornServer) -> None:
    text = "€" * (LIMITED_MAX_MESSAGE_BYTES // 3 + 1)  # 342 characters, 1026 bytes
    assert len(text) < LIMITED_MAX_MESSAGE_BYTES < len(text.encode())
    async with open_socket(limited, "counter") as socket:
        await receive_json(socket)
        await socket.send(text)
        code, reason = await close_code_of(socket)

    assert (code, reason) == (CLOSE_MESSAGE_TOO_BIG, APP_REASON)


async def test_a_message_over_uvicorns_max_size_closes_with_1009(limited: UvicornServer) -> None:
    async with open_socket(limited, "counter") as socket:
        await receive_json(socket)
        await socket.send(padded_event(2 * UVICORN_MAX_SIZE))
        code, reason = await close_code_of(socket)

    assert code == CLOSE_MESSAGE_TOO_BIG
    assert reason != APP_REASON, "uvicorn closes it, the app never sees the message"
    await fresh_socket_counts(limited)


async def test_a_flood_beyond_the_rate_limit_closes_with_1008(limited: UvicornServer) -> None:
    """``ws_rate`` 50/s with ``ws_burst`` 100: a flood of 2000 events is refused after the
    burst, and ``ws_burst`` refusals in a row close the socket (unsent answers are dropped
    with it, so the client may or may not read some renders and the ``rate_limited`` error
    first: with ``wsproto`` often none)."""
    messages: list[dict[str, Any]] = []
    async with open_socket(limited, "counter") as socket:
        await receive_json(socket)
        with suppress(ConnectionClosed):  # the server may close while we still send
            for step in range(FLOOD):
                await send_event(socket, "increment", ref=step)
        async with asyncio.timeout(WAIT):
            with suppress(ConnectionClosed):
                while True:
                    messages.append(json.loads(await socket.recv()))
        received = socket.protocol.close_rcvd

    assert received is not None
    assert (received.code, received.reason) == (1008, "too many messages: rate limit exceeded")
    renders = [message for message in messages if message["type"] == "render"]
    assert len(renders) < FLOOD // 2, "most of the flood was refused"
    assert {message["type"] for message in messages} <= {"render", "error"}
    assert {message["code"] for message in messages if message["type"] == "error"} <= {
        "rate_limited"
    }


async def test_a_socket_that_sends_no_join_is_closed_with_1008(limited: UvicornServer) -> None:
    """``join=message`` mounts nothing at accept: without a join within ``ws_join_timeout``
    (0.5 s in the ``limited`` app) the server closes the socket."""
    async with open_socket(limited, "counter", {"join": "message"}) as socket:
        code, reason = await close_code_of(socket)
    assert code == 1008
    assert reason == f"no 'join' message within {LIMITED_JOIN_TIMEOUT:g} s of connecting"
