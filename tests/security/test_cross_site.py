"""Cross-site protection: a browser request that says it comes from another site may not
change state (HTTP ``POST``, every SSE stream start, WebSocket handshakes); requests without
``Origin`` and ``Sec-Fetch-Site`` (curl, servers) pass; ``GET`` mounts and ``Last-Event-ID``
resumes are not checked. And how it combines with Litestar's CSRF middleware."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.config.csrf import CSRFConfig

from component_framework import Settings
from component_framework.adapters.litestar import create_component_routes
from component_framework.testing import WebSocketDenied, asgi_request, sse_request
from tests.security.components import MARK, journal
from tests.security.wire import WAIT, HeldStream, make_app, path, post, socket

HOST = "app.example"
FOREIGN = "https://evil.example"


def _headers(**extra: str) -> dict[str, str]:
    return {"Host": HOST, **{key.replace("_", "-"): value for key, value in extra.items()}}


async def _click(app: Any, **headers: str) -> Any:
    """A state-changing POST (mount, then an event) with ``headers``."""
    return await post(app, "public", headers=_headers(**headers))


# -- HTTP POST -------------------------------------------------------------------------------


async def test_post_from_a_foreign_origin_is_403_json_and_runs_nothing():
    answer = await _click(make_app(), Origin=FOREIGN)
    assert answer.status == 403
    assert answer.header("content-type") == "application/json"
    error = answer.json()["error"]
    assert error["code"] == "forbidden"
    assert "evil.example" in error["message"]
    assert journal.entries == []


async def test_event_post_from_a_foreign_origin_is_refused_with_a_valid_snapshot():
    app = make_app()
    snapshot = (await post(app, "public")).json()["snapshot"]
    answer = await post(
        app, "public", {"event": "click", "snapshot": snapshot}, headers=_headers(Origin=FOREIGN)
    )
    assert answer.status == 403
    assert journal.of("public") == ["mount"]


@pytest.mark.parametrize(
    "origin", [f"https://{HOST}", f"http://{HOST}", f"https://{HOST}/", f"HTTPS://{HOST.upper()}"]
)
async def test_post_from_the_same_host_passes_whatever_the_scheme(origin: str):
    assert (await _click(make_app(), Origin=origin)).status == 200


async def test_origin_must_match_the_port_too():
    app = make_app()
    same = await post(
        app, "public", headers={"Host": "app.example:8443", "Origin": "https://app.example:8443"}
    )
    assert same.status == 200
    other_port = await post(
        app, "public", headers={"Host": "app.example:8443", "Origin": "https://app.example"}
    )
    assert other_port.status == 403


async def test_sibling_subdomain_is_another_origin():
    answer = await _click(make_app(), Origin=f"https://static.{HOST}")
    assert answer.status == 403


async def test_opaque_null_origin_is_refused():
    # Sandboxed iframes and some redirects send "Origin: null".
    assert (await _click(make_app(), Origin="null")).status == 403


async def test_allowed_origins_may_post():
    app = make_app(allowed_origins=("https://partner.example",))
    assert (await _click(app, Origin="https://partner.example")).status == 200
    assert (await _click(app, Origin=FOREIGN)).status == 403


async def test_allowed_origins_star_allows_any():
    assert (await _click(make_app(allowed_origins="*"), Origin=FOREIGN)).status == 200


async def test_allowed_origins_come_from_the_environment():
    settings = Settings.from_env(
        {"COMPONENT_FRAMEWORK_ALLOWED_ORIGINS": "https://a.example, https://b.example/"}
    )
    assert settings.allowed_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("site", "status"),
    [("cross-site", 403), ("same-site", 403), ("same-origin", 200), ("none", 200)],
)
async def test_without_origin_sec_fetch_site_decides(site: str, status: int):
    answer = await _click(make_app(), Sec_Fetch_Site=site)
    assert answer.status == status


async def test_origin_wins_over_sec_fetch_site():
    answer = await _click(make_app(), Origin=f"https://{HOST}", Sec_Fetch_Site="cross-site")
    assert answer.status == 200


async def test_request_without_either_header_passes():
    # curl, server-to-server calls, tests: nothing says they come from a browser page.
    assert (await _click(make_app())).status == 200


async def test_check_origin_false_disables_the_check():
    app = make_app(check_origin=False)
    assert (await _click(app, Origin=FOREIGN)).status == 200
    assert (await _click(app, Sec_Fetch_Site="cross-site")).status == 200


async def test_get_mount_is_not_checked():
    answer = await asgi_request(
        make_app(),
        "GET",
        path("public"),
        headers=_headers(Origin=FOREIGN, Sec_Fetch_Site="cross-site"),
    )
    assert answer.status == 200
    assert MARK in answer.text


async def test_get_cannot_run_an_event():
    # So a cross-site <img src=...> or link cannot change state either.
    app = make_app()
    snapshot = (await post(app, "public")).json()["snapshot"]
    answer = await asgi_request(
        app,
        "GET",
        path("public"),
        query={"event": "click", "snapshot": snapshot},
        headers=_headers(Origin=FOREIGN),
    )
    assert answer.status == 405
    assert journal.of("public") == ["mount"]


# -- SSE stream starts ------------------------------------------------------------------------


async def test_stream_start_from_a_foreign_origin_is_403_and_starts_nothing():
    app = make_app()
    answer = await sse_request(
        app,
        path("ticker", "stream"),
        query={"event": "run"},
        headers=_headers(Origin=FOREIGN),
        give_up_after=WAIT,
    )
    assert answer.status == 403
    assert journal.entries == []
    assert app.streams.runs == {}
    assert app.guard.open_count("stream") == 0


async def test_stream_start_by_post_from_another_site_is_refused():
    app = make_app()
    answer = await sse_request(
        app,
        path("ticker", "stream"),
        method="POST",
        json={"event": "run"},
        headers=_headers(Sec_Fetch_Site="cross-site"),
        give_up_after=WAIT,
    )
    assert answer.status == 403
    assert journal.entries == []


async def test_stream_start_from_the_same_host_streams():
    answer = await sse_request(
        make_app(),
        path("ticker", "stream"),
        query={"event": "run"},
        headers=_headers(Origin=f"https://{HOST}"),
        give_up_after=WAIT,
    )
    assert answer.status == 200
    assert answer.events[-1].event == "done"


async def test_last_event_id_resume_is_not_origin_checked():
    app = make_app(stream_resume_grace=60)
    first = await sse_request(
        app, path("ticker", "stream"), query={"event": "run"}, give_up_after=WAIT
    )
    first_id = first.events[0].id
    assert first_id
    # Resuming continues a stream this client started; it starts no work, so it passes.
    resumed = HeldStream(app, "ticker", headers=_headers(Origin=FOREIGN), last_event_id=first_id)
    assert await resumed.open() == 200
    await resumed.wait_for(lambda: resumed.ended)
    assert [event.id for event in resumed.events] == [event.id for event in first.events[1:]]
    assert journal.of("ticker") == ["mount", "run"]  # nothing ran again


# -- GET stream requests run only stream handlers ---------------------------------------------
# An <img src> or a link on another site sends a GET with neither Origin nor Sec-Fetch-Site
# to a plain-HTTP origin (and a link carries SameSite=Lax cookies): the origin check cannot see
# it, so a GET must not be able to run a state-changing handler at all.


@pytest.mark.parametrize("with_snapshot", [False, True])
async def test_get_stream_naming_a_plain_handler_is_405_and_runs_nothing(with_snapshot: bool):
    app = make_app()
    query = {"event": "click"}
    if with_snapshot:
        query["snapshot"] = (await post(app, "public")).json()["snapshot"]
        journal.entries.clear()
    answer = await sse_request(
        app, path("public", "stream"), query=query, headers=_headers(), give_up_after=WAIT
    )
    assert answer.status == 405
    assert answer.header("allow") == "POST"
    error = json.loads(answer.body)["error"]
    assert error["code"] == "method_not_allowed"
    assert "'click' is not a stream handler" in error["message"]
    assert journal.entries == []  # not even a mount
    assert app.streams.runs == {}


async def test_get_stream_refuses_a_plain_handler_of_a_streaming_component():
    app = make_app()
    answer = await sse_request(
        app,
        path("announcer", "stream"),
        query={"event": "rename", "name": "pwned"},
        give_up_after=WAIT,
    )
    assert answer.status == 405
    assert journal.entries == []


async def test_get_stream_starts_a_generator_handler_named_in_the_query():
    answer = await sse_request(
        make_app(), path("ticker", "stream"), query={"event": "run", "steps": 2}, give_up_after=WAIT
    )
    assert answer.status == 200
    assert [event.event for event in answer.events] == ["message", "message", "done"]
    assert journal.of("ticker") == ["mount", "run"]


async def test_get_stream_starts_a_declared_stream_event_that_is_not_a_generator():
    answer = await sse_request(make_app(), path("announcer", "stream"), give_up_after=WAIT)
    assert answer.status == 200
    # its one text operation (a compact text frame), then the render and the end
    assert [event.event for event in answer.events] == ["t", "message", "done"]
    assert [(op["op"], op["text"]) for op in answer.ops] == [("text", "hello")]
    assert journal.of("announcer") == ["mount", "announce"]


async def test_post_stream_may_still_name_a_plain_handler():
    answer = await sse_request(
        make_app(),
        path("announcer", "stream"),
        method="POST",
        json={"event": "rename", "name": "second"},
        headers=_headers(Origin=f"https://{HOST}"),
        give_up_after=WAIT,
    )
    assert answer.status == 200
    assert [event.event for event in answer.events] == ["message", "done"]
    assert "second" in answer.events[0].data
    assert journal.of("announcer") == ["mount", "rename"]


# -- WebSocket handshakes -------------------------------------------------------------------


async def test_websocket_from_a_foreign_origin_is_refused_before_accept():
    app = make_app()
    with pytest.raises(WebSocketDenied) as denied:
        async with socket(app, "public", headers=_headers(Origin=FOREIGN)):
            pass
    assert denied.value.status == 403
    assert denied.value.json()["error"]["code"] == "forbidden"
    assert journal.entries == []


async def test_websocket_from_a_foreign_origin_without_the_denial_extension_closes_1008():
    app = make_app()
    with pytest.raises(WebSocketDenied) as denied:
        async with socket(app, "public", headers=_headers(Origin=FOREIGN), denial_response=False):
            pass
    assert denied.value.code == 1008


async def test_check_origin_false_does_not_open_websockets_to_other_sites():
    # check_origin covers HTTP requests; the handshake check answers to allowed_origins only.
    app = make_app(check_origin=False)
    with pytest.raises(WebSocketDenied):
        async with socket(app, "public", headers=_headers(Origin=FOREIGN)):
            pass
    anywhere = make_app(allowed_origins="*")
    async with socket(anywhere, "public", headers=_headers(Origin=FOREIGN)) as ws:
        assert (await ws.receive_json())["type"] == "render"


async def test_websocket_from_an_allowed_origin_opens():
    app = make_app(allowed_origins=("https://partner.example",))
    async with socket(app, "public", headers=_headers(Origin="https://partner.example")) as ws:
        assert (await ws.receive_json())["type"] == "render"


# -- with Litestar's CSRF middleware ----------------------------------------------------------

CSRF_SECRET = "litestar-csrf-secret-0123456789abcdef"


def _litestar(**csrf: Any) -> Litestar:
    app = Litestar(csrf_config=CSRFConfig(secret=CSRF_SECRET, **csrf))
    create_component_routes(app, make_app(body_timeout=1.0))
    return app


async def _csrf_cookie(app: Litestar) -> tuple[str, str]:
    """The ``csrftoken`` cookie a safe request sets: ``(cookie header, token)``."""
    answer = await asgi_request(app, "GET", path("public"))
    cookie = (answer.header("set-cookie") or "").split(";")[0]
    assert cookie.startswith("csrftoken="), answer.headers
    return cookie, cookie.split("=", 1)[1]


async def test_litestar_csrf_refuses_a_post_without_the_token_before_the_component():
    app = _litestar()
    answer = await asgi_request(app, "POST", path("public"), json={})
    assert answer.status == 403
    assert answer.json() == {"status_code": 403, "detail": "CSRF token verification failed"}
    assert journal.entries == []


async def test_litestar_csrf_passes_a_post_with_the_token_in_the_header():
    # htmx: <body hx-headers='{"X-CSRFToken": "{{ csrf_token() }}"}'>
    app = _litestar()
    cookie, token = await _csrf_cookie(app)
    answer = await asgi_request(
        app, "POST", path("public"), json={}, headers={"cookie": cookie, "x-csrftoken": token}
    )
    assert answer.status == 200
    assert MARK in answer.json()["html"]


async def test_litestar_csrf_token_as_a_form_field_does_not_reach_the_component():
    # Litestar reads a form field token from the body, which a mounted ASGI app cannot share
    # (Litestar 2.25 answers 500): send the header instead.
    app = _litestar()
    cookie, token = await _csrf_cookie(app)
    journal.reset()
    answer = await asgi_request(
        app, "POST", path("public"), form={"_csrf_token": token}, headers={"cookie": cookie}
    )
    assert answer.status != 200
    assert journal.entries == []


async def test_litestar_csrf_also_guards_post_stream_starts_but_not_get_ones():
    app = _litestar()
    post_start = await sse_request(
        app, path("ticker", "stream"), method="POST", json={"event": "run"}, give_up_after=WAIT
    )
    assert post_start.status == 403
    get_start = await sse_request(
        app, path("ticker", "stream"), query={"event": "run"}, give_up_after=WAIT
    )
    assert get_start.status == 200


async def test_litestar_csrf_leaves_websockets_to_the_origin_check():
    app = _litestar()
    async with socket(app, "public") as ws:
        assert (await ws.receive_json())["type"] == "render"
    with pytest.raises(WebSocketDenied):
        async with socket(app, "public", headers=_headers(Origin=FOREIGN)):
            pass


async def test_components_excluded_from_litestar_csrf_still_refuse_foreign_origins():
    app = _litestar(exclude=["/components"])
    assert (await asgi_request(app, "POST", path("public"), json={})).status == 200
    foreign = await asgi_request(
        app, "POST", path("public"), json={}, headers=_headers(Origin=FOREIGN)
    )
    assert foreign.status == 403
    assert foreign.json()["error"]["code"] == "forbidden"
