"""Binding of untrusted payloads and mount parameters to a Python signature.

Owns the rules that turn ``{"amount": "3"}`` from a form into ``amount=3`` for
``def on_add(self, amount: int)``: which names are accepted, which are required, and how each
value is checked and coerced from its type hint. A value that does not fit raises
:class:`~component_framework.errors.PayloadValidationError` with the field's name in ``field``
(dotted, with ``[index]`` for list items) and a message meant for the person who filled in the
form ("Enter a whole number."), never quoting the value back; no user code runs before binding
has succeeded.

Supported hints: ``int``, ``float``, ``bool``, ``str``, ``None``, ``Optional[X]`` / ``X | None``
and other unions, ``Literal[...]``, ``list`` / ``list[X]``, ``dict`` / ``dict[str, X]``, ``Any``
and unannotated parameters (passed through unchanged). Form values are strings, so strings are
coerced to numbers and booleans (``"true"``/``"false"``, ``"1"``/``"0"``, ``"on"``/``"off"``).
Number strings are read strictly, in ASCII: an ``int`` is an optional sign and the digits
``0-9`` (no ``1_000``, no Arabic-Indic or other digits Python's ``int()`` would take), a
``float`` is decimal or exponent notation of the same digits (no ``nan``, ``inf``, ``1_0.5``),
so that every reader of a request sees the same number. JSON values must already have the
right type (an ``int`` is accepted for ``float``, a ``bool`` is never accepted for ``int``).
A ``**kwargs`` parameter accepts extra fields; otherwise an unknown field is rejected.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, NotRequired, Required, Union

from component_framework.core.uploads import Accept, UploadFile
from component_framework.errors import ConfigurationError, FormInvalid, PayloadValidationError

if TYPE_CHECKING:
    from component_framework.core.forms import FormModel

__all__ = [
    "FALSE_WORDS",
    "FIELD_REQUIRED",
    "FIELD_UNEXPECTED",
    "TRUE_WORDS",
    "WANTED",
    "Binder",
    "binder_for",
    "converter_for",
    "read_number",
]

#: The message of a required field that is missing.
FIELD_REQUIRED: Final = "This field is required."
#: The message of a field the handler does not take (a page or client out of step with it).
FIELD_UNEXPECTED: Final = "This field is not accepted here."

Converter = Callable[[str, Any], Any]
TRUE_WORDS: Final = frozenset({"true", "1", "on", "yes"})
FALSE_WORDS: Final = frozenset({"false", "0", "off", "no", ""})
_MISSING: Final = object()
#: What a form value may spell a number with (``int()`` and ``float()`` also take ``1_000``,
#: any Unicode digits, ``nan`` and ``inf``). Surrounding ASCII blanks are stripped first.
_INT_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BLANKS: Final = " \t\r\n"


#: What each type asks a person for, in "Enter ..." messages.
WANTED: Final[dict[Any, str]] = {
    int: "a whole number",
    float: "a number",
    bool: "yes or no",
    str: "text",
    type(None): "nothing",
    list: "a list of values",
    dict: "a set of named values",
}


def _invalid(field: str, expected: str, value: Any) -> PayloadValidationError:
    """The error for a value that is not ``expected`` (a phrase of :data:`WANTED`)."""
    del value  # never echoed: the person knows what they typed, and it may be anything
    return PayloadValidationError(field, f"Enter {expected}.")


def read_number(kind: type[int] | type[float], text: str) -> int | float | None:
    """Form ``text`` read as ``kind`` (``int`` or ``float``): ASCII digits (and for a float a
    decimal point or an exponent), blanks around them ignored, finite; ``None`` when it is
    not such a number. The one reading of number text, for plain parameters and forms."""
    text = text.strip(_BLANKS)
    if kind is int:
        if _INT_TEXT.fullmatch(text) is None:
            return None
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (4300 by default)
            return None
    if _FLOAT_TEXT.fullmatch(text) is None:
        return None
    result = float(text)
    return result if math.isfinite(result) else None


def _to_int(field: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        number = read_number(int, value)
        if number is not None:
            return int(number)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _invalid(field, WANTED[int], value)


def _to_float(field: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:
            raise _invalid(field, WANTED[float], value) from None
    elif isinstance(value, str):
        number = read_number(float, value)
        if number is None:
            raise _invalid(field, WANTED[float], value)
        return float(number)
    else:
        raise _invalid(field, WANTED[float], value)
    if not math.isfinite(result):
        raise _invalid(field, WANTED[float], value)
    return result


def _to_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _invalid(field, WANTED[bool], value)


def _to_str(field: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _invalid(field, WANTED[str], value)


def _to_none(field: str, value: Any) -> None:
    if value is None or value == "":
        return
    raise PayloadValidationError(field, "Leave this field empty.")


def _passthrough(field: str, value: Any) -> Any:
    return value


def _to_upload(field: str, value: Any) -> UploadFile:
    if isinstance(value, UploadFile):
        return value
    raise PayloadValidationError(field, "Choose a file.")


def _literal(choices: tuple[Any, ...]) -> Converter:
    def convert(field: str, value: Any) -> Any:
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return choice
            if isinstance(value, str) and not isinstance(choice, str) and value == str(choice):
                return choice
        raise PayloadValidationError(field, f"Choose one of: {', '.join(map(str, choices))}.")

    return convert


def _union(members: list[Converter], allows_none: bool, label: str) -> Converter:
    def convert(field: str, value: Any) -> Any:
        if value is None and allows_none:
            return None
        for member in members:
            try:
                return member(field, value)
            except PayloadValidationError:
                continue
        if allows_none and value == "":
            return None
        raise _invalid(field, label, value)

    return convert


def _optional(member: Converter) -> Converter:
    """``X | None``: null (or an empty form value that ``X`` rejects) is ``None``; any other
    error is ``X``'s own, so it names nested fields precisely."""

    def convert(field: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return member(field, value)
        except PayloadValidationError:
            if value == "":
                return None
            raise

    return convert


def _list_of(item: Converter) -> Converter:
    def convert(field: str, value: Any) -> list[Any]:
        single = isinstance(value, str | UploadFile)
        items = value if isinstance(value, list) else [value] if single else None
        if items is None:
            raise _invalid(field, WANTED[list], value)
        return [item(f"{field}[{index}]", element) for index, element in enumerate(items)]

    return convert


def _dict_of(item: Converter) -> Converter:
    def convert(field: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _invalid(field, WANTED[dict], value)
        return {key: item(f"{field}.{key}", element) for key, element in value.items()}

    return convert


_SCALARS: Final[dict[Any, Converter]] = {
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    str: _to_str,
    type(None): _to_none,
    None: _to_none,
    Any: _passthrough,
    inspect.Parameter.empty: _passthrough,
    object: _passthrough,
    UploadFile: _to_upload,
}


def converter_for(hint: Any) -> Converter:
    """The converter for one type hint; raises ``ConfigurationError`` for unsupported hints."""
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin in (Annotated, Required, NotRequired):  # Accept(...) is read by the Binder
        return converter_for(arguments[0])
    if origin is Literal:
        return _literal(arguments)
    if origin in (Union, types.UnionType):
        members = [converter_for(arg) for arg in arguments if arg is not type(None)]
        optional = type(None) in arguments
        if len(members) == 1 and optional:
            return _optional(members[0])
        wanted = [
            WANTED.get(typing.get_origin(arg) or arg, "a valid value")
            for arg in arguments
            if arg is not type(None)
        ]
        return _union(members, optional, " or ".join(dict.fromkeys(wanted)))
    if hint is list or origin is list:
        return _list_of(converter_for(arguments[0]) if arguments else _passthrough)
    if hint is dict or origin is dict:
        if arguments and arguments[0] is not str:
            raise ConfigurationError(f"unsupported parameter type {hint!r}: keys must be str")
        return _dict_of(converter_for(arguments[1]) if len(arguments) == 2 else _passthrough)
    raise ConfigurationError(f"unsupported parameter type {hint!r}")


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    convert: Converter
    default: Any


def _upload_rule(hint: Any) -> Accept | None:
    """The :class:`Accept` of an ``UploadFile`` (or ``list[UploadFile]``, optional or not)
    parameter: from its ``Annotated`` extras, else one that takes any file; ``None`` when the
    parameter takes no file."""
    rules = [extra for extra in getattr(hint, "__metadata__", ()) if isinstance(extra, Accept)]
    while True:
        origin = typing.get_origin(hint)
        arguments = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if origin is Annotated:
            rules += [extra for extra in hint.__metadata__ if isinstance(extra, Accept)]
            hint = arguments[0]
        elif origin in (Union, types.UnionType, list) and len(arguments) == 1:
            hint = arguments[0]
        elif hint is UploadFile:
            return rules[0] if rules else Accept()
        else:
            return None


class Binder:
    """Binds a mapping of untrusted values to one function's keyword arguments.

    A parameter annotated with a form model (a dataclass, a ``TypedDict``, a pydantic model or
    a msgspec ``Struct``; at most one per function) is the form parameter: it receives every
    field that names no other parameter, and binding then reports every invalid field at once
    (:class:`~component_framework.errors.FormInvalid`, with the other parameters' errors too).
    Without one, the first invalid field is the error (``PayloadValidationError``), and an
    unknown field is refused unless there is a ``**kwargs``. ``upload_rules`` maps each
    parameter that takes files (``UploadFile``, ``list[UploadFile]``) to its :class:`Accept`.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        from component_framework.core.forms import form_model  # built on this module

        signature = inspect.signature(function)
        try:
            hints = typing.get_type_hints(function, include_extras=True)
        except Exception as exc:
            raise ConfigurationError(f"cannot resolve type hints of {function!r}: {exc}") from exc
        parameters = list(signature.parameters.values())
        if parameters and parameters[0].name == "self":
            parameters = parameters[1:]
        self.accepts_extra = False
        self.parameters: dict[str, _Parameter] = {}
        self.form: tuple[str, FormModel, Any] | None = None
        self.upload_rules: dict[str, Accept] = {}
        for parameter in parameters:
            if parameter.kind is parameter.VAR_KEYWORD:
                self.accepts_extra = True
                continue
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.VAR_POSITIONAL):
                raise ConfigurationError(
                    f"{function.__qualname__}: event parameters must be nameable, "
                    f"{parameter.name!r} is {parameter.kind.description}"
                )
            hint = hints.get(parameter.name, parameter.annotation)
            default = _MISSING if parameter.default is parameter.empty else parameter.default
            model = form_model(hint)
            if model is not None:
                if self.form is not None:
                    raise ConfigurationError(
                        f"{function.__qualname__}: one form parameter per handler, got "
                        f"{self.form[0]!r} and {parameter.name!r}"
                    )
                self.form = (parameter.name, model, default)
                continue
            rule = _upload_rule(hint)
            if rule is not None:
                self.upload_rules[parameter.name] = rule
            self.parameters[parameter.name] = _Parameter(
                parameter.name, converter_for(hint), default
            )
        self.required = [p.name for p in self.parameters.values() if p.default is _MISSING]

    def bind(self, values: Mapping[str, Any], *, max_errors: int | None = None) -> dict[str, Any]:
        """Return the keyword arguments for ``values`` or raise ``PayloadValidationError``
        (``FormInvalid`` with every error, for a function with a form parameter; the search
        stops at ``max_errors`` fields with errors, such as the items of a long list)."""
        if self.form is not None:
            return self._bind_form(values, self.form, max_errors)
        if not values:  # the common case of an event without payload
            if self.required:
                raise PayloadValidationError(self.required[0], FIELD_REQUIRED)
            return {}
        if not self.accepts_extra:
            for name in values:
                if name not in self.parameters:
                    raise PayloadValidationError(name, FIELD_UNEXPECTED)
        bound: dict[str, Any] = {}
        for name, parameter in self.parameters.items():
            value = values.get(name, _MISSING)
            if value is _MISSING:
                if parameter.default is _MISSING:
                    raise PayloadValidationError(name, FIELD_REQUIRED)
                continue
            bound[name] = parameter.convert(name, value)
        if self.accepts_extra:
            bound.update((k, v) for k, v in values.items() if k not in self.parameters)
        return bound

    def _bind_form(
        self, values: Mapping[str, Any], form: tuple[str, FormModel, Any], max_errors: int | None
    ) -> dict[str, Any]:
        from component_framework.core.forms import nest

        name, model, default = form
        bound: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for key, parameter in self.parameters.items():
            value = values.get(key, _MISSING)
            if value is _MISSING:
                if parameter.default is _MISSING:
                    errors[key] = [FIELD_REQUIRED]
                continue
            try:
                bound[key] = parameter.convert(key, value)
            except PayloadValidationError as exc:
                errors.setdefault(exc.field, []).append(exc.problem)
        submitted = {k: v for k, v in values.items() if k not in self.parameters}
        if submitted or default is _MISSING:
            data, shape_errors = nest(submitted)
            bound[name], model_errors = model.validate(data, limit=max_errors)
            for messages in (shape_errors, model_errors):
                for field, problems in messages.items():
                    errors.setdefault(field, []).extend(problems)
        if errors:
            raise FormInvalid(errors, form=_as_typed(values))
        return bound


def _as_typed(values: Mapping[str, Any]) -> dict[str, Any]:
    from component_framework.core.forms import flatten

    return flatten(values)


_binders: dict[Callable[..., Any], Binder] = {}


def binder_for(function: Callable[..., Any]) -> Binder:
    """The cached :class:`Binder` of ``function`` (built on first use)."""
    binder = _binders.get(function)
    if binder is None:
        binder = _binders[function] = Binder(function)
    return binder
