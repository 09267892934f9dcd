"""The rules of URL state, pure: the declaration is checked when the class is defined, and a
URL value is read as the type of the value ``mount`` set (else the default stays)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from component_framework.core.component import Component
from component_framework.core.effects import checked_url
from component_framework.core.url_state import encode_value, read_value, url_for
from component_framework.errors import ConfigurationError


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("shoes", "", "shoes"),
        ("", "x", ""),
        ("7", None, "7"),
        ("42", 1, 42),
        ("-3", 1, -3),
        (" 5 ", 1, 5),
        ("4.5", 1, 1),
        ("1e9", 1, 1),
        ("9" * 19, 1, 1),
        ("٣", 1, 1),  # an Arabic-Indic digit: int() reads it, a URL value should not
        ("2.5", 0.5, 2.5),
        ("nan", 0.5, 0.5),
        ("inf", 0.5, 0.5),
        ("1" * 100, 0.5, 0.5),
        ("true", False, True),
        ("ON", False, True),
        ("0", True, False),
        ("", True, False),
        ("maybe", True, True),
        ("a,b", ["x"], ["x"]),
        ("{}", {"k": 1}, {"k": 1}),
    ],
)
def test_a_url_value_is_read_as_the_type_of_the_default(text: str, default: Any, expected: Any):
    value = read_value(text, default)
    assert value == expected
    assert type(value) is type(expected)


def test_a_text_longer_than_any_url_keeps_the_default():
    assert read_value("x" * 5000, "d") == "d"


@pytest.mark.parametrize(
    ("value", "text"),
    [("a b", "a b"), (3, "3"), (2.5, "2.5"), (True, "true"), (False, "false"), (None, None)],
)
def test_a_state_value_becomes_query_text(value: Any, text: str | None):
    assert encode_value(value) == text


def test_a_list_or_an_object_is_left_out_of_the_url():
    assert encode_value(["a"]) is None
    assert encode_value({"a": 1}) is None


@pytest.mark.parametrize(
    ("url_state", "url_history"),
    [("q", ()), (("q", 3), ()), (("two words",), ()), (("q",), ("page",)), (("q",), "q")],
)
def test_a_bad_declaration_is_a_configuration_error_when_the_class_is_defined(
    url_state: Any, url_history: Any
):
    with pytest.raises(ConfigurationError, match="url_"):
        type("Bad", (Component,), {"url_state": url_state, "url_history": url_history})


@given(st.text(max_size=80), st.sampled_from(["d", 7, 0.5, True, None, ["x"]]))
def test_any_url_text_reads_as_the_defaults_type_or_keeps_the_default(text: str, default: Any):
    value = read_value(text, default)
    assert value is default or type(value) is type(default) or default is None


@given(
    page=st.one_of(st.none(), st.text(max_size=120)),
    q=st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.none()),
    number=st.integers(min_value=-(10**6), max_value=10**6),
)
def test_any_page_url_gives_a_url_of_this_site_or_the_query_alone(
    page: str | None, q: Any, number: int
):
    component = Finder()
    component.page_url = page
    component.url_defaults = {"q": "", "page": 1}
    url = url_for(component, {"q": q, "page": number})
    assert checked_url(url) == url
    assert url[0] in "/?"


class Finder(Component):
    url_state = ("q", "page")
