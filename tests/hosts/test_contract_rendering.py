"""Contract: mounting, events and the htmx echo loop behave the same on every host.

Each test runs once per host (the ``host`` fixture); see ``conftest.py`` for the list.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.hosts.hosts import HostClient
from tests.hosts.wire import (
    assert_render,
    count_in,
    mount,
    parse_fragment,
    send_event,
)
from tests.sample_components import SentimentComponent

HTMX = {"HX-Request": "true"}


@pytest.mark.parametrize("path", ["/components/counter/", "/components/counter"])
async def test_post_with_empty_json_object_mounts(host: HostClient, path: str) -> None:
    answer = assert_render(await host.request("POST", path, json={}))
    assert answer["state"] == {"count": 0}
    assert count_in(answer["html"]) == 0


async def test_post_with_empty_body_mounts(host: HostClient) -> None:
    answer = assert_render(await host.request("POST", "/components/counter/"))
    assert answer["state"] == {"count": 0}


async def test_guide_curl_mount_with_empty_state_mounts(host: HostClient) -> None:
    body = {"event": "mount", "state": {}}
    answer = assert_render(await host.request("POST", "/components/counter/", json=body))
    assert answer["state"] == {"count": 0}


async def test_each_mount_gets_a_new_component_id(host: HostClient) -> None:
    first = await mount(host, "counter")
    second = await mount(host, "counter")
    assert first["component_id"] != second["component_id"]


async def test_events_with_echoed_snapshot_accumulate_state(host: HostClient) -> None:
    mounted = await mount(host, "counter")
    once = assert_render(await send_event(host, "counter", "increment", mounted["snapshot"]))
    twice = assert_render(await send_event(host, "counter", "increment", once["snapshot"]))
    assert once["state"] == {"count": 1}
    assert twice["state"] == {"count": 2}
    assert count_in(twice["html"]) == 2
    ids = {mounted["component_id"], once["component_id"], twice["component_id"]}
    assert len(ids) == 1


async def test_old_snapshot_replays_from_its_own_state(host: HostClient) -> None:
    mounted = await mount(host, "counter")
    assert_render(await send_event(host, "counter", "increment", mounted["snapshot"]))
    again = assert_render(await send_event(host, "counter", "increment", mounted["snapshot"]))
    assert again["state"] == {"count": 1}


async def test_mount_event_with_snapshot_rerenders_without_running_mount(
    host: HostClient,
) -> None:
    mounted = await mount(host, "counter")
    once = assert_render(await send_event(host, "counter", "increment", mounted["snapshot"]))
    body = {"event": "mount", "snapshot": once["snapshot"]}
    rerendered = assert_render(await host.request("POST", "/components/counter/", json=body))
    assert rerendered["state"] == {"count": 1}
    assert rerendered["component_id"] == mounted["component_id"]


async def test_form_urlencoded_event_answers_json(host: HostClient) -> None:
    mounted = await mount(host, "counter")
    form = {"event": "increment", "snapshot": mounted["snapshot"]}
    answer = assert_render(await host.request("POST", "/components/counter/", form=form))
    assert answer["state"] == {"count": 1}
    assert answer["component_id"] == mounted["component_id"]


async def test_form_values_are_coerced_to_handler_types(host: HostClient) -> None:
    mounted = await mount(host, "typed")
    form = {
        "event": "numbers",
        "snapshot": mounted["snapshot"],
        "count": "3",
        "ratio": "0.5",
        "flag": "true",
    }
    answer = assert_render(await host.request("POST", "/components/typed/", form=form))
    assert answer["state"] == {"last": {"count": 3, "ratio": 0.5, "flag": True}}


async def test_htmx_form_event_answers_annotated_fragment(host: HostClient) -> None:
    mounted = await mount(host, "counter")
    form = {"event": "increment", "snapshot": mounted["snapshot"]}
    response = await host.request("POST", "/components/counter/", form=form, headers=HTMX)
    assert response.status == 200, response.body[:500]
    assert (response.header("content-type") or "").startswith("text/html")
    fragment = parse_fragment(response.text)
    root = fragment.root
    assert root.attrs["id"] == mounted["component_id"]
    assert root.attrs["hx-target"] == "this"
    assert root.attrs["hx-swap"] == "outerHTML"
    new_snapshot = root.vals()["snapshot"]
    assert isinstance(new_snapshot, str)
    assert new_snapshot != mounted["snapshot"]
    assert count_in(response.text) == 1
    # The snapshot carried by the fragment is all the next request needs.
    following = assert_render(await send_event(host, "counter", "increment", new_snapshot))
    assert following["state"] == {"count": 2}
    assert following["component_id"] == mounted["component_id"]


async def test_htmx_button_clicks_echo_the_snapshot_with_no_other_wiring(
    host: HostClient,
) -> None:
    """Do what htmx does on a click: POST the button's ``hx-vals`` merged over the inherited
    ones of the root, as a form, to the button's ``hx-post``, and swap in the answer."""
    response = await host.request("GET", "/components/counter/")
    fragment = parse_fragment(response.text)
    component_id = fragment.root.attrs["id"]
    for expected in (1, 2, 3):
        button = fragment.button("increment")
        values = {**fragment.root.vals(), **button.vals()}
        response = await host.request("POST", button.attrs["hx-post"], form=values, headers=HTMX)
        assert response.status == 200, response.body[:500]
        fragment = parse_fragment(response.text)
        assert fragment.root.attrs["id"] == component_id
        assert count_in(response.text) == expected
    button = fragment.button("decrement")
    values = {**fragment.root.vals(), **button.vals()}
    response = await host.request("POST", button.attrs["hx-post"], form=values, headers=HTMX)
    assert count_in(response.text) == 2


@pytest.mark.parametrize("path", ["/components/counter/", "/components/counter"])
async def test_get_answers_mounted_fragment(host: HostClient, path: str) -> None:
    response = await host.request("GET", path)
    assert response.status == 200, response.body[:500]
    assert (response.header("content-type") or "").startswith("text/html")
    fragment = parse_fragment(response.text)
    assert fragment.root.attrs["id"]
    assert fragment.root.attrs["hx-target"] == "this"
    assert fragment.root.attrs["hx-swap"] == "outerHTML"
    assert fragment.root.vals()["snapshot"]
    assert count_in(response.text) == 0


async def test_get_asking_for_json_answers_json(host: HostClient) -> None:
    headers = {"Accept": "application/json"}
    response = await host.request("GET", "/components/counter/", headers=headers)
    assert assert_render(response)["state"] == {"count": 0}


@pytest.mark.parametrize(
    ("query", "greeting"),
    [({"name": "Ada"}, ">Hello Ada</p>"), ({"name": "Ada", "excited": "true"}, ">Hello Ada!</p>")],
)
async def test_get_binds_query_to_mount_params(
    host: HostClient, query: dict[str, str], greeting: str
) -> None:
    response = await host.request("GET", "/components/greeter/", query=query)
    assert response.status == 200, response.body[:500]
    assert greeting in response.text


async def test_get_escapes_mount_params_in_html(host: HostClient) -> None:
    query = {"name": "<script>alert(1)</script>"}
    response = await host.request("GET", "/components/greeter/", query=query)
    assert response.status == 200, response.body[:500]
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_json_params_bind_to_mount(host: HostClient) -> None:
    answer = await mount(host, "greeter", name="Ada", excited="true")
    assert answer["state"] == {"name": "Ada", "excited": True}
    assert "Hello Ada!" in answer["html"]


async def test_loose_form_fields_at_mount_become_params(host: HostClient) -> None:
    form = {"name": "Ada"}
    answer = assert_render(await host.request("POST", "/components/greeter/", form=form))
    assert answer["state"] == {"name": "Ada", "excited": False}


async def test_async_handler_runs_on_the_event_loop(host: HostClient) -> None:
    mounted = await mount(host, "sentiment")
    SentimentComponent.seen.clear()
    response = await send_event(host, "sentiment", "analyze", mounted["snapshot"], text="good news")
    answer = assert_render(response)
    assert answer["state"] == {"text": "good news", "score": 0.9}
    assert "good news" in answer["html"]
    if host.in_process:
        assert SentimentComponent.seen == [(threading.get_ident(), asyncio.get_running_loop())]
