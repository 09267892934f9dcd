"""Whole-form binding: one handler parameter gets the submitted form as a dataclass, TypedDict,
pydantic model or msgspec Struct, and every invalid field is reported at once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Annotated, Any, NotRequired, TypedDict

import msgspec
import pydantic
import pytest

from component_framework.core.binding import Binder
from component_framework.core.component import Component
from component_framework.core.forms import WHOLE_FORM, flatten, nest
from component_framework.errors import (
    ConfigurationError,
    FormInvalid,
    PayloadValidationError,
    error_document,
)

REQUIRED = "This field is required."
UNEXPECTED = "This field is not accepted here."
WHOLE_NUMBER = "Enter a whole number."

# -- the same form in the four kinds ------------------------------------------------------


@dataclasses.dataclass
class AddressD:
    city: str
    zip: int


@dataclasses.dataclass
class SignupD:
    name: str
    age: int
    address: AddressD
    tags: list[str] = dataclasses.field(default_factory=list)
    subscribe: bool = False


class AddressT(TypedDict):
    city: str
    zip: int


class SignupT(TypedDict):
    name: str
    age: int
    address: AddressT
    tags: NotRequired[list[str]]
    subscribe: NotRequired[bool]


class AddressP(pydantic.BaseModel):
    city: str
    zip: int


class SignupP(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str
    age: int
    address: AddressP
    tags: list[str] = []
    subscribe: bool = False


class AddressM(msgspec.Struct):
    city: str
    zip: int


class SignupM(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    age: int
    address: AddressM
    tags: list[str] = []
    subscribe: bool = False


def as_data(value: Any) -> Any:
    """A model of any kind as plain data, so that one table checks all four."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump()
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


KINDS = [SignupD, SignupT, SignupP, SignupM]
IDS = ["dataclass", "typeddict", "pydantic", "msgspec"]


def handler_taking(model: type, **others: Any) -> Callable[..., None]:
    def on_submit(self: object, form: object, **kwargs: object) -> None:
        return None

    def plain(self: object, form: object) -> None:
        return None

    if not others:
        plain.__annotations__ = {"form": model, "return": None}
        return plain
    # a signature with extra keyword parameters: (self, form, step: int = 1)
    namespace: dict[str, Any] = {}
    exec("def on_submit(self, form, step=1): return None", namespace)
    function = namespace["on_submit"]
    function.__annotations__ = {"form": model, **others}
    return function  # type: ignore[no-any-return]


def bind_form(model: type, values: dict[str, Any]) -> Any:
    return as_data(Binder(handler_taking(model)).bind(values)["form"])


def form_errors(model: type, values: dict[str, Any], **others: Any) -> dict[str, list[str]]:
    with pytest.raises(FormInvalid) as caught:
        Binder(handler_taking(model, **others)).bind(values)
    return caught.value.errors


VALID_FORM = {
    "name": "Ann",
    "age": " 33 ",
    "address.city": "Oslo",
    "address.zip": "0150",
    "tags": ["red", "blue"],
    "subscribe": "on",
}
VALID_DATA = {
    "name": "Ann",
    "age": 33,
    "address": {"city": "Oslo", "zip": 150},
    "tags": ["red", "blue"],
    "subscribe": True,
}


@pytest.mark.parametrize("model", KINDS, ids=IDS)
def test_a_flat_form_with_dotted_names_and_repeated_fields_binds(model: type) -> None:
    assert bind_form(model, VALID_FORM) == VALID_DATA


@pytest.mark.parametrize("model", KINDS, ids=IDS)
def test_a_json_object_binds_like_the_form(model: type) -> None:
    document = {**VALID_DATA, "age": 33, "address": {"city": "Oslo", "zip": 150}}

    assert bind_form(model, document) == VALID_DATA


@pytest.mark.parametrize("model", KINDS, ids=IDS)
def test_a_lone_value_for_a_list_field_is_a_list_of_one(model: type) -> None:
    assert bind_form(model, {**VALID_FORM, "tags": "red"})["tags"] == ["red"]


@pytest.mark.parametrize("model", KINDS, ids=IDS)
@pytest.mark.parametrize(("text", "expected"), [("on", True), ("yes", True), ("off", False)])
def test_checkbox_words_are_booleans(model: type, text: str, expected: bool) -> None:
    assert bind_form(model, {**VALID_FORM, "subscribe": text})["subscribe"] is expected


@pytest.mark.parametrize("model", [SignupD, SignupP, SignupM], ids=IDS[:1] + IDS[2:])
def test_an_unchecked_checkbox_takes_the_default(model: type) -> None:
    values = {k: v for k, v in VALID_FORM.items() if k != "subscribe"}

    assert bind_form(model, values)["subscribe"] is False


# -- every error at once ------------------------------------------------------------------

ERROR_CASES: list[tuple[str, dict[str, Any], dict[str, list[str]]]] = [
    (
        "missing",
        {},
        {"name": [REQUIRED], "age": [REQUIRED], "address": [REQUIRED]},
    ),
    (
        "wrong types, nested",
        {"name": "Ann", "age": "old", "address.city": "Oslo", "address.zip": "x"},
        {"age": [WHOLE_NUMBER], "address.zip": [WHOLE_NUMBER]},
    ),
    (
        "an empty number is not given",
        {"name": "Ann", "age": "", "address.city": "Oslo", "address.zip": ""},
        {"age": [REQUIRED], "address.zip": [REQUIRED]},
    ),
    (
        "a missing nested field",
        {"name": "Ann", "age": "3", "address.city": "Oslo"},
        {"address.zip": [REQUIRED]},
    ),
    (
        "an extra field",
        {**VALID_FORM, "admin": "1"},
        {"admin": [UNEXPECTED]},
    ),
    (
        "a scalar where a group belongs",
        {"name": "Ann", "age": "3", "address": "Oslo"},
        {"address": ["Enter a set of named values."]},
    ),
]


@pytest.mark.parametrize("model", KINDS, ids=IDS)
@pytest.mark.parametrize(
    ("values", "expected"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_every_invalid_field_is_reported_at_once(
    model: type, values: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    assert form_errors(model, values) == expected


@pytest.mark.parametrize("model", KINDS, ids=IDS)
def test_errors_of_other_parameters_join_the_form_errors(model: type) -> None:
    values = {"name": "Ann", "age": "x", "address.city": "Oslo", "address.zip": "1", "step": "y"}

    assert form_errors(model, values, step=int) == {"step": [WHOLE_NUMBER], "age": [WHOLE_NUMBER]}


@pytest.mark.parametrize("model", KINDS, ids=IDS)
def test_other_parameters_take_their_fields_and_the_form_the_rest(model: type) -> None:
    arguments = Binder(handler_taking(model, step=int)).bind({**VALID_FORM, "step": "2"})

    assert arguments["step"] == 2
    assert as_data(arguments["form"]) == VALID_DATA


def test_the_invalid_form_keeps_the_values_as_typed() -> None:
    values = {"name": "Ann", "age": " x1 ", "address": {"city": "", "zip": "9x"}, "tags": ["a"]}

    with pytest.raises(FormInvalid) as caught:
        Binder(handler_taking(SignupP)).bind(values)

    assert caught.value.form == {
        "name": "Ann",
        "age": " x1 ",
        "address.city": "",
        "address.zip": "9x",
        "tags": ["a"],
    }


def test_the_error_document_carries_every_error_but_not_the_values() -> None:
    with pytest.raises(FormInvalid) as caught:
        Binder(handler_taking(SignupD)).bind({"name": "Ann", "age": "x", "address.city": "O"})

    document = error_document(caught.value)

    assert document == {
        "code": "invalid_form",
        "message": "2 fields need correcting.",
        "field": "age",
        "errors": {"age": [WHOLE_NUMBER], "address.zip": [REQUIRED]},
    }
    assert caught.value.status_code == 422
    assert isinstance(caught.value, PayloadValidationError)


def test_one_invalid_field_is_its_own_message() -> None:
    error = FormInvalid({"email": ["Enter an email address."]})

    assert (error.field, error.message) == ("email", "Enter an email address.")


def test_a_form_error_cuts_client_field_names_short() -> None:
    error = FormInvalid({"x" * 10_000: [UNEXPECTED]})

    assert all(len(name) <= 131 for name in error.errors)


# -- library constraints in people's words ------------------------------------------------


class ProfileP(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=2, max_length=5)
    age: int = pydantic.Field(ge=18, le=129)
    code: str = pydantic.Field(pattern=r"^[A-Z]+$")
    email: str

    @pydantic.field_validator("email")
    @classmethod
    def has_at(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("Enter an email address.")
        return value


class ProfileM(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=2, max_length=5)]
    age: Annotated[int, msgspec.Meta(ge=18, le=129)]
    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]+$")]
    email: str


@pytest.mark.parametrize("model", [ProfileP, ProfileM], ids=["pydantic", "msgspec"])
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"name": "A"}, {"name": ["Enter at least 2 characters."]}),
        ({"name": "Abcdef"}, {"name": ["Enter at most 5 characters."]}),
        ({"age": "12"}, {"age": ["Enter a number of at least 18."]}),
        ({"age": "130"}, {"age": ["Enter a number of at most 129."]}),
        ({"code": "ab"}, {"code": ["Enter a value in the expected format."]}),
    ],
)
def test_constraints_are_worded_for_people(
    model: type, values: dict[str, str], expected: dict[str, list[str]]
) -> None:
    complete = {"name": "Ab", "age": "20", "code": "AB", "email": "a@b", **values}

    errors = form_errors(model, complete)

    assert errors == expected
    assert not any("Expected" in m or "Input should" in m for ms in errors.values() for m in ms)


def test_a_pydantic_validator_speaks_in_its_own_words() -> None:
    values = {"name": "Ab", "age": "20", "code": "AB", "email": "nobody"}

    assert form_errors(ProfileP, values) == {"email": ["Enter an email address."]}


@dataclasses.dataclass
class Booking:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("The end comes before the start.")


def test_a_dataclass_check_on_the_whole_form_is_keyed_by_the_empty_name() -> None:
    assert form_errors(Booking, {"start": "5", "end": "2"}) == {
        WHOLE_FORM: ["The end comes before the start."]
    }


class LineP(pydantic.BaseModel):
    sku: str
    qty: int


class OrderP(pydantic.BaseModel):
    lines: list[LineP]


@dataclasses.dataclass
class LineD:
    sku: str
    qty: int


@dataclasses.dataclass
class OrderD:
    lines: list[LineD]


class LineM(msgspec.Struct):
    sku: str
    qty: int


class OrderM(msgspec.Struct):
    lines: list[LineM]


ORDERS = [OrderD, OrderP, OrderM]


@pytest.mark.parametrize("model", ORDERS, ids=["dataclass", "pydantic", "msgspec"])
def test_indexed_names_build_lists_of_groups_and_errors_name_the_item(model: type) -> None:
    good = {"lines[0].sku": "a", "lines[0].qty": "1", "lines[1].sku": "b", "lines[1].qty": "2"}
    bad = {**good, "lines[1].qty": "two"}

    assert bind_form(model, good) == {"lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}
    assert form_errors(model, bad) == {"lines[1].qty": [WHOLE_NUMBER]}


# -- names ----------------------------------------------------------------------------------


def test_nest_builds_groups_and_index_ordered_lists() -> None:
    tree, errors = nest({"a.b": "1", "l[1]": "y", "l[0]": "x", "plain": "p"})

    assert tree == {"a": {"b": "1"}, "l": ["x", "y"], "plain": "p"}
    assert errors == {}


def test_a_name_used_as_value_and_as_group_is_an_error_there() -> None:
    _, errors = nest({"a": "1", "a.b": "2"})

    assert errors == {"a.b": [UNEXPECTED]}


def test_names_that_are_not_paths_stay_whole() -> None:
    tree, _ = nest({"a..b": "1", ".x": "2", "y[": "3"})

    assert tree == {"a..b": "1", ".x": "2", "y[": "3"}


def test_flatten_spells_out_nested_values() -> None:
    assert flatten({"a": {"b": "1", "c": [{"d": "2"}]}, "t": ["x", "y"]}) == {
        "a.b": "1",
        "a.c[0].d": "2",
        "t": ["x", "y"],
    }


# -- configuration and imports ------------------------------------------------------------


def test_two_form_parameters_are_a_configuration_error() -> None:
    def on_submit(self: object, one: SignupD, two: SignupP) -> None:
        return None

    with pytest.raises(ConfigurationError, match="one form parameter per handler"):
        Binder(on_submit)


def test_a_form_parameter_with_a_default_is_left_out_when_nothing_is_sent() -> None:
    default = SignupD("x", 1, AddressD("y", 2))

    def on_submit(self: object, form: SignupD = default) -> None:
        return None

    assert Binder(on_submit).bind({}) == {}


def test_pydantic_and_msgspec_are_not_imported_by_components_that_do_not_use_them() -> None:
    script = textwrap.dedent(
        """
        import dataclasses, sys
        from component_framework import ComponentASGI
        from component_framework.core.binding import binder_for
        from component_framework.core.component import Component

        @dataclasses.dataclass
        class Note:
            text: str

        class Notes(Component):
            template_name = "notes.html"
            def on_add(self, note: Note) -> None:
                self.state["last"] = note.text

        binder_for(Notes.on_add).bind({"text": "hi"})
        print(sorted(name for name in ("pydantic", "msgspec") if name in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"


# -- the component's own errors -----------------------------------------------------------


def test_a_handler_adds_its_own_field_errors() -> None:
    class Signup(Component):
        def on_submit(self, email: str) -> None:
            if email == "taken@example.com":
                self.add_error("email", "This address is already registered.")
                self.add_error("email", "This address is already registered.")

    component = Signup()
    component.on_submit("taken@example.com")

    assert component.errors == {"email": ["This address is already registered."]}
    assert "errors" not in component.dehydrate()
    assert Signup().errors == {}


# -- scale ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Tags:
    tags: list[str]


def test_a_form_a_thousand_times_larger_binds_in_linear_time() -> None:
    started = time.perf_counter()
    bound = bind_form(Tags, {"tags": [str(i) for i in range(100_000)]})

    assert len(bound["tags"]) == 100_000
    assert time.perf_counter() - started < 5  # quadratic work would take minutes


def test_many_indexed_groups_bind_in_linear_time() -> None:
    values = {f"lines[{i}].sku": "a" for i in range(5000)}
    values.update({f"lines[{i}].qty": "1" for i in range(5000)})

    assert len(bind_form(OrderD, values)["lines"]) == 5000
