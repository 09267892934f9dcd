"""htmx's ws extension dialect: messages with ``HEADERS``, answers as HTML fragments."""

from __future__ import annotations

import json
import re

from component_framework import ComponentASGI
from component_framework.testing import websocket_connect
from tests.websocket.helpers import ws_path

HEADERS = {"HX-Request": "true", "HX-Trigger": "plus", "HX-Target": "counter"}


def _root_id(fragment: str) -> str | None:
    match = re.match(r'<[a-z]+\b[^>]*\bid="([^"]+)"', fragment)
    return match.group(1) if match else None


async def test_htmx_message_answers_an_html_fragment_whose_root_has_the_component_id(
    app: ComponentASGI,
):
    async with websocket_connect(app, ws_path("counter")) as ws:
        first = await ws.receive_json()
        await ws.send_json({"HEADERS": HEADERS, "event": "increment"})
        fragment = await ws.receive_text()
    assert fragment.startswith("<div")
    assert _root_id(fragment) == first["component_id"]
    assert '<span class="count">1</span>' in fragment
    assert "snapshot" in fragment  # the root carries the new snapshot for the next request


async def test_htmx_message_fields_other_than_event_go_to_the_payload(app: ComponentASGI):
    async with websocket_connect(app, ws_path("sentiment")) as ws:
        await ws.receive_json()
        await ws.send_json({"HEADERS": HEADERS, "event": "analyze", "text": "hello"})
        fragment = await ws.receive_text()
    assert "<p>hello</p>" in fragment
    assert "<b>0.5</b>" in fragment


async def test_htmx_answer_with_a_target_is_wrapped_in_an_oob_swap_of_that_element(
    app: ComponentASGI,
):
    async with websocket_connect(app, ws_path("counter"), query={"target": "panel"}) as ws:
        first = await ws.receive_json()
        await ws.send_json({"HEADERS": HEADERS, "event": "increment"})
        answer = await ws.receive_text()
    prefix = '<div id="panel" hx-swap-oob="innerHTML">'
    assert answer.startswith(prefix)
    assert answer.endswith("</div>")
    inner = answer[len(prefix) : -len("</div>")]
    assert _root_id(inner) == first["component_id"]


async def test_format_html_makes_the_initial_render_an_html_fragment(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter"), query={"format": "html"}) as ws:
        first = await ws.receive_text()
    assert first.startswith('<div class="counter"')
    assert _root_id(first) is not None
    assert _root_id(first).startswith("counter-")  # type: ignore[union-attr]


async def test_format_html_with_target_wraps_the_initial_render(app: ComponentASGI):
    query = {"format": "html", "target": "slot-1"}
    async with websocket_connect(app, ws_path("counter"), query=query) as ws:
        first = await ws.receive_text()
    assert first.startswith('<div id="slot-1" hx-swap-oob="innerHTML"><div class="counter"')


async def test_snapshot_field_of_an_htmx_message_is_ignored(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        first = await ws.receive_json()
        await ws.event("increment")
        await ws.event("increment")
        # the page's copy of the snapshot is stale (count 0): the connection's state wins
        message = {"HEADERS": HEADERS, "event": "increment", "snapshot": first["snapshot"]}
        await ws.send_json(message)
        fragment = await ws.receive_text()
    assert '<span class="count">3</span>' in fragment


async def test_htmx_message_without_event_is_an_error(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json({"HEADERS": HEADERS, "text": "x"})
        answer = json.loads(await ws.receive_text())
        await ws.send_json({"HEADERS": HEADERS, "event": "increment"})
        after = await ws.receive_text()
    assert answer["type"] == "error"
    assert answer["code"] == "malformed_request"
    assert '<span class="count">1</span>' in after


async def test_htmx_message_with_an_unknown_event_is_a_json_error(app: ComponentASGI):
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json({"HEADERS": HEADERS, "event": "nope"})
        answer = json.loads(await ws.receive_text())
    assert answer["type"] == "error"
    assert answer["code"] == "event_not_found"


async def test_htmx_4_messages_with_lowercase_headers_are_htmx_messages(app: ComponentASGI):
    # htmx 4's hx-ws sends {...values, "headers": {...}} where htmx 2's sent HEADERS.
    async with websocket_connect(app, ws_path("sentiment")) as ws:
        await ws.receive_json()
        await ws.send_json({"headers": HEADERS, "event": "analyze", "text": "hello"})
        fragment = await ws.receive_text()
    assert "<p>hello</p>" in fragment


async def test_a_form_field_named_headers_beside_htmx_2_headers_joins_the_payload(
    app: ComponentASGI,
):
    async with websocket_connect(app, ws_path("sentiment")) as ws:
        await ws.receive_json()
        message = {"HEADERS": HEADERS, "headers": "mine", "event": "analyze", "text": "hi"}
        await ws.send_json(message)
        answer = json.loads(await ws.receive_text())
    # The form field reached the payload: on_analyze takes no 'headers', and the answer says so.
    assert (answer["code"], answer["field"]) == ("validation_error", "headers")
