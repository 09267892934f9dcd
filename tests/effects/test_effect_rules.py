"""The rules of core.effects, sans-IO: which URLs a component may send a browser to (no
open redirect), which events it may trigger with which detail, and the origin check of an
answer's effects against the request's host and allowed_origins."""

from __future__ import annotations

import pytest

from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.core.effects import (
    MAX_TRIGGER_DETAIL_BYTES,
    MAX_URL_CHARS,
    Effects,
    checked_trigger,
    checked_url,
)
from component_framework.errors import InvalidTrigger, URLNotAllowed

ACCEPTED = [
    "/",
    "/checkout",
    "/shop?page=2&q=caf%C3%A9#top",
    "/café",
    "/a/../b",
    "/.//evil.example",  # stays a path of this site: the authority is never parsed again
    "?page=2",
    "#reviews",
    "https://shop.example/checkout",
    "HTTP://Shop.Example/x",
    "https://pay.partner.example/session/1",
]

REFUSED = [
    ("", "empty"),
    ("//evil.example", "scheme_relative"),
    ("//evil.example/path", "scheme_relative"),
    ("///evil.example", "scheme_relative"),
    ("/\\evil.example", "backslash"),
    ("\\\\evil.example", "backslash"),
    ("\\/evil.example", "backslash"),
    ("https:\\\\evil.example", "backslash"),
    (" //evil.example", "control_character"),
    ("/\t/evil.example", "control_character"),
    ("/\n/evil.example", "control_character"),
    ("/ok\r\nSet-Cookie: x=1", "control_character"),
    ("/\x00", "control_character"),
    ("/\x7f", "control_character"),
    ("/\u0085", "control_character"),
    ("/\u3000x", "control_character"),
    ("java\tscript:alert(1)", "control_character"),
    ("javascript:alert(1)", "scheme"),
    ("JavaScript:alert(1)", "scheme"),
    ("data:text/html,<script>alert(1)</script>", "scheme"),
    ("vbscript:msgbox", "scheme"),
    ("ftp://evil.example/", "scheme"),
    ("mailto:a@b.example", "scheme"),
    ("https:evil.example", "scheme"),
    ("https:/evil.example", "scheme"),
    ("https://", "scheme"),
    ("https://shop.example@evil.example/", "userinfo"),
    ("checkout", "relative"),
    ("../evil", "relative"),
    ("./x", "relative"),
    ("evil.example/path", "relative"),
    ("/" + "a" * MAX_URL_CHARS, "too_long"),
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_paths_queries_fragments_and_http_urls_are_accepted_as_written(url: str):
    assert checked_url(url) == url


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_anything_else_is_refused_with_its_reason(url: str, reason: str):
    with pytest.raises(URLNotAllowed) as refused:
        checked_url(url, "push_url")
    error = refused.value
    assert (error.status_code, error.code, error.reason) == (400, "url_not_allowed", reason)
    assert error.message.startswith("push_url refused: ")
    assert error.to_dict()["error"]["reason"] == reason


@pytest.mark.parametrize("url", [None, 7, b"/x", ["/x"]])
def test_a_url_that_is_not_a_string_is_refused(url: object):
    with pytest.raises(URLNotAllowed) as refused:
        checked_url(url)
    assert refused.value.reason == "malformed"


def test_a_huge_url_is_refused_without_being_echoed():
    with pytest.raises(URLNotAllowed) as refused:
        checked_url("/" + "x" * 1_000_000)
    assert len(refused.value.message) < 200


def request_from(host: str) -> AccessContext:
    return AccessContext("http", {"headers": [(b"host", host.encode())]})


def document_of(url: str, host: str = "shop.example", allowed: tuple[str, ...] = ()) -> dict:
    effects = Effects()
    effects.redirect = checked_url(url)
    return effects.document(request_from(host), allowed)


def test_an_absolute_url_of_the_requests_own_host_passes():
    assert document_of("https://shop.example/thanks") == {"redirect": "https://shop.example/thanks"}
    assert document_of("http://SHOP.example:8000/x", host="shop.example:8000")["redirect"]


def test_an_absolute_url_of_another_origin_is_refused_unless_listed():
    with pytest.raises(URLNotAllowed) as refused:
        document_of("https://evil.example/")
    assert refused.value.reason == "foreign_origin"
    listed = ("https://pay.partner.example",)
    assert document_of("https://pay.partner.example/s/1", allowed=listed)["redirect"]
    with pytest.raises(URLNotAllowed):  # the origin is scheme and host: http is not https
        document_of("http://pay.partner.example/s/1", allowed=listed)


def test_a_wildcard_in_allowed_origins_never_opens_redirects():
    with pytest.raises(URLNotAllowed) as refused:
        document_of("https://evil.example/", allowed=("*",))
    assert refused.value.reason == "foreign_origin"


def test_without_a_host_header_only_paths_pass():
    effects = Effects()
    effects.redirect = "https://shop.example/"
    with pytest.raises(URLNotAllowed):
        effects.document(AccessContext("http", {}), ())


def test_push_and_replace_replace_each_other_and_the_last_redirect_wins():
    component = Component()
    component.push_url("/a")
    component.replace_url("/b")
    component.redirect("/one")
    component.redirect("/two")
    effects = component.take_effects()
    assert effects is not None
    assert effects.document(request_from("h"), ()) == {"replace_url": "/b", "redirect": "/two"}
    assert component.take_effects() is None


@pytest.mark.parametrize(
    "name",
    ["flash", "cart-updated", "cart.updated", "cart:updated", "a", "A" * 64, "item_added2"],
)
def test_trigger_accepts_event_names(name: str):
    assert checked_trigger(name, {})[0] == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1flash",
        "-flash",
        "flash event",
        "flash\n",
        "a" * 65,
        "htmx:afterSwap",
        "HTMX:load",
        "component-error",
        "component:broadcast",
        "stream:done",
        "<script>",
        None,
        3,
    ],
)
def test_trigger_refuses_invalid_and_reserved_names(name: object):
    with pytest.raises(InvalidTrigger) as refused:
        checked_trigger(name, {})
    assert (refused.value.status_code, refused.value.code) == (400, "invalid_trigger")


@pytest.mark.parametrize(
    "detail",
    [
        {"target": "#other"},
        object(),
        {"n": float("nan")},
        {1: 2, (1,): 3},
        "x" * (MAX_TRIGGER_DETAIL_BYTES + 1),
        {"big": ["x" * 100] * 100},
    ],
)
def test_trigger_refuses_details_that_are_not_small_json_or_hold_target(detail: object):
    with pytest.raises(InvalidTrigger):
        checked_trigger("flash", detail)


def test_trigger_keeps_each_name_once_with_its_last_detail():
    component = Component()
    component.trigger("flash", {"text": "one"})
    component.trigger("total", 3)
    component.trigger("flash", {"text": "two"})
    effects = component.take_effects()
    assert effects is not None
    assert effects.document(request_from("h"), ()) == {
        "trigger": {"flash": {"text": "two"}, "total": 3}
    }
