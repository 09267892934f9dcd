"""protocol.compact: the one encoder of bodies, frames and messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework.protocol.compact import compact_json, strict_json

DOCUMENTS: list[Any] = [
    {"html": '<div class="x">é "q" <b></div>', "state": {"count": 42}, "ok": True},
    [1, 2.5, None, False, "\u2028", {"nested": [{"deep": []}]}],
    "text",
    7,
    {},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_compact_json_writes_what_json_dumps_writes_compactly(document: Any) -> None:
    expected = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert compact_json(document) == expected


def test_a_circular_structure_is_refused_with_value_error() -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        compact_json({"items": looped})


def test_what_json_cannot_hold_is_refused_with_type_error_and_the_encoder_still_works() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"value": object()})
    assert compact_json({"value": [1]}) == '{"value":[1]}'  # nothing of the failure stays


@pytest.mark.parametrize("document", DOCUMENTS)
def test_strict_json_writes_what_json_dumps_writes_without_nan(document: Any) -> None:
    expected = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert strict_json(document) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_strict_json_refuses_what_does_not_read_back_and_compact_json_writes_it(
    value: float,
) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        strict_json({"state": [value]})
    assert compact_json({"state": [value]}) == json.dumps({"state": [value]}, separators=(",", ":"))
    assert strict_json({"state": [1.5]}) == '{"state":[1.5]}'  # nothing of the failure stays


def test_strict_json_refuses_circular_structures_and_non_json_values_as_compact_json_does() -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        strict_json({"items": looped})
    with pytest.raises(TypeError, match="not JSON serializable"):
        strict_json({"value": object()})
