"""``allowed_hosts``: a request whose ``Host`` the app does not answer for is refused before
anything else, on every transport (the DNS-rebinding defence: a page on the attacker's name,
pointed at the app's address, is "same-origin" with the requests it makes)."""

from __future__ import annotations

import json

import pytest

from component_framework import Settings
from component_framework.asgi.guard import host_allowed
from component_framework.errors import ConfigurationError
from component_framework.testing import (
    WebSocketDenied,
    asgi_request,
    sse_request,
    websocket_connect,
)
from tests.security.components import journal
from tests.security.wire import WAIT, HeldStream, make_app, path, post

ALLOWED = ("app.example", "*.tenants.example", "localhost:8000", "[::1]")


def _app(**settings: object) -> object:
    return make_app(allowed_hosts=ALLOWED, **settings)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("app.example", True),
        ("APP.Example", True),
        ("app.example:443", True),  # a pattern without a port matches any port
        ("app.example.", True),  # the fully qualified spelling
        ("a.tenants.example", True),
        ("a.b.tenants.example:8443", True),
        ("tenants.example", False),  # "*." is subdomains, not the name itself
        ("eviltenants.example", False),
        ("localhost:8000", True),
        ("localhost", False),  # a pattern with a port matches that port only
        ("localhost:8001", False),
        ("[::1]", True),
        ("[::1]:9000", True),
        ("[::2]", False),
        ("evil.example", False),
        ("app.example.evil.example", False),
        ("", False),
    ],
)
def test_host_patterns_match_names_ports_and_subdomains(host: str, allowed: bool) -> None:
    patterns = Settings(allowed_hosts=ALLOWED).allowed_hosts
    assert isinstance(patterns, tuple)
    assert host_allowed(host, patterns) is allowed


def test_star_allows_any_host() -> None:
    assert host_allowed("anything.example:1", ("*",))


def test_allowed_hosts_come_from_the_environment_comma_separated() -> None:
    settings = Settings.from_env(
        {"COMPONENT_FRAMEWORK_ALLOWED_HOSTS": " App.Example, *.b.example "}
    )
    assert settings.allowed_hosts == ("app.example", "*.b.example")


@pytest.mark.parametrize(
    "entry", ["https://app.example", "app.example/path", "*app.example", "a b"]
)
def test_an_entry_that_is_not_a_host_name_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="allowed_hosts"):
        Settings(allowed_hosts=(entry,))


async def test_without_allowed_hosts_any_host_is_served() -> None:
    answer = await post(make_app(), "public", headers={"Host": "whatever.example"})
    assert answer.status == 200


async def test_post_for_an_unknown_host_is_400_and_runs_nothing() -> None:
    answer = await post(_app(), "public", headers={"Host": "evil.example"})
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == "host_not_allowed"
    assert "'evil.example'" in error["message"]
    assert journal.entries == []


async def test_dns_rebinding_page_is_refused_although_it_is_same_origin() -> None:
    # The attacker's name resolves to the app: Origin and Host agree, so the origin check
    # alone passes it; allowed_hosts does not.
    rebinding = {"Host": "rebind.evil.example", "Origin": "http://rebind.evil.example"}
    assert (await post(make_app(), "public", headers=rebinding)).status == 200
    refused = await post(_app(), "public", headers=rebinding)
    assert (refused.status, refused.json()["error"]["code"]) == (400, "host_not_allowed")


async def test_a_request_without_host_is_refused_when_hosts_are_listed() -> None:
    answer = await post(_app(), "public")
    assert answer.status == 400
    assert "no Host header" in answer.json()["error"]["message"]


async def test_an_allowed_host_is_served_on_every_http_method() -> None:
    app = _app()
    assert (await post(app, "public", headers={"Host": "x.tenants.example"})).status == 200
    page = await asgi_request(app, "GET", path("public"), headers={"Host": "app.example:80"})
    assert page.status == 200


async def test_a_huge_host_is_cut_short_in_the_answer() -> None:
    answer = await post(_app(), "public", headers={"Host": "h" * 100_000})
    assert answer.status == 400
    assert len(answer.body) < 512


async def test_htmx_request_for_an_unknown_host_gets_the_htmx_error_headers() -> None:
    answer = await post(_app(), "public", headers={"Host": "evil.example", "HX-Request": "true"})
    assert answer.status == 400
    trigger = json.loads(answer.header("hx-trigger") or "{}")
    assert trigger["component-error"]["code"] == "host_not_allowed"


async def test_stream_start_for_an_unknown_host_is_refused_before_it_opens() -> None:
    app = _app()
    answer = await sse_request(
        app, path("ticker", "stream"), headers={"Host": "evil.example"}, give_up_after=WAIT
    )
    assert answer.status == 400
    assert json.loads(answer.body)["error"]["code"] == "host_not_allowed"
    assert journal.entries == []
    assert app.streams.runs == {}  # type: ignore[attr-defined]


async def test_stream_resume_for_an_unknown_host_is_refused() -> None:
    app = _app(stream_resume_grace=60)
    first = await sse_request(
        app, path("ticker", "stream"), headers={"Host": "app.example"}, give_up_after=WAIT
    )
    assert first.status == 200
    resumed = HeldStream(
        app, "ticker", headers={"Host": "evil.example"}, last_event_id=first.events[0].id
    )
    assert await resumed.open() == 400


async def test_websocket_handshake_for_an_unknown_host_is_denied() -> None:
    with pytest.raises(WebSocketDenied) as denied:
        async with websocket_connect(
            _app(),
            path("public", "ws"),
            headers={"Host": "evil.example", "Origin": "http://evil.example"},
        ):
            pass
    assert denied.value.status == 400
    assert json.loads(denied.value.body)["error"]["code"] == "host_not_allowed"
    assert journal.entries == []


async def test_websocket_handshake_for_an_allowed_host_opens() -> None:
    async with websocket_connect(
        _app(),
        path("public", "ws"),
        headers={"Host": "app.example", "Origin": "https://app.example"},
    ) as socket:
        assert (await socket.receive_json())["type"] == "render"


async def test_static_files_are_refused_for_an_unknown_host() -> None:
    runtime = "/components/_static/component-framework.min.js"
    refused = await asgi_request(_app(), "GET", runtime, headers={"Host": "evil.example"})
    assert refused.status == 400
    served = await asgi_request(_app(), "GET", runtime, headers={"Host": "app.example"})
    assert served.status == 200


async def test_thousands_of_distinct_hosts_are_each_judged_and_the_allowed_one_still_passes() -> (
    None
):
    app = _app()
    for number in range(3000):  # more spellings than the guard remembers
        refused = await post(app, "public", headers={"Host": f"h{number}.evil.example"})
        assert refused.status == 400
    assert (await post(app, "public", headers={"Host": "app.example"})).status == 200
    assert (await post(app, "public", headers={"Host": "h1.evil.example"})).status == 400
