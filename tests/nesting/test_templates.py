"""The template side of nesting: ``component()`` is there in every component template (the
renderer's own global, or the page global on a shared environment), and a template's mistakes
are clear ``ConfigurationError`` s: a key used twice, a key of the wrong type, a child whose
``mount`` is async, ``component()`` outside any component's render."""

from __future__ import annotations

import jinja2
import pytest

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer, register_component_global
from component_framework.core.component import Component
from component_framework.core.dispatch import ComponentCall
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.errors import ConfigurationError
from component_framework.testing import asgi_request

KEY = "nesting-templates-key-0123456789abcdef"


def app_with(
    templates: dict[str, str], environment: jinja2.Environment | None = None
) -> ComponentASGI:
    registry = ComponentRegistry()

    @registry.register("outer")
    class Outer(Component):
        template_name = "outer.html"

    @registry.register("inner")
    class Inner(Component):
        template_name = "inner.html"

        def mount(self, n: int = 0) -> None:
            self.state["n"] = n

    @registry.register("broken")
    class Broken(Component):
        template_name = "inner.html"

        def mount(self) -> None:
            raise RuntimeError("the database is down")

    @registry.register("slow")
    class Slow(Component):
        template_name = "inner.html"

        async def mount(self) -> None:
            self.state["n"] = 0

    if environment is None:
        renderer = Jinja2Renderer.from_strings({"inner.html": "<i>{{ n }}</i>", **templates})
    else:
        environment.loader = jinja2.DictLoader({"inner.html": "<i>{{ n }}</i>", **templates})
        renderer = Jinja2Renderer(environment)
    settings = Settings(secret_keys=(KEY,))
    return ComponentASGI(registry=registry, renderer=renderer, settings=settings, hub=Hub())


def render(app: ComponentASGI) -> str:
    return app.dispatcher.dispatch(ComponentCall("outer")).html


def test_a_page_environment_shared_with_the_renderer_renders_children_too() -> None:
    environment = jinja2.Environment(autoescape=True)
    app = app_with({"outer.html": '<b>{{ component("inner", n=2) }}</b>'}, environment)
    register_component_global(environment, app)
    page = environment.from_string('{{ component("outer") }}').render()
    assert 'data-component="outer"' in page
    assert 'data-component="inner"' in page
    assert ">2</i>" in page


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{{ component("inner", key=1) }}{{ component("inner", key="1") }}', "two children"),
        ('{{ component("inner", key=[1]) }}', "a string or an int"),
        ('{{ component("inner", key="#0") }}', "not starting with '#'"),
        ('{{ component("slow") }}', "async"),
    ],
    ids=["key-twice", "key-a-list", "key-like-a-position", "async-mount"],
)
def test_a_templates_nesting_mistake_is_a_configuration_error(template: str, message: str) -> None:
    app = app_with({"outer.html": f"<b>{template}</b>"})
    with pytest.raises(ConfigurationError, match=message):
        render(app)


def test_component_outside_any_components_render_is_a_configuration_error() -> None:
    renderer = Jinja2Renderer.from_strings({"page.html": '{{ component("inner") }}'})
    with pytest.raises(ConfigurationError, match="register_component_global"):
        renderer.render("page.html", {})


async def test_a_failing_child_fails_its_parents_request_once_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = app_with({"outer.html": '<b>{{ component("broken") }}</b>'})
    with caplog.at_level("ERROR", logger="component_framework"):
        answer = await asgi_request(app, "POST", "/components/outer/", json={})
    assert answer.status == 500
    assert answer.json()["error"]["code"] == "handler_error"
    assert "database" not in answer.text
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["component 'broken' failed in mount"]
