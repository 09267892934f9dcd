"""Authorization over HTTP: permission classes, ``authorize`` with the restored state, the
app-level hook, and faulty checks. Every denial is a JSON error, and no user code of the
component ran for it (the journal), nothing of it is in the body."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.core.dispatch import ComponentCall
from component_framework.errors import Forbidden
from component_framework.testing import asgi_request
from tests.security.components import SECRET_DETAIL, User, journal, registry
from tests.security.wire import assert_nothing_rendered, make_app, path, post, scope_extra


async def test_component_without_checks_serves_anyone():
    app = make_app()
    answer = await post(app, "public")
    assert answer.status == 200
    assert journal.of("public") == ["mount"]


# -- permission classes ------------------------------------------------------------------------


async def test_is_authenticated_without_a_user_is_401_and_mount_never_runs():
    app = make_app()
    answer = await post(app, "members")
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert_nothing_rendered(answer.body)
    assert journal.of("members") == []


async def test_is_authenticated_with_an_unauthenticated_user_object_is_401():
    app = make_app()
    answer = await post(app, "members", user=User("guest", is_authenticated=False))
    assert answer.status == 401
    assert journal.of("members") == []


async def test_is_authenticated_with_a_user_mounts_and_runs_events():
    app = make_app()
    mounted = await post(app, "members", user="ada")
    assert mounted.status == 200
    snapshot = mounted.json()["snapshot"]
    answer = await post(app, "members", {"event": "ping", "snapshot": snapshot}, user="ada")
    assert answer.status == 200
    assert answer.json()["state"] == {"pings": 1}
    assert journal.of("members") == ["mount", "ping"]


async def test_is_authenticated_is_checked_on_every_event_not_only_at_mount():
    app = make_app()
    snapshot = (await post(app, "members", user="ada")).json()["snapshot"]
    # The same snapshot without the user (a logged-out tab, a copied snapshot): refused.
    answer = await post(app, "members", {"event": "ping", "snapshot": snapshot})
    assert answer.status == 401
    assert_nothing_rendered(answer.body)
    assert journal.of("members") == ["mount"]


async def test_plain_rerender_of_a_snapshot_is_checked_too():
    app = make_app()
    snapshot = (await post(app, "members", user="ada")).json()["snapshot"]
    answer = await post(app, "members", {"snapshot": snapshot})
    assert answer.status == 401
    assert_nothing_rendered(answer.body)


async def test_deny_all_is_403_even_for_a_user_and_mount_never_runs():
    app = make_app()
    answer = await post(app, "vault", user="ada")
    assert answer.status == 403
    error = answer.json()["error"]
    assert error == {"code": "forbidden", "message": "not allowed: component 'vault'"}
    assert_nothing_rendered(answer.body)
    assert journal.of("vault") == []


async def test_get_mount_is_authorized_like_post():
    app = make_app()
    answer = await asgi_request(app, "GET", path("vault"), extra_scope=scope_extra("ada"))
    assert answer.status == 403
    assert_nothing_rendered(answer.body)
    anonymous = await asgi_request(app, "GET", path("members"))
    assert anonymous.status == 401
    assert_nothing_rendered(anonymous.body)
    assert journal.entries == []


async def test_htmx_request_denied_keeps_the_page_and_says_why():
    app = make_app()
    answer = await post(app, "vault", user="ada", headers={"HX-Request": "true"})
    assert answer.status == 403
    assert answer.header("hx-reswap") == "none"
    assert "forbidden" in (answer.header("hx-trigger") or "")
    assert_nothing_rendered(answer.body)


async def test_permission_may_refuse_in_its_own_words():
    app = make_app()
    answer = await post(app, "ownwords", user="ada")
    assert answer.status == 403
    assert answer.json()["error"]["message"] == "the vault opens on weekdays only"
    assert journal.of("ownwords") == []


# -- authorize(): the event and the restored state ---------------------------------------------


async def _document_of(app: Any, owner: str, as_user: str) -> str:
    answer = await post(app, "document", {"params": {"owner": owner}}, user=as_user)
    assert answer.status == 200, answer.text
    snapshot: str = answer.json()["snapshot"]
    return snapshot


async def test_user_who_may_mount_may_not_delete_what_they_do_not_own():
    app = make_app()
    snapshot = await _document_of(app, owner="ada", as_user="bob")
    edit = await post(
        app,
        "document",
        {"event": "edit", "payload": {"text": "hi"}, "snapshot": snapshot},
        user="bob",
    )
    assert edit.status == 200
    answer = await post(app, "document", {"event": "delete", "snapshot": snapshot}, user="bob")
    assert answer.status == 403
    assert answer.json()["error"] == {
        "code": "forbidden",
        "message": "not allowed: event 'delete' of 'document'",
    }
    assert_nothing_rendered(answer.body)
    assert "delete" not in journal.of("document")


async def test_owner_check_reads_the_state_restored_from_the_snapshot():
    app = make_app()
    snapshot = await _document_of(app, owner="ada", as_user="bob")
    # bob's snapshot names ada as the owner: ada may delete with it, bob may not.
    answer = await post(app, "document", {"event": "delete", "snapshot": snapshot}, user="ada")
    assert answer.status == 200
    assert answer.json()["state"]["deleted"] is True
    assert journal.of("document")[-1] == "delete"


async def test_authorize_sees_the_event_and_the_transport_each_time():
    app = make_app()
    snapshot = await _document_of(app, owner="ada", as_user="ada")
    await post(
        app,
        "document",
        {"event": "edit", "payload": {"text": "x"}, "snapshot": snapshot},
        user="ada",
    )
    checks = [what for what in journal.of("document") if what.startswith("authorize")]
    assert checks == ["authorize mount over http", "authorize edit over http"]


async def test_authorize_at_mount_runs_before_mount_with_empty_state():
    seen: list[dict[str, Any]] = []

    class Probe(Component):
        template_name = "plain.html"

        def authorize(self, context: AccessContext, event: str) -> bool:
            seen.append(dict(self.state))
            return True

        def mount(self) -> None:
            self.state["mounted"] = True

    registry.register("probe")(Probe)
    try:
        snapshot = (await post(make_app(), "probe")).json()["snapshot"]
        await post(make_app(), "probe", {"snapshot": snapshot})
    finally:
        registry.unregister("probe")
    assert seen == [{}, {"mounted": True}]


async def test_forged_owner_is_refused_before_any_check_runs():
    app = make_app()
    snapshot = await _document_of(app, owner="ada", as_user="bob")
    journal.reset()
    forged = snapshot[:-4] + ("AAAA" if not snapshot.endswith("AAAA") else "BBBB")
    answer = await post(app, "document", {"event": "delete", "snapshot": forged}, user="bob")
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_snapshot"
    assert journal.entries == []


async def test_older_snapshot_of_the_same_component_is_accepted_again():
    # Documented: snapshots are not single-use (until snapshot_max_age); state that must not
    # go back (money, permissions) belongs on the server.
    app = make_app()
    first = (await post(app, "public")).json()["snapshot"]
    clicked = await post(app, "public", {"event": "click", "snapshot": first})
    assert clicked.json()["state"] == {"clicks": 1}
    replayed = await post(app, "public", {"event": "click", "snapshot": first})
    assert replayed.json()["state"] == {"clicks": 1}


async def test_snapshot_of_another_component_is_refused():
    app = make_app()
    members = (await post(app, "members", user="ada")).json()["snapshot"]
    answer = await post(app, "public", {"event": "click", "snapshot": members})
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_snapshot"
    assert journal.of("public") == []


# -- the app-level hook ----------------------------------------------------------------------


class Hook:
    """Records every question; says no when the request carries ``x-deny``."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, context: AccessContext, component: Component, event: str) -> bool:
        self.seen.append(
            {
                "transport": context.transport,
                "component": component.component_name,
                "event": event,
                "client": context.client,
                "header": context.headers.get("x-team"),
                "user": getattr(context.user, "name", None),
            }
        )
        return "x-deny" not in context.headers


async def test_hook_sees_transport_headers_client_and_user():
    hook = Hook()
    app = make_app(authorize=hook)
    answer = await post(
        app, "public", user="ada", client="198.51.100.4", headers={"X-Team": "blue"}
    )
    assert answer.status == 200
    assert hook.seen == [
        {
            "transport": "http",
            "component": "public",
            "event": "mount",
            "client": "198.51.100.4",
            "header": "blue",
            "user": "ada",
        }
    ]


async def test_hook_runs_on_components_that_declare_no_checks():
    hook = Hook()
    app = make_app(authorize=hook)
    answer = await post(app, "public", headers={"X-Deny": "1"})
    assert answer.status == 403
    assert journal.of("public") == []


async def test_hook_runs_first_a_denial_skips_the_components_own_checks():
    hook = Hook()
    app = make_app(authorize=hook)
    # No user: IsAuthenticated would say 401, but the hook said no before it.
    answer = await post(app, "document", {"params": {"owner": "ada"}}, headers={"X-Deny": "1"})
    assert answer.status == 403
    assert journal.of("document") == []  # neither authorize nor mount ran


async def test_hook_allowing_does_not_override_the_components_checks():
    hook = Hook()
    app = make_app(authorize=hook)
    assert (await post(app, "vault", user="ada")).status == 403
    assert (await post(app, "members")).status == 401
    assert [seen["component"] for seen in hook.seen] == ["vault", "members"]


async def test_hook_runs_on_every_event():
    hook = Hook()
    app = make_app(authorize=hook)
    snapshot = (await post(app, "public")).json()["snapshot"]
    answer = await post(
        app, "public", {"event": "click", "snapshot": snapshot}, headers={"X-Deny": "1"}
    )
    assert answer.status == 403
    assert [seen["event"] for seen in hook.seen] == ["mount", "click"]
    assert journal.of("public") == ["mount"]


# -- faulty checks ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["asynccheck", "asyncpermission"])
async def test_async_check_is_a_configuration_error_and_nothing_runs(name: str):
    app = make_app()
    answer = await post(app, name, user="ada")
    assert answer.status == 500
    assert answer.json()["error"]["code"] == "configuration_error"
    assert_nothing_rendered(answer.body)
    assert journal.of(name) == []


async def test_async_hook_is_a_configuration_error():
    async def hook(context: AccessContext, component: Component, event: str) -> bool:
        return True

    app = make_app(authorize=hook)  # type: ignore[arg-type]
    answer = await post(app, "public")
    assert answer.status == 500
    assert answer.json()["error"]["code"] == "configuration_error"
    assert journal.of("public") == []


async def test_check_that_raises_is_a_500_without_detail_and_is_logged(
    caplog: pytest.LogCaptureFixture,
):
    app = make_app()
    with caplog.at_level(logging.ERROR, logger="component_framework"):
        answer = await post(app, "crashingcheck", user="ada")
    assert answer.status == 500
    assert answer.json()["error"]["code"] == "handler_error"
    assert SECRET_DETAIL not in answer.text
    assert "Traceback" not in answer.text
    assert journal.of("crashingcheck") == []
    assert "authorize" in caplog.text
    assert SECRET_DETAIL in caplog.text  # the detail goes to the log, not to the client


async def test_hook_that_raises_is_a_500_without_detail():
    def hook(context: AccessContext, component: Component, event: str) -> bool:
        raise KeyError(SECRET_DETAIL)

    app = make_app(authorize=hook)
    answer = await post(app, "public")
    assert answer.status == 500
    assert answer.json()["error"]["code"] == "handler_error"
    assert SECRET_DETAIL not in answer.text
    assert journal.of("public") == []


# -- in-process calls ----------------------------------------------------------------------


def test_in_process_dispatch_without_a_context_is_trusted():
    app = make_app()
    result = app.dispatcher.dispatch(ComponentCall("vault"))
    assert result.state == {"gold": 100}


def test_in_process_dispatch_with_a_context_is_checked():
    app = make_app()
    with pytest.raises(Forbidden):
        app.dispatcher.dispatch(ComponentCall("vault", context=AccessContext("http")))
    assert journal.of("vault") == []
