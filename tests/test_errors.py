"""The error tree: its drawing matches the classes, and no error carries a huge client string."""

from __future__ import annotations

import re

import pytest

import component_framework.errors as errors
from component_framework.errors import (
    ComponentNotFound,
    EventNotFound,
    MalformedRequest,
    PayloadTooLarge,
    PayloadValidationError,
    SnapshotTooLarge,
    shown,
)

HUGE = "x" * 1_000_000


def _drawn_tree() -> dict[str, tuple[int, int, str]]:
    """Class name -> (status, close code, code) as the module docstring draws them."""
    assert errors.__doc__ is not None
    rows = re.findall(r"(\w+)\s+(\d{3})\s+(\d{4})\s+(\w+)$", errors.__doc__, re.MULTILINE)
    return {name: (int(status), int(close), code) for name, status, close, code in rows}


def test_the_drawn_tree_matches_every_drawn_class() -> None:
    drawn = _drawn_tree()

    assert "SnapshotTooLarge" in drawn
    for name, (status, close, code) in drawn.items():
        cls = getattr(errors, name)
        assert (cls.status_code, cls.close_code, cls.code) == (status, close, code), name


def test_snapshot_too_large_is_a_payload_too_large() -> None:
    error = SnapshotTooLarge("the change was not applied")

    assert isinstance(error, PayloadTooLarge)
    assert error.to_dict() == {
        "error": {"code": "snapshot_too_large", "message": "the change was not applied"}
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", "'abc'"),
        ("a" * 65, repr("a" * 64) + "..."),
        (5, "5"),
        (None, "None"),
        (1.5, "1.5"),
        ([1] * 1000, "list"),
        ({"a": 1}, "dict"),
    ],
)
def test_shown_quotes_short_values_and_cuts_or_names_the_rest(value: object, text: str) -> None:
    assert shown(value) == text


def test_every_message_is_cut_short_whatever_a_caller_quoted() -> None:
    error = MalformedRequest(f"field {HUGE!r} is wrong")

    assert len(error.message) == errors.MAX_MESSAGE_CHARS + 3
    assert str(error) == error.message
    assert len(str(error.to_dict())) < 1000


def test_a_validation_error_cuts_its_field_and_its_problem() -> None:
    error = PayloadValidationError(HUGE, f"got {HUGE}")

    assert error.field == "x" * errors.MAX_FIELD_CHARS + "..."
    assert len(error.problem) <= errors.MAX_MESSAGE_CHARS + 3
    assert len(str(error.to_dict())) < 1000


@pytest.mark.parametrize(
    "error", [ComponentNotFound(HUGE), EventNotFound("counter", HUGE)], ids=["component", "event"]
)
def test_not_found_errors_quote_the_name_cut_short(error: Exception) -> None:
    assert len(str(error)) < 150
