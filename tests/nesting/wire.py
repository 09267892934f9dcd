"""Reading component roots out of rendered HTML, as the client runtime does: each element with
``data-component``, its id, snapshot, text and the root it sits in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Root", "roots"]


@dataclass
class Root:
    name: str
    id: str
    snapshot: str
    parent: str | None
    attributes: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def content(self) -> str:
        return "".join(self.text)


class _Roots(HTMLParser):
    VOID = frozenset({"br", "img", "input", "meta", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.found: list[Root] = []
        self.stack: list[Root | None] = []

    def _open(self) -> list[Root]:
        return [root for root in self.stack if root is not None]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        root = None
        if "data-component" in attributes or "data-lazy" in attributes:
            open_roots = [r for r in self._open() if "data-component" in r.attributes]
            vals = json.loads(attributes.get("hx-vals") or "{}")
            root = Root(
                attributes.get("data-component") or attributes["data-lazy"],
                attributes["id"],
                vals.get("snapshot", ""),
                open_roots[-1].id if open_roots else None,
                attributes,
            )
            self.found.append(root)
        if tag not in self.VOID:
            self.stack.append(root)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for root in self._open():
            root.text.append(data)


def roots(html: str) -> dict[str, Root]:
    """Every root (and lazy placeholder) of ``html`` by id, in document order."""
    parser = _Roots()
    parser.feed(html)
    return {root.id: root for root in parser.found}
