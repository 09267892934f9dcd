"""Nested components and events between components (``emit`` / ``listens``): a parent that
hears its child's event re-renders with its children as they are, over HTTP (the batch's
listener carries the snapshots of the components inside it) and in a socket-held parent
(a held child's emitted events reach the page; held children hear the page's events)."""

from __future__ import annotations

import pytest

from component_framework import ComponentASGI
from component_framework.testing import asgi_request, websocket_connect
from tests.nesting.components import make_app
from tests.nesting.wire import roots

HTMX = {"HX-Request": "true"}
PAGE = "page-nesting-0001"


@pytest.fixture
def app() -> ComponentASGI:
    return make_app()


async def test_a_listening_parent_keeps_its_children_when_an_emitted_event_re_renders_it(
    app: ComponentASGI,
) -> None:
    mounted = await asgi_request(app, "POST", "/components/basket/", json={}, headers=HTMX)
    basket, first, second = roots(mounted.text).values()
    took = await asgi_request(
        app, "POST", "/components/pick/", json={"event": "take", "snapshot": first.snapshot}
    )
    document = took.json()
    assert document["effects"]["emit"] == [{"event": "picked", "payload": {"qty": 1}}]
    first_snapshot = document["snapshot"]
    listener = {
        "component": "basket",
        "id": basket.id,
        "snapshot": basket.snapshot,
        "children": [first_snapshot, second.snapshot],
    }
    batch = {"events": document["effects"]["emit"], "listeners": [listener]}
    answer = await asgi_request(app, "POST", "/components/_emit/", json=batch)
    (result,) = answer.json()["results"]
    assert "total 1" in result["html"]
    found = roots(result["html"])
    assert found[first.id].content == "pick 1"
    assert found[second.id].content == "pick 0"


async def test_a_forged_child_in_an_emit_batch_is_that_listeners_error(
    app: ComponentASGI,
) -> None:
    mounted = await asgi_request(app, "POST", "/components/basket/", json={}, headers=HTMX)
    basket, *_ = roots(mounted.text).values()
    other = await asgi_request(app, "POST", "/components/basket/", json={}, headers=HTMX)
    _, stranger, _ = roots(other.text).values()
    listener = {
        "component": "basket",
        "id": basket.id,
        "snapshot": basket.snapshot,
        "children": [stranger.snapshot],
    }
    batch = {"events": [{"event": "picked", "payload": {"qty": 1}}], "listeners": [listener]}
    (result,) = (await asgi_request(app, "POST", "/components/_emit/", json=batch)).json()[
        "results"
    ]
    assert (result["error"]["code"], result["error"]["reason"]) == (
        "invalid_child",
        "foreign_parent",
    )


async def test_in_a_held_parent_a_childs_event_reaches_the_parent_and_the_parents_the_children(
    app: ComponentASGI,
) -> None:
    path = "/components/basket/ws/"
    async with websocket_connect(app, path, query={"_page": PAGE}) as ws:
        first, second = roots((await ws.receive_json())["html"]).values()
        await ws.send_json({"type": "event", "event": "take", "component_id": first.id, "ref": "t"})
        child = await ws.receive_json()
        assert (child["component_id"], child["state"], child["ref"]) == (
            first.id,
            {"count": 1},
            "t",
        )
        parent = await ws.receive_json()
        assert parent["state"]["total"] == 1
        assert roots(parent["html"])[first.id].content == "pick 1"

        await ws.send_json({"type": "event", "event": "clear", "ref": "c"})
        cleared = await ws.receive_json()
        assert (cleared["ref"], cleared["state"]["total"]) == ("c", 0)
        pushed = [await ws.receive_json() for _ in range(2)]
        assert {(m["component_id"], m["state"]["count"]) for m in pushed} == {
            (first.id, 0),
            (second.id, 0),
        }
