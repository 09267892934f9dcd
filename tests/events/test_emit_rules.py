"""The rules of ``listens`` (checked when the class is created) and of ``emit`` (checked when
the handler asks: a bad name or payload is ``InvalidEmit``, 400, and nothing is recorded)."""

from __future__ import annotations

import pytest

from component_framework.core.component import Component
from component_framework.core.events import (
    MAX_EMIT_PAYLOAD_BYTES,
    MAX_EMITS_PER_ANSWER,
    checked_page_id,
    page_topic,
)
from component_framework.errors import ConfigurationError, InvalidEmit
from tests.events.components import Cart, Item


def test_listens_is_kept_as_a_tuple_without_repeats():
    class Twice(Component):
        listens = ("added", "added")

        def on_added(self) -> None: ...

    assert Twice.listens == ("added",)


def test_listens_is_inherited_with_its_handlers():
    class BiggerCart(Cart):
        pass

    assert BiggerCart.listens == ("added", "removed")


@pytest.mark.parametrize(
    ("listens", "says"),
    [
        ("added", "must be a tuple of event names"),
        (("added", 3), "no event name"),
        (("_added",), "no event name"),
        (("missing",), "has no public handler on_missing"),
    ],
)
def test_a_wrong_listens_is_a_configuration_error_at_class_creation(listens, says):
    with pytest.raises(ConfigurationError, match=says):
        type("Wrong", (Component,), {"listens": listens, "on_added": lambda self: None})


def test_emit_records_the_event_and_its_payload_for_the_answer():
    item = Item()
    item.emit("added", qty=2, sku="A-1")
    item.emit("removed")
    effects = item.pending_effects
    assert effects is not None
    assert effects.emitted == [
        {"event": "added", "payload": {"qty": 2, "sku": "A-1"}},
        {"event": "removed", "payload": {}},
    ]


@pytest.mark.parametrize("name", ["", "mount", "_private", "has space", "htmx:load", "x" * 65, 7])
def test_an_invalid_event_name_is_invalid_emit(name):
    with pytest.raises(InvalidEmit, match="invalid emitted event"):
        Item().emit(name)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"when": object()}, "not JSON data"),
        ({"ratio": float("nan")}, "not JSON data"),
        ({"text": "x" * MAX_EMIT_PAYLOAD_BYTES}, "larger than"),
    ],
)
def test_a_payload_that_is_not_small_json_data_is_invalid_emit(payload, says):
    item = Item()
    with pytest.raises(InvalidEmit, match=says):
        item.emit("added", **payload)
    assert item.pending_effects is None or not item.pending_effects.emitted


def test_one_answer_emits_a_bounded_number_of_events():
    item = Item()
    for _ in range(MAX_EMITS_PER_ANSWER):
        item.emit("added")
    with pytest.raises(InvalidEmit, match=f"at most {MAX_EMITS_PER_ANSWER}"):
        item.emit("added")


def test_page_ids_are_short_url_safe_tokens_and_anything_else_names_no_page():
    assert checked_page_id("abcDEF12-_x") == "abcDEF12-_x"
    for wrong in (None, 3, "short", "x" * 65, "has space12", "a/b/c/d/e/f"):
        assert checked_page_id(wrong) is None
    assert page_topic("abcDEF12") != "abcDEF12"  # no topics() of a component meets it
