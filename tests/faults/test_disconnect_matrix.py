"""The client vanishing at every ASGI message of every transport.

Each scenario is one complete exchange scripted through :class:`ScriptedClient`. A first run
records every call the app makes (``receive`` and ``send``, numbered in call order). Then, for
each call number ``k`` of that run and for both server behaviours (``send`` raising ``OSError``
after the disconnect, or silently doing nothing as uvicorn does), a fresh app runs the same
script with the client gone from call ``k`` on. Every run must: make the same calls as the
recorded run before ``k`` (the harness really cut the exchange where it says), return promptly
without an exception (an HTTP answer may let the server's own ``OSError`` through: it is the
server's report, per the ASGI spec), log no error, leave nothing behind (see
:func:`assert_nothing_leaks`) and leave the app serving normal requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import asgi_request, http_scope, websocket_scope
from tests.faults.components import gates, journal
from tests.faults.harness import (
    GoneMode,
    Outcome,
    ScriptedClient,
    Tracker,
    assert_nothing_leaks,
    assert_still_serves,
    make_app,
    run_exchange,
    task_baseline,
)
from tests.streaming.exchange import Exchange

#: Resume grace of the matrix apps: long enough for the resume scenario to reattach, short
#: enough that a run abandoned by a vanished client is cancelled quickly.
GRACE = 0.3


def chunked(payload: Any, parts: int = 3) -> list[dict[str, Any]]:
    """``payload`` as JSON in ``parts`` ``http.request`` messages."""
    body = json.dumps(payload).encode()
    size = -(-len(body) // parts)
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]


def json_headers(messages: list[dict[str, Any]]) -> dict[str, str]:
    length = sum(len(message["body"]) for message in messages)
    return {"content-type": "application/json", "content-length": str(length)}


@dataclass
class Scenario:
    """One exchange: ``prepare(app)`` returns its scope and driver (setup outside the count)."""

    name: str
    prepare: Callable[[ComponentASGI], Awaitable[tuple[dict[str, Any], Any]]]
    check_full: Callable[[ScriptedClient], None]
    #: An HTTP answer may pass the server's ``OSError`` on (ASGI allows it).
    oserror_allowed: bool = False


# -- HTTP --------------------------------------------------------------------------------------


async def http_post_event(app: ComponentASGI) -> tuple[dict[str, Any], Any]:
    mounted = await asgi_request(app, "POST", "/components/counter/", json={})
    payload = {
        "event": "save",
        "payload": {"text": "hello", "tag": "post"},
        "snapshot": mounted.json()["snapshot"],
    }
    body = chunked(payload)
    scope = http_scope("POST", "/components/counter/", headers=json_headers(body))

    async def drive(client: ScriptedClient) -> None:
        for message in body:
            client.push(message)
        await client.until(lambda: client.ended, "the response")

    return scope, drive


def check_http_post(client: ScriptedClient) -> None:
    assert client.keys() == ["recv"] * 3 + ["send http.response.start", "send http.response.body"]
    body = json.loads(client.delivered[-1]["body"])
    assert body["state"]["saved"] == "hello"


async def http_get_mount(app: ComponentASGI) -> tuple[dict[str, Any], Any]:
    scope = http_scope("GET", "/components/counter/", headers={"accept": "text/html"})

    async def drive(client: ScriptedClient) -> None:
        await client.until(lambda: client.ended, "the response")

    return scope, drive


def check_http_get(client: ScriptedClient) -> None:
    assert client.keys() == ["send http.response.start", "send http.response.body"]
    assert b'class="counter"' in client.delivered[-1]["body"]


# -- SSE ---------------------------------------------------------------------------------------


def ends_with_done(client: ScriptedClient) -> None:
    assert client.ended
    kinds = [event.event for event in client.events]
    assert kinds[-1] == "done", kinds
    assert kinds.count("message") == 2, kinds
    assert kinds.count("stream") >= 2, kinds


async def sse_start_get(app: ComponentASGI) -> tuple[dict[str, Any], Any]:
    scope = http_scope("GET", "/components/story/stream/", query={"tag": "get", "steps": 2})

    async def drive(client: ScriptedClient) -> None:
        await client.until(lambda: client.ended, "the done frame")

    return scope, drive


async def sse_start_post(app: ComponentASGI) -> tuple[dict[str, Any], Any]:
    body = chunked({"tag": "post", "steps": 2})
    scope = http_scope("POST", "/components/story/stream/", headers=json_headers(body))

    async def drive(client: ScriptedClient) -> None:
        for message in body:
            client.push(message)
        await client.until(lambda: client.ended, "the done frame")

    return scope, drive


async def sse_resume(app: ComponentASGI) -> tuple[dict[str, Any], Any]:
    """A gated run is started and left after its first frames; the counted exchange is the
    ``Last-Event-ID`` resume, which gets the missed frames and then the rest of the run."""
    first = Exchange.stream(app, "story", query={"tag": "resumed", "steps": 2, "gated": "true"})
    await first.wait_until(lambda: any(event.event == "message" for event in first.events))
    resume_from = next(event.id for event in first.events if event.event == "stream")
    first.disconnect()
    await first.finished()
    scope = http_scope(
        "GET", "/components/story/stream/", headers={"last-event-id": resume_from or ""}
    )

    async def drive(client: ScriptedClient) -> None:
        await client.until(
            lambda: any(event.event == "message" for event in client.events), "the replay"
        )
        gates.open("resumed-2")
        await client.until(lambda: client.ended, "the done frame")

    return scope, drive


def check_resume(client: ScriptedClient) -> None:
    assert client.ended
    kinds = [event.event for event in client.events]
    assert kinds[-1] == "done", kinds
    assert kinds.count("message") == 2, kinds  # the replayed render and the second one


async def live_sse(app: ComponentASGI) -> tuple[dict[str, Any], Any]:
    scope = http_scope("GET", "/components/chat/stream/", query={"room": "r1"})
    manager = WebSocketManager(hub=app.hub)

    def renders(client: ScriptedClient) -> int:
        return sum(event.event == "message" for event in client.events)

    async def drive(client: ScriptedClient) -> None:
        await client.until(lambda: renders(client) >= 1, "the initial render")
        await manager.broadcast("chat", "heard", {"text": "hi"}, topic="room:r1")
        await client.until(lambda: renders(client) >= 2, "the render after a broadcast")
        await manager.broadcast("chat", "notice", {"n": 1})
        await client.until(
            lambda: any(event.event == "broadcast" for event in client.events), "the forward"
        )
        client.leave()  # the browser closes the page

    return scope, drive


def check_live(client: ScriptedClient) -> None:
    kinds = [event.event for event in client.events]
    assert kinds == ["message", "message", "broadcast"], kinds
    assert "heard hi" in client.events[1].data


# -- WebSocket ---------------------------------------------------------------------------------


async def websocket_session(app: ComponentASGI) -> tuple[dict[str, Any], Any]:
    scope = websocket_scope("/components/chat/ws/")
    manager = WebSocketManager(hub=app.hub)

    def answered(client: ScriptedClient, kind: str, ref: Any) -> bool:
        return any(m["type"] == kind and m.get("ref") == ref for m in client.ws_messages)

    def pushes(client: ScriptedClient) -> int:
        return sum(m["type"] == "render" and m.get("ref") is None for m in client.ws_messages)

    async def drive(client: ScriptedClient) -> None:
        client.push({"type": "websocket.connect"})
        await client.until(lambda: pushes(client) >= 1, "the initial render")
        client.push_json({"type": "join", "params": {"room": "r1"}, "ref": "j"})
        await client.until(lambda: answered(client, "render", "j"), "the join")
        client.push_json({"type": "event", "event": "say", "payload": {"text": "a"}, "ref": 1})
        await client.until(lambda: answered(client, "render", 1), "the event's render")
        answer = {"type": "event", "event": "answer", "payload": {"tag": "gen"}, "ref": 2}
        client.push_json(answer)
        await client.until(lambda: answered(client, "done", 2), "the generator's done")
        await manager.broadcast("chat", "heard", {"text": "b"}, topic="room:r1")
        await client.until(lambda: pushes(client) >= 2, "the broadcast's push render")
        await manager.broadcast("chat", "notice", {"n": 1}, topic="room:r1")
        await client.until(lambda: answered(client, "broadcast", None), "the forward")
        client.push({"type": "websocket.disconnect", "code": 1000})

    return scope, drive


def check_websocket(client: ScriptedClient) -> None:
    kinds = [m["type"] for m in client.ws_messages]
    assert client.delivered[0]["type"] == "websocket.accept"
    assert kinds.count("stream") >= 6, kinds  # start/text/done per part, two parts
    assert kinds[-1] == "broadcast", kinds
    assert client.ws_messages[-2]["state"]["lines"] == ["a", "heard b"]


SCENARIOS = [
    Scenario("http-post-event-chunked", http_post_event, check_http_post, oserror_allowed=True),
    Scenario("http-get-mount", http_get_mount, check_http_get, oserror_allowed=True),
    Scenario("sse-start-get", sse_start_get, ends_with_done),
    Scenario("sse-start-post-chunked", sse_start_post, ends_with_done),
    Scenario("sse-resume", sse_resume, check_resume),
    Scenario("sse-live-subscription", live_sse, check_live),
    Scenario("websocket", websocket_session, check_websocket),
]


async def run_once(
    scenario: Scenario, gone_at: int | None, mode: GoneMode
) -> tuple[Outcome, ComponentASGI, Tracker, Any]:
    journal.reset()
    gates.reset()
    app = make_app(stream_resume_grace=GRACE)
    tracker = Tracker(app)
    before = task_baseline()
    scope, drive = await scenario.prepare(app)
    outcome = await run_exchange(app, scope, drive, gone_at=gone_at, mode=mode, tracker=tracker)
    return outcome, app, tracker, before


def check_return(scenario: Scenario, outcome: Outcome) -> None:
    error = outcome.error
    if error is None:
        return
    if scenario.oserror_allowed and any(error is raised for raised in outcome.client.raised):
        return
    raise AssertionError(f"the app raised {error!r}") from error


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["raise", "noop"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_client_gone_at_every_message_leaves_nothing_behind(
    scenario: Scenario, mode: GoneMode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="component_framework")
    full, app, tracker, before = await run_once(scenario, None, mode)
    assert full.error is None, full.error
    assert full.driver_error is None, full.driver_error
    scenario.check_full(full.client)
    full.release()
    await assert_nothing_leaks(app, before, tracker)
    recorded = full.client.keys()
    assert recorded, "the exchange made no call"

    failures: list[str] = []
    for gone_at in range(len(recorded)):
        caplog.clear()
        outcome, app, tracker, before = await run_once(scenario, gone_at, mode)
        where = f"client gone at call {gone_at} ({recorded[gone_at]}), send {mode}"
        try:
            assert outcome.client.keys()[:gone_at] == recorded[:gone_at], "not the same exchange"
            check_return(scenario, outcome)
            outcome.release()
            await assert_nothing_leaks(app, before, tracker)
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
            assert errors == [], [r.getMessage() for r in errors]
            await assert_still_serves(app)
        except AssertionError as failure:
            failures.append(f"{where}: {failure}")
    assert failures == [], "\n".join(failures)
