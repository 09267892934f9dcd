"""Litestar pages embedding components through ``JinjaTemplateEngine`` and the shared endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig

from component_framework.adapters import litestar as adapter
from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.core import registry
from component_framework.core.component import Component
from component_framework.testing import asgi_request
from tests import sample_components
from tests.adapters.test_jinja import snapshot_in


@pytest.fixture
def default_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The guide's setup: counter in the default registry, renderer on Component, key in env."""
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", sample_components.SECRET)
    monkeypatch.setattr(Component, "renderer", sample_components.renderer)
    registry.register("counter")(sample_components.CounterComponent)
    adapter.configure_components()
    try:
        yield
    finally:
        registry.unregister("counter")
        adapter._shared.clear()


def page_app(tmp_path: Path) -> Litestar:
    (tmp_path / "index.html").write_text("<body>{{ component('counter') }}</body>")

    @get("/")
    async def index() -> Template:
        return Template(template_name="index.html")

    return Litestar(
        route_handlers=[index, adapter.component_endpoint],
        template_config=TemplateConfig(
            directory=tmp_path,
            engine=JinjaTemplateEngine,
            engine_callback=register_component_global,
        ),
    )


@pytest.mark.usefixtures("default_counter")
async def test_litestar_page_renders_a_component_the_endpoint_accepts(tmp_path: Path) -> None:
    app = page_app(tmp_path)
    page = await asgi_request(app, "GET", "/")
    assert page.status == 200
    assert '<span class="count">0</span>' in page.text
    answer = await asgi_request(
        app,
        "POST",
        "/components/counter/",
        form={"event": "increment", "snapshot": snapshot_in(page.text)},
        headers={"HX-Request": "true"},
    )
    assert answer.status == 200
    assert '<span class="count">1</span>' in answer.text


@pytest.mark.usefixtures("default_counter")
async def test_custom_endpoint_serves_its_own_app_at_another_path() -> None:
    components = adapter.ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=sample_components.SETTINGS,
    )
    app = Litestar(route_handlers=[adapter.make_component_endpoint(components, path="/ui")])
    answer = await asgi_request(app, "POST", "/ui/greeter", json={"params": {"name": "Lin"}})
    assert answer.status == 200
    assert answer.json()["state"]["name"] == "Lin"


async def test_plugin_registers_routes_and_the_page_global(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<body>{{ ui('greeter', name='Io') }}</body>")
    components = adapter.ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=sample_components.SETTINGS,
    )
    calls: list[object] = []

    @get("/")
    async def index() -> Template:
        return Template(template_name="index.html")

    app = Litestar(
        route_handlers=[index],
        plugins=[adapter.ComponentPlugin(components, page_global="ui")],
        template_config=TemplateConfig(
            directory=tmp_path, engine=JinjaTemplateEngine, engine_callback=calls.append
        ),
    )
    page = await asgi_request(app, "GET", "/")
    assert "Hello Io" in page.text
    assert len(calls) == 1  # the app's own engine callback still runs
    answer = await asgi_request(app, "POST", "/components/counter/", json={})
    assert answer.json()["state"] == {"count": 0}
