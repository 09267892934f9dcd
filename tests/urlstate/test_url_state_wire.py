"""URL state on the wire: a mount reads ``url_state`` keys from the page URL (htmx's
``HX-Current-URL``; the URL's value wins over mount's, a value that does not read keeps
mount's), and an event that changes a key answers with the page's new URL as a history effect:
``HX-Replace-Url`` / ``HX-Push-Url`` for htmx, ``effects`` in a JSON answer, an ``effects``
frame over SSE and message over WebSocket. A key equal to its default leaves the URL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from component_framework.testing import (
    WebSocketTestSession,
    asgi_request,
    sse_request,
    websocket_scope,
)
from tests.urlstate.components import make_app

WAIT = 5.0
HOST = {"host": "shop.example"}
PAGE = "http://shop.example/shop"


def htmx(url: str = PAGE) -> dict[str, str]:
    return {**HOST, "hx-request": "true", "hx-current-url": url}


async def post(app: Any, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return await asgi_request(app, "POST", "/components/search/", json=body, headers=headers)


async def snapshot_at(app: Any, url: str) -> str:
    mounted = await post(app, {}, {**HOST, "hx-current-url": url})
    return str(mounted.json()["snapshot"])


async def event(app: Any, url: str, name: str, headers: dict[str, str], **payload: Any) -> Any:
    body = {"event": name, "payload": payload, "snapshot": await snapshot_at(app, url)}
    return await post(app, body, headers)


# -- the mount reads the URL --------------------------------------------------------------------


async def test_a_mount_takes_the_url_values_over_the_defaults_mount_set():
    answer = await post(make_app(), {}, htmx(f"{PAGE}?q=red+shoes&page=3"))
    assert answer.status == 200
    assert ">red shoes|3</div>" in answer.text


async def test_a_mount_without_a_page_url_keeps_the_defaults():
    answer = await post(make_app(), {}, HOST)
    assert answer.json()["state"] == {"q": "", "page": 1, "hits": 0}


@pytest.mark.parametrize(
    "page",
    ["abc", "", "1.5", "1e3", "99999999999999999999999", "0x10", "%00", "1 OR 1=1"],
)
async def test_a_url_value_that_is_not_the_defaults_type_keeps_the_default(page: str):
    answer = await post(make_app(), {}, {**HOST, "hx-current-url": f"{PAGE}?page={page}&q=ok"})
    assert answer.status == 200
    assert answer.json()["state"]["page"] == 1
    assert answer.json()["state"]["q"] == "ok"


async def test_hostile_text_in_the_url_is_state_text_escaped_by_the_template():
    answer = await post(make_app(), {}, htmx(f"{PAGE}?q=%3Cscript%3Ealert(1)%3C/script%3E"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|1" in answer.text
    assert "<script>" not in answer.text


async def test_a_page_url_with_thousands_of_parameters_is_not_read_and_not_an_error():
    crowded = PAGE + "?" + "&".join(f"k{i}=v" for i in range(5000)) + "&q=late"
    answer = await post(make_app(), {}, {**HOST, "hx-current-url": crowded})
    assert answer.status == 200
    assert answer.json()["state"]["q"] == ""


# -- a change answers with the page's new URL -------------------------------------------------


async def test_a_changed_key_replaces_the_history_entry_keeping_other_parameters():
    answer = await event(make_app(), f"{PAGE}?htmx=4", "search", htmx(f"{PAGE}?htmx=4"), q="red")
    assert answer.header("hx-replace-url") == "/shop?htmx=4&q=red"
    assert answer.header("hx-push-url") is None


async def test_a_change_of_a_url_history_key_pushes_a_history_entry():
    url = f"{PAGE}?q=red"
    answer = await event(make_app(), url, "page", htmx(url), page=2)
    assert answer.header("hx-push-url") == "/shop?q=red&page=2"
    assert answer.header("hx-replace-url") is None


async def test_a_key_back_at_its_default_leaves_the_url():
    url = f"{PAGE}?q=red&page=2"
    answer = await event(make_app(), url, "page", htmx(url), page=1)
    assert answer.header("hx-push-url") == "/shop?q=red"


async def test_the_default_is_what_mount_set_not_what_the_url_restored():
    url = f"{PAGE}?q=red&page=2"
    answer = await event(make_app(), url, "search", htmx(url), q="")
    # q back to "" and page back to 1: both are mount's values, so the query is empty.
    assert answer.header("hx-push-url") == "/shop"


async def test_an_event_that_changes_no_url_key_asks_for_no_history_change():
    answer = await event(make_app(), PAGE, "other", htmx())
    assert answer.header("hx-push-url") is None
    assert answer.header("hx-replace-url") is None


async def test_the_handlers_own_history_change_wins():
    answer = await event(make_app(), PAGE, "elsewhere", htmx())
    assert answer.header("hx-push-url") == "/elsewhere"


async def test_values_are_percent_encoded_in_the_url():
    answer = await event(make_app(), PAGE, "search", htmx(), q="ü & b=c#d")
    assert answer.header("hx-replace-url") == "/shop?q=%C3%BC%20%26%20b%3Dc%23d"


async def test_a_json_answer_carries_the_change_as_data_and_without_a_page_url_a_query():
    answer = await event(make_app(), PAGE, "search", HOST, q="red")
    assert answer.json()["effects"] == {"replace_url": "?q=red"}


@pytest.mark.parametrize(
    "page", ["http://shop.example//evil.example/x", "http://shop.example/a\\b", "not a url"]
)
async def test_a_page_url_whose_path_we_would_not_repeat_gives_the_query_alone(page: str):
    answer = await event(make_app(), PAGE, "search", htmx(page), q="red")
    assert answer.status == 200
    assert answer.header("hx-replace-url") == "?q=red"


async def test_a_value_too_long_for_a_url_is_a_clear_400_and_nothing_is_applied():
    answer = await event(make_app(), PAGE, "search", HOST, q="x" * 3000)
    assert answer.status == 400
    error = answer.json()["error"]
    assert (error["code"], error["reason"]) == ("url_not_allowed", "too_long")
    assert "snapshot" not in answer.json()


# -- SSE and WebSocket -----------------------------------------------------------------------


async def test_over_sse_each_render_that_changes_a_key_is_followed_by_its_effects_frame():
    headers = {**HOST, "hx-current-url": "http://shop.example/feed?x=1"}
    answer = await sse_request(
        make_app(), "/components/feed/stream/", headers=headers, give_up_after=WAIT
    )
    effects = [json.loads(e.data)["effects"] for e in answer.events if e.event == "effects"]
    assert effects == [{"push_url": "/feed?x=1&page=2"}, {"push_url": "/feed?x=1&page=3"}]


def socket(app: Any, **query: str) -> WebSocketTestSession:
    scope = websocket_scope("/components/search/ws/", headers=HOST, query=query or None)
    return WebSocketTestSession(app, scope, WAIT)


async def test_over_websocket_a_render_carries_the_change_of_a_held_component():
    async with socket(make_app()) as ws:
        mounted = await ws.receive_json()
        assert "effects" not in mounted
        searched = await ws.event("search", {"q": "red"})
        paged = await ws.event("page", {"page": 2})
        same = await ws.event("other")
        back = await ws.event("search", {"q": ""})
    assert searched["effects"] == {"replace_url": "?q=red"}
    assert paged["effects"] == {"push_url": "?q=red&page=2"}
    assert "effects" not in same
    assert back["effects"] == {"push_url": "?"}


async def test_a_websocket_join_with_the_page_url_restores_and_builds_on_it():
    async with socket(make_app(), join="message") as ws:
        await ws.send_json({"type": "join", "url": f"{PAGE}?htmx=4&q=red"})
        joined = await ws.receive_json()
        paged = await ws.event("page", {"page": 2})
    assert joined["state"]["q"] == "red"
    assert paged["effects"] == {"push_url": "/shop?htmx=4&q=red&page=2"}


async def test_a_websocket_resume_keeps_the_defaults_mount_set_at_first():
    app = make_app()
    snapshot = await snapshot_at(app, f"{PAGE}?q=red&page=2")
    async with socket(app, join="message") as ws:
        await ws.send_json({"type": "join", "snapshot": snapshot, "url": f"{PAGE}?q=red&page=2"})
        assert (await ws.receive_json())["state"]["page"] == 2
        back = await ws.event("page", {"page": 1})
    assert back["effects"] == {"push_url": "/shop?q=red"}


@pytest.mark.parametrize("url", [7, ["/shop"], "x" * 9000])
async def test_a_join_url_that_is_not_a_short_string_is_a_malformed_message(url: Any):
    async with socket(make_app(), join="message") as ws:
        await ws.send_json({"type": "join", "url": url, "ref": "j"})
        refused = await ws.receive_json()
    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "malformed_request", "j")


async def test_a_listener_whose_key_an_emitted_event_changes_answers_with_the_new_url():
    app = make_app()
    at = {**HOST, "hx-current-url": f"{PAGE}?page=3"}
    mounted = await asgi_request(app, "POST", "/components/pager/", json={}, headers=at)
    assert mounted.json()["state"] == {"page": 3}
    listener = {
        "component": "pager",
        "id": mounted.json()["component_id"],
        "snapshot": mounted.json()["snapshot"],
    }
    batch = {"events": [{"event": "filtered"}], "listeners": [listener], "format": "json"}
    heard = await asgi_request(app, "POST", "/components/_emit/", json=batch, headers=at)
    (result,) = heard.json()["results"]
    assert result["state"] == {"page": 1}
    assert result["effects"] == {"push_url": "/shop"}


async def test_a_nested_child_reads_and_builds_on_its_parents_page_url():
    over_http = await asgi_request(
        make_app(), "POST", "/components/shelf/", json={}, headers=htmx(f"{PAGE}?q=red")
    )
    assert ">red|1</div>" in over_http.text
    socket_scope = websocket_scope("/components/shelf/ws/", headers=HOST, query={"join": "message"})
    async with WebSocketTestSession(make_app(), socket_scope, WAIT) as ws:
        await ws.send_json({"type": "join", "url": f"{PAGE}?q=blue"})
        joined = await ws.receive_json()
    assert ">blue|1</div>" in joined["html"]
