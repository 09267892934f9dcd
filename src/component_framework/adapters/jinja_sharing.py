"""Shared renders for Jinja2: one render of a template for every component in the same state.

Owns which templates may be shared (:func:`shareable_names`, read from the template's syntax
tree) and the bounded table of shared renders (:class:`SharedRenders`), which
``Jinja2Renderer.render_shared`` uses. Does not own when the dispatcher asks (that is
``core.dispatch``: a component rendered with the default context) nor the key's soundness
(the dispatcher passes only states of plain JSON types, keyed by their strict JSON text).

A template is shared when its output can depend on nothing but the state's keys, ``state``,
``component_name`` and ``component_id``, the last written out only as a plain
``{{ component_id }}``: then the render for one id is the render for a marker with the marker
replaced by that id. Anything in doubt is not shared: a name the state does not hold (the
request, errors, form, a global), any call (a method, a macro, ``range``), an include, an
import, an extension's node, a block, a filter or test outside a short list of Jinja's own
deterministic ones (or one replaced in the environment), an attribute named like a method of
a JSON value (``items``, ``upper``), a computed subscript, keyword arguments to a filter.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

try:
    import jinja2
    import jinja2.filters
    import jinja2.meta
    import jinja2.nodes
    import jinja2.tests
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("jinja2", "litestar") from exc

from component_framework.protocol.compact import json_string

__all__ = ["SHARED_LIMIT", "Shareable", "SharedRenders", "shareable_names"]

#: The template's names a shared render may read, besides the state's keys.
_IDENTITY: Final = frozenset({"state", "component_name", "component_id"})
#: Names the default context sets over state keys of the same name: never shared.
_PER_COMPONENT: Final = frozenset({"request", "errors", "form"})
#: Jinja's own filters and tests whose result depends on their arguments alone.
_FILTERS: Final = frozenset(
    ("abs", "capitalize", "center", "count", "d", "default", "e", "escape", "first", "float",
     "int", "join", "last", "length", "list", "lower", "replace", "reverse", "round",
     "string", "striptags", "sum", "title", "trim", "truncate", "upper", "wordcount")
)  # fmt: skip
_TESTS: Final = frozenset(
    ("boolean", "defined", "divisibleby", "eq", "equalto", "even", "false", "float", "ge",
     "gt", "in", "integer", "le", "lower", "lt", "ne", "none", "number", "odd", "sameas",
     "string", "true", "undefined", "upper")
)  # fmt: skip
#: Attribute names that would reach a method (or a property) of a JSON value, whose text
#: (``<built-in method ...at 0x...>``) is not a function of the state.
_VALUE_ATTRIBUTES: Final = frozenset(
    name for kind in (dict, list, str, int, float, bool) for name in dir(kind)
)
#: What a ``for`` loop's ``loop`` holds that is a value (not a method).
_LOOP_ATTRIBUTES: Final = frozenset(
    ("index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0",
     "previtem", "nextitem")
)  # fmt: skip
#: Nodes a shared template may hold (a filter, a test, a subscript and the id are checked
#: further); anything else (a call, an include, a block, a macro, ...) is not shared.
_NODES: Final = (
    jinja2.nodes.Template, jinja2.nodes.Output, jinja2.nodes.TemplateData, jinja2.nodes.Const,
    jinja2.nodes.Name, jinja2.nodes.Getattr, jinja2.nodes.Getitem, jinja2.nodes.Slice,
    jinja2.nodes.Filter, jinja2.nodes.Test, jinja2.nodes.If, jinja2.nodes.For,
    jinja2.nodes.Assign, jinja2.nodes.CondExpr, jinja2.nodes.And, jinja2.nodes.Or,
    jinja2.nodes.Not, jinja2.nodes.Compare, jinja2.nodes.Operand, jinja2.nodes.BinExpr,
    jinja2.nodes.Neg, jinja2.nodes.Pos, jinja2.nodes.Concat, jinja2.nodes.Tuple,
    jinja2.nodes.List, jinja2.nodes.Dict, jinja2.nodes.Pair,
)  # fmt: skip
#: Not split in this state yet.
_UNSEEN: Final[Any] = object()
#: Most shared renders kept per renderer (the table is emptied when full).
SHARED_LIMIT: Final = 64


@dataclass(frozen=True, slots=True)
class Shareable:
    """What a shareable template reads: its free ``names`` (each must be a state key, or one
    of ``state``, ``component_name``, ``component_id``), every name it ``loads`` (one that a
    template's own global holds is free too) and the ``filters`` and ``tests`` of
    Jinja's own it uses (each must still be Jinja's own in the environment)."""

    names: frozenset[str]
    loads: frozenset[str]
    filters: frozenset[str]
    tests: frozenset[str]


#: A shared render: its parts (split where the id goes), the same as JSON string text, and
#: what its template reads.
_Split = tuple[tuple[str, ...], tuple[str, ...], Shareable]


def _node_ok(node: jinja2.nodes.Node, parent: jinja2.nodes.Node | None) -> bool:
    if not isinstance(node, _NODES):
        return False
    if isinstance(node, jinja2.nodes.Name) and node.name == "component_id":
        return isinstance(parent, jinja2.nodes.Output) and node.ctx == "load"
    if isinstance(node, jinja2.nodes.Name) and node.name == "loop":
        return node.ctx == "load"  # (never assigned: only a ``for`` loop's own)
    if isinstance(node, jinja2.nodes.Getattr):
        return node.attr not in _VALUE_ATTRIBUTES or _loop_attribute(node)
    if isinstance(node, jinja2.nodes.Getitem):
        argument = node.arg
        if isinstance(argument, jinja2.nodes.Slice):
            return True
        return isinstance(argument, jinja2.nodes.Const) and (
            type(argument.value) is int or argument.value not in _VALUE_ATTRIBUTES
        )
    if isinstance(node, jinja2.nodes.Filter):
        return node.name in _FILTERS and not (node.kwargs or node.dyn_args or node.dyn_kwargs)
    if isinstance(node, jinja2.nodes.Test):
        return node.name in _TESTS and not (node.kwargs or node.dyn_args or node.dyn_kwargs)
    return True


def _loop_attribute(node: jinja2.nodes.Getattr) -> bool:
    """``loop.index`` and the like (``index`` is also a method of ``list`` and ``str``)."""
    inner = node.node
    return (
        isinstance(inner, jinja2.nodes.Name)
        and inner.name == "loop"
        and node.attr in _LOOP_ATTRIBUTES
    )


def shareable_names(environment: jinja2.Environment, template_name: str) -> Shareable | None:
    """What ``template_name`` reads, when its output can depend on nothing but the state's
    keys and the component's identity (see the module docstring); ``None`` otherwise, or
    when its source cannot be read or parsed, or the environment is async or has a
    ``finalize``."""
    loader = environment.loader
    if loader is None or environment.is_async or environment.finalize is not None:
        return None
    try:
        tree = environment.parse(loader.get_source(environment, template_name)[0], template_name)
    except Exception:  # (the render raises it, if it is one for the render too)
        return None
    pending: list[tuple[jinja2.nodes.Node, jinja2.nodes.Node | None]] = [(tree, None)]
    filters, tests, loads = set(), set(), set()
    while pending:
        node, parent = pending.pop()
        if not _node_ok(node, parent):
            return None
        if isinstance(node, jinja2.nodes.Filter):
            filters.add(node.name)
        elif isinstance(node, jinja2.nodes.Test):
            tests.add(node.name)
        elif isinstance(node, jinja2.nodes.Name) and node.ctx == "load":
            loads.add(node.name)
        pending.extend((child, node) for child in node.iter_child_nodes())
    # (Jinja's list leaves out the environment's globals: a name of theirs is free too.)
    names = frozenset(jinja2.meta.find_undeclared_variables(tree)) | (
        loads & environment.globals.keys()
    )
    if names & _PER_COMPONENT or "loop" in names:  # a ``loop`` outside a loop: a state key
        return None
    return Shareable(names, frozenset(loads), frozenset(filters), frozenset(tests))


class SharedRenders:
    """The shared renders of one environment, by template, component name and state text:
    each the template's output split where the id goes, or ``None`` for a state it could not
    be shared in. The first render asked for in a state makes the split (two renders), and
    every later one shares it; the dispatcher asks only from a state's second render on (a
    component's own events mostly make states never seen again, which two renders to make
    a split would make dearer: their first render is the usual one). At most
    :data:`SHARED_LIMIT` kept (emptied when full); dropped with the template answers when
    the environment starts reloading (then nothing is shared)."""

    def __init__(self, environment: jinja2.Environment) -> None:
        self.environment = environment
        #: Per template name: what it reads, or ``None``: never shared (no call, include
        #: or import either, so a shared template renders no nested child).
        self.answers: dict[str, Shareable | None] = {}
        self._renders: dict[tuple[str, str, str, object], _Split | None] = {}
        # Two markers, never sent: a render is shared only when both split it alike.
        self._markers = ("cf" + secrets.token_hex(16), "cf" + secrets.token_hex(16))

    def clear(self) -> None:
        self.answers.clear()
        self._renders.clear()

    def may_share(self, template_name: str) -> bool:
        """Whether ``template_name`` may be shared (:func:`shareable_names`; read once)."""
        answers = self.answers
        answer = answers.get(template_name, False)
        if answer is False:
            answer = answers[template_name] = shareable_names(self.environment, template_name)
        return answer is not None

    def render(self, template_of: Callable[[str], jinja2.Template], template_name: str,
               state: Mapping[str, Any], state_text: str, component_name: str,
               component_id: str) -> tuple[str, str] | None:  # fmt: skip
        """The render for ``component_id`` and its JSON string text (see
        ``SharingRenderer.render_shared``), or None; ``template_of``: the compiled template
        of a name, for a render not made yet. The text is joined from the parts quoted once
        per state, with the id quoted in between: JSON escapes code point by code point, so
        that is the text of the whole HTML quoted at once."""
        environment = self.environment
        if environment.auto_reload:
            return None
        # An id that HTML escaping would change is not written in as is (a regular
        # expression costs twice these five tests).
        if (
            type(component_id) is not str
            or "&" in component_id
            or "<" in component_id
            or ">" in component_id
            or "'" in component_id
            or '"' in component_id
        ):
            return None
        key = (template_name, component_name, state_text, environment.autoescape)
        renders = self._renders
        split = renders.get(key, _UNSEEN)
        if split is _UNSEEN:  # split it (two renders) for this one and the next
            if len(renders) >= SHARED_LIMIT:
                renders.clear()
            template = template_of(template_name)
            split = renders[key] = self._split(template, state, state_text, component_name)
        if split is None:
            return None
        parts, quoted, answer = split
        if (answer.filters or answer.tests) and not _own(environment, answer):
            return None
        return component_id.join(parts), json_string(component_id)[1:-1].join(quoted)

    def _split(
        self,
        template: jinja2.Template,
        state: Mapping[str, Any],
        state_text: str,
        component_name: str,
    ) -> _Split | None:
        """``template``'s output for ``state`` split where the id goes, the parts as JSON
        string text (the first with its opening quote, the last with its closing one), and
        what it reads: rendered twice, with a marker of its own for the id each time, and
        shared only when both split alike (a state whose text somehow made a marker would
        not)."""
        name = template.name or ""
        self.may_share(name)
        answer = self.answers[name]
        if answer is None:
            return None
        free = answer.names | (answer.loads & template.globals.keys())  # (its own globals)
        if not free <= _IDENTITY | state.keys() - _PER_COMPONENT:
            return None
        splits = []
        for marker in self._markers:
            if marker in state_text or marker in component_name:
                return None
            context = {**state, "state": state, "component_id": marker}
            context["component_name"] = component_name
            try:
                html = template.render(context)
            except Exception:  # the usual render raises it again, as usual
                return None
            splits.append(tuple(html.split(marker)))
        parts = splits[0]
        if parts != splits[1]:
            return None
        quoted = [json_string(part)[1:-1] for part in parts]
        quoted[0] = '"' + quoted[0]
        quoted[-1] += '"'  # (after the first: a template without the id is one part)
        return parts, tuple(quoted), answer


def _own(environment: jinja2.Environment, answer: Shareable) -> bool:
    """Whether the filters and tests ``answer`` uses are still Jinja's own."""
    filters, tests = environment.filters, environment.tests
    return all(filters.get(f) is jinja2.filters.FILTERS[f] for f in answer.filters) and all(
        tests.get(t) is jinja2.tests.TESTS[t] for t in answer.tests
    )
