"""Which renders get a nesting frame: a template that can never render a child renders without
one (the renderer says so, ``NestingRenderer``), with the same bytes; every way a template can
reach ``component()`` (directly, through what it includes, extends or imports, a template
chosen at render time, a macro, a page global of another name, an edit picked up by debug
reload) still renders its children. While templates reload, every render has a frame."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import pytest

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer, register_component_global
from component_framework.core.component import Component
from component_framework.core.dispatch import ComponentCall, Dispatcher
from component_framework.core.hub import Hub
from component_framework.core.nesting import RenderFrame, current_frame
from component_framework.core.registry import ComponentRegistry
from component_framework.core.renderer import NestingRenderer, Renderer
from component_framework.errors import ConfigurationError

KEY = "nesting-frame-key-0123456789abcdef"
SETTINGS = Settings(secret_keys=(KEY,))


def registry_of_outer_and_inner() -> ComponentRegistry:
    registry = ComponentRegistry()

    @registry.register("outer")
    class Outer(Component):
        template_name = "outer.html"

        def mount(self, which: str = "plain.html") -> None:
            self.state["which"] = which

    @registry.register("inner")
    class Inner(Component):
        template_name = "inner.html"

    return registry


class FrameProbe:
    """A template global that notes the nesting frame current while the template runs."""

    def __init__(self) -> None:
        self.frames: list[RenderFrame | None] = []

    def __call__(self) -> str:
        self.frames.append(current_frame())
        return ""


class PlainRenderer:
    """A renderer with the required method only: it cannot say which templates nest."""

    def __init__(self, inner: Renderer) -> None:
        self.inner = inner

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        return self.inner.render(template_name, context)


def probed_renderer(templates: dict[str, str]) -> tuple[Jinja2Renderer, FrameProbe]:
    renderer = Jinja2Renderer.from_strings({"inner.html": "<i>inner</i>", **templates})
    probe = FrameProbe()
    renderer.environment.globals["probe"] = probe
    return renderer, probe


def outer_html(renderer: Renderer, **params: Any) -> str:
    dispatcher = Dispatcher(registry_of_outer_and_inner(), SETTINGS, renderer)
    return dispatcher.dispatch(ComponentCall("outer", params=params)).html


def test_a_childless_template_renders_the_same_bytes_without_a_frame() -> None:
    renderer, probe = probed_renderer({"outer.html": "<p>{{ probe() }}{{ which }} &amp;</p>"})
    dispatcher = Dispatcher(registry_of_outer_and_inner(), SETTINGS, renderer)
    component = dispatcher.dispatch(ComponentCall("outer")).component
    plain = Dispatcher(registry_of_outer_and_inner(), SETTINGS, PlainRenderer(renderer))

    without_frame = dispatcher.render_template(component)
    with_frame = plain.render_template(component)

    assert isinstance(renderer, NestingRenderer)
    assert not isinstance(PlainRenderer(renderer), NestingRenderer)
    assert without_frame == with_frame == "<p>plain.html &amp;</p>"
    assert probe.frames[-2] is None  # the childless template: no frame
    assert isinstance(probe.frames[-1], RenderFrame)  # a renderer that cannot tell: a frame
    assert component.children == {}


@pytest.mark.parametrize(
    ("templates", "params"),
    [
        pytest.param({"outer.html": '{{ probe() }}{{ component("inner") }}'}, {}, id="direct"),
        pytest.param({"outer.html": '{{ probe() }}{% include "part.html" %}'}, {}, id="includes"),
        pytest.param(
            {"outer.html": '{% extends "base.html" %}{% block b %}{{ probe() }}{% endblock %}'},
            {},
            id="extends",
        ),
        pytest.param(
            {"outer.html": '{{ probe() }}{% from "macros.html" import child %}{{ child() }}'},
            {},
            id="from-imports",
        ),
        pytest.param(
            {"outer.html": '{{ probe() }}{% import "macros.html" as m %}{{ m.child() }}'},
            {},
            id="imports",
        ),
        pytest.param(
            {"outer.html": "{{ probe() }}{% include which %}"},
            {"which": "part.html"},
            id="dynamic-include",
        ),
        pytest.param(
            {
                "outer.html": (
                    '{% macro child() %}{{ component("inner") }}{% endmacro %}'
                    "{{ probe() }}{{ child() }}"
                )
            },
            {},
            id="macro",
        ),
    ],
)
def test_a_template_that_reaches_component_renders_its_child_in_a_frame(
    templates: dict[str, str], params: dict[str, Any]
) -> None:
    renderer, probe = probed_renderer(
        {
            "part.html": '<b>{{ component("inner") }}</b>',
            "base.html": '<u>{% block b %}{% endblock %}{{ component("inner") }}</u>',
            "macros.html": '{% macro child() %}{{ component("inner") }}{% endmacro %}',
            **templates,
        }
    )

    html = outer_html(renderer, **params)

    assert 'data-component="inner"' in html
    assert "<i>inner</i>" not in html  # annotated: the child's root carries its id
    assert isinstance(probe.frames[-1], RenderFrame)


def test_a_dynamic_include_of_a_childless_template_still_renders_in_a_frame() -> None:
    renderer, probe = probed_renderer(
        {"outer.html": "{% include which %}", "plain.html": "<p>{{ probe() }}plain</p>"}
    )

    assert outer_html(renderer, which="plain.html") == "<p>plain</p>"
    assert renderer.may_render_children("outer.html")
    assert isinstance(probe.frames[-1], RenderFrame)


def test_a_page_global_of_another_name_renders_children_in_a_component_template() -> None:
    environment = jinja2.Environment(autoescape=True, auto_reload=False)
    registry = registry_of_outer_and_inner()
    templates = {"outer.html": '<b>{{ embed("inner") }}</b>', "inner.html": "<i>inner</i>"}
    environment.loader = jinja2.DictLoader(templates)
    renderer = Jinja2Renderer(environment)
    app = ComponentASGI(registry=registry, renderer=renderer, settings=SETTINGS, hub=Hub())
    assert not renderer.may_render_children("outer.html")  # (not a child global yet)

    register_component_global(environment, app, name="embed")
    html = app.dispatcher.dispatch(ComponentCall("outer")).html

    assert renderer.may_render_children("outer.html")
    assert 'data-component="inner"' in html


def write(path: Path, text: str, step: int) -> None:
    path.write_text(text)
    later = 1_700_000_000 + step  # a distinct mtime per edit, however fast the test runs
    os.utime(path, (later, later))


def test_a_reloaded_template_that_gains_a_child_renders_it(tmp_path: Path) -> None:
    write(tmp_path / "inner.html", "<i>inner</i>", 0)
    write(tmp_path / "outer.html", '<p>{% include "part.html" %}</p>', 0)
    write(tmp_path / "part.html", "plain", 0)
    renderer = Jinja2Renderer(tmp_path, auto_reload=None)
    assert outer_html(renderer) == "<p>plain</p>"  # production mode: the answer is kept
    assert not renderer.may_render_children("outer.html")
    debug = Settings(secret_keys=(KEY,), debug=True)
    dispatcher = Dispatcher(registry_of_outer_and_inner(), debug, renderer)  # reload from now
    before = dispatcher.dispatch(ComponentCall("outer")).html

    write(tmp_path / "part.html", '{{ component("inner") }}', 1)
    gained = dispatcher.dispatch(ComponentCall("outer")).html

    assert before == "<p>plain</p>"
    assert 'data-component="inner"' in gained
    assert renderer.may_render_children("outer.html")


def test_an_unreadable_template_counts_as_one_that_may_render_children() -> None:
    renderer, _ = probed_renderer({"outer.html": '{% include "missing.html" ignore missing %}'})

    assert outer_html(renderer) == ""
    assert renderer.may_render_children("outer.html")
    assert renderer.may_render_children("no-such-template.html")


def test_a_python_function_reaching_component_from_a_childless_template_gets_a_clear_error() -> (
    None
):
    renderer, _ = probed_renderer({"outer.html": "<p>{{ mine() }}</p>"})
    component_global = renderer.environment.globals["component"]
    renderer.environment.globals["mine"] = lambda: component_global("inner")

    with pytest.raises(ConfigurationError, match="name the global itself"):
        outer_html(renderer)
