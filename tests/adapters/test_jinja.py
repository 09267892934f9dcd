"""Jinja2Renderer and the ``component()`` / ``component_scripts()`` page globals in a plain
``jinja2.Environment``."""

from __future__ import annotations

import html
import json
import re
import traceback
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2 import pass_context

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    _render_context,
    register_component_global,
)
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry
from component_framework.errors import ConfigurationError
from component_framework.testing import asgi_request
from tests import sample_components

SCRIPTS_KEY = "jinja-scripts-test-key-0123456789abcdef"


def snapshot_in(fragment: str) -> str:
    match = re.search(r'hx-vals="([^"]*)"', fragment)
    assert match, fragment
    snapshot: str = json.loads(html.unescape(match.group(1)))["snapshot"]
    return snapshot


def test_renderer_reads_templates_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "hello.html").write_text("<p>{{ who }}</p>")
    assert Jinja2Renderer(tmp_path).render("hello.html", {"who": "<b>"}) == "<p>&lt;b&gt;</p>"
    assert Jinja2Renderer(str(tmp_path)).render("hello.html", {"who": "x"}) == "<p>x</p>"


@pytest.mark.parametrize("name", ["page.html", "note.txt", "NOTE.TXT", "plain"])
def test_renderer_escapes_every_template_whatever_its_name(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("{{ v }}")
    for renderer in (Jinja2Renderer(tmp_path), Jinja2Renderer.from_strings({name: "{{ v }}"})):
        assert renderer.render(name, {"v": "<b>&"}) == "&lt;b&gt;&amp;"


def test_renderer_uses_a_given_environment_as_is() -> None:
    environment = jinja2.Environment(loader=jinja2.DictLoader({"t": "{{ v }}"}), autoescape=False)
    assert Jinja2Renderer(environment).render("t", {"v": "<i>"}) == "<i>"


def test_renderer_renders_what_jinja_renders_globals_included() -> None:
    source = (
        "{% for i in range(n) %}{{ i }}{% endfor %}|{{ greet }}|{{ shadow }}|"
        "{% set local = 'x' %}{{ local }}|{{ missing | default('none') }}"
    )
    environment = jinja2.Environment(loader=jinja2.DictLoader({"t": source}), autoescape=True)
    environment.globals.update(greet="<hi>", shadow="global")
    renderer = Jinja2Renderer(environment)
    context = {"n": 3, "shadow": "context"}
    expected = environment.get_template("t").render(context)
    assert renderer.render("t", context) == expected == "012|&lt;hi&gt;|context|x|none"


def test_renderer_sees_globals_added_or_replaced_after_the_first_render() -> None:
    environment = jinja2.Environment(loader=jinja2.DictLoader({"t": "{{ site }}"}))
    environment.globals["site"] = "one"
    renderer = Jinja2Renderer(environment)
    assert renderer.render("t", {}) == "one"
    environment.globals["site"] = "two"
    assert renderer.render("t", {}) == "two"


def test_renderer_keeps_jinjas_errors_and_their_template_line() -> None:
    source = "line one\n{{ 1 // zero }}"
    renderer = Jinja2Renderer.from_strings({"broken.html": source})
    with pytest.raises(ZeroDivisionError) as raised:
        renderer.render("broken.html", {"zero": 0})
    frames = [(frame.filename, frame.lineno) for frame in traceback.extract_tb(raised.tb)]
    assert ("<template>", 2) in frames or ("broken.html", 2) in frames


def test_renderer_renders_an_async_environment_through_jinja() -> None:
    environment = jinja2.Environment(loader=jinja2.DictLoader({"t": "{{ v }}!"}), enable_async=True)
    assert Jinja2Renderer(environment).render("t", {"v": "async"}) == "async!"


async def test_page_global_embeds_a_live_component(components_app: ComponentASGI) -> None:
    environment = jinja2.Environment(
        loader=jinja2.DictLoader({"page.html": "<main>{{ component('counter') }}</main>"}),
        autoescape=True,
    )
    register_component_global(environment, components_app)
    page = environment.get_template("page.html").render()
    assert '<span class="count">0</span>' in page
    assert 'hx-target="this"' in page
    # The snapshot embedded in the page drives the next event over HTTP.
    response = await asgi_request(
        components_app,
        "POST",
        "/components/counter/",
        form={"event": "increment", "snapshot": snapshot_in(page)},
    )
    assert response.status == 200
    assert response.json()["state"] == {"count": 1}


def test_page_global_passes_mount_params(components_app: ComponentASGI) -> None:
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment, components_app.dispatcher, name="widget")
    rendered = environment.from_string("{{ widget('greeter', name='Ada', excited=True) }}").render()
    assert "Hello Ada!" in rendered


def test_page_global_refuses_an_async_mount(components_app: ComponentASGI) -> None:
    registry = ComponentRegistry()

    @registry.register("lazy")
    class Lazy(Component):
        template_name = "t"

        async def mount(self) -> None:
            self.state["ready"] = True

    environment = jinja2.Environment()
    register_component_global(environment, ComponentASGI(registry=registry))
    with pytest.raises(ConfigurationError, match="async"):
        environment.from_string("{{ component('lazy') }}").render()


def test_page_global_without_components_uses_the_default_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", sample_components.SECRET)
    monkeypatch.setattr(Component, "renderer", sample_components.renderer)
    from component_framework.core import registry

    registry.register("page-counter")(sample_components.CounterComponent)
    try:
        environment = jinja2.Environment()
        register_component_global(environment)
        assert "count" in environment.from_string("{{ component('page-counter') }}").render()
    finally:
        registry.unregister("page-counter")
        sample_components.CounterComponent.component_name = "counter"


def test_registering_on_something_else_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match=r"jinja2\.Environment"):
        register_component_global(object())


def test_component_scripts_global_emits_the_apps_script_tags(tmp_path: Path) -> None:
    environment = jinja2.Environment(autoescape=True)
    app = ComponentASGI(settings=Settings(secret_keys=SCRIPTS_KEY, vendor_directory=tmp_path))
    register_component_global(environment, app)
    page = environment.from_string("<head>{{ component_scripts() }}</head>").render()
    assert page == f"<head>{app.script_tags()}</head>"
    assert '<script src="/components/_static/htmx.min.js"></script>' in page


def test_component_scripts_global_takes_options_a_name_and_a_prefix(tmp_path: Path) -> None:
    environment = jinja2.Environment(autoescape=True)
    app = ComponentASGI(settings=Settings(secret_keys=SCRIPTS_KEY, vendor_directory=tmp_path))
    register_component_global(environment, app, scripts_name="scripts", url_prefix="/ui")
    page = environment.from_string("{{ scripts(sse=False, ws=False) }}").render()
    assert page.splitlines()[0] == '<script src="/ui/_static/htmx.min.js"></script>'
    assert len(page.splitlines()) == 2
    assert "sse.min.js" not in page


def test_component_scripts_global_without_an_app_uses_the_shipped_htmx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COMPONENT_FRAMEWORK_VENDOR_DIR", raising=False)
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment)
    page = environment.from_string("{{ component_scripts(ws=False) }}").render()
    assert page.splitlines()[:2] == [
        '<script src="/components/_static/htmx.min.js"></script>',
        '<script src="/components/_static/sse.min.js"></script>',
    ]
    assert page.count("<script") == 3
    assert "https:" not in page
    assert '<script src="/components/_static/component-framework.min.js?v=' in page


def test_component_scripts_global_loads_htmx_4_when_asked(tmp_path: Path) -> None:
    environment = jinja2.Environment(autoescape=True)
    app = ComponentASGI(settings=Settings(secret_keys=SCRIPTS_KEY, vendor_directory=tmp_path))
    register_component_global(environment, app)
    page = environment.from_string("{{ component_scripts(htmx=4, ws=False) }}").render()
    assert page == app.script_tags(htmx=4, ws=False)
    assert page.splitlines()[:2] == [
        '<script src="/components/_static/htmx4.min.js"></script>',
        '<script src="/components/_static/hx-sse.min.js"></script>',
    ]


_TEMPLATES = {
    "base.html": "<h1>{% block title %}base{% endblock %}</h1>{% block body %}{% endblock %}",
    "child.html": (
        '{% extends "base.html" %}{% block title %}{{ super() }}+{{ v }}{% endblock %}'
        "{% block body %}{% autoescape false %}{{ v }}{% endautoescape %}|{{ v }}{% endblock %}"
    ),
    "plain.txt": "{{ v }}|{% set shown = v %}{{ shown }}|{{ probe() }}",
}


@pass_context
def _probe(context: jinja2.runtime.Context) -> str:
    """What a context-reading global sees of the render's context."""
    return ",".join(sorted(context.get_all())) + f"/{context.name}/{context.eval_ctx.autoescape}"


@pytest.mark.parametrize("autoescape", [True, False, jinja2.select_autoescape(["html"])])
@pytest.mark.parametrize("name", sorted(_TEMPLATES))
def test_renderer_renders_what_jinja_renders_with_blocks_autoescape_and_context_globals(
    autoescape: Any, name: str
) -> None:
    """The renderer's context, made directly, renders as Jinja's own does: inherited blocks
    and ``super()``, autoescape blocks, an autoescape that depends on the template's name,
    set variables, a global reading the context; twice, each render on a context of its own."""
    environment = jinja2.Environment(loader=jinja2.DictLoader(_TEMPLATES), autoescape=autoescape)
    environment.globals["probe"] = _probe
    renderer = Jinja2Renderer(environment)
    for value in ("<b>&", "second"):
        expected = environment.get_template(name).render({"v": value})
        assert renderer.render(name, {"v": value}) == expected


def test_a_context_made_directly_holds_what_jinjas_own_holds() -> None:
    environment = jinja2.Environment(loader=jinja2.DictLoader(_TEMPLATES), autoescape=True)
    template = environment.get_template("child.html")
    names = dict(template.globals)
    made = _render_context(environment, {**names, "v": 1}, template, names)
    own = jinja2.runtime.Context(
        environment, {**names, "v": 1}, template.name, template.blocks, globals=names
    )

    assert vars(made).keys() == vars(own).keys()
    assert {key: value for key, value in vars(made).items() if key != "eval_ctx"} == {
        key: value for key, value in vars(own).items() if key != "eval_ctx"
    }
    assert vars(made.eval_ctx) == vars(own.eval_ctx)
