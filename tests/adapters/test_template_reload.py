"""Template edits show up without a restart in debug mode, and cost nothing otherwise.

``Jinja2Renderer``'s default (``auto_reload=None``) follows debug: ``COMPONENT_FRAMEWORK_DEBUG``
when the renderer is created, or an app whose ``Settings.debug`` is on. Each test edits a
template file between two renders, through the app (as a page would see it) or the renderer.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.config import ENV_DEBUG, Settings
from component_framework.core.registry import ComponentRegistry
from component_framework.core.renderer import ReloadingRenderer
from component_framework.testing import asgi_request

KEY = "template-reload-test-key-0123456789abcdef"


class Greeting(Component):
    template_name = "greeting.html"


def edit(template: Path, text: str) -> None:
    """Rewrite ``template`` and move its modification time on, as a later save would."""
    template.write_text(text)
    stat = template.stat()
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(ENV_DEBUG, raising=False)
    (tmp_path / "greeting.html").write_text("<p>hello</p>")
    return tmp_path


def app_for(renderer: Jinja2Renderer, *, debug: bool) -> ComponentASGI:
    registry = ComponentRegistry()
    registry.register("greeting")(Greeting)
    settings = Settings(secret_keys=KEY, debug=debug)
    return ComponentASGI(registry=registry, renderer=renderer, settings=settings)


async def render(app: ComponentASGI) -> str:
    answer = await asgi_request(app, "POST", "/components/greeting/", json={})
    assert answer.status == 200, answer.text
    html: str = answer.json()["html"]
    return html


@pytest.mark.parametrize(("debug", "second"), [(True, "bonjour"), (False, "hello")])
async def test_an_app_in_debug_mode_shows_an_edited_template(
    templates: Path, debug: bool, second: str
) -> None:
    app = app_for(Jinja2Renderer(templates), debug=debug)
    assert "<p>hello</p>" in await render(app)
    edit(templates / "greeting.html", "<p>bonjour</p>")
    assert f"<p>{second}</p>" in await render(app)


@pytest.mark.parametrize(("flag", "second"), [("1", "bonjour"), ("0", "hello"), ("", "hello")])
def test_the_debug_variable_decides_for_a_new_renderer(
    templates: Path, monkeypatch: pytest.MonkeyPatch, flag: str, second: str
) -> None:
    monkeypatch.setenv(ENV_DEBUG, flag)
    renderer = Jinja2Renderer(templates)
    assert renderer.render("greeting.html", {}) == "<p>hello</p>"
    edit(templates / "greeting.html", "<p>bonjour</p>")
    assert renderer.render("greeting.html", {}) == f"<p>{second}</p>"


async def test_debug_also_reaches_the_class_level_renderer(
    templates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer = Jinja2Renderer(templates)
    monkeypatch.setattr(Component, "renderer", renderer)
    registry = ComponentRegistry()
    registry.register("greeting")(Greeting)
    app = ComponentASGI(registry=registry, settings=Settings(secret_keys=KEY, debug=True))
    assert "<p>hello</p>" in await render(app)
    edit(templates / "greeting.html", "<p>bonjour</p>")
    assert "<p>bonjour</p>" in await render(app)


def test_without_debug_a_template_is_compiled_once_and_never_checked_again(
    templates: Path,
) -> None:
    renderer = Jinja2Renderer(templates)
    assert renderer.render("greeting.html", {}) == "<p>hello</p>"
    (templates / "greeting.html").unlink()  # no file access at all on later renders
    assert renderer.render("greeting.html", {}) == "<p>hello</p>"
    assert not renderer.environment.auto_reload


@pytest.mark.parametrize(("auto_reload", "second"), [(True, "bonjour"), (False, "hello")])
async def test_an_explicit_choice_wins_over_debug_mode(
    templates: Path, monkeypatch: pytest.MonkeyPatch, auto_reload: bool, second: str
) -> None:
    monkeypatch.setenv(ENV_DEBUG, "0" if auto_reload else "1")
    app = app_for(Jinja2Renderer(templates, auto_reload=auto_reload), debug=not auto_reload)
    assert "<p>hello</p>" in await render(app)
    edit(templates / "greeting.html", "<p>bonjour</p>")
    assert f"<p>{second}</p>" in await render(app)


def test_a_ready_environment_is_left_as_it_is(templates: Path) -> None:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), auto_reload=False)
    renderer = Jinja2Renderer(environment)
    assert isinstance(renderer, ReloadingRenderer)
    renderer.enable_reload()
    assert environment.auto_reload is False
