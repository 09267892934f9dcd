"""Authorization of the page connection: each entry passes the gate its own stream request
would (mount, event, live join), and a refused entry gets what that request would have got
(status and error document), while the other entries stream. A denied entry runs no user code
and sends no frame of its component."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from component_framework.testing import SSEResponse, sse_request
from tests.security.components import journal
from tests.security.wire import WAIT, make_app, scope_extra, stream


async def page(
    app: Any, entries: list[dict[str, Any]], *, user: str | None = None, events: int | None = None
) -> SSEResponse:
    """One page connection as ``user``, read to its end."""
    extra = scope_extra(user)

    async def with_user(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, **extra}, receive, send)

    return await sse_request(
        with_user,
        "/components/_page/",
        method="POST",
        json={"streams": entries},
        max_events=events,
        give_up_after=WAIT,
    )


def entry(key: str, name: str, **query: Any) -> dict[str, Any]:
    return {"key": key, "name": name, "query": urlencode(query)}


def controls(answer: SSEResponse) -> dict[str, Any]:
    found = {}
    for event in answer.events:
        if event.event == "page":
            document = json.loads(event.data)
            found[document.pop("key")] = document
    return found


async def test_an_entry_denied_at_mount_gets_its_own_streams_refusal_and_the_rest_stream():
    app = make_app()
    alone = await stream(app, "vault", user="ada")
    answer = await page(
        app, [entry("v", "vault"), entry("d", "document", owner="ada")], user="ada", events=3
    )
    found = controls(answer)
    assert found["v"] == {
        "end": "refused",
        "status": alone.status,
        "error": json.loads(alone.body)["error"],
    }
    assert alone.status == 403
    assert "run" in found["d"]
    assert journal.of("vault") == []


async def test_without_a_user_an_entry_gets_401_like_its_own_stream():
    app = make_app()
    alone = await stream(app, "members")
    answer = await page(app, [entry("m", "members")])
    assert controls(answer)["m"]["status"] == alone.status == 401
    assert journal.of("members") == []


async def test_another_users_live_component_cannot_be_resumed_by_a_forged_run_id():
    app = make_app()
    answer = await page(
        app, [{"key": "x", "name": "document", "resume": "guessed-run.1"}], user="bob"
    )
    assert controls(answer)["x"]["end"] == "lost"
    assert [event.event for event in answer.events] == ["page"]


async def test_an_entry_is_authorized_with_its_own_streams_url_and_query():
    seen: list[tuple[str, dict[str, str]]] = []

    def only_ada_documents(context: Any, component: Any, event: str) -> bool:
        if component.component_name != "document":
            return True
        seen.append((context.url, dict(context.query_params)))
        return context.query_params.get("owner") == "ada"

    app = make_app(authorize=only_ada_documents)
    alone = await stream(app, "document", {"owner": "ada"}, user="ada", max_events=1)
    assert alone.status == 200
    answer = await page(
        app,
        [entry("a", "document", owner="ada"), entry("b", "document", owner="bob")],
        user="ada",
        events=3,
    )
    found = controls(answer)
    assert "run" in found["a"]
    refused_alone = await stream(app, "document", {"owner": "bob"}, user="ada")
    assert found["b"]["status"] == refused_alone.status == 403
    # Every check saw the stream's own URL and query, never the page connection's.
    assert {url.partition("?")[0].rpartition("/components")[2] for url, _ in seen} == {
        "/document/stream/"
    }
    assert {query.get("owner") for _, query in seen} == {"ada", "bob"}
