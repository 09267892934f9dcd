"""Authorization of streams carried by the page's socket: each entry passes the gate its own
stream request would, with the socket's user, headers and cookies, and a refused entry gets
what that request would have got (status and error document) while the socket and its other
entries go on."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from component_framework.asgi.page_entries import stream_scope
from component_framework.core.access import AccessContext
from component_framework.protocol.page import PageEntry
from component_framework.testing import websocket_scope
from tests.security.components import journal, user_name
from tests.security.wire import make_app, scope_extra, socket, stream
from tests.websocket.socket_streams import Carried, read_carried


def entry(key: str, name: str, **query: Any) -> dict[str, Any]:
    return {"type": "stream", "key": key, "name": name, "query": urlencode(query)}


async def test_an_entry_denied_at_mount_gets_its_own_streams_refusal_and_the_rest_stream():
    app = make_app()
    alone = await stream(app, "vault", user="ada")
    async with socket(app, "public", user="ada") as ws:
        await ws.receive_json()
        await ws.send_json(entry("v", "vault"))
        await ws.send_json(entry("d", "document", owner="ada"))
        carried = Carried()
        while len(carried.controls) < 2 or not carried.of("d"):
            carried.take(await ws.receive_text())
    assert carried.controls["v"] == {
        "end": "refused",
        "status": alone.status,
        "error": json.loads(alone.body)["error"],
    }
    assert alone.status == 403
    assert journal.of("vault") == []


async def test_without_a_user_an_entry_gets_401_like_its_own_stream():
    app = make_app()
    alone = await stream(app, "members")
    async with socket(app, "public") as ws:
        await ws.receive_json()
        await ws.send_json(entry("m", "members"))
        carried = await read_carried(ws, until_ended=("m",))
    assert carried.controls["m"]["status"] == alone.status == 401
    assert journal.of("members") == []


def test_the_streams_request_is_its_own_while_the_user_and_headers_are_the_sockets():
    scope = websocket_scope(
        "/components/public/ws/",
        query={"_page": "p"},
        headers={"cookie": "sid=1", "host": "example.test"},
        extra_scope=scope_extra("ada"),
    )
    entry = PageEntry("t", "ticker", query=b"steps=2")
    own = AccessContext("sse", stream_scope(scope, "/public/ws", entry), "c")
    assert own.url == "http://example.test/components/ticker/stream/?steps=2"
    assert dict(own.query_params) == {"steps": "2"}
    assert (own.cookies, user_name(own)) == ({"sid": "1"}, "ada")


async def test_a_forged_run_id_of_another_users_stream_is_lost():
    app = make_app()
    async with socket(app, "public", user="bob") as ws:
        await ws.receive_json()
        await ws.send_json({"type": "stream", "key": "x", "name": "document", "resume": "g.1"})
        carried = await read_carried(ws, until_ended=("x",))
    assert carried.controls["x"]["end"] == "lost"
    assert carried.frames == []
