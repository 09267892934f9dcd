"""Authorization of SSE streams: a stream start is checked as ``mount`` and then as its event,
a live subscription at its join. A denied client gets no frame of the component and no user
code runs for it; the answer is the denial's status (403, 401 without a user), like HTTP."""

from __future__ import annotations

import json
from typing import Any

from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from tests.security.components import journal
from tests.security.wire import assert_nothing_rendered, make_app, post, stream

OWNED_BY_ADA = json.dumps({"owner": "ada"})


def _renders(events: list[Any]) -> list[Any]:
    return [event for event in events if event.event in (None, "message")]


async def test_allowed_stream_start_runs_mount_then_the_event():
    app = make_app()
    answer = await stream(
        app,
        "document",
        {"event": "edit", "text": "hi", "params": OWNED_BY_ADA},
        user="ada",
        method="POST",
    )
    assert answer.status == 200
    assert [event.event for event in answer.events][-1] == "done"
    checks = [what for what in journal.of("document") if what.startswith("authorize")]
    assert checks == ["authorize mount over sse", "authorize edit over sse"]
    assert "edit" in journal.of("document")


# -- denied at mount ----------------------------------------------------------------------------


async def test_stream_start_denied_at_mount_renders_nothing_and_runs_no_user_code():
    app = make_app()
    answer = await stream(app, "vault", {"event": "open"}, user="ada", method="POST")
    assert _renders(answer.events) == []
    assert_nothing_rendered(answer.body)
    assert journal.of("vault") == []


async def test_stream_start_denied_at_mount_answers_403_before_the_stream_opens():
    app = make_app()
    answer = await stream(app, "vault", {"event": "open"}, user="ada", method="POST")
    assert answer.status == 403, answer.body
    assert answer.header("content-type") == "application/json"


async def test_stream_start_without_a_user_answers_401():
    app = make_app()
    answer = await stream(app, "members", {"event": "ping"}, method="POST")
    assert answer.status == 401, answer.body
    assert journal.of("members") == []


# -- denied at the event ----------------------------------------------------------------------


async def test_stream_start_of_a_denied_event_never_runs_the_handler_nor_renders():
    app = make_app()
    answer = await stream(
        app, "document", {"event": "delete", "params": OWNED_BY_ADA}, user="bob", method="POST"
    )
    assert _renders(answer.events) == []
    assert_nothing_rendered(answer.body)
    assert "delete" not in journal.of("document")
    assert "authorize delete over sse" in journal.of("document")


async def test_stream_start_of_a_denied_event_answers_403():
    app = make_app()
    answer = await stream(
        app, "document", {"event": "delete", "params": OWNED_BY_ADA}, user="bob", method="POST"
    )
    assert answer.status == 403, answer.body
    assert answer.header("content-type") == "application/json"


async def test_stream_start_with_a_snapshot_is_checked_against_the_restored_state():
    app = make_app()
    mounted = await post(app, "document", {"params": {"owner": "ada"}}, user="ada")
    snapshot = mounted.json()["snapshot"]
    denied = await stream(
        app, "document", {"event": "delete", "snapshot": snapshot}, user="bob", method="POST"
    )
    assert _renders(denied.events) == []
    assert "delete" not in journal.of("document")
    allowed = await stream(
        app, "document", {"event": "delete", "snapshot": snapshot}, user="ada", method="POST"
    )
    assert allowed.status == 200
    assert journal.of("document")[-1] == "delete"


async def test_stream_denied_by_the_hook_runs_nothing():
    seen: list[tuple[str, str]] = []

    def hook(context: AccessContext, component: Component, event: str) -> bool:
        seen.append((context.transport, event))
        return False

    app = make_app(authorize=hook)
    answer = await stream(app, "ticker", {"event": "run"})
    assert _renders(answer.events) == []
    assert seen == [("sse", "mount")]
    assert journal.of("ticker") == []


# -- live subscriptions -------------------------------------------------------------------


async def test_live_subscription_join_is_authorized():
    app = make_app()
    answer = await stream(app, "members", user="ada", max_events=1)
    assert answer.status == 200
    assert len(_renders(answer.events)) == 1
    assert journal.of("members") == ["mount"]


async def test_live_subscription_denied_renders_nothing_and_ends():
    app = make_app()
    answer = await stream(app, "vault", user="ada")  # ends by itself: nothing to hold
    assert _renders(answer.events) == []
    assert_nothing_rendered(answer.body)
    assert journal.of("vault") == []


async def test_live_subscription_denied_answers_403():
    app = make_app()
    answer = await stream(app, "vault", user="ada")
    assert answer.status == 403, answer.body


async def test_denied_streams_free_their_slot():
    app = make_app(max_streams_per_client=1)
    for _ in range(3):
        await stream(app, "vault", {"event": "open"}, user="ada", method="POST")
    assert app.guard.open_count("stream") == 0
    allowed = await stream(app, "ticker", {"event": "run"})
    assert allowed.status == 200
