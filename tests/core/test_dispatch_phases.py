"""The dispatcher's phases as callers use them: open (create, then hydrate or await an async
mount) and open_component, after which the plan is authorized and no check runs again."""

from __future__ import annotations

import asyncio
from typing import Any

from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher
from component_framework.core.registry import ComponentRegistry
from component_framework.testing import StateRenderer
from tests.sample_components import SECRET

registry = ComponentRegistry()
checks: list[str] = []


@registry.register("guarded")
class Guarded(Component):
    template_name = "guarded.html"

    async def mount(self, start: int = 0) -> None:
        await asyncio.sleep(0)
        self.state["n"] = start

    def authorize(self, context: AccessContext, event: str) -> bool:
        checks.append(event)
        return True

    def on_add(self, by: int) -> None:
        self.state["n"] += by


def dispatcher() -> Dispatcher:
    return Dispatcher(registry, Settings(secret_keys=(SECRET,)), StateRenderer())


def call(event: str | None = None, **payload: Any) -> ComponentCall:
    return ComponentCall("guarded", event, payload, {"start": 5}, None, None, AccessContext("sse"))


async def test_open_mounts_with_the_params_awaiting_an_async_mount() -> None:
    checks.clear()
    app = dispatcher()
    plan = app.prepare(call())

    component = await app.open(plan)

    assert component.state == {"n": 5}
    assert checks == ["mount"]
    assert not plan.authorized


async def test_after_open_component_the_handler_runs_without_checking_again() -> None:
    checks.clear()
    app = dispatcher()
    plan = app.prepare(call("add", by=2), mount_first=True)

    component = await app.open_component(plan)
    assert plan.authorized
    assert plan.context is not None  # who asked is kept; only the checks are done
    assert checks == ["mount", "add"]

    app.call_handler(plan, component)
    app.check_mount_access(plan)

    assert checks == ["mount", "add"]
    assert component.state == {"n": 7}


async def test_a_plan_that_is_not_authorized_yet_is_checked_at_the_handler() -> None:
    checks.clear()
    app = dispatcher()
    plan = app.prepare(call("add", by=1), mount_first=True)
    component = await app.open(plan)

    app.call_handler(plan, component)

    assert checks == ["mount", "add"]
