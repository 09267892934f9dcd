"""Emitted events over HTTP: the answer of the emitting request carries them (the JSON
document's ``effects.emit``; for htmx a ``component:emit`` HX-Trigger the runtime reads), a
listener's root says what it listens to (``data-listens``), and one ``POST /_emit/`` runs a
batch on every listener named, each as a client's event, each failure its listener's own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework.testing import asgi_request
from tests.events.components import make_app

HOST = {"host": "shop.example"}
HTMX = {**HOST, "hx-request": "true"}
EMIT = "/components/_emit/"


async def mount(app: Any, name: str, headers: dict[str, str] = HOST) -> Any:
    return await asgi_request(app, "POST", f"/components/{name}/", json={}, headers=headers)


async def snapshot(app: Any, name: str) -> tuple[str, str]:
    document = (await mount(app, name)).json()
    return document["component_id"], document["snapshot"]


async def listener(app: Any, name: str) -> dict[str, str]:
    component_id, token = await snapshot(app, name)
    return {"component": name, "id": component_id, "snapshot": token}


async def batch(app: Any, events: list[Any], listeners: list[Any], **extra: Any) -> Any:
    body = {"events": events, "listeners": listeners, **extra}
    return await asgi_request(app, "POST", EMIT, json=body, headers=HOST)


ADDED = [{"event": "added", "payload": {"qty": 2}}]


async def test_the_json_answer_of_an_emitting_event_carries_the_emitted_events():
    app = make_app()
    _, token = await snapshot(app, "item")
    body = {"event": "add", "payload": {"qty": 2}, "snapshot": token}
    answer = await asgi_request(app, "POST", "/components/item/", json=body, headers=HOST)
    assert answer.status == 200
    assert answer.json()["effects"] == {"emit": [{"event": "added", "payload": {"qty": 2}}]}


async def test_the_htmx_answer_hands_them_to_the_runtime_in_hx_trigger():
    app = make_app()
    _, token = await snapshot(app, "item")
    body = {"event": "add", "payload": {"qty": 2}, "snapshot": token}
    answer = await asgi_request(app, "POST", "/components/item/", json=body, headers=HTMX)
    component_id = answer.text.split('id="', 1)[1].split('"', 1)[0]
    assert json.loads(answer.header("hx-trigger") or "") == {
        "component:emit": {
            "events": [{"event": "added", "payload": {"qty": 2}}],
            "target": f'[id="{component_id}"]',
        }
    }


async def test_a_listeners_root_names_its_events_and_others_name_none():
    app = make_app()
    assert 'data-listens="added removed"' in (await mount(app, "cart", HTMX)).text
    assert "data-listens" not in (await mount(app, "item", HTMX)).text
    assert "data-listens" not in (await mount(app, "bystander", HTMX)).text


async def test_a_bad_emitted_payload_is_400_invalid_emit_and_nothing_is_applied():
    app = make_app()
    _, token = await snapshot(app, "item")
    body = {"event": "send", "payload": {"event": "has space"}, "snapshot": token}
    answer = await asgi_request(app, "POST", "/components/item/", json=body, headers=HOST)
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_emit"
    assert "snapshot" not in answer.json()


async def test_one_batch_runs_every_listener_and_answers_each_fragment():
    app = make_app()
    cart, badge = await listener(app, "cart"), await listener(app, "badge")
    answer = await batch(app, ADDED, [cart, badge])
    assert answer.status == 200
    results = answer.json()["results"]
    assert [r["component_id"] for r in results] == [cart["id"], badge["id"]]
    for result in results:
        assert result["html"].startswith(f'<div id="{result["component_id"]}"')
        assert ">total 2</div>" in result["html"]
        assert "hx-vals" in result["html"]  # the new snapshot, for the next request


async def test_the_json_format_answers_render_documents_with_the_new_state():
    app = make_app()
    cart = await listener(app, "cart")
    events = [*ADDED, {"event": "removed", "payload": {"qty": 1}}, *ADDED]
    (result,) = (await batch(app, events, [cart], format="json")).json()["results"]
    assert result["state"] == {"total": 3}  # in order, one render
    assert result["component_id"] == cart["id"]
    assert result["snapshot"] != cart["snapshot"]


async def test_a_listener_runs_only_the_events_its_class_lists():
    app = make_app()
    badge = await listener(app, "badge")
    events = [{"event": "removed", "payload": {"qty": 5}}, *ADDED]
    (result,) = (await batch(app, events, [badge], format="json")).json()["results"]
    assert result["state"] == {"total": 2}


async def test_a_component_that_lists_none_of_the_events_never_runs():
    app = make_app()
    bystander, cart = await listener(app, "bystander"), await listener(app, "cart")
    refused, ran = (await batch(app, ADDED, [bystander, cart])).json()["results"]
    assert refused["error"]["code"] == "not_listening"
    assert (refused["component_id"], refused["component"]) == (bystander["id"], "bystander")
    assert "html" not in refused
    assert ">total 2<" in ran["html"]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"qty": "many"}, "validation_error", "qty"),
        ({}, "validation_error", "qty"),
        ({"qty": 1, "extra": True}, "validation_error", "extra"),
    ],
)
async def test_a_payload_that_does_not_fit_a_listener_is_its_422(payload, code, field):
    app = make_app()
    cart = await listener(app, "cart")
    (result,) = (await batch(app, [{"event": "added", "payload": payload}], [cart])).json()[
        "results"
    ]
    assert (result["error"]["code"], result["error"]["field"]) == (code, field)


async def test_authorization_runs_for_each_listener_as_for_a_client_event():
    app = make_app()
    locked, badge = await listener(app, "locked"), await listener(app, "badge")
    refused, ran = (await batch(app, ADDED, [locked, badge])).json()["results"]
    assert refused["error"]["code"] == "forbidden"
    assert ">total 2<" in ran["html"]


async def test_a_forged_or_foreign_snapshot_fails_for_that_listener_only():
    app = make_app()
    cart, badge = await listener(app, "cart"), await listener(app, "badge")
    forged = {**cart, "snapshot": cart["snapshot"][:-4] + "AAAA"}
    foreign = {**badge, "component": "cart"}  # badge's snapshot shown as a cart's
    unknown = {**cart, "component": "nothing"}
    results = (await batch(app, ADDED, [forged, foreign, unknown, badge])).json()["results"]
    codes = [r.get("error", {}).get("code") for r in results]
    assert codes == ["invalid_snapshot", "invalid_snapshot", "component_not_found", None]


async def test_what_a_listener_emits_comes_back_with_its_render():
    app = make_app()
    relay = await listener(app, "relay")
    (result,) = (await batch(app, ADDED, [relay])).json()["results"]
    assert result["effects"] == {"emit": [{"event": "relayed", "payload": {"qty": 2}}]}


# -- the batch request itself --------------------------------------------------------------------


async def test_the_batch_endpoint_takes_post_only():
    answer = await asgi_request(make_app(), "GET", EMIT, headers=HOST)
    assert answer.status == 405
    assert answer.header("allow") == "POST"


async def test_the_batch_is_json_only():
    answer = await asgi_request(make_app(), "POST", EMIT, form={"events": "x"}, headers=HOST)
    assert answer.status == 415


async def test_a_cross_site_batch_is_refused():
    headers = {**HOST, "origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    body = {"events": ADDED, "listeners": [await listener(make_app(), "cart")]}
    answer = await asgi_request(make_app(), "POST", EMIT, json=body, headers=headers)
    assert answer.status == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"listeners": [{"component": "cart", "id": "c", "snapshot": "s"}]}, 400),
        ({"events": [], "listeners": [{"component": "cart", "id": "c", "snapshot": "s"}]}, 400),
        ({"events": ADDED, "listeners": "cart"}, 400),
        ({"events": ADDED, "listeners": [{"component": "cart"}]}, 400),
        ({"events": [{"event": "added", "payload": [1]}], "listeners": [{}]}, 400),
        ({"events": ADDED * 9, "listeners": [{}]}, 413),
        (
            {"events": ADDED, "listeners": [{"component": "c", "id": "c", "snapshot": "s"}] * 65},
            413,
        ),
        ({"events": ADDED, "listeners": [{}], "depth": 9}, 400),
        ({"events": ADDED, "listeners": [{}], "surprise": 1}, 400),
    ],
)
async def test_a_malformed_batch_is_refused_whole(body, status):
    answer = await asgi_request(make_app(), "POST", EMIT, json=body, headers=HOST)
    assert answer.status == status
    assert "results" not in answer.json()


async def test_each_listener_beyond_the_first_costs_a_request_of_the_clients_budget():
    app = make_app(http_rate=0.001, http_burst=3)
    cart, badge = await listener(app, "cart"), await listener(app, "badge")  # two spent
    ran, refused = (await batch(app, ADDED, [cart, badge])).json()["results"]
    assert ">total 2<" in ran["html"]
    assert refused["error"]["code"] == "rate_limited"


async def test_a_batch_counts_against_the_clients_request_rate():
    app = make_app(http_rate=0.001, http_burst=1)
    cart = await listener(app, "cart")  # the mount spent the budget
    answer = await batch(app, ADDED, [cart])
    assert answer.status == 429
