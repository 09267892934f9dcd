"""Lazy components: ``component(name, lazy=True, **params)`` renders the class's placeholder,
which loads the component with ``GET /{name}/?lazy=<token>`` once the page painted; the
params are the ones the page rendered (signed), and authorization runs as for any mount."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import jinja2
import pytest

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.protocol.snapshot import SnapshotSigner
from component_framework.testing import asgi_request
from tests.nesting.components import SECRET, make_app
from tests.nesting.wire import Root, roots

HTMX = {"HX-Request": "true"}


@pytest.fixture
def app() -> ComponentASGI:
    return make_app()


def page(app: ComponentASGI, source: str) -> str:
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment, app)
    return environment.from_string(source).render()


async def load(app: ComponentASGI, placeholder: Root, **extra: str) -> object:
    url = urlsplit(placeholder.attributes["hx-get"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()} | extra
    return await asgi_request(app, "GET", url.path, query=query, headers=HTMX)


async def test_a_page_lazy_component_renders_its_placeholder_then_loads_with_the_page_params(
    app: ComponentASGI,
) -> None:
    html = page(app, '{{ component("feed", lazy=True, topic="sport") }}')
    (placeholder,) = roots(html).values()
    assert placeholder.content == "Loading the feed"
    assert placeholder.attributes["class"] == "loading"
    assert placeholder.attributes["hx-trigger"] == "load"
    assert placeholder.attributes["hx-swap"] == "outerHTML"
    assert placeholder.attributes["hx-get"].startswith("/components/feed/?lazy=")
    answer = await load(app, placeholder)
    assert answer.status == 200, answer.text
    (loaded,) = roots(answer.text).values()
    assert (loaded.id, loaded.content) == (placeholder.id, "sport 0")
    assert SnapshotSigner([SECRET]).verify(loaded.snapshot, "feed").parent is None


async def test_a_client_cannot_change_the_params_of_a_lazy_component(app: ComponentASGI) -> None:
    (placeholder,) = roots(page(app, '{{ component("feed", lazy=True, topic="sport") }}')).values()
    answer = await load(app, placeholder, topic="admin")
    assert answer.status == 422
    assert answer.json()["error"]["field"] == "topic"


@pytest.mark.parametrize("forge", ["tampered", "snapshot_as_token", "other_component"])
async def test_a_forged_lazy_token_is_refused(app: ComponentASGI, forge: str) -> None:
    (placeholder,) = roots(page(app, '{{ component("feed", lazy=True, topic="x") }}')).values()
    token = parse_qs(urlsplit(placeholder.attributes["hx-get"]).query)["lazy"][0]
    signer = SnapshotSigner([SECRET])
    path = "/components/feed/"
    if forge == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif forge == "snapshot_as_token":
        token = signer.sign("feed", "feed-1", {"params": {"topic": "admin"}})
    else:
        path = "/components/page/"
    answer = await asgi_request(app, "GET", path, query={"lazy": token}, headers=HTMX)
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_snapshot"


async def test_a_lazy_token_is_no_snapshot(app: ComponentASGI) -> None:
    (placeholder,) = roots(page(app, '{{ component("feed", lazy=True, topic="x") }}')).values()
    token = parse_qs(urlsplit(placeholder.attributes["hx-get"]).query)["lazy"][0]
    answer = await asgi_request(
        app, "POST", "/components/feed/", json={"event": "inc", "snapshot": token}
    )
    assert answer.status == 400
    assert answer.json()["error"]["reason"] == "foreign"


async def test_a_lazy_component_the_page_may_not_show_renders_nothing_and_its_load_is_refused(
    app: ComponentASGI,
) -> None:
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment, app)

    class Request:
        scope: ClassVar[dict[str, Any]] = {
            "type": "http",
            "headers": [],
            "path": "/",
            "query_string": b"",
        }

    template = environment.from_string('{{ component("vault", lazy=True) }}')
    assert template.render(request=Request()) == ""
    (placeholder,) = roots(page(app, '{{ component("vault", lazy=True) }}')).values()
    assert (await load(app, placeholder)).status == 403


async def test_a_nested_lazy_child_loads_bound_to_its_parent_and_is_kept_afterwards(
    app: ComponentASGI,
) -> None:
    answer = await asgi_request(
        app, "POST", "/components/page/", json={"params": {"topic": "tech"}}, headers=HTMX
    )
    found = roots(answer.text)
    parent, placeholder = found.values()
    assert placeholder.attributes["data-lazy"] == "feed"
    assert placeholder.parent == parent.id
    loaded = roots((await load(app, placeholder)).text)[placeholder.id]
    assert SnapshotSigner([SECRET]).verify(loaded.snapshot, "feed").parent == (parent.id, "f")
    clicked = await asgi_request(
        app,
        "POST",
        "/components/feed/",
        json={"event": "inc", "snapshot": loaded.snapshot},
        headers=HTMX,
    )
    loaded = roots(clicked.text)[placeholder.id]
    again = await asgi_request(
        app,
        "POST",
        "/components/page/",
        json={"snapshot": parent.snapshot, "children": [loaded.snapshot]},
        headers=HTMX,
    )
    kept = roots(again.text)[placeholder.id]
    assert (kept.name, kept.content) == ("feed", "tech 1")
    assert "data-lazy" not in kept.attributes
