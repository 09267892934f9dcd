"""Binding arbitrary payloads to handler signatures: keyword arguments of the declared types,
or a ``PayloadValidationError`` naming the field at fault, never another exception."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Optional, Union

from hypothesis import example, given
from hypothesis import strategies as st

from component_framework.core.binding import binder_for
from component_framework.errors import PayloadValidationError
from tests.fuzz import strategies as fz
from tests.fuzz.apps import Counter, Echo, Live, Note, Report, Typed, attempt
from tests.fuzz.conftest import fuzz_settings


def h_scalars(count: int, ratio: float, flag: bool, text: str, nothing: None = None) -> None: ...
def h_optional(limit: Optional[int] = None, maybe: float | None = None) -> None: ...  # noqa: UP045
def h_unions(value: int | str, other: Union[bool, float] = 0.0) -> None: ...  # noqa: UP007
def h_literal(mode: Literal["a", "b", 3, True], level: Literal[1, 2] = 1) -> None: ...
def h_lists(ids: list[int], raw: list = [], more: list[float | None] | None = None) -> None: ...  # noqa: B006
def h_dicts(meta: dict[str, int], raw: dict = {}, deep: dict[str, bool] | None = None) -> None: ...  # noqa: B006
def h_any(a: Any, b=None, c: object = None) -> None: ...
def h_kwargs(first: int = 0, **rest: Any) -> None: ...
def h_nothing() -> None: ...


HANDLERS: list[Callable[..., Any]] = [
    h_scalars, h_optional, h_unions, h_literal, h_lists, h_dicts, h_any, h_kwargs, h_nothing,
    Counter.mount, Counter.on_add, Echo.mount, Echo.on_say, Echo.on_wait, Typed.on_numbers,
    Typed.on_choice, Typed.on_collect, Typed.on_either, Typed.on_extra, Report.on_generate,
    Report.on_tokens, Live.mount, Live.on_bump, Note.on_write,
]  # fmt: skip


def conforms(value: Any, hint: Any) -> bool:
    """Whether a bound ``value`` has the type ``hint`` declares (JSON-shaped values)."""
    if hint in (Any, object) or hint is typing.Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return type(value) is bool
    if hint is int:
        return type(value) is int
    if hint is float:
        return type(value) is float and math.isfinite(value)
    if hint is str:
        return type(value) is str
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return any(value == choice and type(value) is type(choice) for choice in arguments)
    if origin in (Union, types.UnionType):
        return any(conforms(value, argument) for argument in arguments)
    if hint is list or origin is list:
        item = arguments[0] if arguments else Any
        return type(value) is list and all(conforms(element, item) for element in value)
    if hint is dict or origin is dict:
        item = arguments[1] if arguments else Any
        return type(value) is dict and all(
            type(key) is str and conforms(element, item) for key, element in value.items()
        )
    raise AssertionError(f"no check for {hint!r}")


def parameters_of(function: Callable[..., Any]) -> tuple[dict[str, Any], set[str], bool]:
    """``({name: hint}, required names, accepts **kwargs)`` of ``function`` without ``self``."""
    import inspect

    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    declared, required, extra = {}, set(), False
    for name, parameter in signature.parameters.items():
        if name == "self":
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            extra = True
            continue
        declared[name] = hints.get(name, Any)
        if parameter.default is parameter.empty:
            required.add(name)
    return declared, required, extra


OTHER_NAMES = ("nothing", "other", "level", "raw", "more", "deep", "a", "b", "c", "first")
payload_keys = st.sampled_from(fz.PARAMETER_NAMES + OTHER_NAMES) | st.text(max_size=5)
payload_values = (
    fz.parameter_values
    | st.integers().map(lambda n: n * 10**300)  # floats overflow on these
    | st.sampled_from([1e300, -0.0, 2**53 + 1, True, False, None, [], {}, [None], {"": 1}])
)


@fuzz_settings()
@given(
    function=st.sampled_from(HANDLERS),
    payload=st.dictionaries(payload_keys, payload_values, max_size=5),
)
@example(function=h_unions, payload={"value": 10**4000})
@example(function=h_scalars, payload={"count": "9" * 5000, "ratio": 10**4000, "flag": "on",
                                      "text": ""})  # fmt: skip
def test_bind_gives_typed_arguments_or_names_the_field(
    function: Callable[..., Any], payload: dict[str, Any]
) -> None:
    declared, required, extra = parameters_of(function)
    bound, error = attempt(lambda: binder_for(function).bind(payload), PayloadValidationError)
    if error is not None:
        assert isinstance(error, PayloadValidationError)
        assert (error.status_code, error.code) == (422, "validation_error")
        top = error.field.split("[", 1)[0].split(".", 1)[0]
        assert error.field in payload or top in declared, (error.field, payload)
        assert str(error).startswith(f"field {error.field!r}: ")
        assert len(error.message) < 400  # the value is shown cut, never echoed whole
        return
    assert bound is not None
    assert required <= set(bound)
    if not extra:
        assert set(bound) <= set(declared)
        assert set(payload) <= set(declared)
    for name, value in bound.items():
        if name in declared:
            assert conforms(value, declared[name]), (name, value, declared[name])
            original = payload[name]
            if type(original) is str and declared[name] in (int, float):
                assert value == declared[name](original.strip())
        else:
            assert value is payload[name]  # **kwargs get the value untouched
