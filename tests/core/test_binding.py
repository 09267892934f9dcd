"""Binding untrusted payloads to handler signatures: hints, coercion, strictness, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Optional

import pytest

from component_framework.core.binding import Binder, binder_for
from component_framework.errors import ConfigurationError, PayloadValidationError

_NO_DEFAULT: Any = object()


def handler_for(hint: object, default: Any = _NO_DEFAULT) -> Callable[..., None]:
    """A method ``(self, value: hint)`` built at run time so that tables can vary the hint."""
    if default is _NO_DEFAULT:

        def handler(self: object, value: object) -> None:
            return None

    else:

        def handler(self: object, value: object = default) -> None:
            return None

    handler.__annotations__ = {"value": hint, "return": None}
    return handler


def bind_value(hint: object, value: Any) -> Any:
    return Binder(handler_for(hint)).bind({"value": value})["value"]


class Opaque:
    """A type the binder does not know how to build from JSON."""


def short_id(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 32 else text[:29] + "..."


# -- accepted values ----------------------------------------------------------------------

ACCEPTED: list[tuple[object, Any, Any]] = [
    (int, 3, 3),
    (int, -7, -7),
    (int, "3", 3),
    (int, " 42 ", 42),
    (int, "-7", -7),
    (int, "+7", 7),
    (int, "007", 7),
    (int, "\t12\n", 12),
    (int, 2.0, 2),
    (float, 1.5, 1.5),
    (float, 2, 2.0),
    (float, "2.5", 2.5),
    (float, "3", 3.0),
    (float, "-1e3", -1000.0),
    (float, "+.5", 0.5),
    (float, "5.", 5.0),
    (float, "1.5E-2", 0.015),
    (bool, True, True),
    (bool, False, False),
    (bool, "true", True),
    (bool, "TRUE", True),
    (bool, "1", True),
    (bool, "on", True),
    (bool, "yes", True),
    (bool, "false", False),
    (bool, "0", False),
    (bool, "off", False),
    (bool, "no", False),
    (bool, "", False),
    (bool, 1, True),
    (bool, 0, False),
    (str, "text", "text"),
    (str, "", ""),
    (None, None, None),
    (type(None), "", None),
    (Optional[int], None, None),  # noqa: UP045 - the spelling under test
    (Optional[int], "5", 5),  # noqa: UP045
    (int | None, None, None),
    (int | None, "", None),
    (int | None, 5, 5),
    (str | None, "", ""),
    (int | str, "3", 3),
    (int | str, "abc", "abc"),
    (Literal["a", "b"], "a", "a"),
    (Literal[1, 2], 2, 2),
    (Literal[1, 2], "2", 2),
    (Literal["a"] | None, None, None),
    (list, [1, "a", None], [1, "a", None]),
    (list, "single", ["single"]),
    (list[int], ["1", 2], [1, 2]),
    (list[int], "3", [3]),
    (list[int], [], []),
    (list[dict[str, int]], [{"a": "1"}], [{"a": 1}]),
    (dict, {"a": [1]}, {"a": [1]}),
    (dict[str, int], {"a": "1", "b": 2}, {"a": 1, "b": 2}),
    (dict[str, Any], {"a": object}, {"a": object}),
    (Any, {"anything": [1]}, {"anything": [1]}),
]


@pytest.mark.parametrize(("hint", "value", "expected"), ACCEPTED, ids=short_id)
def test_value_fitting_the_hint_is_converted(hint: object, value: Any, expected: Any) -> None:
    result = bind_value(hint, value)

    assert result == expected
    assert type(result) is type(expected)


def test_any_passes_the_same_object_through() -> None:
    marker = object()

    assert bind_value(Any, marker) is marker


def test_unannotated_parameter_passes_values_through() -> None:
    def on_save(self: object, value) -> None:  # type: ignore[no-untyped-def]
        return None

    marker = object()

    assert Binder(on_save).bind({"value": marker}) == {"value": marker}


# -- rejected values ----------------------------------------------------------------------

REJECTED: list[tuple[object, Any, str]] = [
    (int, True, "value"),
    (int, False, "value"),
    (int, 1.5, "value"),
    (int, "1.5", "value"),
    (int, "abc", "value"),
    (int, "1_000", "value"),
    (int, "\u0661\u0662\u0663", "value"),
    (int, "\u0967\u0968", "value"),
    (int, "\uff11\uff12", "value"),
    (int, "\u00b2", "value"),
    (int, "0x10", "value"),
    (int, "1e3", "value"),
    (int, "--1", "value"),
    (int, "+", "value"),
    (int, "\u30001\u3000", "value"),
    (int, "9" * 5000, "value"),
    (int, "", "value"),
    (int, None, "value"),
    (int, [1], "value"),
    (int, float("nan"), "value"),
    (float, True, "value"),
    (float, float("nan"), "value"),
    (float, float("inf"), "value"),
    (float, float("-inf"), "value"),
    (float, "nan", "value"),
    (float, "inf", "value"),
    (float, "abc", "value"),
    (float, "Infinity", "value"),
    (float, "-inf", "value"),
    (float, "NaN", "value"),
    (float, "1e999", "value"),
    (float, "1_0.5", "value"),
    (float, "\u0661.\u0665", "value"),
    (float, "\uff11.5", "value"),
    (float, "0x1p3", "value"),
    (float, ".", "value"),
    (float, "1e", "value"),
    (float, None, "value"),
    (float, [1.0], "value"),
    (float, 10**400, "value"),
    (bool, 2, "value"),
    (bool, 1.0, "value"),
    (bool, "maybe", "value"),
    (bool, None, "value"),
    (str, 1, "value"),
    (str, None, "value"),
    (str, True, "value"),
    (str, ["a"], "value"),
    (None, "x", "value"),
    (None, 0, "value"),
    (int | None, "abc", "value"),
    (int | None, 1.5, "value"),
    (Literal["a", "b"], "c", "value"),
    (Literal["a", "b"], 1, "value"),
    (Literal[1], True, "value"),
    (Literal[1], "x", "value"),
    (list, {"a": 1}, "value"),
    (list, 3, "value"),
    (list[int], ["1", "x"], "value[1]"),
    (list[int], 3, "value"),
    (dict, "{}", "value"),
    (dict, [1], "value"),
    (dict[str, int], {"a": "x"}, "value.a"),
]


@pytest.mark.parametrize(("hint", "value", "field"), REJECTED, ids=short_id)
def test_value_not_fitting_the_hint_names_the_field(hint: object, value: Any, field: str) -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        bind_value(hint, value)

    assert excinfo.value.field == field
    assert f"'{field}'" in str(excinfo.value)
    assert excinfo.value.status_code == 422


def test_error_says_what_to_enter_for_a_person_and_names_the_field_for_programs() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        bind_value(int, "abc")

    assert excinfo.value.problem == excinfo.value.message == "Enter a whole number."
    assert excinfo.value.field == "value"
    assert excinfo.value.to_dict() == {
        "error": {"code": "validation_error", "message": "Enter a whole number.", "field": "value"}
    }
    assert str(excinfo.value) == "field 'value': Enter a whole number."  # for logs


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (int, "thirty", "Enter a whole number."),
        (int, 1.5, "Enter a whole number."),
        (float, "many", "Enter a number."),
        (float, "nan", "Enter a number."),
        (bool, "maybe", "Enter yes or no."),
        (str, 3, "Enter text."),
        (None, "x", "Leave this field empty."),
        (list[int], 3, "Enter a list of values."),
        (dict[str, int], "x", "Enter a set of named values."),
        (int | str, [1], "Enter a whole number or text."),
        (int | float | None, "x", "Enter a whole number or a number."),
    ],
)
def test_every_converter_speaks_to_people(hint: Any, value: Any, message: str) -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        bind_value(hint, value)

    assert excinfo.value.message == message


def test_the_rejected_value_is_never_echoed() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        bind_value(int, "x" * 1000)

    assert "x" not in excinfo.value.message
    assert len(str(excinfo.value)) < 120


def test_literal_error_lists_the_choices() -> None:
    with pytest.raises(PayloadValidationError, match=r"Choose one of: a, b\.$"):
        bind_value(Literal["a", "b"], "c")


# -- which names are accepted -------------------------------------------------------------


def on_numbers(self: object, count: int, ratio: float = 1.0, *, flag: bool = False) -> None:
    return None


def test_all_fields_given_are_bound() -> None:
    bound = Binder(on_numbers).bind({"count": "3", "ratio": "0.5", "flag": "on"})

    assert bound == {"count": 3, "ratio": 0.5, "flag": True}


def test_absent_optional_fields_are_left_to_their_defaults() -> None:
    assert Binder(on_numbers).bind({"count": 3}) == {"count": 3}


def test_missing_required_field_is_reported_with_its_name() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        Binder(on_numbers).bind({"ratio": 2})

    assert excinfo.value.field == "count"
    assert excinfo.value.problem == "This field is required."


def test_unexpected_field_is_rejected_with_its_name() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        Binder(on_numbers).bind({"count": 3, "colour": "red"})

    assert excinfo.value.field == "colour"
    assert "'colour'" in str(excinfo.value)


def test_self_is_never_bound_from_the_payload() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        Binder(on_numbers).bind({"count": 3, "self": "x"})

    assert excinfo.value.field == "self"


def on_flexible(self: object, count: int, **extra: Any) -> None:
    return None


def test_var_keyword_parameter_accepts_extra_fields_unchanged() -> None:
    bound = Binder(on_flexible).bind({"count": "2", "colour": "red", "n": [1]})

    assert bound == {"count": 2, "colour": "red", "n": [1]}


def test_var_keyword_parameter_still_converts_declared_fields() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        Binder(on_flexible).bind({"count": "two", "colour": "red"})

    assert excinfo.value.field == "count"


def test_var_keyword_parameter_does_not_make_declared_fields_optional() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        Binder(on_flexible).bind({"colour": "red"})

    assert excinfo.value.field == "count"


def test_function_without_self_binds_every_parameter() -> None:
    def mount(user_id: int) -> None:
        return None

    assert Binder(mount).bind({"user_id": "9"}) == {"user_id": 9}


# -- signatures the binder refuses --------------------------------------------------------


def on_positional(self: object, count: int, /) -> None:
    return None


def on_star_args(self: object, *counts: int) -> None:
    return None


@pytest.mark.parametrize(
    ("function", "parameter"), [(on_positional, "count"), (on_star_args, "counts")]
)
def test_unnameable_parameter_is_a_configuration_error(
    function: Callable[..., None], parameter: str
) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        Binder(function)

    assert f"'{parameter}'" in str(excinfo.value)
    assert function.__qualname__ in str(excinfo.value)


@pytest.mark.parametrize(
    "hint",
    [
        tuple[int, ...],
        set[int],
        frozenset,
        bytes,
        complex,
        Opaque,
        list[bytes],
        Optional[Opaque],  # noqa: UP045
        dict[str, Opaque],
        dict[int, str],
        Callable[[], None],
    ],
    ids=short_id,
)
def test_unsupported_hint_is_a_configuration_error(hint: object) -> None:
    with pytest.raises(ConfigurationError, match="unsupported parameter type"):
        Binder(handler_for(hint))


def test_unresolvable_hint_is_a_configuration_error() -> None:
    def on_save(self: object, value: int) -> None:
        return None

    on_save.__annotations__ = {"value": "NoSuchType"}

    with pytest.raises(ConfigurationError, match="cannot resolve type hints"):
        Binder(on_save)


# -- caching ------------------------------------------------------------------------------


def test_binder_for_returns_the_same_binder_for_a_function() -> None:
    assert binder_for(on_numbers) is binder_for(on_numbers)


def test_binder_for_builds_a_binder_of_that_function() -> None:
    assert binder_for(on_flexible).accepts_extra
    assert not binder_for(on_numbers).accepts_extra


def test_optional_container_reports_the_nested_field() -> None:
    def handler(self: object, ids: list[int] | None = None) -> None: ...

    with pytest.raises(PayloadValidationError) as raised:
        Binder(handler).bind({"ids": [1, "x"]})
    assert raised.value.field == "ids[1]"
    assert Binder(handler).bind({"ids": None}) == {"ids": None}
    assert Binder(handler).bind({"ids": ""}) == {"ids": None}


def test_a_list_or_object_that_does_not_fit_is_named_not_printed() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        bind_value(int, list(range(1_000_000)))

    assert excinfo.value.problem == "Enter a whole number."


def test_a_huge_field_name_is_cut_short_in_the_error() -> None:
    name = "n" * 1_000_000

    with pytest.raises(PayloadValidationError) as excinfo:
        Binder(handler_for(int)).bind({"value": 1, name: 2})

    assert excinfo.value.field == "n" * 128 + "..."
    assert len(str(excinfo.value)) < 300


def test_a_huge_literal_choice_that_does_not_fit_is_cut_short() -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        bind_value(Literal["a", "b"], "c" * 1_000_000)

    assert len(str(excinfo.value)) < 200
