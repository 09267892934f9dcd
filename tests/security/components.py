"""Components and users of the security tests, in their own registry.

Every component records what ran in :data:`journal` (``mount``, handler names, ``cancelled``,
``finally``), so a test can prove that no user code ran for a denied or refused request. Every
template carries :data:`MARK`, so a test can prove that nothing of a component reached a client.

* ``public``: no checks at all (a live subscription, for the connection limits);
* ``members``: ``IsAuthenticated``;
* ``vault``: ``DenyAll``;
* ``document``: ``IsAuthenticated`` plus an ``authorize`` method: anyone signed in may mount
  and edit, only the owner (from the restored state) may ``delete``, and ``tick`` is for the
  server's broadcasts only;
* ``whoami``: renders who the checks saw (user and client address), for host tests;
* ``asynccheck`` / ``asyncpermission`` / ``crashingcheck`` / ``ownwords``: faulty or custom
  checks;
* ``slow``: an ``async`` mount and handler that can outlast ``handler_timeout``, and a sync
  handler that blocks;
* ``ticker``: a streaming component (a few quick frames, or one that never ends).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext, DenyAll, IsAuthenticated
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.registry import ComponentRegistry
from component_framework.errors import Forbidden

__all__ = ["MARK", "SECRET", "SECRET_DETAIL", "User", "journal", "registry", "renderer"]

SECRET: Final = "security-test-secret-0123456789abcdef"
#: In every template: a body without it holds nothing of a component.
MARK: Final = "component-markup"
#: Text a failing check puts in its exception; it must never reach a client.
SECRET_DETAIL: Final = "db-password=hunter2"

TEMPLATES: Final = {
    "plain.html": f'<div class="{MARK}">{{{{ state | tojson }}}}</div>',
    "document.html": (
        f'<article class="{MARK}"><h1>{{{{ owner }}}}</h1><p>{{{{ text }}}}</p>'
        "<i>{{ ticks }}</i></article>"
    ),
    "whoami.html": f'<p class="{MARK}">{{{{ user }}}} from {{{{ client }}}}</p>',
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


@dataclass(frozen=True)
class User:
    """A host's user object, as authentication middleware would put it in the scope."""

    name: str
    is_authenticated: bool = True

    @property
    def display_name(self) -> str:
        return self.name


def user_name(context: AccessContext) -> str | None:
    """The signed-in user's name: ``display_name`` (Starlette's users, :class:`User`)."""
    user = context.user
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    return str(getattr(user, "display_name", user))


class Journal:
    """What user code ran, as ``(component, what)`` entries in order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def record(self, component: str, what: str) -> None:
        self.entries.append((component, what))

    def of(self, component: str) -> list[str]:
        """What ran in ``component``, in order."""
        return [what for name, what in self.entries if name == component]

    def reset(self) -> None:
        self.entries.clear()


journal = Journal()


@registry.register("public")
class Public(Component):
    """No checks; a live subscription stays open (for the open-connection limits)."""

    template_name = "plain.html"
    live_updates = True

    def mount(self) -> None:
        journal.record("public", "mount")
        self.state["clicks"] = 0

    def on_click(self) -> None:
        journal.record("public", "click")
        self.state["clicks"] += 1


@registry.register("members")
class Members(Component):
    """Only for signed-in users."""

    template_name = "plain.html"
    live_updates = True
    permission_classes = (IsAuthenticated,)

    def mount(self) -> None:
        journal.record("members", "mount")
        self.state["pings"] = 0

    def on_ping(self) -> None:
        journal.record("members", "ping")
        self.state["pings"] += 1


@registry.register("vault")
class Vault(Component):
    """Never served to a client (``DenyAll``)."""

    template_name = "plain.html"
    live_updates = True
    permission_classes = (DenyAll(),)  # an instance works as well as a class

    def mount(self) -> None:
        journal.record("vault", "mount")
        self.state["gold"] = 100

    def on_open(self) -> None:
        journal.record("vault", "open")


@registry.register("document")
class Document(Component):
    """Anyone signed in may mount and edit; only the owner may delete; ``tick`` comes from the
    server (broadcasts), never from a client."""

    template_name = "document.html"
    live_updates = True
    permission_classes = (IsAuthenticated,)

    def authorize(self, context: AccessContext, event: str) -> bool:
        journal.record("document", f"authorize {event} over {context.transport}")
        if event == "delete":
            return user_name(context) == self.state.get("owner")
        return event != "tick"

    def mount(self, owner: str) -> None:
        journal.record("document", "mount")
        self.state.update({"owner": owner, "text": "", "ticks": 0, "deleted": False})

    def topics(self) -> list[str]:
        return [f"document:{self.state['owner']}"]

    def on_edit(self, text: str) -> None:
        journal.record("document", "edit")
        self.state["text"] = text

    def on_delete(self) -> None:
        journal.record("document", "delete")
        self.state["deleted"] = True

    def on_tick(self) -> None:
        journal.record("document", "tick")
        self.state["ticks"] += 1


@registry.register("whoami")
class WhoAmI(Component):
    """Renders the user and client address its checks saw (a check runs just before mount)."""

    template_name = "whoami.html"

    def authorize(self, context: AccessContext, event: str) -> bool:
        self._seen = {"user": user_name(context), "client": context.client}
        return True

    def mount(self) -> None:
        self.state.update(self._seen)

    def on_again(self) -> None:
        self.state.update(self._seen)


@registry.register("asynccheck")
class AsyncCheck(Component):
    """An ``async def authorize``: a configuration error (checks are synchronous)."""

    template_name = "plain.html"

    async def authorize(self, context: AccessContext, event: str) -> bool:  # type: ignore[override]
        return True

    def mount(self) -> None:
        journal.record("asynccheck", "mount")


class AsyncPermission:
    async def has_permission(
        self, context: AccessContext, component: Component, event: str
    ) -> bool:
        return True


@registry.register("asyncpermission")
class AsyncPermissionComponent(Component):
    """A permission whose ``has_permission`` is ``async``."""

    template_name = "plain.html"
    permission_classes = (AsyncPermission,)

    def mount(self) -> None:
        journal.record("asyncpermission", "mount")


@registry.register("crashingcheck")
class CrashingCheck(Component):
    """A check that fails with an unexpected exception."""

    template_name = "plain.html"

    def authorize(self, context: AccessContext, event: str) -> bool:
        raise RuntimeError(f"lookup failed: {SECRET_DETAIL}")

    def mount(self) -> None:
        journal.record("crashingcheck", "mount")


class WeekdaysOnly:
    """A permission that refuses in its own words."""

    def has_permission(self, context: AccessContext, component: Component, event: str) -> bool:
        raise Forbidden("the vault opens on weekdays only")


@registry.register("ownwords")
class OwnWords(Component):
    template_name = "plain.html"
    permission_classes = (WeekdaysOnly,)

    def mount(self) -> None:
        journal.record("ownwords", "mount")


@registry.register("slow")
class Slow(Component):
    """User code that takes its time."""

    template_name = "plain.html"

    async def mount(self, delay: float = 0.0) -> None:
        journal.record("slow", "mount")
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            journal.record("slow", "mount cancelled")
            raise
        self.state["done"] = 0

    async def on_wait(self, seconds: float) -> None:
        journal.record("slow", "wait")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            journal.record("slow", "wait cancelled")
            raise
        self.state["done"] += 1

    def on_block(self, seconds: float) -> None:
        journal.record("slow", "block")
        time.sleep(seconds)  # sync code: it cannot be interrupted
        self.state["done"] += 1


@registry.register("ticker")
class Ticker(StreamingComponent):
    """``run``: ``steps`` quick frames; ``forever``: one frame, then waits without end."""

    template_name = "plain.html"
    stream_event = "run"

    def mount(self) -> None:
        journal.record("ticker", "mount")
        self.state["step"] = 0

    async def on_run(self, steps: int = 3) -> AsyncIterator[None]:
        journal.record("ticker", "run")
        for step in range(1, steps + 1):
            self.state["step"] = step
            yield

    async def on_forever(self) -> AsyncIterator[None]:
        journal.record("ticker", "forever")
        try:
            self.state["step"] = 1
            yield
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            journal.record("ticker", "cancelled")
            raise
        finally:
            journal.record("ticker", "finally")


@registry.register("announcer")
class Announcer(StreamingComponent):
    """Its declared ``stream_event`` is a plain ``async def`` that streams through operations;
    ``rename`` is an ordinary (state-changing) handler."""

    template_name = "plain.html"
    stream_event = "announce"

    def mount(self) -> None:
        journal.record("announcer", "mount")
        self.state["name"] = "first"

    async def on_announce(self) -> None:
        journal.record("announcer", "announce")
        await self.stream_text("news", "hello")

    def on_rename(self, name: str) -> None:
        journal.record("announcer", "rename")
        self.state["name"] = name
