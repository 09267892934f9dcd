"""Reading the wire in contract tests: JSON answers, error bodies and htmx fragments.

Owns the small assertions every contract test repeats (an answer is a component render, an
error has the documented shape) and an HTML reader that finds a fragment's root element and its
buttons the way htmx does. Knows nothing about hosts.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from tests.hosts.hosts import HostClient, HostResponse

__all__ = [
    "ANSWER_KEYS",
    "Element",
    "Fragment",
    "assert_error",
    "assert_render",
    "count_in",
    "mount",
    "parse_fragment",
    "send_event",
    "tampered",
]

ANSWER_KEYS = frozenset({"html", "state", "snapshot", "component_id"})
_COUNT = re.compile(r'<span class="count">(-?\d+)</span>')
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class Element:
    """A start tag with its (unescaped) attributes."""

    tag: str
    attrs: dict[str, str]

    def vals(self) -> dict[str, Any]:
        """The ``hx-vals`` JSON object of this element (empty if it has none)."""
        raw = self.attrs.get("hx-vals")
        if raw is None:
            return {}
        decoded = json.loads(raw)
        assert isinstance(decoded, dict), f"hx-vals is not a JSON object: {raw!r}"
        return decoded


@dataclass(frozen=True)
class Fragment:
    """The elements of an HTML fragment, in document order; the first is the root."""

    elements: list[Element]
    html: str

    @property
    def root(self) -> Element:
        """The fragment's root element."""
        return self.elements[0]

    def button(self, event: str) -> Element:
        """The element with ``hx-post`` whose ``hx-vals`` names ``event``."""
        for element in self.elements:
            if "hx-post" in element.attrs and element.vals().get("event") == event:
                return element
        raise AssertionError(f"no hx-post element sends {event!r} in {self.html!r}")


class _StartTags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {name: value or "" for name, value in attrs}))


def parse_fragment(html: str) -> Fragment:
    """Parse ``html``; fails the test if it has no element."""
    parser = _StartTags()
    parser.feed(html)
    parser.close()
    assert parser.elements, f"no element in fragment {html!r}"
    return Fragment(parser.elements, html)


def count_in(html: str) -> int:
    """The counter value shown in a counter fragment."""
    match = _COUNT.search(html)
    assert match is not None, f"no count in {html!r}"
    return int(match.group(1))


def assert_render(response: HostResponse) -> dict[str, Any]:
    """``response`` is a 200 JSON component answer; returns it."""
    assert response.status == 200, (response.status, response.body[:500])
    assert (response.header("content-type") or "").startswith("application/json")
    answer = response.json()
    assert set(answer) == ANSWER_KEYS
    assert isinstance(answer["html"], str)
    assert isinstance(answer["state"], dict)
    assert isinstance(answer["snapshot"], str)
    assert answer["snapshot"]
    assert isinstance(answer["component_id"], str)
    assert answer["component_id"]
    return answer


def assert_error(response: HostResponse, status: int, code: str) -> dict[str, Any]:
    """``response`` is the documented JSON error with ``status`` and ``code``; returns the
    ``error`` object."""
    assert response.status == status, (response.status, response.body[:500])
    assert (response.header("content-type") or "").startswith("application/json")
    document = response.json()
    assert set(document) == {"error"}
    error = document["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


async def mount(host: HostClient, component: str, /, **params: Any) -> dict[str, Any]:
    """Mount ``component`` with ``params`` by a JSON POST and return the checked answer."""
    body: dict[str, Any] = {"params": params} if params else {}
    return assert_render(await host.request("POST", f"/components/{component}/", json=body))


async def send_event(
    host: HostClient, component: str, event: str, snapshot: str, /, **payload: Any
) -> HostResponse:
    """POST ``event`` with ``payload`` and ``snapshot`` to ``component`` as JSON."""
    body = {"event": event, "payload": payload, "snapshot": snapshot}
    return await host.request("POST", f"/components/{component}/", json=body)


def tampered(token: str) -> str:
    """``token`` with one character of its body replaced by another token character."""
    index = len(token) // 3
    while token[index] not in _TOKEN_ALPHABET:
        index += 1
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]
