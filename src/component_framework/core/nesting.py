"""Nested and lazy components: a child rendered from its parent's template.

Owns the render frame (:class:`RenderFrame`): while the dispatcher renders a component, a
context variable holds a frame for it, and ``component(name, key=..., **params)`` in its
template (the Jinja global only calls :func:`render_child`) mounts, restores or re-renders a
child there. Children are matched by ``key`` (by position among the keyless ones when none is
given), in this order:

1. the instance the parent's previous render kept (``Component.children``): a parent held by a
   connection (WebSocket, live SSE, a stream run) keeps its children with it;
2. the signed snapshot the client sent for that key (``children`` of an HTTP request: the
   snapshots of every component inside the one it targets, so grandchildren are kept too),
   checked at :func:`verify_children` before any user code ran: each bound to its parent and
   key, every parent the target or one of the others;
3. otherwise a new child is mounted with ``params`` (or, ``lazy=True``, a placeholder that
   loads it after the page painted, its params signed: :func:`lazy_token`).

An existing child gets the parameters its class names in ``props`` written into its state; the
others count at mount only. A child the render does not ask for again is gone: a held parent
drops it, and the browser's swap removes its element. Also owns the wire form of a lazy
placeholder. Knows no Jinja and no ASGI.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from component_framework.core.access import UNSERVED, AccessContext
from component_framework.core.component import Component
from component_framework.errors import (
    ConfigurationError,
    Forbidden,
    InvalidChild,
    InvalidSnapshot,
    PayloadValidationError,
    Unauthorized,
)
from component_framework.protocol.fragment import annotate_root
from component_framework.protocol.snapshot import SnapshotError, SnapshotSigner

if TYPE_CHECKING:
    from component_framework.core.dispatch import Dispatcher
    from component_framework.core.server_state import PendingWrite

__all__ = [
    "ChildSeed",
    "RenderFrame",
    "Seeds",
    "current_frame",
    "lazy_placeholder",
    "lazy_token",
    "render_child",
    "verify_children",
    "verify_lazy",
]

#: The name a lazy token is signed for: never a component name, so never a snapshot.
_LAZY_SUFFIX: Final = ":lazy"
_POSITION: Final = "#"

_FRAME: ContextVar[RenderFrame | None] = ContextVar("component_framework_frame", default=None)


@dataclass(slots=True, frozen=True)
class ChildSeed:
    """A child's signed snapshot, as its client sent it with the parent's request. A child
    that keeps its state on the server sent a reference token: ``version`` names the stored
    state, which the dispatcher loads (``Dispatcher.load``) into ``state`` before the render."""

    component_name: str
    token: str
    component_id: str = ""
    version: int | None = None
    state: dict[str, Any] | None = None

    def loaded(self, state: dict[str, Any]) -> ChildSeed:
        """This seed with its server-held ``state`` loaded."""
        return ChildSeed(self.component_name, self.token, self.component_id, self.version, state)


#: The client's snapshots of a component's descendants, by (parent id, key).
Seeds = Mapping[tuple[str, str], ChildSeed]
NO_SEEDS: Final[Seeds] = {}


def verify_children(
    signer: SnapshotSigner, parent_id: str | None, tokens: tuple[str, ...]
) -> dict[tuple[str, str], ChildSeed]:
    """The descendants' snapshots of a request by (parent id, key), each verified and bound
    to ``parent_id`` or to another of them (``parent_id`` ``None``: the component is being
    mounted, and has no children yet). ``InvalidChild`` (400) for a tampered or expired token,
    one of another tree, a key given twice, or children sent without the component's own
    snapshot."""
    if parent_id is None:
        raise InvalidChild(
            "children snapshots were sent without the component's own snapshot", "orphan"
        )
    seeds: dict[tuple[str, str], ChildSeed] = {}
    ids: dict[str, tuple[str, str]] = {}
    for token in tokens:
        try:
            snapshot = signer.verify(token, None)
        except SnapshotError as exc:
            raise InvalidChild(
                f"invalid child snapshot ({exc.problem}): {exc}", exc.problem
            ) from None
        slot = snapshot.parent
        if slot is None:
            raise _foreign()
        if slot in seeds:
            raise InvalidChild(f"two child snapshots for the key {slot[1][:64]!r}", "repeated")
        seeds[slot] = ChildSeed(
            snapshot.component_name, token, snapshot.component_id, snapshot.version
        )
        ids[snapshot.component_id] = slot
    for slot in seeds:  # each one's parent chain ends at the target (at most len(ids) steps)
        parent, steps = slot[0], 0
        while parent != parent_id:
            above = ids.get(parent)
            steps += 1
            if above is None or steps > len(ids):
                raise _foreign()
            parent = above[0]
    return seeds


def _foreign() -> InvalidChild:
    return InvalidChild(
        "a child snapshot belongs to another component: a child's state is bound to its "
        "parent and its key",
        "foreign_parent",
    )


def lazy_token(
    signer: SnapshotSigner,
    component_name: str,
    component_id: str,
    params: Mapping[str, Any],
    parent: tuple[str, str] | None,
) -> str:
    """The signed mount of a lazy component: its id, the params the page rendered, its parent
    and key. Signed for ``<name>:lazy``, which no snapshot can be."""
    try:
        return signer.sign(
            component_name + _LAZY_SUFFIX, component_id, {"params": dict(params)}, parent
        )
    except TypeError as exc:
        raise ConfigurationError(
            f"the params of the lazy component {component_name!r} must be JSON data: {exc}"
        ) from None


def verify_lazy(
    signer: SnapshotSigner, component_name: str, token: str
) -> tuple[str, dict[str, Any], tuple[str, str] | None]:
    """The id, params and parent a lazy token carries; ``InvalidSnapshot`` (400) otherwise."""
    try:
        snapshot = signer.verify(token, component_name + _LAZY_SUFFIX)
    except SnapshotError as exc:
        raise InvalidSnapshot(f"invalid lazy token ({exc.problem}): {exc}", exc.problem) from None
    params = snapshot.state.get("params")
    if not isinstance(params, dict):
        raise InvalidSnapshot("invalid lazy token (malformed): no params", "malformed")
    return snapshot.component_id, params, snapshot.parent


def lazy_placeholder(cls: type[Component], component_id: str, token: str, url_prefix: str) -> str:
    """The placeholder of a lazy component: ``cls.placeholder()`` whose root element loads the
    component once the page painted (``hx-get`` on ``load``) and is replaced by it. Its own
    empty ``snapshot`` keeps a parent's from being sent with the load."""
    url = f"{url_prefix}/{cls.component_name}/?lazy={quote(token, safe='')}"
    attributes = {
        "id": component_id,
        "data-lazy": cls.component_name,
        "hx-get": url,
        "hx-trigger": "load",
        "hx-target": "this",
        "hx-swap": "outerHTML",
        "hx-vals": '{"snapshot":""}',
    }
    return annotate_root(cls.placeholder(), attributes)


def _new_id(component_name: str) -> str:
    return f"{component_name}-{secrets.token_urlsafe(9)}"


def _give_props(child: Component, params: Mapping[str, Any]) -> None:
    for name in type(child).props:
        if name in params:
            child.state[name] = params[name]


class RenderFrame:
    """One component's render in progress, and the children it renders (see the module
    docstring). Entered by :meth:`Dispatcher.render`; ``seeds``: the client's children
    snapshots (HTTP), by key."""

    __slots__ = ("dispatcher", "parent", "position", "rendered", "seeds", "writes")

    def __init__(self, dispatcher: Dispatcher, parent: Component, seeds: Seeds) -> None:
        self.dispatcher = dispatcher
        self.parent = parent
        self.seeds = seeds
        self.rendered: dict[str, Component] = {}
        #: The store writes of the children rendered (server-held state), for the parent's
        #: answer to commit with its own.
        self.writes: tuple[PendingWrite, ...] = ()  # (most renders have none)
        self.position = 0

    def enter(self) -> Token[RenderFrame | None]:
        """Make this the current frame (undo with :meth:`leave`)."""
        return _FRAME.set(self)

    @staticmethod
    def leave(token: Token[RenderFrame | None]) -> None:
        """Back to the frame current before :meth:`enter`."""
        _FRAME.reset(token)

    def _slot(self, key: object) -> str:
        if key is None:
            slot = f"{_POSITION}{self.position}"
            self.position += 1
        elif isinstance(key, bool) or not isinstance(key, str | int):
            raise ConfigurationError(
                f"a child's key must be a string or an int, got {type(key).__name__}"
            )
        else:
            slot = str(key)
            if not slot or slot.startswith(_POSITION) or len(slot) > 128:
                raise ConfigurationError(
                    "a child's key must be 1 to 128 characters not starting with '#', "
                    f"got {slot[:64]!r}"
                )
        if slot in self.rendered:
            raise ConfigurationError(
                f"{self.parent.component_name!r} renders two children with the key {slot!r}: "
                "give each child of a parent its own key"
            )
        return slot

    def child(self, name: str, key: object, lazy: bool, params: dict[str, Any]) -> str:
        """The annotated fragment of the child ``name`` at ``key`` (see the module docstring);
        ``""`` when authorization denies it."""
        from component_framework.core.dispatch import ComponentCall

        dispatcher, parent = self.dispatcher, self.parent
        slot = self._slot(key)
        request = parent.request
        context = None if request is UNSERVED else request
        kept = parent.children.get(slot)
        seed = self.seeds.get((parent.id, slot))
        try:
            if kept is not None and kept.component_name == name:
                _give_props(kept, params)
                result = dispatcher.render(kept, self.seeds)
            elif seed is not None and seed.component_name == name:
                plan = dispatcher.prepare(ComponentCall(name, snapshot=seed.token, context=context))
                if seed.version is not None:  # server-held: loaded with the parent's state
                    if seed.state is None:
                        raise InvalidChild("a child's server-held state was not loaded", "orphan")
                    plan.restored_state, plan.stored_version = seed.state, None
                    plan.loaded_version = seed.version
                plan.page_url = parent.page_url  # URL state: the parent's page
                child, _ = dispatcher.create(plan)
                child.held = parent.held
                _give_props(child, params)
                result = dispatcher.render(child, self.seeds)
            elif lazy and not parent.held:
                return self._placeholder(name, slot, params, context)
            else:
                plan = dispatcher.prepare(ComponentCall(name, params=params, context=context))
                plan.parent = (parent.id, slot)
                plan.held = parent.held
                plan.page_url = parent.page_url
                result = dispatcher.run(plan)
        except (Forbidden, Unauthorized):
            return ""  # a denied child is left out, as a denied component of a page
        self.rendered[slot] = result.component
        if result.writes:
            self.writes += result.writes
        return result.fragment()

    def _placeholder(
        self, name: str, slot: str, params: dict[str, Any], context: AccessContext | None
    ) -> str:
        return placeholder_for(self.dispatcher, name, params, context, (self.parent.id, slot))


def placeholder_for(
    dispatcher: Dispatcher,
    name: str,
    params: dict[str, Any],
    context: AccessContext | None,
    parent: tuple[str, str] | None,
    url_prefix: str | None = None,
) -> str:
    """A lazy component's placeholder, after the checks of its mount (404 for an unknown
    name, 422 for params its ``mount`` does not take, and authorization: ``Forbidden`` /
    ``Unauthorized`` raised)."""
    from component_framework.core.dispatch import ComponentCall

    plan = dispatcher.prepare(ComponentCall(name, params=params, context=context))
    dispatcher.check_mount_access(plan)
    component_id = _new_id(name)
    token = lazy_token(dispatcher.signer, name, component_id, params, parent)
    prefix = dispatcher.url_prefix if url_prefix is None else url_prefix
    return lazy_placeholder(plan.cls, component_id, token, prefix)


def current_frame() -> RenderFrame | None:
    """The render in progress in this context, if any."""
    return _FRAME.get()


def render_child(name: str, key: object = None, lazy: bool = False, **params: Any) -> str:
    """What ``{{ component(name, key=..., lazy=..., **params) }}`` in a component's template
    calls: the child's fragment (or lazy placeholder) in the current render. Outside any
    component's render it is a ``ConfigurationError``: pages use
    ``register_component_global``."""
    frame = _FRAME.get()
    if frame is None:
        raise ConfigurationError(
            "component() was called outside a component's render: for a page template, "
            "register the page global with register_component_global; in a component's "
            "template, name the global itself (a template that never names it renders "
            "without the frame children need)"
        )
    if not isinstance(name, str):
        raise ConfigurationError(f"component() takes a component name, got {type(name).__name__}")
    return frame.child(name, key, lazy, params)


def refuse_client_params(params: Mapping[str, Any]) -> None:
    """A lazy load takes its params from its signed token only: any sent with it is a 422."""
    for name in params:
        raise PayloadValidationError(
            name, "A lazy component takes its parameters from its signed token only."
        )
