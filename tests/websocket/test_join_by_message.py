"""Joining by message (issue 13.7): with ``join=message`` in the URL the server mounts nothing at
accept and waits, bounded, for a ``join`` message; the snapshot never enters the URL, so it never
reaches an access log. A snapshot in the URL still works, and is logged once as a warning."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.asgi import websocket as ws_module
from component_framework.testing import WebSocketDenied, websocket_connect
from tests.websocket.helpers import RawSocket, make_app, ws_path

BY_MESSAGE = {"join": "message"}


async def _counter_snapshot(app: ComponentASGI, clicks: int) -> tuple[str, str]:
    """A snapshot of a counter clicked ``clicks`` times, and its component id."""
    async with websocket_connect(app, ws_path("counter")) as ws:
        answer = await ws.receive_json()
        for _ in range(clicks):
            answer = await ws.event("increment")
    return answer["snapshot"], answer["component_id"]


async def test_the_join_message_resumes_and_the_url_carries_no_snapshot(app: ComponentASGI):
    snapshot, component_id = await _counter_snapshot(app, 2)
    scopes: list[dict[str, Any]] = []

    async def seen(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await app(scope, receive, send)

    async with websocket_connect(seen, ws_path("counter"), query=BY_MESSAGE) as ws:
        await ws.send_json({"type": "join", "snapshot": snapshot, "ref": "j"})
        resumed = await ws.receive_json()  # nothing was sent before the join
        answer = await ws.event("increment", ref="e")

    assert b"snapshot" not in scopes[0]["query_string"]
    assert scopes[0]["query_string"] == b"join=message"
    assert (resumed["type"], resumed["ref"]) == ("render", "j")
    assert resumed["component_id"] == component_id
    assert resumed["state"] == {"count": 2}
    assert (answer["ref"], answer["state"]) == ("e", {"count": 3})


async def test_html_format_and_target_stay_in_the_url(app: ComponentASGI):
    snapshot, component_id = await _counter_snapshot(app, 1)
    query = {**BY_MESSAGE, "format": "html", "target": "box"}
    async with websocket_connect(app, ws_path("counter"), query=query) as ws:
        await ws.send_json({"type": "join", "snapshot": snapshot})
        fragment = await ws.receive_text()
    assert 'id="box"' in fragment
    assert component_id in fragment


async def test_a_bad_snapshot_by_message_is_an_invalid_snapshot_error(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter"), query=BY_MESSAGE) as ws:
        await ws.send_json({"type": "join", "snapshot": "v1.forged.token", "ref": "j"})
        refused = await ws.receive_json()
        # The connection holds no component, and stays open for another join.
        assert (await ws.event("increment"))["code"] == "not_joined"
        await ws.send_json({"type": "join", "params": {}, "ref": "fresh"})
        fresh = await ws.receive_json()
    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "invalid_snapshot", "j")
    assert refused["reason"]
    assert (fresh["type"], fresh["ref"], fresh["state"]) == ("render", "fresh", {"count": 0})


async def test_an_event_before_the_join_is_not_joined(app: ComponentASGI):
    snapshot, _ = await _counter_snapshot(app, 1)
    async with websocket_connect(app, ws_path("counter"), query=BY_MESSAGE) as ws:
        early = await ws.event("increment", ref="early")
        await ws.send_json({"type": "join", "snapshot": snapshot})
        resumed = await ws.receive_json()
    assert (early["code"], early["ref"]) == ("not_joined", "early")
    assert resumed["state"] == {"count": 1}  # the early event was not applied


async def test_no_join_message_closes_with_1008_after_the_timeout(raw: Any):
    socket: RawSocket = raw(make_app(ws_join_timeout=0.2), "counter", query=BY_MESSAGE)
    socket.send_json({"type": "ping", "ref": "p"})  # not a join: the clock keeps running
    close = await socket.closed()
    assert socket.sent[0]["type"] == "websocket.accept"
    assert [m["type"] for m in socket.messages] == ["pong"]
    assert close["code"] == 1008
    assert close["reason"] == "no 'join' message within 0.2 s of connecting"


async def test_a_join_in_time_stops_the_clock(raw: Any):
    socket: RawSocket = raw(make_app(ws_join_timeout=0.2), "counter", query=BY_MESSAGE)
    socket.send_json({"type": "join", "params": {}, "ref": "j"})
    await socket.wait_until(lambda: len(socket.messages) == 1)
    try:
        await socket.closed(within=0.5)
    except AssertionError:
        pass  # still open after the timeout: as it should be
    else:
        raise AssertionError(f"closed after a join in time: {socket.close!r}")
    assert socket.messages[0]["ref"] == "j"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"join": "url"}, 422, "validation_error"),
        ({"join": "message", "start": "3"}, 400, "malformed_request"),
        ({"join": "message", "snapshot": "v1.x.y"}, 400, "malformed_request"),
    ],
)
async def test_join_by_message_urls_that_ask_for_more_are_refused(
    app: ComponentASGI, query: dict[str, str], status: int, code: str
):
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(app, ws_path("counter"), query=query):
            pass
    assert denied.value.status == status
    assert denied.value.json()["error"]["code"] == code


async def test_a_snapshot_in_the_url_still_resumes_and_is_logged_once(
    app: ComponentASGI, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ws_module, "_url_snapshot_logged", False)
    snapshot, component_id = await _counter_snapshot(app, 1)
    with caplog.at_level(logging.WARNING, logger="component_framework"):
        for _ in range(2):
            query = {"snapshot": snapshot}
            async with websocket_connect(app, ws_path("counter"), query=query) as ws:
                resumed = await ws.receive_json()
            assert resumed["component_id"] == component_id
    warnings = [r.getMessage() for r in caplog.records if "join=message" in r.getMessage()]
    assert len(warnings) == 1
    assert "access logs" in warnings[0]
