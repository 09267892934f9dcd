"""Nested components over HTTP, JSON and htmx: children with their own id, snapshot and
events; a parent's re-render keeps each child's state (matched by key, or by position), and
its children's children too; a child
that leaves the output is gone, a new key mounts a new child; ``props`` reach existing
children; a child its client may not see is left out."""

from __future__ import annotations

from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.protocol.snapshot import SnapshotSigner
from component_framework.testing import asgi_request
from tests.nesting.components import SECRET, make_app
from tests.nesting.wire import Root, roots

HTMX = {"HX-Request": "true"}


@pytest.fixture
def app() -> ComponentASGI:
    return make_app()


async def post(app: ComponentASGI, name: str, body: dict[str, Any], htmx: bool = False) -> Any:
    return await asgi_request(
        app, "POST", f"/components/{name}/", json=body, headers=HTMX if htmx else None
    )


def children_of(found: dict[str, Root], parent_id: str) -> list[Root]:
    """The direct children of ``parent_id`` (a JSON answer's html is the parent's inside,
    not annotated: its children are the top-level roots there)."""
    return [r for r in found.values() if r.parent in (parent_id, None) and r.id != parent_id]


async def mount_shelf(app: ComponentASGI, **params: Any) -> tuple[Root, list[Root]]:
    answer = await post(app, "shelf", {"params": params} if params else {}, htmx=True)
    assert answer.status == 200, answer.text
    found = roots(answer.text)
    shelf = next(iter(found.values()))
    return shelf, children_of(found, shelf.id)


async def parent_event(
    app: ComponentASGI,
    shelf: Root,
    children: list[Root],
    event: str,
    htmx: bool = False,
    **payload: Any,
) -> Any:
    body = {
        "event": event,
        "payload": payload,
        "snapshot": shelf.snapshot,
        "children": [child.snapshot for child in children],
    }
    return await post(app, "shelf", body, htmx=htmx)


async def click_child(app: ComponentASGI, child: Root) -> Root:
    answer = await post(app, child.name, {"event": "inc", "snapshot": child.snapshot}, htmx=True)
    assert answer.status == 200, answer.text
    return roots(answer.text)[child.id]


async def test_children_are_components_of_their_own_bound_to_parent_and_key(
    app: ComponentASGI,
) -> None:
    shelf, children = await mount_shelf(app)
    assert [(c.name, c.content) for c in children] == [
        ("item", "Shelf #1: 0"),
        ("item", "Shelf #2: 0"),
        ("note", "note 0"),
    ]
    assert len({shelf.id, *(c.id for c in children)}) == 4
    signer = SnapshotSigner([SECRET])
    bindings = [signer.verify(c.snapshot, c.name).parent for c in children]
    assert bindings == [(shelf.id, "1"), (shelf.id, "2"), (shelf.id, "#0")]


async def test_a_child_event_changes_that_child_only_and_keeps_its_binding(
    app: ComponentASGI,
) -> None:
    shelf, children = await mount_shelf(app)
    clicked = await click_child(app, children[0])
    assert clicked.content == "Shelf #1: 1"
    assert clicked.id == children[0].id
    parent = SnapshotSigner([SECRET]).verify(clicked.snapshot, "item").parent
    assert parent == (shelf.id, "1")


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "json"])
async def test_a_parent_re_render_keeps_each_childs_state(app: ComponentASGI, htmx: bool) -> None:
    shelf, children = await mount_shelf(app)
    first = await click_child(app, children[0])
    note = await click_child(app, await click_child(app, children[2]))
    answer = await parent_event(app, shelf, [first, children[1], note], "bump", htmx=htmx)
    assert answer.status == 200, answer.text
    html = answer.text if htmx else answer.json()["html"]
    found = roots(html)
    kept = {c.id: c.content for c in children_of(found, shelf.id)}
    assert kept == {
        children[0].id: "Shelf #1: 1",
        children[1].id: "Shelf #2: 0",
        children[2].id: "note 2",
    }
    assert "Shelf 1" in html


async def test_without_the_childrens_snapshots_a_re_render_mounts_them_afresh(
    app: ComponentASGI,
) -> None:
    shelf, children = await mount_shelf(app)
    first = await click_child(app, children[0])
    answer = await parent_event(app, shelf, [], "bump")
    fresh = children_of(roots(answer.json()["html"]), shelf.id)
    assert fresh[0].content == "Shelf #1: 0"
    assert first.id not in {c.id for c in fresh}


async def test_a_child_that_leaves_the_output_is_gone_and_a_new_key_mounts_a_new_child(
    app: ComponentASGI,
) -> None:
    shelf, children = await mount_shelf(app)
    first = await click_child(app, children[0])
    removed = await parent_event(app, shelf, [first, *children[1:]], "remove", product=1)
    after = roots(removed.json()["html"])
    assert children[0].id not in after
    assert after[children[1].id].content == "Shelf #2: 0"
    shelf = Root("shelf", shelf.id, removed.json()["snapshot"], None, {})
    added = await parent_event(app, shelf, children_of(after, shelf.id), "add", product=1)
    items = children_of(roots(added.json()["html"]), shelf.id)
    assert [c.content for c in items] == ["Shelf #2: 0", "Shelf #1: 0", "note 0"]
    assert items[1].id not in {c.id for c in children}


async def test_props_reach_existing_children_and_other_params_count_at_mount_only(
    app: ComponentASGI,
) -> None:
    shelf, children = await mount_shelf(app)
    first = await click_child(app, children[0])
    answer = await parent_event(app, shelf, [first, *children[1:]], "rename", label="Sale")
    found = roots(answer.json()["html"])
    assert found[first.id].content == "Sale #1: 1"
    state = SnapshotSigner([SECRET]).verify(found[first.id].snapshot, "item").state
    assert state == {"product_id": 1, "label": "Sale", "count": 1}


async def test_a_child_its_client_may_not_see_is_left_out(app: ComponentASGI) -> None:
    denied = await post(app, "shelf", {"params": {"vault": True}})
    assert "secret" not in denied.json()["html"]
    allowed = await asgi_request(
        app,
        "POST",
        "/components/shelf/",
        json={"params": {"vault": True}},
        headers={"x-role": "owner"},
    )
    assert "<p " in allowed.json()["html"]
    assert "secret" in allowed.json()["html"]


async def test_a_child_answers_with_its_own_fragment_and_a_parent_binding_survives_json(
    app: ComponentASGI,
) -> None:
    _, children = await mount_shelf(app)
    answer = await post(app, "item", {"event": "inc", "snapshot": children[1].snapshot})
    document = answer.json()
    assert document["component_id"] == children[1].id
    assert document["state"]["count"] == 1


async def test_a_grandparents_re_render_keeps_children_and_grandchildren(
    app: ComponentASGI,
) -> None:
    mounted = await post(app, "rack", {}, htmx=True)
    rack, shelf, *rest = roots(mounted.text).values()
    clicked = await click_child(app, rest[0])
    descendants = [shelf.snapshot, clicked.snapshot, *(r.snapshot for r in rest[1:])]
    body = {"event": "bump", "snapshot": rack.snapshot, "children": descendants}
    answer = await post(app, "rack", body, htmx=True)
    found = roots(answer.text)
    assert found[shelf.id].parent == rack.id
    assert found[clicked.id].content == "Shelf #1: 1"
    assert "rack 1" in answer.text


async def test_a_grandchild_without_its_parent_in_the_request_is_refused(
    app: ComponentASGI,
) -> None:
    mounted = await post(app, "rack", {}, htmx=True)
    rack, _, item, *_ = roots(mounted.text).values()
    body = {"event": "bump", "snapshot": rack.snapshot, "children": [item.snapshot]}
    answer = await post(app, "rack", body)
    assert answer.status == 400
    assert answer.json()["error"]["reason"] == "foreign_parent"
