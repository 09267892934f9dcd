"""Rate limits and connection limits per client address: 429 with ``Retry-After`` for HTTP and
stream requests, a WebSocket flood ended with 1008, and open streams and sockets counted per
client, with their slot freed when they close. Rates are tiny (or huge) so that nothing here
depends on how fast the machine is; refills are waited for with a bounded poll."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from component_framework import Settings
from component_framework.testing import WebSocketClosed, WebSocketDenied
from tests.security.components import journal
from tests.security.wire import WAIT, HeldStream, make_app, post, socket, stream

SLOW = 0.01  # tokens per second: nothing refills during a test


async def test_requests_beyond_the_burst_get_429_with_retry_after():
    app = make_app(http_rate=SLOW, http_burst=3)
    statuses = [(await post(app, "public")).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await post(app, "public")
    assert refused.status == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    retry_after = refused.header("retry-after")
    assert retry_after is not None
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    assert journal.of("public") == ["mount"] * 3


async def test_retry_after_is_never_shorter_than_the_wait():
    rate = 0.4  # one token every 2.5 s
    app = make_app(http_rate=rate, http_burst=1)
    started = time.monotonic()
    assert (await post(app, "public")).status == 200
    refused = await post(app, "public")
    elapsed = time.monotonic() - started
    assert refused.status == 429
    # A client that waits Retry-After seconds must find a token (RFC 9110: whole seconds, so
    # rounded up, never down).
    assert int(refused.header("retry-after") or 0) >= 1 / rate - elapsed


async def test_other_clients_are_not_affected():
    app = make_app(http_rate=SLOW, http_burst=2)
    for _ in range(2):
        await post(app, "public", client="203.0.113.1")
    assert (await post(app, "public", client="203.0.113.1")).status == 429
    assert (await post(app, "public", client="203.0.113.2")).status == 200


async def test_refused_requests_run_no_user_code_and_are_checked_first():
    app = make_app(http_rate=SLOW, http_burst=1)
    await post(app, "public")
    journal.reset()
    answer = await post(app, "vault", user="ada")  # would be 403; the rate says no first
    assert answer.status == 429
    assert journal.entries == []


async def test_tokens_refill_over_time():
    app = make_app(http_rate=5, http_burst=3)
    statuses = [(await post(app, "public")).status for _ in range(12)]
    assert 429 in statuses  # 12 requests in far less than 1.8 s
    deadline = time.monotonic() + WAIT
    while (await post(app, "public")).status == 429:
        assert time.monotonic() < deadline, "no token came back"
        await asyncio.sleep(0.1)


async def test_http_rate_none_disables_the_limit():
    app = make_app(http_rate=None, http_burst=1)
    statuses = {(await post(app, "public")).status for _ in range(30)}
    assert statuses == {200}


async def test_stream_requests_count_against_the_same_budget():
    app = make_app(http_rate=SLOW, http_burst=2)
    assert (await post(app, "public")).status == 200
    assert (await stream(app, "ticker", {"event": "run"})).status == 200
    refused = await stream(app, "ticker", {"event": "run"})
    assert refused.status == 429
    assert refused.header("retry-after") is not None
    assert journal.of("ticker") == ["mount", "run"]


def test_default_rates_are_generous_for_people_and_tight_for_floods():
    settings = Settings()
    assert (settings.http_rate, settings.http_burst) == (50.0, 200)
    assert (settings.ws_rate, settings.ws_burst) == (50.0, 100)
    assert (settings.max_streams_per_client, settings.max_sockets_per_client) == (32, 64)


# -- WebSocket messages -----------------------------------------------------------------------


async def test_websocket_flood_gets_rate_limited_then_1008():
    app = make_app(ws_rate=SLOW, ws_burst=3)
    async with socket(app, "public") as ws:
        await ws.receive_json()
        for _ in range(3):
            assert (await ws.event("click"))["type"] == "render"
        await ws.send_json({"type": "event", "event": "click", "payload": {}})
        refused = await ws.receive_json()
        assert refused["type"] == "error"
        assert refused["code"] == "rate_limited"
        assert refused["retry_after"] > 0
        for _ in range(3):
            await ws.send_json({"type": "event", "event": "click", "payload": {}})
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive_json()
    assert closed.value.code == 1008
    assert journal.of("public").count("click") == 3


# -- open streams and sockets per client -----------------------------------------------------------


async def test_streams_beyond_the_limit_get_429_and_a_closed_one_frees_its_slot():
    app = make_app(max_streams_per_client=2)
    held = [HeldStream(app, "public") for _ in range(2)]
    try:
        assert [await stream_.open() for stream_ in held] == [200, 200]
        assert app.guard.open_count("stream") == 2
        third = HeldStream(app, "public")
        assert await third.open() == 429
        await third.close()
        assert third.json()["error"]["code"] == "rate_limited"
        other_client = HeldStream(app, "public", client="203.0.113.9")
        assert await other_client.open() == 200
        await other_client.close()
        await held.pop().close()
        again = HeldStream(app, "public")
        assert await again.open() == 200
        held.append(again)
    finally:
        for open_stream in held:
            await open_stream.close()
    assert app.guard.open_count("stream") == 0


async def test_sockets_beyond_the_limit_are_denied_and_a_closed_one_frees_its_slot():
    app = make_app(max_sockets_per_client=2)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(socket(app, "public"))
        await stack.enter_async_context(socket(app, "public"))
        assert app.guard.open_count("socket") == 2
        with pytest.raises(WebSocketDenied) as denied:
            async with socket(app, "public"):
                pass
        assert denied.value.status == 429
        assert denied.value.json()["error"]["code"] == "rate_limited"
        with pytest.raises(WebSocketDenied) as closed:
            async with socket(app, "public", denial_response=False):
                pass
        assert closed.value.code == 1008
        async with socket(app, "public", client="203.0.113.9") as other:
            assert (await other.receive_json())["type"] == "render"
        await first.close()
        async with socket(app, "public") as again:
            assert (await again.receive_json())["type"] == "render"
    assert app.guard.open_count("socket") == 0
