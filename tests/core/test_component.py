"""The component model: which methods are events, the template context, rendering, identity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from component_framework.core.component import (
    Component,
    StreamingComponent,
    is_valid_event_name,
)
from component_framework.errors import ConfigurationError
from tests.sample_components import CounterComponent, SentimentComponent


class RecordingRenderer:
    """Renders ``label`` and remembers every call."""

    def __init__(self, label: str = "rendered") -> None:
        self.label = label
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        self.calls.append((template_name, dict(context)))
        return f"<p>{self.label}</p>"


def _plain(self: object) -> None:
    return None


class Editor(Component):
    template_name = "editor.html"

    def on_save(self) -> None:
        self.state["saved"] = True

    def on_reset(self) -> None:
        self.state.clear()

    def save_now(self) -> None:  # no on_ prefix
        return None

    def on__private(self) -> None:  # event name would start with "_"
        return None

    def _on_hidden(self) -> None:
        return None

    def on_(self) -> None:  # empty event name
        return None

    on_constant = 3
    on_static = staticmethod(_plain)
    on_class = classmethod(_plain)
    on_property = property(_plain)


class SpecialEditor(Editor):
    def on_save(self) -> None:
        self.state["saved"] = "special"

    def on_publish(self) -> None:
        return None

    on_reset = None  # type: ignore[assignment]


class UndoMixin:
    def on_undo(self) -> None:
        return None


class UndoableEditor(UndoMixin, Editor):
    pass


class Restored(SpecialEditor):
    def on_reset(self) -> None:
        return None


LongNames = type("LongNames", (Component,), {"on_" + "a" * 64: _plain, "on_" + "b" * 65: _plain})


# -- the event surface --------------------------------------------------------------------


def test_public_on_functions_are_the_events() -> None:
    assert set(Editor.events) == {"save", "reset"}


def test_event_maps_to_its_function() -> None:
    assert Editor.events["save"] is Editor.__dict__["on_save"]
    assert Editor.event_handler("save") is Editor.__dict__["on_save"]


@pytest.mark.parametrize(
    "name",
    [
        "mount",
        "hydrate",
        "dehydrate",
        "before_render",
        "get_context",
        "render",
        "event_handler",
        "__init__",
        "save_now",
        "_private",
        "_on_hidden",
        "",
        "constant",
        "static",
        "class",
        "property",
        "on_save",
    ],
)
def test_names_that_are_not_public_handlers_are_not_events(name: str) -> None:
    assert Editor.event_handler(name) is None


@pytest.mark.parametrize("cls", [Component, StreamingComponent])
def test_framework_base_classes_have_no_events(cls: type[Component]) -> None:
    assert dict(cls.events) == {}


def test_subclass_override_replaces_the_handler() -> None:
    assert SpecialEditor.events["save"] is SpecialEditor.__dict__["on_save"]


def test_subclass_inherits_handlers_and_adds_its_own() -> None:
    assert set(UndoableEditor.events) == {"save", "reset", "undo"}
    assert set(SpecialEditor.events) >= {"save", "publish"}


def test_attribute_shadowing_a_handler_with_a_non_function_removes_the_event() -> None:
    assert "reset" not in SpecialEditor.events
    assert "reset" in Editor.events


def test_a_handler_defined_again_below_a_shadowing_attribute_is_an_event() -> None:
    assert Restored.events["reset"] is Restored.__dict__["on_reset"]


def test_handlers_of_a_plain_mixin_are_events() -> None:
    assert UndoableEditor.events["undo"] is UndoMixin.__dict__["on_undo"]


def test_event_names_longer_than_64_characters_are_not_events() -> None:
    assert set(LongNames.events) == {"a" * 64}


def test_events_mapping_is_read_only() -> None:
    with pytest.raises(TypeError):
        Editor.events["evil"] = _plain  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("save", True),
        ("Save2_now", True),
        ("a", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("", False),
        ("_save", False),
        ("2save", False),
        ("save-now", False),
        ("save now", False),
        ("save\n", False),
        ("sàve", False),
    ],
)
def test_event_name_validation(name: str, valid: bool) -> None:
    assert is_valid_event_name(name) is valid


# -- identity -----------------------------------------------------------------------------


def test_component_name_defaults_to_the_lower_case_class_name() -> None:
    assert Editor.component_name == "editor"


def test_component_id_starts_with_the_component_name() -> None:
    assert CounterComponent().id.startswith("counter-")


def test_component_ids_are_unique() -> None:
    ids = {CounterComponent().id for _ in range(1000)}

    assert len(ids) == 1000


def test_component_id_is_stable_for_the_life_of_the_component() -> None:
    component = CounterComponent()
    first = component.id

    component.mount()
    component.on_increment()
    component.hydrate({"count": 9})
    component.get_context()

    assert component.id == first


def test_explicit_component_id_is_kept() -> None:
    assert CounterComponent("counter-fixed").id == "counter-fixed"


def test_initial_state_can_be_given_as_keywords() -> None:
    assert CounterComponent(count=4).state == {"count": 4}


def test_hydrate_replaces_the_state() -> None:
    component = CounterComponent(count=1, other=2)

    component.hydrate({"count": 5})

    assert component.state == {"count": 5}


def test_dehydrate_returns_the_state() -> None:
    component = CounterComponent(count=2)

    assert component.dehydrate() == {"count": 2}


# -- template context ---------------------------------------------------------------------


def test_context_has_state_keys_at_top_level() -> None:
    context = CounterComponent("counter-1", count=3, label="x").get_context()

    assert (context["count"], context["label"]) == (3, "x")


def test_context_has_state_and_identity() -> None:
    component = CounterComponent("counter-1", count=3)

    context = component.get_context()

    assert context["state"] is component.state
    assert (context["component_id"], context["component_name"]) == ("counter-1", "counter")


def test_identity_in_context_cannot_be_spoofed_by_state() -> None:
    component = CounterComponent("counter-1")
    component.state.update(component_id="spoof", component_name="spoof")

    context = component.get_context()

    assert (context["component_id"], context["component_name"]) == ("counter-1", "counter")


# -- rendering ----------------------------------------------------------------------------


class Rendered(Component):
    template_name = "rendered.html"
    renderer: ClassVar[Any] = RecordingRenderer("class renderer")


class NoTemplate(Component):
    renderer: ClassVar[Any] = RecordingRenderer()


def test_render_without_renderer_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Component, "renderer", None)

    with pytest.raises(ConfigurationError) as excinfo:
        Editor().render()

    assert "Component.renderer = Jinja2Renderer('templates')" in str(excinfo.value)


def test_render_without_template_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="NoTemplate has no template_name"):
        NoTemplate().render()


def test_render_uses_the_class_renderer_with_template_and_context() -> None:
    component = Rendered("rendered-1", count=2)

    html = component.render()

    assert html == "<p>class renderer</p>"
    assert Rendered.renderer.calls[-1] == ("rendered.html", component.get_context())


def test_renderer_given_to_render_overrides_the_class_renderer() -> None:
    explicit = RecordingRenderer("explicit")

    assert Rendered().render(explicit) == "<p>explicit</p>"
    assert len(explicit.calls) == 1


def test_repr_shows_id_and_state() -> None:
    assert repr(CounterComponent("counter-1", count=1)) == (
        "<CounterComponent id='counter-1' state={'count': 1}>"
    )


# -- direct use, as in the guide ----------------------------------------------------------


def test_counter_is_usable_by_calling_its_methods() -> None:
    counter = CounterComponent()
    counter.mount()

    counter.on_increment()
    counter.on_increment()
    counter.on_decrement()

    assert counter.state == {"count": 1}


async def test_sentiment_component_is_usable_without_http() -> None:
    comp = SentimentComponent()
    comp.mount()

    await comp.on_analyze("I love async Python")

    assert comp.state == {"text": "I love async Python", "score": 1.9}


def test_sync_generator_handler_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(ConfigurationError, match="sync generator"):

        class Wrong(Component):
            def on_tick(self) -> Any:
                yield


def test_on_mount_is_never_an_event() -> None:
    class Mounted(Component):
        def on_mount(self) -> None:
            self.state["hit"] = True

    assert "mount" not in Mounted.events
    assert Mounted.event_handler("mount") is None


def test_unregistered_subclass_gets_its_own_default_name() -> None:
    class Derived(CounterComponent):
        pass

    assert Derived.component_name == "derived"
    assert CounterComponent.component_name == "counter"


class _RecordingSink:
    def __init__(self) -> None:
        self.ops: list[dict[str, object]] = []

    async def send_op(self, op: Any) -> None:
        self.ops.append(op.to_wire())

    def append_text(self, stream: str, text: str) -> bool:
        return False  # no batching here: every op is sent

    def render(self, component: Component) -> str:
        return f"<div>{component.state['n']}</div>"


async def test_stream_methods_send_ops_to_the_sink_in_order() -> None:
    class Live(Component):
        pass

    component = Live()
    component.state["n"] = 5
    sink = _RecordingSink()
    component.stream_sink = sink
    await component.stream_start("out")
    await component.stream_text("out", "<b>hi</b>")
    await component.stream_insert("out", "<li>x</li>", at="prepend")
    await component.stream_to("out", "<p>y</p>", target=".slot")
    await component.stream_to("out")  # no html: the component is re-rendered
    await component.stream_delete("out", "#old")
    await component.stream_error("out", "failed")
    await component.stream_done("out")
    assert [op["op"] for op in sink.ops] == [
        "start", "text", "insert", "replace", "replace", "delete", "error", "done",
    ]  # fmt: skip
    assert sink.ops[1]["text"] == "<b>hi</b>"
    assert sink.ops[4]["html"] == "<div>5</div>"
    assert sink.ops[5]["selector"] == "#old"


async def test_stream_methods_without_a_stream_only_validate() -> None:
    class Offline(Component):
        pass

    component = Offline()
    await component.stream_text("out", "ignored")
    await component.stream_to("out")
    with pytest.raises(ValueError, match="stream_text"):
        await component.stream_text("out", 3)  # type: ignore[arg-type]
