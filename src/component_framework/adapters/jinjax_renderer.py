"""Jinja2 integration: the default renderer and the ``component()`` page global.

Owns :class:`Jinja2Renderer` (templates from a directory, a ``Path`` or an existing
``jinja2.Environment``, autoescaped; it gives component templates ``{{ component("item",
key=..., **params) }}``, a nested child, through ``core.nesting``) and
:func:`register_component_global`, which puts ``{{ component("counter", start=3) }}`` into any
Jinja environment, including the one inside Litestar's ``JinjaTemplateEngine`` (the top level
of a page; inside a component's render it renders a child, as the renderer's own global).
Also owns which templates may render a child (:meth:`Jinja2Renderer.may_render_children`:
a template whose sources never name such a global renders without a nesting frame), and
hands shared renders (:meth:`Jinja2Renderer.render_shared`) to ``adapters.jinja_sharing``.
Requires the ``litestar`` extra (it brings Jinja2).
"""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final
from weakref import WeakKeyDictionary

try:
    import jinja2
    import jinja2.meta
    from markupsafe import Markup
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("jinja2", "litestar") from exc

from component_framework.adapters.jinja_sharing import SharedRenders
from component_framework.asgi.app import ComponentASGI
from component_framework.asgi.guard import ClientGuard
from component_framework.asgi.static import StaticFiles, script_tags
from component_framework.core.access import AccessContext
from component_framework.core.config import ENV_DEBUG, Settings, env_flag
from component_framework.core.dispatch import ComponentCall, Dispatcher
from component_framework.core.nesting import current_frame, placeholder_for, render_child
from component_framework.errors import ConfigurationError, Forbidden, Unauthorized

__all__ = ["Jinja2Renderer", "register_component_global", "render_template"]


class Jinja2Renderer:
    """Renders component templates with Jinja2; autoescaping is on for HTML templates.

    ``source``: a template directory (``str`` or ``Path``), several directories, or a ready
    ``jinja2.Environment`` (used as is, with its own ``auto_reload``).

    ``auto_reload``: re-read a template file when it changed on disk. ``None`` (the default)
    follows debug mode: on when ``COMPONENT_FRAMEWORK_DEBUG`` is set as the renderer is created,
    or once a ``ComponentASGI`` whose ``Settings.debug`` is on starts rendering with it (see
    :meth:`enable_reload`); off otherwise, and then each template is compiled once and looked up
    in a dict, with no file access. ``True`` / ``False`` decide for good.
    """

    def __init__(
        self,
        source: str | Path | list[str | Path] | jinja2.Environment,
        *,
        auto_reload: bool | None = None,
    ) -> None:
        self._templates: dict[str, jinja2.Template] = {}
        self._follows_debug = auto_reload is None and not isinstance(source, jinja2.Environment)
        if isinstance(source, jinja2.Environment):
            self.environment = source
            # A page global registered on it already renders children inside a component.
            self.environment.globals.setdefault("component", _child_global)
        else:
            if auto_reload is None:
                auto_reload = env_flag(os.environ, ENV_DEBUG)
            self.environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(source),
                autoescape=True,  # every template (see from_strings)
                auto_reload=auto_reload,
            )
            self.environment.globals["component"] = _child_global
        self._nesting = _nesting_of(self.environment)
        self._shared = SharedRenders(self.environment)

    @classmethod
    def from_strings(cls, templates: Mapping[str, str]) -> Jinja2Renderer:
        """A renderer over in-memory templates (handy in tests and examples)."""
        environment = jinja2.Environment(
            loader=jinja2.DictLoader(dict(templates)),
            # Every template escapes, whatever its name: what select_autoescape(default=True,
            # default_for_string=True) answers too, but at a call per render.
            autoescape=True,
            auto_reload=False,
        )
        return cls(environment)

    def enable_reload(self) -> None:
        """Debug mode is on: re-read edited templates from now on. Called by the dispatcher of
        an app whose ``Settings.debug`` is on; does nothing when ``auto_reload`` was given
        explicitly or the renderer wraps a ready ``Environment``."""
        if self._follows_debug and not self.environment.auto_reload:
            self.environment.auto_reload = True
            self._templates.clear()
            self._shared.clear()

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        """Render ``template_name`` with ``context``.

        Compiled templates are kept per name unless the environment auto-reloads (then Jinja's
        own cache checks the files for changes on every call, as configured)."""
        template = self._templates.get(template_name)
        if template is None:
            template = self._template(template_name)
        return render_template(template, context)

    def may_share(self, template_name: str) -> bool:
        """Whether a render of ``template_name`` may be shared (``SharingRenderer``): never
        while the environment auto-reloads; else as ``adapters.jinja_sharing`` reads it."""
        return not self.environment.auto_reload and self._shared.may_share(template_name)

    def render_shared(self, template_name: str, state: Mapping[str, Any], state_text: str,
                      component_name: str,
                      component_id: str) -> tuple[str, str] | None:  # fmt: skip
        """The render of ``template_name`` for a component in ``state``, and its JSON string
        text (the ``SharingRenderer`` hook): made once per template, component name and
        state text, and the id written into a copy, when ``adapters.jinja_sharing`` finds that the
        template reads nothing else; ``None`` otherwise, and always while the environment
        auto-reloads (an edit could change the answer at any render)."""
        return self._shared.render(
            self._template, template_name, state, state_text, component_name, component_id
        )

    def _template(self, template_name: str) -> jinja2.Template:
        """The compiled template of ``template_name`` (kept per name while not reloading)."""
        template = self._templates.get(template_name)
        if template is None:
            template = self.environment.get_template(template_name)
            if not self.environment.auto_reload:
                self._templates[template_name] = template
        return template

    def may_render_children(self, template_name: str) -> bool:
        """Whether rendering ``template_name`` may render a nested child: its source, or that
        of a template it extends, includes or imports, names a global that renders one
        (``component``, or the name a page global was registered under), or it includes,
        extends or imports a template chosen at render time; also when a source cannot be
        read or parsed. The answer is read once per template. While the environment
        auto-reloads (debug mode, or an ``Environment`` given with Jinja's default
        ``auto_reload=True``) every template may: an edit can add a child at any render, and
        checking the sources again would cost more than it saves."""
        if self.environment.auto_reload:
            return True
        answers = self._nesting.answers
        may = answers.get(template_name)
        if may is None:
            may = answers[template_name] = _read_nesting(
                self.environment, template_name, self._nesting.names
            )
        return may


@dataclass(slots=True)
class _Nesting:
    """One environment's record of child rendering: the global names that render a child
    (``component``, and each page global's), and the answers per template name (whether it
    may render one), dropped when a name is added; not asked while templates reload."""

    names: set[str] = field(default_factory=lambda: {"component"})
    answers: dict[str, bool] = field(default_factory=dict)

    def add_name(self, name: str) -> None:
        """``name`` renders a child from now on: every template is asked again."""
        self.names.add(name)
        self.answers.clear()


_NESTING: Final[WeakKeyDictionary[jinja2.Environment, _Nesting]] = WeakKeyDictionary()


def _nesting_of(environment: jinja2.Environment) -> _Nesting:
    nesting = _NESTING.get(environment)
    if nesting is None:
        nesting = _NESTING[environment] = _Nesting()
    return nesting


def _read_nesting(environment: jinja2.Environment, template_name: str, names: set[str]) -> bool:
    """Read ``template_name``'s source and those of the templates it extends, includes and
    imports (each once; names joined as Jinja joins them) until one names a global of
    ``names``, includes one chosen at render time, or cannot be read: then True."""
    pending, seen = [template_name], set()
    loader = environment.loader
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            if loader is None:
                raise jinja2.TemplateNotFound(name)
            tree = environment.parse(loader.get_source(environment, name)[0], name)
        except Exception:  # (the render raises it, if it is one for the render too)
            return True
        if any(node.name in names for node in tree.find_all(jinja2.nodes.Name)):
            return True
        for referenced in jinja2.meta.find_referenced_templates(tree):
            if referenced is None:  # chosen at render time
                return True
            pending.append(environment.join_path(referenced, name))
    return False


def render_template(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """``template.render(context)``, the same text and the same errors, at a third of its cost.

    Jinja builds each render's variables as ``dict(template.globals, **context)``, and its
    globals are a ``ChainMap`` (the template's over the environment's), which Python walks key
    by key (about 5 µs of an 8 µs render of a small template). Here both layers are merged
    with dict unpacking, read afresh at every render (a global added or replaced later is
    seen, as with Jinja's own path), and the compiled template runs on that context, made
    directly (:func:`_render_context`) when the environment uses Jinja's own context class.
    An async environment, or globals of another shape, take Jinja's own ``render``."""
    environment = template.environment
    layers = template.globals
    if environment.is_async or type(layers) is not ChainMap or len(layers.maps) != 2:
        return template.render(context)
    own, shared = layers.maps
    if type(own) is not dict or type(shared) is not dict:
        return template.render(context)
    names = {**shared, **own}
    if environment.context_class is _Context and _context_by_hand():
        variables = _render_context(environment, {**names, **context}, template, names)
    else:
        variables = environment.context_class(
            environment, {**names, **context}, template.name, template.blocks, globals=names
        )
    try:
        return environment.concat(template.root_render_func(variables))
    except Exception:
        environment.handle_exception()


_Context: Final = jinja2.runtime.Context
_EvalContext: Final = jinja2.nodes.EvalContext
_new: Final = object.__new__
#: The attributes Jinja's ``Context`` and ``EvalContext`` constructors set (this Jinja's).
_CONTEXT_FIELDS: Final = frozenset(
    ("parent", "vars", "environment", "eval_ctx", "exported_vars", "name", "globals_keys",
     "blocks")
)  # fmt: skip
_EVAL_FIELDS: Final = frozenset(("environment", "autoescape", "volatile"))


@cache
def _context_by_hand() -> bool:
    """Whether :func:`_render_context` makes what this Jinja's constructors make: checked
    once, on a context of Jinja's own; a Jinja whose contexts hold other attributes (a later
    version) takes its constructor."""
    made = _Context(jinja2.Environment(), {}, None, {}, globals={})
    return set(vars(made)) == _CONTEXT_FIELDS and set(vars(made.eval_ctx)) == _EVAL_FIELDS


def _render_context(
    environment: jinja2.Environment,
    parent: dict[str, Any],
    template: jinja2.Template,
    names: dict[str, Any],
) -> jinja2.runtime.Context:
    """``Context(environment, parent, template.name, template.blocks, globals=names)``, at
    half its cost (a render of a small template spends about a fifth of its time there): the
    same attributes set directly, without the constructors' calls, argument handling and
    comprehension over an empty block table. Everything a render may change (variables,
    exports, blocks, the evaluation context with its autoescaping) is new per render."""
    autoescape = environment.autoescape
    if callable(autoescape):
        autoescape = autoescape(template.name)
    eval_ctx = _new(_EvalContext)
    eval_ctx.environment = environment
    eval_ctx.autoescape = autoescape
    eval_ctx.volatile = False
    variables = _new(_Context)
    variables.parent = parent
    variables.vars = {}
    variables.environment = environment
    variables.eval_ctx = eval_ctx
    variables.exported_vars = set()
    variables.name = template.name
    variables.globals_keys = set(names)
    blocks = template.blocks
    variables.blocks = {name: [block] for name, block in blocks.items()} if blocks else {}
    return variables


def _child_global(name: Any, *, key: Any = None, lazy: bool = False, **params: Any) -> Markup:
    """``{{ component(name, key=..., lazy=..., **params) }}`` in a component's template: a
    nested child (``core.nesting.render_child``); its fragment is built and escaped by us."""
    return Markup(render_child(name, key, lazy, **params))


class _ScriptsGlobal:
    """The callable behind ``{{ component_scripts() }}``."""

    def __init__(self, prefix: str, static: StaticFiles) -> None:
        self.prefix = prefix
        self.static = static

    def __call__(self, *, sse: bool = True, ws: bool = True, htmx: int = 2) -> Markup:
        tags = script_tags(self.prefix, sse=sse, ws=ws, static=self.static, htmx=htmx)
        return Markup(tags)  # built from our constants and escaped URLs


def _page_context(template_context: Mapping[str, Any], guard: ClientGuard) -> AccessContext | None:
    """The authorization context of the page being rendered: its ``request``'s scope (Litestar
    and Starlette put the request in the template context); ``None`` without one."""
    scope = getattr(template_context.get("request"), "scope", None)
    if not isinstance(scope, Mapping):
        return None
    return AccessContext("page", scope, guard.client_address(scope))


def _component_global(dispatcher: Dispatcher, guard: ClientGuard, prefix: str) -> Any:
    """The callable behind ``{{ component(name, **params) }}``: a page's component, or a
    nested child inside a component's render (``core.nesting``); ``lazy=True``: its
    placeholder, loaded from ``prefix`` after the page painted."""

    @jinja2.pass_context
    def component(*names: Any, key: Any = None, lazy: bool = False, **params: Any) -> Markup:
        # From a template, Jinja passes its context first; from Python, the name comes first.
        # Positional-only, so a mount parameter may itself be called ``component_name``.
        if len(names) == 2 and isinstance(names[0], jinja2.runtime.Context):
            template_context, component_name = names
            context = _page_context(template_context, guard)
        elif len(names) == 1:
            component_name, context = names[0], None
        else:
            raise TypeError("component() takes the component's name, then its mount parameters")
        if current_frame() is not None:  # inside a component's template: a child
            return Markup(render_child(component_name, key, lazy, **params))
        try:
            if lazy:
                return Markup(
                    placeholder_for(dispatcher, component_name, params, context, None, prefix)
                )
            result = dispatcher.dispatch_for_page(
                ComponentCall(component_name, params=params, context=context)
            )
        except (Forbidden, Unauthorized):
            return Markup("")  # a denied component is left out of the page
        return Markup(result.fragment())

    return component


def _environment_of(target: Any) -> jinja2.Environment:
    if isinstance(target, jinja2.Environment):
        return target
    engine = getattr(target, "engine", None)  # Litestar's JinjaTemplateEngine
    if isinstance(engine, jinja2.Environment):
        return engine
    raise ConfigurationError(
        f"expected a jinja2.Environment or a JinjaTemplateEngine, got {type(target).__name__}"
    )


def register_component_global(
    target: Any,
    components: ComponentASGI | Dispatcher | None = None,
    *,
    name: str = "component",
    scripts_name: str = "component_scripts",
    url_prefix: str | None = None,
) -> None:
    """Make ``{{ component("counter") }}`` and ``{{ component_scripts() }}`` available in
    ``target``'s templates.

    ``target``: a ``jinja2.Environment`` or Litestar's ``JinjaTemplateEngine`` (so it works as
    ``TemplateConfig(engine_callback=register_component_global)``). ``components``: the
    ``ComponentASGI`` whose registry, renderer and keys to use; by default the default registry
    with settings from the environment, which matches a default ``ComponentASGI``.
    The global mounts the component and returns its annotated fragment, so the page can send
    events right away. When the template context holds the ``request`` (Litestar and Starlette
    put it there), authorization runs with that request's scope (transport ``"page"``) and a
    denied component renders as nothing. Components with an ``async def mount`` cannot be
    rendered this way. ``lazy=True`` renders the component's placeholder, which loads it from
    ``url_prefix`` once the page painted (docs/nesting.md); ``key=`` matters only to children.

    ``component_scripts(sse=True, ws=True, htmx=2)`` (named by ``scripts_name``) emits the
    page's ``<script>`` tags: htmx (``htmx=4`` for htmx 4), its sse and ws extensions and the
    client runtime, all served by the components app from ``{url_prefix}/_static/`` (htmx from
    the copy shipped with the package, or from ``Settings.vendor_directory``). ``url_prefix``:
    the public URL of the components app (default: the ``ComponentASGI``'s prefix,
    ``/components``).
    """
    if isinstance(components, ComponentASGI):
        dispatcher = components.dispatcher
        guard = components.guard
        static = components.static
        prefix = components.prefix if url_prefix is None else url_prefix
    else:
        dispatcher = Dispatcher(settings=Settings.from_env()) if components is None else components
        guard = ClientGuard(dispatcher.settings)
        static = StaticFiles(
            vendor_directory=dispatcher.settings.vendor_directory, debug=dispatcher.settings.debug
        )
        prefix = "/components" if url_prefix is None else url_prefix
    environment = _environment_of(target)
    environment.globals[name] = _component_global(dispatcher, guard, prefix)
    _nesting_of(environment).add_name(name)  # in a component's template, it renders a child
    environment.globals[scripts_name] = _ScriptsGlobal(prefix, static)
