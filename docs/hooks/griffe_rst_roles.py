"""A griffe extension for the API reference: reStructuredText roles become Markdown links.

The docstrings of ``src/`` are prose with reST inline markup (``:class:`Settings```,
``:meth:`shutdown```, double-backquoted literals). Double backquotes are already a Markdown code
span; this extension rewrites the roles into cross-references that mkdocs-autorefs resolves when
the target is documented on the site (plain code otherwise, never a broken link), and turns a
reST literal-block marker (a paragraph ending in ``::``) into a plain colon.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|data|exc|mod|obj):`~?(?P<name>[A-Za-z_][\w.]*)`")
_LITERAL_MARKER = re.compile(r"(?<=\S)::$", flags=re.MULTILINE)


def _target(obj: griffe.Object, name: str) -> str | None:
    """The full path ``name`` means in ``obj``'s scope, if griffe can tell."""
    head, _, rest = name.partition(".")
    scopes = [obj, *([obj.parent] if obj.parent is not None else [])]
    for scope in scopes:
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError):
            continue
        return f"{resolved}.{rest}" if rest else resolved
    if name.startswith("component_framework."):
        return name
    return None


def _rewrite(obj: griffe.Object, text: str) -> str:
    def link(match: re.Match[str]) -> str:
        name = match["name"]
        shown = name.rsplit(".", 1)[-1] if "." in name and name[0].islower() else name
        target = _target(obj, name)
        if target is None:
            return f"`{shown}`"
        return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'

    return _LITERAL_MARKER.sub(":", _ROLE.sub(link, text))


class RstRoles(griffe.Extension):
    """Rewrite every docstring of the package once it is fully loaded (names then resolve)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._visit(pkg, set())

    def _visit(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = _rewrite(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._visit(member, seen)  # type: ignore[arg-type]
