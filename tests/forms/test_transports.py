"""Forms over WebSocket and SSE: the same re-render as over HTTP.

WebSocket (the live session's event path): an invalid form answers the message's ``ref`` with
a render carrying ``errors`` (JSON), or the fragment with the messages (htmx's dialect); the
held component keeps its state, and its errors until the next event. SSE: a stream started by
posting a form that does not bind renders the errors once and ends (``done``); the handler
never runs.
"""

from __future__ import annotations

import json
from typing import Any

from component_framework import ComponentASGI
from component_framework.core.websocket import WebSocketManager
from component_framework.testing import sse_request, websocket_connect
from tests.forms.components import ALREADY, REQUIRED, TAKEN, WHOLE_NUMBER

HTMX_HEADERS = {"HX-Request": "true", "HX-Trigger": None, "HX-Target": "signup-box"}
TYPED = {"name": "Ann", "age": "old", "address.city": "Oslo"}
ERRORS = {"age": [WHOLE_NUMBER], "address.zip": [REQUIRED]}


def _ws(name: str) -> str:
    return f"/components/{name}/ws/"


async def test_an_invalid_form_over_websocket_answers_its_ref_with_an_errors_render(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, _ws("signup")) as ws:
        first = await ws.receive_json()
        answer = await ws.event("submit", TYPED, ref="r1")
        valid = {**TYPED, "age": "33", "address.zip": "0150"}
        after = await ws.event("submit", valid, ref="r2")

    assert answer["type"] == "render"
    assert answer["ref"] == "r1"
    assert answer["errors"] == ERRORS
    assert answer["state"] == first["state"]
    assert 'value="old" aria-invalid="true"' in answer["html"]
    state = app.dispatcher.signer.verify(answer["snapshot"], "signup").state
    assert state == first["state"]  # neither errors nor typing in the snapshot
    assert after["ref"] == "r2"
    assert "errors" not in after
    assert after["state"]["submits"] == 1
    assert '<p class="count">0</p>' in after["html"]


async def test_an_invalid_form_in_htmx_dialect_answers_the_fragment_with_the_messages(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, _ws("signup"), query={"format": "html"}) as ws:
        await ws.receive_text()
        await ws.send_json({"HEADERS": HTMX_HEADERS, "event": "submit", **TYPED})
        fragment = await ws.receive_text()
        await ws.send_json({"headers": HTMX_HEADERS, "event": "submit", **TYPED, "age": "3"})
        htmx4 = await ws.receive_text()

    assert fragment.startswith('<form class="signup"')
    assert '<p class="error" data-for="age">Enter a whole number.</p>' in fragment
    assert '<p class="error" data-for="address.zip">This field is required.</p>' in fragment
    assert 'name="address.city" value="Oslo">' in fragment
    assert '<p class="count">1</p>' in htmx4  # htmx 4's hx-ws: only the missing zip


async def test_validation_over_websocket_shows_only_the_named_fields(app: ComponentASGI) -> None:
    async with websocket_connect(app, _ws("signup")) as ws:
        first = await ws.receive_json()
        await ws.send_json(
            {"type": "event", "event": "submit", "payload": TYPED, "validate": "age", "ref": 1}
        )
        checked = await ws.receive_json()
        await ws.send_json(
            {"HEADERS": HTMX_HEADERS, "event": "submit", **TYPED, "validate": ["age", "name"]}
        )
        fragment = await ws.receive_text()

    assert checked["ref"] == 1
    assert checked["errors"] == {"age": [WHOLE_NUMBER]}
    assert checked["state"] == first["state"]
    assert '<p class="count">1</p>' in fragment


async def test_a_handlers_own_error_over_websocket_keeps_its_state_change(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, _ws("register")) as ws:
        await ws.receive_json()
        refused = await ws.event("submit", {"email": TAKEN}, ref="a")
        poked = await ws.event("poke", ref="b")

    assert refused["errors"] == {"email": [ALREADY]}
    assert refused["state"]["attempts"] == 1
    assert f'value="{TAKEN}" aria-invalid="true"' in refused["html"]
    assert "errors" not in poked  # a client's next event starts without errors
    assert 'value=""' in poked["html"]


async def test_a_push_render_keeps_the_errors_until_the_next_event(app: ComponentASGI) -> None:
    async with websocket_connect(app, _ws("register")) as ws:
        await ws.receive_json()
        await ws.event("submit", {"email": TAKEN})
        await WebSocketManager(hub=app.hub).broadcast("register", "poke")
        pushed = await ws.receive_json()

    assert pushed["ref"] is None
    assert pushed["errors"] == {"email": [ALREADY]}  # the page still shows that form
    assert f'value="{TAKEN}"' in pushed["html"]


async def test_a_form_posted_to_a_stream_that_does_not_bind_renders_its_errors_and_ends(
    app: ComponentASGI,
) -> None:
    response = await sse_request(
        app,
        "/components/streamed/stream/",
        method="POST",
        form={"event": "greet", "format": "json"},
    )

    assert response.status == 200
    kinds = [event.event for event in response.events]
    assert kinds == ["message", "done"], kinds
    render: dict[str, Any] = json.loads(response.events[0].data)
    assert render["errors"] == {"name": [REQUIRED]}
    assert "<p></p>" in render["html"]  # the handler did not run
    assert render["state"] == {"done": ""}


async def test_a_valid_form_posted_to_a_stream_runs_its_handler(app: ComponentASGI) -> None:
    response = await sse_request(
        app, "/components/streamed/stream/", method="POST", form={"event": "greet", "name": "Ann"}
    )

    assert "<p>hello Ann</p>" in response.events[0].data
    assert response.events[-1].event == "done"
