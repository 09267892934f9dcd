"""The component registry: names, duplicates, lookups and the default registry."""

from __future__ import annotations

import pytest

from component_framework.core import registry as default_registry_module
from component_framework.core.component import Component
from component_framework.core.registry import (
    ComponentRegistry,
    default_registry,
    is_valid_component_name,
)
from component_framework.errors import ComponentNotFound, ConfigurationError


def make_component(class_name: str = "Widget") -> type[Component]:
    """A fresh component class, so registering it mutates nothing shared."""
    return type(class_name, (Component,), {"template_name": "widget.html"})


@pytest.fixture
def components() -> ComponentRegistry:
    return ComponentRegistry()


def test_register_returns_the_class_unchanged(components: ComponentRegistry) -> None:
    cls = make_component()

    assert components.register("widget")(cls) is cls


def test_register_sets_the_component_name(components: ComponentRegistry) -> None:
    cls = components.register("fancy-widget")(make_component())

    assert cls.component_name == "fancy-widget"


def test_get_returns_the_registered_class(components: ComponentRegistry) -> None:
    cls = components.register("widget")(make_component())

    assert components.get("widget") is cls


def test_decorator_syntax_registers_the_class(components: ComponentRegistry) -> None:
    @components.register("counter")
    class CounterComponent(Component):
        template_name = "counter.html"

    assert components.get("counter") is CounterComponent


def test_unknown_name_raises_component_not_found(components: ComponentRegistry) -> None:
    with pytest.raises(ComponentNotFound) as excinfo:
        components.get("missing")

    assert excinfo.value.name == "missing"
    assert excinfo.value.status_code == 404
    assert "'missing'" in str(excinfo.value)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "_private",
        "_static",
        "-leading-dash",
        "Counter",
        "has space",
        "a/b",
        "a.b",
        "é",
        "name\n",
        "x" * 65,
    ],
)
def test_invalid_name_is_refused(components: ComponentRegistry, name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid component name"):
        components.register(name)


@pytest.mark.parametrize("name", ["a", "0", "my-counter", "my_counter", "v2", "x" * 64])
def test_valid_name_is_accepted(components: ComponentRegistry, name: str) -> None:
    components.register(name)(make_component())

    assert name in components


def test_invalid_name_message_says_what_is_expected() -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        ComponentRegistry().register("Bad Name")

    assert "lower-case letters, digits" in str(excinfo.value)
    assert "'Bad Name'" in str(excinfo.value)


@pytest.mark.parametrize(("name", "valid"), [("counter", True), ("_counter", False)])
def test_is_valid_component_name(name: str, valid: bool) -> None:
    assert is_valid_component_name(name) is valid


def test_same_name_for_a_different_class_is_refused(components: ComponentRegistry) -> None:
    components.register("widget")(make_component("FirstWidget"))

    with pytest.raises(ConfigurationError, match=r"already taken by .*FirstWidget"):
        components.register("widget")(make_component("SecondWidget"))


def test_refused_duplicate_leaves_the_first_class_registered(
    components: ComponentRegistry,
) -> None:
    first = components.register("widget")(make_component("FirstWidget"))

    with pytest.raises(ConfigurationError):
        components.register("widget")(make_component("SecondWidget"))

    assert components.get("widget") is first


def test_registering_the_same_class_again_is_allowed(components: ComponentRegistry) -> None:
    cls = make_component()
    components.register("widget")(cls)

    components.register("widget")(cls)

    assert components.get("widget") is cls
    assert len(components) == 1


def test_registering_something_that_is_not_a_component_is_refused(
    components: ComponentRegistry,
) -> None:
    class NotAComponent:
        pass

    with pytest.raises(ConfigurationError, match="is not a Component"):
        components.register("thing")(NotAComponent)  # type: ignore[type-var]


def test_names_are_sorted(components: ComponentRegistry) -> None:
    for name in ("zeta", "alpha", "mid"):
        components.register(name)(make_component(name.title()))

    assert components.names() == ["alpha", "mid", "zeta"]


def test_unregister_removes_the_name(components: ComponentRegistry) -> None:
    components.register("widget")(make_component())

    components.unregister("widget")

    assert "widget" not in components
    assert len(components) == 0


def test_unregister_of_an_unknown_name_does_nothing(components: ComponentRegistry) -> None:
    components.unregister("missing")

    assert len(components) == 0


def test_registries_are_isolated(components: ComponentRegistry) -> None:
    components.register("isolated-widget")(make_component())

    assert "isolated-widget" not in ComponentRegistry()
    assert "isolated-widget" not in default_registry


def test_module_level_register_acts_on_the_default_registry() -> None:
    cls = make_component("DefaultWidget")
    try:
        default_registry_module.register("test-default-widget")(cls)

        assert default_registry.get("test-default-widget") is cls
        assert default_registry_module.get("test-default-widget") is cls
        assert "test-default-widget" in default_registry_module.names()
    finally:
        default_registry_module.unregister("test-default-widget")
    assert "test-default-widget" not in default_registry
