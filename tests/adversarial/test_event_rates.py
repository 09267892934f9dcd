"""Declared event rates (``@rate_limit``) on every host and transport (issue 11, point 3).

One client asking for an expensive event faster than its handler declares is refused before
any user code runs: ``429 rate_limited`` with ``Retry-After`` over HTTP and at a stream start,
a ``rate_limited`` error message over WebSocket (the socket stays open). The budget belongs to
the client address and the event, and is shared by every transport of one app. Hosts: raw,
middleware, Litestar and Starlette, in process and under uvicorn (the ``host`` and ``ws_host``
fixtures). A uvicorn host serves the whole module from one address, so each test spends the
budget of an event of its own (see :class:`tests.adversarial.apps.Limited`).
"""

from __future__ import annotations

import json
from typing import Any, Final

import httpx
import pytest

from component_framework.testing import ASGIResponse
from tests.adversarial.apps import LIMITED_BURST, SECRET
from tests.adversarial.clients import WAIT, Host, Request, UvicornHost, WSClient

LIMITED: Final = "/components/limited/"
STREAM: Final = "/components/limited/stream/"
SOCKET: Final = "/components/limited/ws/"
JSON: Final = "application/json"


async def mount(host: Host) -> str:
    mounted = await host.post_json(LIMITED, {})
    assert mounted.status == 200, mounted.body[:300]
    snapshot: str = mounted.json()["snapshot"]
    return snapshot


async def hit(host: Host, event: str, snapshot: str) -> ASGIResponse:
    return await host.post_json(LIMITED, {"event": event, "snapshot": snapshot})


async def runs(host: Host, event: str) -> int:
    """How often ``on_<event>`` of ``limited`` ran in the process serving ``host``."""
    return (await host.calls())[f"limited.on_{event}"]


def assert_rate_limited(response: ASGIResponse, event: str) -> None:
    assert response.status == 429, (response.status, response.body[:300])
    assert (response.header("content-type") or "").startswith(JSON), response.headers
    error = response.json()["error"]
    assert error["code"] == "rate_limited", error
    assert repr(event) in error["message"], error
    retry_after = response.header("retry-after") or ""
    assert retry_after.isdigit(), response.headers
    assert int(retry_after) >= 1, response.headers
    assert b"Traceback" not in response.body
    assert SECRET.encode() not in response.body


def assert_stream_ran(response: ASGIResponse) -> None:
    assert response.status == 200, (response.status, response.body[:300])
    assert (response.header("content-type") or "").startswith("text/event-stream")
    assert response.body.count(b"event: done") == 1, response.body[:500]


def stream_post(event: str) -> Request:
    body = json.dumps({"event": event}).encode()
    headers = (("content-type", JSON), ("content-length", str(len(body))))
    return Request("POST", STREAM, headers=headers, chunks=(body,))


async def send_event(ws: WSClient, event: str, ref: int) -> dict[str, Any]:
    return await ws.request({"type": "event", "event": event, "payload": {}, "ref": ref})


async def test_http_event_past_its_declared_rate_gets_429_with_retry_after(host: Host) -> None:
    snapshot = await mount(host)
    before = await runs(host, "http_hit")

    answers = [await hit(host, "http_hit", snapshot) for _ in range(LIMITED_BURST + 2)]

    assert [answer.status for answer in answers[:LIMITED_BURST]] == [200] * LIMITED_BURST
    for refused in answers[LIMITED_BURST:]:
        assert_rate_limited(refused, "http_hit")
    assert await runs(host, "http_hit") - before == LIMITED_BURST, "a refused handler ran"
    await host.check_healthy()


async def test_stream_start_past_its_declared_rate_gets_429_with_retry_after(host: Host) -> None:
    before = await runs(host, "sse_hit")
    start = Request("GET", STREAM, query=b"event=sse_hit")

    answers = [await host.send(start) for _ in range(LIMITED_BURST + 1)]

    for started in answers[:LIMITED_BURST]:
        assert_stream_ran(started)
    assert_rate_limited(answers[-1], "sse_hit")
    assert await runs(host, "sse_hit") - before == LIMITED_BURST, "a refused handler ran"
    await host.check_healthy()


async def test_websocket_event_past_its_declared_rate_gets_an_error_and_the_socket_stays_open(
    ws_host: Host,
) -> None:
    async with ws_host.websocket(SOCKET) as ws:
        await ws.receive_json()
        before = await runs(ws_host, "ws_hit")

        answers = [await send_event(ws, "ws_hit", ref) for ref in range(LIMITED_BURST + 1)]
        pong = await ws.request({"type": "ping", "ref": "still-open"})

        assert [answer["type"] for answer in answers[:LIMITED_BURST]] == ["render"] * 2
        refused = answers[-1]
        assert refused["type"] == "error", refused
        assert refused["code"] == "rate_limited", refused
        assert refused["ref"] == LIMITED_BURST
        assert refused["retry_after"] > 1, refused
        assert pong == {"type": "pong", "ref": "still-open"}
        assert await runs(ws_host, "ws_hit") - before == LIMITED_BURST
    await ws_host.check_healthy()


async def test_one_budget_covers_http_sse_and_websocket_of_one_app(ws_host: Host) -> None:
    """The burst of 2 is spent by one HTTP event and one stream start; the same event over
    the client's socket is then refused, and so is the next HTTP request."""
    snapshot = await mount(ws_host)
    before = await runs(ws_host, "shared_hit")

    over_http = await hit(ws_host, "shared_hit", snapshot)
    over_sse = await ws_host.send(stream_post("shared_hit"))
    async with ws_host.websocket(SOCKET) as ws:
        await ws.receive_json()
        over_socket = await send_event(ws, "shared_hit", 1)
    again_over_http = await hit(ws_host, "shared_hit", snapshot)

    assert over_http.status == 200, over_http.body[:300]
    assert_stream_ran(over_sse)
    assert (over_socket["type"], over_socket.get("code")) == ("error", "rate_limited")
    assert_rate_limited(again_over_http, "shared_hit")
    assert await runs(ws_host, "shared_hit") - before == 2
    await ws_host.check_healthy()


@pytest.mark.parametrize("other_address", ["127.0.0.2"])
async def test_each_client_address_has_its_own_budget(
    uvicorn_host: UvicornHost, other_address: str
) -> None:
    """Another address on the same machine (all of 127/8 is loopback) still has its budget
    after the first one spent its own."""
    snapshot = await mount(uvicorn_host)
    for _ in range(LIMITED_BURST):
        assert (await hit(uvicorn_host, "client_hit", snapshot)).status == 200
    assert_rate_limited(await hit(uvicorn_host, "client_hit", snapshot), "client_hit")
    transport = httpx.AsyncHTTPTransport(local_address=other_address)
    async with httpx.AsyncClient(
        transport=transport, base_url=uvicorn_host.server.base_url, timeout=WAIT
    ) as other:
        answer = await other.post(LIMITED, json={"event": "client_hit", "snapshot": snapshot})

    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["state"] == {"hits": 1}
    await uvicorn_host.check_healthy()
