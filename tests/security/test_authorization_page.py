"""Authorization of the ``component()`` page global: with the ``request`` in the template
context (Litestar and Starlette put it there) the checks run with transport ``"page"`` and a
denied component renders as nothing; without a request the call is in-process and trusted."""

from __future__ import annotations

from typing import Any

import jinja2
from starlette.requests import Request

from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.testing import http_scope
from tests.security.components import MARK, journal
from tests.security.wire import make_app, scope_extra


def _environment(app: Any) -> jinja2.Environment:
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment, app)
    return environment


def _request(user: str | None = None, **headers: str) -> Request:
    return Request(http_scope("GET", "/page", headers=headers, extra_scope=scope_extra(user)))


def _page(app: Any, source: str, request: Request | None) -> str:
    template = _environment(app).from_string(source)
    return template.render(request=request) if request is not None else template.render()


def test_allowed_component_renders_into_the_page():
    page = _page(make_app(), '<main>{{ component("members") }}</main>', _request("ada"))
    assert MARK in page
    assert journal.of("members") == ["mount"]


def test_denied_component_renders_as_nothing_and_mount_never_runs():
    page = _page(make_app(), '<main>{{ component("vault") }}</main>', _request("ada"))
    assert page == "<main></main>"
    assert journal.of("vault") == []


def test_unauthenticated_component_renders_as_nothing():
    page = _page(make_app(), '<main>{{ component("members") }}</main>', _request())
    assert page == "<main></main>"
    assert journal.of("members") == []


def test_page_keeps_the_allowed_components_around_a_denied_one():
    source = '{{ component("public") }}|{{ component("vault") }}|{{ component("members") }}'
    first, denied, last = _page(make_app(), source, _request("ada")).split("|")
    assert MARK in first
    assert denied == ""
    assert MARK in last


def test_authorize_sees_the_page_transport_and_the_mount_params_state_is_empty():
    source = '{{ component("document", owner="ada") }}'
    page = _page(make_app(), source, _request("bob"))
    assert MARK in page  # anyone signed in may mount a document
    assert journal.of("document")[0] == "authorize mount over page"


def test_hook_sees_the_page_transport_and_the_requests_headers():
    seen: list[tuple[str, str, str | None]] = []

    def hook(context: AccessContext, component: Component, event: str) -> bool:
        seen.append((context.transport, event, context.headers.get("x-team")))
        return context.headers.get("x-team") == "blue"

    app = make_app(authorize=hook)
    source = '{{ component("public") }}'
    assert MARK in _page(app, source, _request(**{"X-Team": "blue"}))
    assert _page(app, source, _request(**{"X-Team": "red"})) == ""
    assert seen == [("page", "mount", "blue"), ("page", "mount", "red")]


def test_without_a_request_in_the_context_the_call_is_trusted():
    # Documented: a template rendered outside a request (an email, a test) runs no checks.
    page = _page(make_app(), '{{ component("vault") }}', None)
    assert MARK in page
    assert journal.of("vault") == ["mount"]
