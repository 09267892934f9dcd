"""Effects on the wire: over HTTP the JSON answer carries them as data and an htmx answer as
HX-Redirect / HX-Push-Url / HX-Replace-Url / HX-Trigger headers; over WebSocket a JSON render
carries them and an htmx (HTML) render is followed by an ``effects`` message; over SSE an HTML
render frame is followed by an ``effects`` frame. A refused URL or trigger is a 400 with its
machine code, and nothing of the handler's change is applied (no snapshot over HTTP; the held
component rolled back over WebSocket)."""

from __future__ import annotations

import json
from typing import Any

from component_framework.testing import (
    WebSocketTestSession,
    asgi_request,
    sse_request,
    websocket_scope,
)
from tests.effects.components import make_app

WAIT = 5.0
HOST = {"host": "shop.example"}
HTMX = {**HOST, "hx-request": "true"}


async def mount(app: Any) -> str:
    answer = await asgi_request(app, "POST", "/components/checkout/", json={}, headers=HOST)
    return str(answer.json()["snapshot"])


async def send(app: Any, event: str, headers: dict[str, str] = HOST, **payload: Any) -> Any:
    body = {"event": event, "payload": payload, "snapshot": await mount(app)}
    return await asgi_request(app, "POST", "/components/checkout/", json=body, headers=headers)


async def test_the_json_answer_carries_the_effects_as_data():
    answer = await send(make_app(), "everything")
    assert answer.status == 200
    assert answer.json()["effects"] == {
        "redirect": "/thanks",
        "push_url": "/shop?page=2",
        "trigger": {"flash": {"text": "Paid"}, "total": 3},
    }
    assert answer.header("hx-redirect") is None  # headers are for htmx answers


async def test_an_answer_without_effects_has_no_effects_key():
    answer = await asgi_request(make_app(), "POST", "/components/checkout/", json={})
    assert "effects" not in answer.json()


async def test_an_htmx_answer_carries_them_as_htmx_headers():
    answer = await send(make_app(), "everything", HTMX)
    assert answer.status == 200
    assert answer.header("hx-redirect") == "/thanks"
    assert answer.header("hx-push-url") == "/shop?page=2"
    assert answer.header("hx-replace-url") is None
    component_id = answer.text.split('id="', 1)[1].split('"', 1)[0]
    target = f'[id="{component_id}"]'
    assert json.loads(answer.header("hx-trigger") or "") == {
        "flash": {"text": "Paid", "target": target},
        "total": {"value": 3, "target": target},
    }


async def test_replace_url_is_hx_replace_url_and_non_ascii_is_percent_encoded():
    answer = await send(make_app(), "page", HTMX, url="/café?q=ü", replace=True)
    assert answer.header("hx-replace-url") == "/caf%C3%A9?q=%C3%BC"
    assert answer.header("hx-push-url") is None


async def test_a_redirect_to_the_requests_own_host_passes():
    answer = await send(make_app(), "pay", HTMX, url="https://shop.example/thanks")
    assert answer.header("hx-redirect") == "https://shop.example/thanks"


async def test_a_redirect_to_a_listed_origin_passes():
    app = make_app(allowed_origins=("https://pay.partner.example",))
    answer = await send(app, "pay", HTMX, url="https://pay.partner.example/s/1")
    assert answer.header("hx-redirect") == "https://pay.partner.example/s/1"


async def test_a_redirect_to_another_origin_is_400_and_nothing_is_applied():
    answer = await send(make_app(), "pay", url="https://evil.example/")
    assert answer.status == 400
    error = answer.json()["error"]
    assert (error["code"], error["reason"]) == ("url_not_allowed", "foreign_origin")
    assert "snapshot" not in answer.json()


async def test_a_refused_redirect_for_htmx_keeps_the_component_and_says_why():
    answer = await send(make_app(), "pay", HTMX, url="//evil.example")
    assert answer.status == 400
    assert answer.header("hx-reswap") == "none"
    assert answer.header("hx-redirect") is None
    trigger = json.loads(answer.header("hx-trigger") or "")
    assert trigger["component-error"]["code"] == "url_not_allowed"
    assert trigger["component-error"]["reason"] == "scheme_relative"


async def test_a_bad_trigger_name_is_400_invalid_trigger():
    answer = await send(make_app(), "flash", name="htmx:afterSwap")
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_trigger"


async def test_a_trigger_detail_that_is_not_json_is_400():
    answer = await send(make_app(), "detail", detail={"target": "#x"})
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_trigger"


# -- WebSocket ----------------------------------------------------------------------------------


def socket(app: Any, **query: str) -> WebSocketTestSession:
    scope = websocket_scope("/components/checkout/ws/", headers=HOST, query=query or None)
    return WebSocketTestSession(app, scope, WAIT)


async def test_a_json_render_message_carries_the_effects():
    async with socket(make_app()) as ws:
        await ws.receive_json()
        answer = await ws.event("page", {"url": "/shop?page=3"}, ref=1)
    assert answer["type"] == "render"
    assert answer["effects"] == {"push_url": "/shop?page=3"}
    assert answer["ref"] == 1


async def test_an_html_render_is_followed_by_an_effects_message():
    async with socket(make_app(), format="html") as ws:
        await ws.receive_text()
        await ws.send_json({"event": "everything", "HEADERS": {"HX-Request": "true"}})
        html = await ws.receive_text()
        effects = await ws.receive_json()
    assert html.startswith("<div")
    component_id = html.split('id="', 1)[1].split('"', 1)[0]
    assert effects == {
        "type": "effects",
        "component_id": component_id,
        "effects": {
            "redirect": "/thanks",
            "push_url": "/shop?page=2",
            "trigger": {"flash": {"text": "Paid"}, "total": 3},
        },
        "ref": None,
    }


async def test_over_websocket_a_refused_redirect_is_an_error_and_the_state_rolls_back():
    async with socket(make_app()) as ws:
        await ws.receive_json()
        assert (await ws.event("pay", {"url": "/thanks"}))["state"] == {"count": 1}
        refused = await ws.event("trigger_then_pay", {"url": "https://evil.example/"}, ref="r")
        assert refused["type"] == "error"
        assert (refused["code"], refused["reason"], refused["ref"]) == (
            "url_not_allowed",
            "foreign_origin",
            "r",
        )
        refused = await ws.event("pay", {"url": "javascript:alert(1)"})
        assert (refused["code"], refused["reason"]) == ("url_not_allowed", "scheme")
        after = await ws.event("flash")
    # Neither refused event's +1 was kept, and the trigger asked for before the refusal is gone.
    assert after["state"] == {"count": 2}
    assert after["effects"] == {"trigger": {"flash": {"text": "Added"}}}


# -- SSE ----------------------------------------------------------------------------------------


async def test_an_sse_html_render_frame_is_followed_by_its_effects_frame():
    answer = await sse_request(
        make_app(), "/components/report/stream/", headers=HOST, give_up_after=WAIT
    )
    kinds = [(event.event, event.id is not None) for event in answer.events]
    # An effects frame has no id of its own: it belongs to the render before it.
    assert kinds[:4] == [("message", True), ("effects", False)] * 2
    assert json.loads(answer.events[1].data)["effects"] == {"trigger": {"progress": {"part": 1}}}
    assert json.loads(answer.events[3].data)["effects"] == {"push_url": "/reports/7"}
    assert answer.events[-1].event == "done"


async def test_an_effect_asked_for_after_the_last_yield_still_reaches_the_client():
    # The HTML did not change after the last yield: the final render still goes out, since it
    # carries the effect (before, it was skipped and the effect was lost without a word).
    answer = await sse_request(
        make_app(), "/components/closing/stream/", headers=HOST, give_up_after=WAIT
    )
    kinds = [event.event for event in answer.events]
    assert kinds == ["message", "message", "effects", "done"], kinds
    assert answer.events[0].data == answer.events[1].data
    assert json.loads(answer.events[2].data)["effects"] == {"trigger": {"finished": {"parts": 1}}}


async def test_an_sse_json_render_frame_carries_the_effects_in_its_document():
    answer = await sse_request(
        make_app(),
        "/components/report/stream/",
        query={"format": "json"},
        headers=HOST,
        give_up_after=WAIT,
    )
    renders = [json.loads(e.data) for e in answer.events if e.event == "message"]
    assert renders[0]["effects"] == {"trigger": {"progress": {"part": 1}}}
    assert all(event.event != "effects" for event in answer.events)
