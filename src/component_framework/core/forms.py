"""Whole-form binding: one handler parameter receives the submitted form as one object.

Owns the four kinds of form model (a dataclass, a ``TypedDict``, a pydantic ``BaseModel``, a
msgspec ``Struct``), how a flat form becomes the nested data they take, and validation that
reports every invalid field at once. Dataclasses and ``TypedDict`` are checked with the
converters of ``core.binding`` (the same wording and strict numbers as plain parameters);
pydantic and msgspec models by their own library, whose messages are reworded for people.
Neither library is imported here: a class is recognised as theirs only when the application
has imported the library already (it had to, to define the class).

Names: ``address.city`` is the ``city`` field of the nested ``address``; ``items[0].name``
the ``name`` of the first of ``items``; a repeated field is a list, and a lone value for a
list-typed field is a list of one. A JSON body may send nested objects instead. Form text is
made ready for the model first: an empty value for a field that cannot hold text (a number,
a date, a nested model) counts as not given (its default applies, else it is required),
``on``/``yes``/``true``/``1`` and ``off``/``no``/``false``/``0``/empty are booleans, and
numbers are read as for plain parameters (ASCII digits, blanks around them ignored).

Errors are keyed by dotted field name (``address.city``, ``items[0].name``; ``""``,
:data:`WHOLE_FORM`, for the form as a whole, such as a model validator's). A search for them
may be bounded (``limit``: most fields with errors, then it stops), so that a list of a
hundred thousand wrong items costs no more than the first of them; what each hint of a model
means for form text is worked out once per hint.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, NotRequired, Required, Union

from component_framework.core.binding import (
    FALSE_WORDS,
    FIELD_REQUIRED,
    FIELD_UNEXPECTED,
    TRUE_WORDS,
    WANTED,
    converter_for,
    read_number,
)
from component_framework.core.uploads import UploadFile
from component_framework.errors import ConfigurationError, PayloadValidationError

__all__ = ["WHOLE_FORM", "FormModel", "Messages", "flatten", "form_model", "nest"]

#: The key of errors about the whole form rather than one field.
WHOLE_FORM: Final = ""
Messages = dict[str, list[str]]
_MISSING: Final = object()
_NAME: Final = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[0-9]{1,6}\])*")
_STEP: Final = re.compile(r"\.?([^.\[\]]+)|\[([0-9]+)\]")
_NO_TEXT: Final = (int, float, bool, list, dict, tuple, set, frozenset)


def _join(path: str, step: str | int) -> str:
    if isinstance(step, int):
        return f"{path}[{step}]"
    return f"{path}.{step}" if path else step


class _Found(dict[str, list[str]]):
    """Errors as they are found, of at most ``limit`` fields (``None``: no bound)."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit = limit

    @property
    def full(self) -> bool:
        """Whether no other field's error is taken any more (the search may stop)."""
        return self.limit is not None and len(self) >= self.limit


def _add(errors: Messages, path: str, message: str) -> None:
    if path not in errors and isinstance(errors, _Found) and errors.full:
        return
    messages = errors.setdefault(path, [])
    if message not in messages:
        messages.append(message)


def _full(errors: Messages) -> bool:
    return isinstance(errors, _Found) and errors.full


# -- names ----------------------------------------------------------------------------------


def nest(values: Mapping[str, Any]) -> tuple[dict[str, Any], Messages]:
    """``{"address.city": "Oslo", "tags": ["a", "b"]}`` -> ``{"address": {"city": "Oslo"},
    "tags": ["a", "b"]}``; indexed names become lists in index order. A name used both as a
    value and as a group is an error at that name."""
    tree: dict[str, Any] = {}
    errors: Messages = {}
    for name, value in values.items():
        steps: list[str | int] = [name]
        if ("." in name or "[" in name) and _NAME.fullmatch(name):
            steps = [int(i) if i else k for k, i in _STEP.findall(name)]
        node: dict[Any, Any] = tree
        for step in steps[:-1]:
            child = node.setdefault(step, {})
            if not isinstance(child, dict):
                _add(errors, name, FIELD_UNEXPECTED)
                break
            node = child
        else:
            if steps[-1] in node:
                _add(errors, name, FIELD_UNEXPECTED)
            else:
                node[steps[-1]] = value
    return _lists(tree), errors


def _lists(node: Any) -> Any:
    """Groups whose keys are all indexes become lists (in index order), at every depth."""
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(isinstance(key, int) for key in items):
        return [items[key] for key in sorted(items)]
    return {str(key): value for key, value in items.items()}


def flatten(values: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """The submitted values by dotted name, as typed (the ``form`` of an invalid form):
    nested objects are spelled out (``address.city``), lists of text stay lists, files are
    left out (a page cannot show them again)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = _join(path, str(key))
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    flat.update(flatten(item, _join(name, index)))
        elif isinstance(value, list):
            kept = [item for item in value if not isinstance(item, UploadFile)]
            if kept:
                flat[name] = kept
        elif not isinstance(value, UploadFile):
            flat[name] = value
    return flat


# -- the four kinds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    key: str  # its name in the submitted form
    name: str  # its name in the model's constructor
    hint: Any
    required: bool


def _strip(hint: Any) -> Any:
    """``hint`` without ``Annotated`` extras, ``Required``/``NotRequired`` and ``None``."""
    while True:
        origin = typing.get_origin(hint)
        if origin in (Annotated, Required, NotRequired):
            hint = typing.get_args(hint)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            if len(members) != 1:
                return hint
            hint = members[0]
        else:
            return hint


def _library_class(module: str, attribute: str) -> type | None:
    """A library's class, only if the application imported the library already."""
    library = sys.modules.get(module)
    found = getattr(library, attribute, None) if library is not None else None
    return found if isinstance(found, type) else None


def _kind(hint: Any) -> str | None:
    if not isinstance(hint, type):
        return None
    if dataclasses.is_dataclass(hint):
        return "dataclass"
    if typing.is_typeddict(hint):
        return "typeddict"
    base = _library_class("pydantic", "BaseModel")
    if base is not None and issubclass(hint, base):
        return "pydantic"
    struct = _library_class("msgspec", "Struct")
    if struct is not None and issubclass(hint, struct):
        return "msgspec"
    return None


def _fields(model: type, kind: str) -> dict[str, _Field]:
    if kind == "pydantic":
        return {
            (info.alias or name): _Field(
                info.alias or name, name, info.annotation, info.is_required()
            )
            for name, info in model.model_fields.items()  # type: ignore[attr-defined]
        }
    if kind == "msgspec":
        import msgspec  # the application imported it: the class is a Struct

        return {
            info.encode_name: _Field(info.encode_name, info.name, info.type, info.required)
            for info in msgspec.structs.fields(model)
        }
    try:
        hints = typing.get_type_hints(model, include_extras=True)
    except Exception as exc:
        raise ConfigurationError(f"cannot resolve the type hints of {model!r}: {exc}") from exc
    if kind == "typeddict":
        return {
            key: _Field(key, key, hint, _required_key(model, key, hint))
            for key, hint in hints.items()
        }
    return {
        f.name: _Field(
            f.name,
            f.name,
            hints.get(f.name, Any),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(model)
        if f.init
    }


def _required_key(model: type, key: str, hint: Any) -> bool:
    """Whether a ``TypedDict`` key is required: ``Required``/``NotRequired`` in its resolved
    hint win (``__required_keys__`` misses them under postponed annotations), else totality."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        origin = typing.get_origin(typing.get_args(hint)[0])
    if origin in (Required, NotRequired):
        return origin is Required
    return key in model.__required_keys__  # type: ignore[attr-defined]


def _list_item(hint: Any) -> Any:
    """The item type of a list-like hint, else ``_MISSING``."""
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple, set, frozenset):
        arguments = [arg for arg in typing.get_args(hint) if arg is not Ellipsis]
        return _strip(arguments[0]) if arguments else Any
    return _MISSING


def _holds_text(hint: Any) -> bool:
    """Whether an empty string is a value this hint may take (else it means "not given")."""
    hint = _strip(hint)
    if typing.get_origin(hint) is Literal:
        return "" in typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return any(_holds_text(arg) for arg in typing.get_args(hint))
    origin = typing.get_origin(hint) or hint
    if not isinstance(origin, type) or origin is str:
        return True
    return not (issubclass(origin, _NO_TEXT) or _kind(origin) is not None)


@dataclass(frozen=True, slots=True)
class _Hint:
    """What a field's type hint means for form text, worked out once per hint."""

    stripped: Any  # without Annotated, Required/NotRequired, None
    kind: str | None  # a nested model's kind
    item: Any  # the item hint of a list-like hint, else _MISSING
    holds_text: bool


_hints: dict[Any, _Hint] = {}
#: Hints come from the application's models, never from a request; the bound is a backstop.
_MAX_KNOWN: Final = 4096


def _facts(hint: Any) -> _Hint:
    try:
        found = _hints.get(hint)
    except TypeError:  # an unhashable hint (Annotated extras that are not hashable)
        found = None
    if found is None:
        stripped = _strip(hint)
        found = _Hint(stripped, _kind(stripped), _list_item(stripped), _holds_text(stripped))
        try:
            if len(_hints) < _MAX_KNOWN:
                _hints[hint] = found
        except TypeError:
            pass
    return found


class FormModel:
    """One form model class: prepares submitted data for it and validates it, collecting
    every error (see the module docstring)."""

    def __init__(self, model: type, kind: str) -> None:
        self.model = model
        self.kind = kind
        self.fields = _fields(model, kind)
        #: pydantic error locations (indexes left out) -> how they name a field.
        self._located: dict[tuple[str | None, ...], tuple[tuple[bool, ...], bool]] = {}

    def validate(
        self, data: Mapping[str, Any], path: str = "", limit: int | None = None
    ) -> tuple[Any, Messages]:
        """The model built from ``data`` (nested, as :func:`nest` gives) and the errors
        (empty when it is valid; the model is then ``None``): of at most ``limit`` fields,
        after which the search stops."""
        errors: Messages = _Found(limit)
        prepared = self._prepare(data)
        validate = {"pydantic": self._pydantic, "msgspec": self._msgspec}.get(self.kind)
        value = (validate or self._native)(prepared, path, errors)
        return (None, errors) if errors else (value, errors)

    # -- preparing form text --

    def _prepare(self, data: Mapping[str, Any]) -> dict[str, Any]:
        prepared: dict[str, Any] = {}
        for key, value in data.items():
            field = self.fields.get(key)
            shaped = value if field is None else _shape(field.hint, value)
            if shaped is not _MISSING:
                prepared[key] = shaped
        return prepared

    # -- dataclass and TypedDict: core.binding's converters --

    def _native(self, data: dict[str, Any], path: str, errors: Messages) -> Any:
        values: dict[str, Any] = {}
        for key in data.keys() - self.fields.keys():
            _add(errors, _join(path, key), FIELD_UNEXPECTED)
        for key, field in self.fields.items():
            if key in data:
                values[field.name] = _check(field.hint, data[key], _join(path, key), errors)
            elif field.required:
                _add(errors, _join(path, key), FIELD_REQUIRED)
        if errors or self.kind == "typeddict":
            return values
        try:
            return self.model(**values)
        except ValueError as exc:  # a __post_init__ check, worded by the application
            _add(errors, path or WHOLE_FORM, str(exc))
            return None

    # -- pydantic --

    def _pydantic(self, data: dict[str, Any], path: str, errors: Messages) -> Any:
        from pydantic import ValidationError  # the application imported pydantic already

        try:
            return self.model.model_validate(data)  # type: ignore[attr-defined]
        except ValidationError as exc:
            for detail in exc.errors(include_url=False):
                if _full(errors):
                    break
                where, exact = self._locate(detail["loc"], path)
                if exact or where not in errors:
                    _add(errors, where, _pydantic_message(detail))
            return None

    def _locate(self, loc: tuple[int | str, ...], path: str) -> tuple[str, bool]:
        """The dotted name of a pydantic error location; ``False`` when a union member's tag
        was left out (its messages then only count when the field has no other). Worked out
        once per location with its indexes left out (every item of a list shares one)."""
        shape = tuple(step if isinstance(step, str) else None for step in loc)
        known = self._located.get(shape)
        if known is None:
            known = self._walk(shape)
            if len(self._located) < _MAX_KNOWN:  # dict keys of a request could grow it
                self._located[shape] = known
        joins, exact = known
        for step, index in zip(loc, joins, strict=False):
            path = _join(path, step if index else str(step))
        return path, exact

    def _walk(self, shape: tuple[str | None, ...]) -> tuple[tuple[bool, ...], bool]:
        """For each step of a location ``shape`` (indexes as ``None``) that names the field,
        whether it is an index; and whether the name is exact (see :meth:`_locate`)."""
        hint: Any = self.model
        joins: list[bool] = []
        for step in shape:
            facts = _facts(hint)
            if step is None and facts.item is not _MISSING:
                joins.append(True)
                hint = facts.item
            elif facts.kind is not None and step is not None:
                field = form_model_of(facts.stripped, facts.kind).fields.get(step)
                joins.append(False)
                if field is None:
                    return tuple(joins), True  # an extra field
                hint = field.hint
            elif typing.get_origin(facts.stripped) is dict or facts.stripped is dict:
                joins.append(False)
                hint = Any
            else:
                return tuple(joins), False
        return tuple(joins), True

    # -- msgspec: one field at a time, so that every error is found --

    def _msgspec(self, data: dict[str, Any], path: str, errors: Messages) -> Any:
        import msgspec  # the application imported msgspec already

        found = len(errors)
        if self.model.__struct_config__.forbid_unknown_fields:  # type: ignore[attr-defined]
            for key in data.keys() - self.fields.keys():
                _add(errors, _join(path, key), FIELD_UNEXPECTED)
        for key, field in self.fields.items():
            where = _join(path, key)
            if key not in data:
                if field.required:
                    _add(errors, where, FIELD_REQUIRED)
            elif _nested_model(field.hint):
                _check(field.hint, data[key], where, errors)
            else:
                try:
                    msgspec.convert(data[key], field.hint, strict=False)
                except msgspec.ValidationError as exc:
                    _add_msgspec(errors, where, str(exc))
        if len(errors) > found:
            return None
        try:
            return msgspec.convert(data, self.model, strict=False)
        except msgspec.ValidationError as exc:  # __post_init__, worded by the application
            _add_msgspec(errors, path, str(exc))
            return None


_models: dict[type, FormModel] = {}


def form_model_of(model: type, kind: str) -> FormModel:
    """The cached :class:`FormModel` of ``model``."""
    found = _models.get(model)
    if found is None:
        found = _models[model] = FormModel(model, kind)
    return found


def form_model(hint: Any) -> FormModel | None:
    """The :class:`FormModel` when ``hint`` is one of the four kinds, else ``None``."""
    hint = _strip(hint)
    kind = _kind(hint)
    return None if kind is None else form_model_of(hint, kind)


def _nested_model(hint: Any) -> bool:
    hint = _strip(hint)
    item = _list_item(hint)
    return _kind(hint) is not None or (item is not _MISSING and _kind(item) is not None)


def _shape(hint: Any, value: Any) -> Any:
    """Form text made ready for a field of type ``hint`` (see the module docstring)."""
    facts = _facts(hint)
    stripped = facts.stripped
    if isinstance(value, str):
        if stripped is bool:
            lowered = value.strip().lower()
            return True if lowered in TRUE_WORDS else False if lowered in FALSE_WORDS else value
        if value == "" and not facts.holds_text:
            return _MISSING
        if stripped is int or stripped is float:  # read as plain parameters, whatever the library
            number = read_number(stripped, value)
            return value if number is None else number  # else the library says what is wrong
    item = facts.item
    if item is not _MISSING:
        items = value if isinstance(value, list) else [value]
        shaped = [_shape(item, element) for element in items]
        return [element for element in shaped if element is not _MISSING]
    if facts.kind is not None and isinstance(value, dict):
        return form_model_of(stripped, facts.kind)._prepare(value)
    return value


def _check(hint: Any, value: Any, path: str, errors: Messages) -> Any:
    """One value of a dataclass or TypedDict field (or of a nested model), errors collected."""
    facts = _facts(hint)
    stripped = facts.stripped
    if value is None and stripped is not hint:
        return None  # Optional
    if facts.kind is not None:
        if not isinstance(value, dict):
            _add(errors, path, f"Enter {WANTED[dict]}.")
            return None
        limit = errors.limit if isinstance(errors, _Found) else None
        built, found = form_model_of(stripped, facts.kind).validate(value, path, limit)
        for where, messages in found.items():
            for message in messages:
                _add(errors, where, message)
        return built
    item = facts.item
    if item is not _MISSING and _facts(item).kind is not None and isinstance(value, list):
        built_items = []
        for index, element in enumerate(value):
            if _full(errors):
                break
            built_items.append(_check(item, element, _join(path, index), errors))
        return built_items
    try:
        return converter_for(hint)(path, value)
    except PayloadValidationError as exc:
        _add(errors, path, exc.problem)
        return None


# -- people's wording -----------------------------------------------------------------------

_PYDANTIC: Final[dict[str, str]] = {
    "missing": FIELD_REQUIRED,
    "extra_forbidden": FIELD_UNEXPECTED,
    "int_parsing": f"Enter {WANTED[int]}.",
    "int_type": f"Enter {WANTED[int]}.",
    "int_from_float": f"Enter {WANTED[int]}.",
    "float_parsing": f"Enter {WANTED[float]}.",
    "float_type": f"Enter {WANTED[float]}.",
    "decimal_parsing": f"Enter {WANTED[float]}.",
    "finite_number": f"Enter {WANTED[float]}.",
    "bool_parsing": f"Enter {WANTED[bool]}.",
    "bool_type": f"Enter {WANTED[bool]}.",
    "string_type": f"Enter {WANTED[str]}.",
    "list_type": f"Enter {WANTED[list]}.",
    "dict_type": f"Enter {WANTED[dict]}.",
    "model_type": f"Enter {WANTED[dict]}.",
    "model_attributes_type": f"Enter {WANTED[dict]}.",
    "string_pattern_mismatch": "Enter a value in the expected format.",
    "enum": "Choose one of the offered values.",
    "date_parsing": "Enter a valid date.",
    "date_from_datetime_parsing": "Enter a valid date.",
    "datetime_parsing": "Enter a valid date and time.",
    "datetime_from_date_parsing": "Enter a valid date and time.",
    "time_parsing": "Enter a valid time.",
    "uuid_parsing": "Enter a valid identifier.",
    "url_parsing": "Enter a valid web address.",
    "greater_than": "Enter a number greater than {gt}.",
    "greater_than_equal": "Enter a number of at least {ge}.",
    "less_than": "Enter a number less than {lt}.",
    "less_than_equal": "Enter a number of at most {le}.",
    "multiple_of": "Enter a multiple of {multiple_of}.",
}


def _characters(count: Any) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"


def _values(count: Any) -> str:
    return f"{count} value" if count == 1 else f"{count} values"


def _pydantic_message(detail: Mapping[str, Any]) -> str:
    kind: str = detail["type"]
    context: dict[str, Any] = dict(detail.get("ctx") or {})
    lengths: dict[str, Callable[[Any], str]] = {
        "string_too_short": lambda c: f"Enter at least {_characters(c['min_length'])}.",
        "string_too_long": lambda c: f"Enter at most {_characters(c['max_length'])}.",
        "too_short": lambda c: f"Give at least {_values(c['min_length'])}.",
        "too_long": lambda c: f"Give at most {_values(c['max_length'])}.",
        "literal_error": lambda c: f"Choose one of: {c['expected']}.",
    }
    if kind in lengths:
        return lengths[kind](context)
    if kind in _PYDANTIC:
        return _PYDANTIC[kind].format(**context)
    if kind in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])  # the application's own words
    message = str(detail.get("msg") or "Enter a valid value")
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


_MSGSPEC_AT: Final = re.compile(r" - at `\$(?P<rest>[^`]*)`$")
_FORMAT: Final = "Enter a value in the expected format."
_ENUM: Final = "Choose one of the offered values."
#: msgspec's messages, first match wins: a pattern and the words for people (``{0}`` is
#: the pattern's group; ``{chars}`` / ``{values}`` the same count with its noun).
_MSGSPEC_RULES: Final[list[tuple[re.Pattern[str], str]]] = [
    (re.compile(pattern), words)
    for pattern, words in (
        (r"Object missing required field `(.+)`", FIELD_REQUIRED),
        (r"Object contains unknown field `(.+)`", FIELD_UNEXPECTED),
        (r"Expected `str` of length >= (\d+)", "Enter at least {chars}."),
        (r"Expected `str` of length <= (\d+)", "Enter at most {chars}."),
        (r"Expected `(?:array|object)` of length >= (\d+)", "Give at least {values}."),
        (r"Expected `(?:array|object)` of length <= (\d+)", "Give at most {values}."),
        (r"Expected `str` matching regex", _FORMAT),
        (r"Expected `\w+` >= (\S+)", "Enter a number of at least {0}."),
        (r"Expected `\w+` > (\S+)", "Enter a number greater than {0}."),
        (r"Expected `\w+` <= (\S+)", "Enter a number of at most {0}."),
        (r"Expected `\w+` < (\S+)", "Enter a number less than {0}."),
        (r"Expected `\w+` that's a multiple of (\S+)", "Enter a multiple of {0}."),
        (r"Invalid enum value", _ENUM),
        (r"Expected `int(?: \| null)?`, got", f"Enter {WANTED[int]}."),
        (r"Expected `(?:float|number)(?: \| null)?`, got", f"Enter {WANTED[float]}."),
        (r"Expected `bool(?: \| null)?`, got", f"Enter {WANTED[bool]}."),
        (r"Expected `str(?: \| null)?`, got", f"Enter {WANTED[str]}."),
        (r"Expected `array(?: \| null)?`, got", f"Enter {WANTED[list]}."),
        (r"Expected `object(?: \| null)?`, got", f"Enter {WANTED[dict]}."),
        (r"Expected `(?:date|datetime|time)", "Enter a valid date or time."),
        (r"Expected `uuid", "Enter a valid identifier."),
    )
]


def _msgspec_words(words: str, match: re.Match[str]) -> str:
    if not match.groups():
        return words
    count = match[1]
    number = int(count) if count.isdigit() else count
    return words.format(count, chars=_characters(number), values=_values(number))


def _add_msgspec(errors: Messages, path: str, text: str) -> None:
    """Add a msgspec ``ValidationError`` message (``... - at `$.a[0]```) at its field."""
    located = _MSGSPEC_AT.search(text)
    if located is not None:
        text = text[: located.start()]
        rest = located["rest"]
        path = (path + rest) if path else rest.removeprefix(".")
    missing = re.fullmatch(r"Object (?:missing required|contains unknown) field `(.+)`", text)
    if missing is not None:
        path = _join(path, missing[1])
    for pattern, words in _MSGSPEC_RULES:
        match = pattern.match(text)
        if match is not None:
            _add(errors, path or WHOLE_FORM, _msgspec_words(words, match))
            return
    _add(errors, path or WHOLE_FORM, text if text.endswith(".") else text + ".")
