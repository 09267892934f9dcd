"""A broadcast's members in the same state share one render of their template.

``Jinja2Renderer`` renders a template once per state and writes each member's id into a copy
when the template can read nothing but the state and the component's name and id (the id only
as a plain ``{{ component_id }}``). Every push message must be byte for byte the one each
member got before: the same members, joined with the same snapshots to an app whose renderer
cannot share, get the same texts, over many templates (shared or not) and states that tell
``1``, ``1.0`` and ``True`` apart, escape, or are not plain JSON values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from component_framework import ComponentASGI
from component_framework.adapters.jinja_sharing import SHARED_LIMIT
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.dispatch import SEEN_LIMIT, ComponentCall, Dispatcher
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.websocket import WebSocketManager
from component_framework.errors import HandlerError
from component_framework.protocol.compact import compact_json, json_string
from component_framework.protocol.snapshot import SnapshotSigner
from component_framework.testing import WebSocketTestSession, websocket_connect
from tests.sample_components import SECRET
from tests.websocket.helpers import ws_path

#: Templates whose renders are shared, by name (also the component's name).
SHARED = {
    "plain": '<div id="{{ component_id }}">{{ value }}</div>',
    "attrs": (
        '<div id="{{ component_id }}" data-v="{{ value }}" title="{{ label }}">'
        "{{ component_name }}|{{ component_id }}</div>"
    ),
    "loop": (
        '<ul id="{{ component_id }}">{% for item in items %}<li data-of="{{ component_id }}">'
        "{{ loop.index }}:{{ item }}</li>{% else %}<li>none</li>{% endfor %}</ul>"
    ),
    "branch": (
        "{% if value is number and value > 1 %}<b>{{ value * 2 }}</b>{% elif value %}<i>"
        "{{ value }}</i>{% else %}<s>{{ value }}</s>{% endif %}"
        '<p id="{{ component_id }}">{{ value is sameas true }}</p>'
    ),
    "filters": (
        '<p id="{{ component_id }}">{{ label|upper }} {{ label|length }} {{ items|join(",") }}'
        " {{ state|length }} {{ value|default('-') }}</p>"
    ),
    "whole_state": '<pre id="{{ component_id }}">{{ state }}</pre>',
}
#: A shared template without the id: its render is one part, quoted at both ends.
NO_ID = {"no_id": "<p>{{ value }} {{ label }}</p>"}
#: Templates that must never be shared: the id changed on its way out, something of the
#: request, a call, an include, a global, a random filter, ...
UNSHARED = {
    "id_filtered": '<div id="{{ component_id|upper }}">{{ value }}</div>',
    "id_length": "<i>{{ component_id|length }}</i>{{ value }}",
    "id_joined": '<i id="{{ "x-" ~ component_id }}">{{ value }}</i>',
    "id_set": '{% set own = component_id %}<p id="{{ own }}">{{ value }}</p>',
    "id_compared": '<p>{{ component_id == "x" }}</p>{{ value }}',
    "id_sliced": '<p id="{{ component_id[:4] }}">{{ value }}</p>',
    "request": '<p id="{{ component_id }}">{{ value }} {{ request.headers.get("x-v", "") }}</p>',
    "errors": '<p id="{{ component_id }}">{{ value }}{{ errors }}{{ form }}</p>',
    "include": '{% include "part.html" %}<p id="{{ component_id }}"></p>',
    "macro": (
        "{% macro show(v) %}<b>{{ v }}</b>{% endmacro %}{{ show(value) }}"
        '<p id="{{ component_id }}">'
    ),
    "global": '<p id="{{ component_id }}">{{ greeting }} {{ value }}</p>',
    "call": '<p id="{{ component_id }}">{{ label.upper() }}{{ range(2)|list }}</p>',
    "safe": '<p id="{{ component_id }}">{{ label|safe }}</p>',
}
EXTRA = {"part.html": "<i>{{ value }}</i>"}
#: What the members end in, one choice per member group: equal states within a group.
CHOICES: list[list[Any]] = [
    [1, 1.0, True],
    [0, False, None, -0.0, 0.0],
    ["<b>&'\"</b>", "&amp;", "plain"],
    [2.5, [1, "a"], {"k": "<v>"}],
    [(1, 2), [1, 2], Markup("<em>x</em>")],
]
GROUPS = 3
R = TypeVar("R", bound=Jinja2Renderer)


class Shaped(Component):
    """Ends a ``set`` broadcast in the choice of its group (its state's ``group``)."""

    def mount(self) -> None:
        self.state.update({"group": 0, "value": 0, "label": "", "items": []})

    def on_set(self, choices: list[Any], label: str) -> None:
        choice = choices[self.state["group"] % len(choices)]
        self.state["value"] = choice
        self.state["label"] = label
        self.state["items"] = [choice, label]


def _registry(names: list[str]) -> ComponentRegistry:
    registry = ComponentRegistry()
    for name in names:
        registry.register(name)(type(name.title(), (Shaped,), {"template_name": name}))
    return registry


class CountingRenderer(Jinja2Renderer):
    """The sharing renderer, counting the renders it was asked for and those it shared."""

    shared = 0
    asked = 0

    def render_shared(self, *arguments: Any) -> tuple[str, str] | None:
        shared = super().render_shared(*arguments)
        self.asked += 1
        self.shared += shared is not None
        return shared


class PlainRenderer:
    """A Jinja renderer that cannot share: every component renders its own template."""

    def __init__(self, templates: Mapping[str, str]) -> None:
        self.inner = _jinja(Jinja2Renderer, templates)

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        return self.inner.render(template_name, context)

    def may_render_children(self, template_name: str) -> bool:
        return self.inner.may_render_children(template_name)


def _jinja(kind: type[R], templates: Mapping[str, str]) -> R:
    renderer = kind(Jinja2Renderer.from_strings({**templates, **EXTRA}).environment)
    renderer.environment.globals["greeting"] = "hello"
    return renderer


def _app(registry: ComponentRegistry, renderer: Any, now: int) -> ComponentASGI:
    app = ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), max_sockets_per_client=1000),
        hub=Hub(),
        shutdown_on_signals=False,
    )
    app.dispatcher.signer = SnapshotSigner([SECRET], clock=lambda: now)  # the same `t` in both
    return app


async def _members(
    stack: AsyncExitStack, app: ComponentASGI, snapshots: list[tuple[str, str]]
) -> list[WebSocketTestSession]:
    sockets = []
    for name, snapshot in snapshots:
        path = ws_path(name)
        ws = await stack.enter_async_context(
            websocket_connect(app, path, query={"join": "message"})
        )
        await ws.send_json({"type": "join", "snapshot": snapshot})
        assert (await ws.receive_json())["type"] == "render"
        sockets.append(ws)
    return sockets


async def _mounted(
    stack: AsyncExitStack, app: ComponentASGI, name: str, count: int
) -> list[WebSocketTestSession]:
    """``count`` connections to ``name``, each mounted (its first render read)."""
    sockets = []
    for _ in range(count):
        ws = await stack.enter_async_context(websocket_connect(app, ws_path(name)))
        assert (await ws.receive_json())["type"] == "render"
        sockets.append(ws)
    return sockets


async def _pushes(
    templates: Mapping[str, str], renderer: Any, ids: list[str], now: int
) -> list[list[str]]:
    """The push texts of every member, broadcast by broadcast, each member in the state
    of its group (``ids``: the members' ids, round robin over the templates)."""
    names = list(templates)
    registry = _registry(names)
    app = _app(registry, renderer, now)
    signer = SnapshotSigner([SECRET], clock=lambda: now)
    snapshots = []
    for index, component_id in enumerate(ids):
        name = names[index % len(names)]
        state = {"group": index % GROUPS, "value": 0, "label": "", "items": []}
        snapshots.append((name, signer.sign(name, f"{name}-{component_id}", state)))
    manager = WebSocketManager(hub=app.hub)
    pushes = []
    async with AsyncExitStack() as stack:
        sockets = await _members(stack, app, snapshots)
        for number, choices in enumerate(CHOICES):
            payload = {"choices": choices, "label": f"<{number}>"}
            for name in names:
                await manager.broadcast(component_name=name, event="set", payload=payload)
            pushes.append([await ws.receive_text() for ws in sockets])
    return pushes


IDS = [f"m{index:02d}abcdefghij" for index in range(2 * GROUPS)] + ["m-x.y_z:1", "a&b<c'"]


@pytest.mark.parametrize("templates", [SHARED, UNSHARED], ids=["shared", "unshared"])
async def test_every_push_is_byte_for_byte_the_render_of_its_own_template(
    templates: dict[str, str],
):
    now = int(time.time())
    sharing = _jinja(CountingRenderer, templates)
    shared = await _pushes(templates, sharing, IDS * len(templates), now)
    plain = await _pushes(templates, PlainRenderer(templates), IDS * len(templates), now)
    assert shared == plain
    members = len(IDS) * len(templates)
    assert all(len(texts) == members for texts in shared)
    if templates is SHARED:  # members whose state is plain JSON: all but the tuple and Markup
        assert sharing.shared >= members * (len(CHOICES) - 1)
    else:
        assert sharing.shared == 0


#: Text of any code point but the surrogates (which UTF-8 cannot carry to the client).
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
#: An id HTML escaping leaves as is (else its render is not shared), with anything JSON
#: escapes or leaves as is: quotes aside, backslashes, control characters, non-ASCII.
_IDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="&<>'\""))
_VALUES = _TEXT | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.booleans()
_ESCAPED = '"\\\b\f\n\r\t\x00\x1f\x7f\u2028é中😀'


@settings(max_examples=20)
@given(name=st.sampled_from(["attrs", "whole_state", "no_id"]), value=_VALUES, label=_TEXT,
       suffixes=st.lists(_IDS, min_size=3, max_size=3, unique=True))  # fmt: skip
async def test_a_broadcast_pushes_each_member_the_json_dumps_message_of_its_own_render(
    name: str, value: Any, label: str, suffixes: list[str]
):
    """The members end in one state, so from the second on their renders are shared: each
    push is still, byte for byte, ``json.dumps`` of the member's own render document (the
    HTML rendered for its id by a renderer that cannot share, the token signed for it)."""
    now = int(time.time())
    sharing = _jinja(CountingRenderer, {**SHARED, **NO_ID})
    plain = PlainRenderer({**SHARED, **NO_ID})
    app = _app(_registry([name]), sharing, now)
    signer = SnapshotSigner([SECRET], clock=lambda: now)
    start = {"group": 0, "value": 0, "label": "", "items": []}
    ids = [f"{name}-{index}{suffix}" for index, suffix in enumerate(suffixes)]
    label += _ESCAPED
    async with AsyncExitStack() as stack:
        sockets = await _members(stack, app, [(name, signer.sign(name, i, start)) for i in ids])
        sharing.shared = 0  # (the joins, in one state too, shared theirs)
        await WebSocketManager(hub=app.hub).broadcast(
            component_name=name, event="set", payload={"choices": [value], "label": label}
        )
        pushes = [await ws.receive_text() for ws in sockets]
    state = {"group": 0, "value": value, "label": label, "items": [value, label]}
    for component_id, push in zip(ids, pushes, strict=True):
        context = {**state, "state": state, "component_id": component_id, "component_name": name}
        document = {
            "type": "render",
            "html": plain.render(name, context),
            "state": state,
            "snapshot": signer.sign(name, component_id, state),
            "component_id": component_id,
            "ref": None,
        }
        assert push == json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert sharing.shared == len(ids) - 1  # the first in the state renders as usual


def test_a_shared_render_s_json_text_is_its_html_quoted_at_once():
    renderer = _jinja(Jinja2Renderer, {**SHARED, **NO_ID})
    state = {"value": _ESCAPED, "label": "\x01\\", "items": [_ESCAPED]}
    text = compact_json(state)
    for name in {**SHARED, **NO_ID}:
        for component_id in ("x", "x\\y\n\x00é😀", ""):
            renderer.render_shared(name, state, text, name, component_id)
            shared = renderer.render_shared(name, state, text, name, component_id)
            context = {**state, "state": state, "component_id": component_id}
            html = renderer.render(name, {**context, "component_name": name})
            assert shared == (html, json.dumps(html, ensure_ascii=False)), name


def test_the_renderer_tells_which_templates_it_may_share():
    renderer = _jinja(Jinja2Renderer, {**SHARED, **UNSHARED})
    # ``global`` may be shared in a state that has a ``greeting`` key (it wins over the global).
    expected = {*SHARED, "global"}
    assert {name for name in {**SHARED, **UNSHARED} if renderer.may_share(name)} == expected


def test_an_id_that_escapes_or_a_state_with_a_name_it_lacks_is_rendered_as_usual():
    renderer = _jinja(Jinja2Renderer, SHARED)
    state = {"value": "<v>", "label": "a", "items": []}
    # The renderer shares from the first render it is asked for in a state (the dispatcher
    # asks from a state's second on).
    for own in ("attrs-a0", "attrs-a1"):
        shared = renderer.render_shared("attrs", state, '{"value":"<v>"}', "attrs", own)
        context = {**state, "state": state, "component_id": own, "component_name": "attrs"}
        html = renderer.render("attrs", context)
        assert shared == (html, json_string(html))
    assert renderer.render_shared("attrs", state, '{"value":"<v>"}', "attrs", 'a"b') is None
    # The template reads ``label``: a state without it is not shared (a global could fill it).
    for component_id in ("attrs-1", "attrs-2"):
        assert (
            renderer.render_shared("attrs", {"value": 1}, '{"value":1}', "attrs", component_id)
            is None
        )


class OwnContext(Shaped):
    template_name = "plain"

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["value"] = self.id[::-1]
        return context


class OwnRender(Shaped):
    template_name = "plain"

    def render(self, renderer: Any = None) -> str:
        return f"<p>{self.id}:{self.state['value']}</p>"


@pytest.mark.parametrize("cls", [OwnContext, OwnRender])
async def test_a_class_that_renders_its_own_way_is_never_shared(cls: type[Shaped]):
    registry = ComponentRegistry()
    registry.register("own")(cls)
    renderer = _jinja(CountingRenderer, SHARED)
    app = _app(registry, renderer, int(time.time()))
    async with AsyncExitStack() as stack:
        sockets = await _mounted(stack, app, "own", 3)
        await WebSocketManager(hub=app.hub).broadcast(
            component_name="own", event="set", payload={"choices": [7], "label": ""}
        )
        pushes = [await ws.receive_json() for ws in sockets]
    for push in pushes:
        own = push["component_id"]
        expected = own[::-1] if cls is OwnContext else f"{own}:7"
        assert expected in push["html"]
    assert renderer.shared == 0


def _patchable() -> tuple[type[Shaped], CountingRenderer, ComponentASGI, WebSocketManager]:
    """A class of its own on a shared template (a test patches it), registered as
    ``patched`` on an app with a counting renderer, and the app's broadcaster."""

    class Patched(Shaped):
        template_name = "plain"

    registry = ComponentRegistry()
    registry.register("patched")(Patched)
    renderer = _jinja(CountingRenderer, SHARED)
    app = _app(registry, renderer, int(time.time()))
    return Patched, renderer, app, WebSocketManager(hub=app.hub)


async def test_a_method_replaced_on_the_class_after_a_shared_render_is_used_from_then_on(
    monkeypatch: pytest.MonkeyPatch,
):
    Patched, renderer, app, hub = _patchable()
    async with AsyncExitStack() as stack:
        sockets = await _mounted(stack, app, "patched", 3)
        await hub.broadcast(
            component_name="patched", event="set", payload={"choices": [7], "label": ""}
        )
        first = [await ws.receive_json() for ws in sockets]
        shared_before = renderer.shared
        assert shared_before > 0  # the class shared its renders

        def reversed_id(self: Component) -> dict[str, Any]:
            context = Component.get_context(self)
            context["value"] = self.id[::-1]
            return context

        monkeypatch.setattr(Patched, "get_context", reversed_id)
        await hub.broadcast(
            component_name="patched", event="set", payload={"choices": [8], "label": ""}
        )
        second = [await ws.receive_json() for ws in sockets]
    assert all(">7<" in push["html"] for push in first)
    for push in second:
        assert f">{push['component_id'][::-1]}<" in push["html"]
    assert renderer.shared == shared_before  # none of the patched class's renders shared


async def test_a_dehydrate_replaced_on_the_class_after_a_shared_render_writes_its_state(
    monkeypatch: pytest.MonkeyPatch,
):
    Patched, renderer, app, hub = _patchable()
    payload = {"choices": [7], "label": ""}
    async with AsyncExitStack() as stack:
        sockets = await _mounted(stack, app, "patched", 3)
        await hub.broadcast(component_name="patched", event="set", payload=payload)
        first = [await ws.receive_json() for ws in sockets]
        assert renderer.shared > 0  # the class shared its renders

        def labelled(self: Component) -> dict[str, Any]:
            return {**self.state, "label": "dehydrated"}

        monkeypatch.setattr(Patched, "dehydrate", labelled)
        await hub.broadcast(component_name="patched", event="set", payload=payload)
        second = [await ws.receive_json() for ws in sockets]
    assert all(push["state"]["label"] == "" for push in first)
    for push in second:  # the template renders the state; the snapshot holds dehydrate's
        assert f'<div id="{push["component_id"]}">7</div>' == push["html"]
        assert push["state"] == {"group": 0, "value": 7, "label": "dehydrated", "items": [7, ""]}


async def test_a_reloading_template_is_never_shared_and_its_edit_shows(tmp_path: Path):
    (tmp_path / "plain").write_text(SHARED["plain"])
    renderer = Jinja2Renderer(tmp_path, auto_reload=True)
    registry = _registry(["plain"])
    app = _app(registry, renderer, int(time.time()))
    assert not renderer.may_share("plain")
    manager = WebSocketManager(hub=app.hub)
    payload = {"choices": [5], "label": ""}
    async with AsyncExitStack() as stack:
        sockets = await _mounted(stack, app, "plain", 2)
        await manager.broadcast(component_name="plain", event="set", payload=payload)
        first = [(await ws.receive_json())["html"] for ws in sockets]
        (tmp_path / "plain").write_text('<div id="{{ component_id }}">edited {{ value }}</div>')
        await manager.broadcast(component_name="plain", event="set", payload=payload)
        second = [(await ws.receive_json())["html"] for ws in sockets]
    assert all(">5<" in html for html in first)
    assert all(">edited 5<" in html for html in second)
    assert renderer.render_shared("plain", {"value": 5}, '{"value":5}', "plain", "p-1") is None


async def test_a_state_is_asked_of_the_renderer_from_its_second_render_on():
    registry = _registry(["plain"])
    renderer = _jinja(CountingRenderer, SHARED)
    app = _app(registry, renderer, int(time.time()))
    hub = WebSocketManager(hub=app.hub)
    states = 2 * SEEN_LIMIT + 1  # the dispatcher's table of states seen once is emptied twice
    async with AsyncExitStack() as stack:
        sockets = await _mounted(stack, app, "plain", 3)  # three first renders in one state
        assert (renderer.asked, renderer.shared) == (2, 2)
        for number in range(1, states + 1):
            payload = {"choices": [number], "label": ""}
            await hub.broadcast(component_name="plain", event="set", payload=payload)
            for ws in sockets:
                push = await ws.receive_json()
                assert push["html"] == f'<div id="{push["component_id"]}">{number}</div>'
    # Each state's first render was the usual one, without asking; the other two shared.
    assert (renderer.asked, renderer.shared) == (2 + 2 * states, 2 + 2 * states)


class Unwritable(Shaped):
    template_name = "plain"

    def on_keep_a_set(self) -> None:
        self.state["items"] = {1, 2}

    def on_nest_deeply(self) -> None:
        nested: list[Any] = []
        for _ in range(100_000):
            nested = [nested]
        self.state["items"] = nested  # (not shown: the template shows only ``value``)


@pytest.mark.parametrize("event", ["keep_a_set", "nest_deeply"])
def test_a_state_that_is_not_json_fails_in_dehydrate_as_without_sharing(event: str):
    registry = ComponentRegistry()
    registry.register("unwritable")(Unwritable)
    dispatcher = Dispatcher(
        registry, Settings(secret_keys=(SECRET,)), _jinja(Jinja2Renderer, SHARED)
    )
    mounted = dispatcher.dispatch(ComponentCall("unwritable"))
    with pytest.raises(HandlerError) as excinfo:
        dispatcher.dispatch(ComponentCall("unwritable", event, snapshot=mounted.snapshot))
    assert excinfo.value.stage == "dehydrate"


@pytest.mark.parametrize("auto_reload", [True, False], ids=["jinja-default", "auto_reload-off"])
async def test_an_environment_passed_with_jinjas_default_reload_shares_no_render(auto_reload):
    # jinja2.Environment reloads by default: a renderer given one shares no render and gets
    # the nesting frame at every render, until the environment says auto_reload=False.
    environment = jinja2.Environment(loader=jinja2.DictLoader(SHARED), autoescape=True)
    assert environment.auto_reload  # Jinja's default, which this test is about
    environment.auto_reload = auto_reload
    renderer = CountingRenderer(environment)
    app = _app(_registry(["plain"]), renderer, int(time.time()))
    manager = WebSocketManager(hub=app.hub)
    async with AsyncExitStack() as stack:
        sockets = await _mounted(stack, app, "plain", 3)
        for choice in (4, 4, 6):
            payload = {"choices": [choice], "label": ""}
            await manager.broadcast(component_name="plain", event="set", payload=payload)
            pushes = [await ws.receive_json() for ws in sockets]
            assert all(f">{choice}<" in push["html"] for push in pushes)

    assert renderer.may_share("plain") is not auto_reload
    assert renderer.may_render_children("plain") is auto_reload
    assert (renderer.shared > 0) is not auto_reload


def test_more_states_than_the_table_keeps_are_each_rendered_right():
    renderer = _jinja(Jinja2Renderer, SHARED)
    for number in range(3 * SHARED_LIMIT + 1):  # the table is emptied twice on the way
        state = {"value": number, "label": "", "items": []}
        context = {**state, "state": state, "component_id": "p-1", "component_name": "plain"}
        text = f'{{"value":{number},"label":"","items":[]}}'
        html = renderer.render("plain", context)
        assert renderer.render_shared("plain", state, text, "plain", "p-1") == (
            html,
            json_string(html),
        )
