"""Annotation of a rendered fragment's root element with the component's wire attributes.

Owns how a fragment tells htmx where it belongs and what to echo: the root element gets the
component ``id``, ``data-component`` (and ``data-listens``: the events of other
components it handles), ``hx-target="this"`` and ``hx-swap="outerHTML"`` (so any
``hx-post`` inside swaps the whole component) and ``hx-vals`` holding the signed snapshot (htmx
merges inherited ``hx-vals``, so every request from inside the component echoes it).
Attributes the template already sets win, except ``hx-vals``, whose JSON object is merged.

Pure string work; the root element is the first start tag after leading whitespace, comments and
doctype. A fragment without a root element is wrapped in a ``<div>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape, unescape
from typing import Final

__all__ = ["annotate_root", "wire_attributes"]

_ROOT_TAG: Final = re.compile(
    r"""\A(?P<lead>\s*(?:<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*)"""
    r"""<(?P<tag>[A-Za-z][A-Za-z0-9-]*)(?P<attrs>(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(?P<close>/?)>""",
    re.DOTALL | re.IGNORECASE,
)
_ATTRIBUTE: Final = re.compile(
    r"""\s+(?P<name>[^\s"'>/=]+)(?:\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'=<>`]+)))?"""
)


def wire_attributes(
    component_name: str, component_id: str, snapshot: str, listens: Sequence[str] = ()
) -> dict[str, str]:
    """The attributes a component's root element carries on the wire; ``data-listens``
    names the events of other components it handles (``listens``), when there are any."""
    attributes = {
        "id": component_id,
        "data-component": component_name,
        "hx-target": "this",
        "hx-swap": "outerHTML",
        "hx-vals": json.dumps({"snapshot": snapshot}, separators=(",", ":")),
    }
    if listens:
        attributes["data-listens"] = " ".join(listens)
    return attributes


def _existing_attributes(attrs: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(attrs):
        value = match.group("dq") or match.group("sq") or match.group("bare") or ""
        found[match.group("name").lower()] = unescape(value)
    return found


def _merged_vals(existing: str, ours: str) -> str:
    try:
        theirs = json.loads(existing)
    except ValueError:
        # hx-vals may be a "js:" expression; leave it alone and let ours not be merged.
        return existing
    if not isinstance(theirs, dict):
        return existing
    merged = {**theirs, **json.loads(ours)}
    return json.dumps(merged, separators=(",", ":"))


def _render_attributes(attributes: Mapping[str, str]) -> str:
    return "".join(f' {name}="{escape(value, quote=True)}"' for name, value in attributes.items())


def annotate_root(html: str, attributes: Mapping[str, str]) -> str:
    """Add ``attributes`` to the root element of ``html`` (see the module docstring)."""
    match = _ROOT_TAG.match(html)
    if match is None:
        return f"<div{_render_attributes(attributes)}>{html}</div>"
    existing = _existing_attributes(match.group("attrs"))
    added: dict[str, str] = {}
    replace_vals = False
    for name, value in attributes.items():
        if name == "hx-vals" and name in existing:
            added[name] = _merged_vals(existing[name], value)
            replace_vals = True
        elif name not in existing:
            added[name] = value
    attrs = match.group("attrs")
    if replace_vals:
        attrs = "".join(
            m.group(0) for m in _ATTRIBUTE.finditer(attrs) if m.group("name").lower() != "hx-vals"
        )
    start = (
        f"{match.group('lead')}<{match.group('tag')}{attrs}"
        f"{_render_attributes(added)}{' /' if match.group('close') else ''}>"
    )
    return start + html[match.end() :]
