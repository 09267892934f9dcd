"""Forged, moved or misplaced children snapshots are refused before any user code runs:
``400 invalid_child`` with a ``reason`` (the bad-input cases of nesting, on the HTTP
transport; tests/adversarial holds the same refusal on every host)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.protocol.snapshot import SnapshotSigner
from component_framework.testing import asgi_request
from tests.nesting.components import SECRET, make_app
from tests.nesting.wire import roots


@pytest.fixture
def app() -> ComponentASGI:
    return make_app()


async def mounted(app: ComponentASGI) -> tuple[str, str, list[str]]:
    answer = await asgi_request(
        app, "POST", "/components/shelf/", json={}, headers={"HX-Request": "true"}
    )
    shelf, *children = roots(answer.text).values()
    return shelf.id, shelf.snapshot, [child.snapshot for child in children]


async def refused(app: ComponentASGI, body: dict[str, Any]) -> dict[str, Any]:
    answer = await asgi_request(app, "POST", "/components/shelf/", json=body)
    assert answer.status == 400, answer.text
    error: dict[str, Any] = answer.json()["error"]
    return error


async def test_a_tampered_child_snapshot_is_refused(app: ComponentASGI) -> None:
    _, snapshot, children = await mounted(app)
    forged = children[0][:-3] + ("AAA" if not children[0].endswith("AAA") else "BBB")
    error = await refused(app, {"event": "bump", "snapshot": snapshot, "children": [forged]})
    assert (error["code"], error["reason"]) == ("invalid_child", "tampered")


async def test_the_child_of_another_parent_is_refused(app: ComponentASGI) -> None:
    _, snapshot, _ = await mounted(app)
    _, _, others = await mounted(app)
    error = await refused(app, {"event": "bump", "snapshot": snapshot, "children": others[:1]})
    assert (error["code"], error["reason"]) == ("invalid_child", "foreign_parent")


async def test_a_top_level_snapshot_is_no_child(app: ComponentASGI) -> None:
    _, snapshot, _ = await mounted(app)
    signer = SnapshotSigner([SECRET])
    loose = signer.sign("item", "item-x", {"product_id": 1, "label": "x", "count": 99})
    error = await refused(app, {"event": "bump", "snapshot": snapshot, "children": [loose]})
    assert (error["code"], error["reason"]) == ("invalid_child", "foreign_parent")


async def test_two_snapshots_for_one_key_are_refused(app: ComponentASGI) -> None:
    _, snapshot, children = await mounted(app)
    body = {"event": "bump", "snapshot": snapshot, "children": [children[0], children[0]]}
    error = await refused(app, body)
    assert (error["code"], error["reason"]) == ("invalid_child", "repeated")


async def test_children_without_the_parents_snapshot_are_refused(app: ComponentASGI) -> None:
    _, _, children = await mounted(app)
    error = await refused(app, {"children": children})
    assert (error["code"], error["reason"]) == ("invalid_child", "orphan")


@pytest.mark.parametrize("children", [{"a": 1}, [1, 2], "not json", '{"a": 1}'])
async def test_a_malformed_children_field_is_refused(app: ComponentASGI, children: Any) -> None:
    _, snapshot, _ = await mounted(app)
    error = await refused(app, {"snapshot": snapshot, "children": children})
    assert error["code"] == "malformed_request"


async def test_a_child_state_cannot_move_to_another_key(app: ComponentASGI) -> None:
    # Item 1's snapshot (count 5) sent with a parent that now renders only item 2: it is
    # bound to key "1", so item 2 mounts afresh instead of taking item 1's state.
    parent_id, snapshot, children = await mounted(app)
    signer = SnapshotSigner([SECRET])
    state = signer.verify(snapshot, "shelf").state | {"products": [2]}
    moved_parent = signer.sign("shelf", parent_id, state)
    one = signer.verify(children[0], "item")
    rich = signer.sign("item", one.component_id, one.state | {"count": 5}, one.parent)
    answer = await asgi_request(
        app, "POST", "/components/shelf/", json={"snapshot": moved_parent, "children": [rich]}
    )
    assert answer.status == 200
    assert "Shelf #2: 0" in answer.json()["html"]
    assert ": 5" not in answer.json()["html"]


async def test_children_in_a_form_body_are_json_text(app: ComponentASGI) -> None:
    _, snapshot, children = await mounted(app)

    answer = await asgi_request(
        app,
        "POST",
        "/components/shelf/",
        form={"event": "bump", "snapshot": snapshot, "children": json.dumps(children)},
    )
    assert answer.status == 200, answer.text
