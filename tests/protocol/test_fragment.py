"""Fragment annotation: the root element carries id, target, swap and the snapshot."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from component_framework.protocol.fragment import annotate_root, wire_attributes

NAME = "counter"
COMPONENT_ID = "counter-abc123"
SNAPSHOT = "v1.eyJjIjoiY291bnRlciJ9.c2lnbmF0dXJl"
WIRE = wire_attributes(NAME, COMPONENT_ID, SNAPSHOT)


class StartTags(HTMLParser):
    """Collects every start tag with its attributes in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.self_closing: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.self_closing.append(False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.self_closing.append(True)


def parse(html: str) -> StartTags:
    parser = StartTags()
    parser.feed(html)
    parser.close()
    return parser


def root(html: str) -> tuple[str, dict[str, str | None]]:
    """The first start tag of ``html``; fails if an attribute appears twice on it."""
    tag, attrs = parse(html).tags[0]
    names = [name for name, _ in attrs]
    assert len(names) == len(set(names)), f"duplicate attributes on root: {names}"
    return tag, dict(attrs)


def hx_vals(attrs: dict[str, str | None]) -> object:
    value = attrs["hx-vals"]
    assert value is not None
    return json.loads(value)


# -- the attributes -----------------------------------------------------------------------


def test_wire_attributes_identify_component_and_carry_snapshot() -> None:
    expected = {
        "id": COMPONENT_ID,
        "data-component": NAME,
        "hx-target": "this",
        "hx-swap": "outerHTML",
        "hx-vals": json.dumps({"snapshot": SNAPSHOT}, separators=(",", ":")),
    }

    assert wire_attributes(NAME, COMPONENT_ID, SNAPSHOT) == expected


def test_root_element_gets_every_wire_attribute() -> None:
    tag, attrs = root(annotate_root('<div class="counter"><b>1</b></div>', WIRE))

    assert tag == "div"
    assert attrs == {
        "class": "counter",
        "id": COMPONENT_ID,
        "data-component": NAME,
        "hx-target": "this",
        "hx-swap": "outerHTML",
        "hx-vals": WIRE["hx-vals"],
    }


def test_only_the_first_element_is_annotated() -> None:
    html = annotate_root("<ul><li>1</li><li>2</li></ul><p>after</p>", WIRE)

    tags = parse(html).tags
    assert [dict(attrs).get("id") for _, attrs in tags] == [COMPONENT_ID, None, None, None]


def test_content_after_the_root_start_tag_is_unchanged() -> None:
    inner = '<span class="count">1</span><button hx-post="/x">+</button></div>\n'

    html = annotate_root('<div class="counter">' + inner, WIRE)

    assert html.endswith('">' + inner)


def test_root_with_attributes_across_lines_is_annotated() -> None:
    html = annotate_root('<div\n  class="counter"\n  data-x="1"\n>text</div>', WIRE)

    _, attrs = root(html)
    assert (attrs["class"], attrs["data-x"], attrs["id"]) == ("counter", "1", COMPONENT_ID)


def test_greater_than_inside_a_quoted_value_does_not_end_the_tag() -> None:
    _, attrs = root(annotate_root("<div title=\"a > b\" data-y='c > d'>x</div>", WIRE))

    assert (attrs["title"], attrs["data-y"], attrs["id"]) == ("a > b", "c > d", COMPONENT_ID)


# -- what comes before the root -----------------------------------------------------------


@pytest.mark.parametrize(
    "lead",
    [
        "",
        "  \n\t",
        "<!-- a comment -->",
        "<!-- a comment\nover > lines -->\n",
        "<!DOCTYPE html>",
        "<!doctype html>\n",
        "<!DOCTYPE html>\n<!-- one --> <!-- two -->\n",
    ],
    ids=[
        "nothing",
        "whitespace",
        "comment",
        "multiline comment with >",
        "doctype",
        "lower-case doctype",
        "doctype and comments",
    ],
)
def test_leading_whitespace_comments_and_doctype_are_kept_before_root(lead: str) -> None:
    html = annotate_root(lead + '<section class="c">x</section>', WIRE)

    assert html.startswith(lead + '<section class="c" id=')
    assert root(html)[1]["id"] == COMPONENT_ID


# -- the template's own attributes --------------------------------------------------------


@pytest.mark.parametrize("name", ["id", "data-component", "hx-target", "hx-swap"])
def test_attribute_set_by_the_template_wins(name: str) -> None:
    _, attrs = root(annotate_root(f'<div {name}="mine">x</div>', WIRE))

    assert attrs[name] == "mine"


def test_template_attribute_names_compare_case_insensitively() -> None:
    _, attrs = root(annotate_root('<div ID="mine" HX-Swap="innerHTML">x</div>', WIRE))

    assert (attrs["id"], attrs["hx-swap"]) == ("mine", "innerHTML")


def test_template_hx_vals_keeps_its_keys_and_gains_the_snapshot() -> None:
    template = '<div hx-vals=\'{"event": "increment", "step": 2}\'>x</div>'

    _, attrs = root(annotate_root(template, WIRE))

    assert hx_vals(attrs) == {"event": "increment", "step": 2, "snapshot": SNAPSHOT}


def test_double_quoted_hx_vals_with_entities_is_merged() -> None:
    template = '<div class="c" hx-vals="{&quot;event&quot;: &quot;save&quot;}">x</div>'

    _, attrs = root(annotate_root(template, WIRE))

    assert hx_vals(attrs) == {"event": "save", "snapshot": SNAPSHOT}
    assert attrs["class"] == "c"


def test_stale_snapshot_in_template_hx_vals_is_replaced() -> None:
    template = '<div hx-vals=\'{"snapshot": "old", "a": 1}\'>x</div>'

    _, attrs = root(annotate_root(template, WIRE))

    assert hx_vals(attrs) == {"snapshot": SNAPSHOT, "a": 1}


@pytest.mark.parametrize("value", ["js:{a: getA()}", "[1, 2]"])
def test_hx_vals_that_is_not_a_json_object_is_left_alone(value: str) -> None:
    _, attrs = root(annotate_root(f"<div hx-vals='{value}'>x</div>", WIRE))

    assert attrs["hx-vals"] == value


def test_hx_vals_on_an_inner_element_is_not_touched() -> None:
    inner = '<button hx-vals=\'{"event": "increment"}\'>+</button>'

    html = annotate_root(f"<div>{inner}</div>", WIRE)

    assert inner in html
    assert hx_vals(root(html)[1]) == {"snapshot": SNAPSHOT}


@pytest.mark.parametrize(
    ("template", "name", "value"),
    [
        ('<div class="a b">x</div>', "class", "a b"),
        ("<div class='a b'>x</div>", "class", "a b"),
        ("<div class=ab>x</div>", "class", "ab"),
        ('<div data-x = "1">x</div>', "data-x", "1"),
        ("<div hidden>x</div>", "hidden", None),
        ('<div title="">x</div>', "title", ""),
    ],
    ids=["double", "single", "bare", "spaced equals", "boolean", "empty"],
)
def test_quoting_styles_of_template_attributes_are_understood(
    template: str, name: str, value: str | None
) -> None:
    _, attrs = root(annotate_root(template, WIRE))

    assert attrs[name] == value
    assert attrs["id"] == COMPONENT_ID


@pytest.mark.parametrize("template", ['<img src="a.png"/>', '<img src="a.png" />', "<br/>"])
def test_self_closing_root_stays_self_closing(template: str) -> None:
    html = annotate_root(template, WIRE)

    parsed = parse(html)
    assert parsed.self_closing == [True]
    assert dict(parsed.tags[0][1])["id"] == COMPONENT_ID
    assert html.endswith(" />")


def test_void_root_without_slash_is_annotated() -> None:
    _, attrs = root(annotate_root("<input name=q>", WIRE))

    assert (attrs["name"], attrs["id"]) == ("q", COMPONENT_ID)


# -- fragments without a root element -----------------------------------------------------


@pytest.mark.parametrize(
    "fragment",
    ["", "just text", "text first <b>then bold</b>", "<!-- only a comment -->", "</div>"],
)
def test_fragment_without_root_element_is_wrapped_in_a_div(fragment: str) -> None:
    html = annotate_root(fragment, WIRE)

    assert html.startswith("<div ")
    assert html.endswith(">" + fragment + "</div>")
    assert root(html) == ("div", {**WIRE})


# -- escaping -----------------------------------------------------------------------------

HOSTILE = [
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)",
    '" onclick="x',
    "a&b<c>d",
    "&quot;",
]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize(
    "template", ['<div class="c">x</div>', "plain text", "<div hx-vals='{\"a\": 1}'>x</div>"]
)
def test_hostile_values_cannot_leave_their_attribute(template: str, hostile: str) -> None:
    html = annotate_root(template, wire_attributes(hostile, hostile, hostile))

    parsed = parse(html)
    _, attrs = root(html)
    assert attrs["id"] == hostile
    assert attrs["data-component"] == hostile
    hx = hx_vals(attrs)
    assert isinstance(hx, dict)
    assert hx["snapshot"] == hostile
    assert not {"onmouseover", "onclick"} & set(attrs)
    assert "script" not in [tag for tag, _ in parsed.tags]


@settings(max_examples=200)
@given(component_id=st.text(), snapshot=st.text(), name=st.text())
def test_any_values_survive_an_html_parser_unchanged(
    component_id: str, snapshot: str, name: str
) -> None:
    html = annotate_root('<div class="c">x</div>', wire_attributes(name, component_id, snapshot))

    tag, attrs = root(html)
    assert tag == "div"
    assert (attrs["id"], attrs["data-component"]) == (component_id, name)
    assert hx_vals(attrs) == {"snapshot": snapshot}
