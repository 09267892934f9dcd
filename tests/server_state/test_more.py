"""Server-held state beyond the basic exchanges: files (multipart and resumable uploads), held
nested children over a WebSocket, a held connection whose state another request took over,
the trio event loop, and the reference token itself (sans-IO)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import pytest

from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.errors import ConfigurationError
from component_framework.protocol.snapshot import SnapshotError, SnapshotSigner
from component_framework.testing import asgi_request, websocket_connect
from tests.core.test_multipart import CONTENT_TYPE, body, part
from tests.event_loops import on_both_loops
from tests.server_state.components import PASSWORD, app
from tests.server_state.test_http import JSON, payload_of, post
from tests.server_state.test_live import child_snapshot, ws_path
from tests.uploads.upload_app import build_app
from tests.urlstate.components import make_app as make_url_app

KEY = "reference-token-key-0123456789abcdef"
DATA = bytes(range(256)) * 40


# -- the reference token -----------------------------------------------------------------------


def test_a_reference_token_names_a_version_and_carries_no_state() -> None:
    signer = SnapshotSigner([KEY])
    token = signer.sign_reference("vault", "vault-1", 7, ("shelf-1", "d"))
    snapshot = signer.verify(token, "vault")
    assert (snapshot.version, snapshot.state, snapshot.parent) == (7, {}, ("shelf-1", "d"))
    assert signer.verify(signer.sign("vault", "vault-1", {"a": 1}), "vault").version is None


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, True, None])
def test_a_reference_with_a_bad_version_is_malformed(version: object) -> None:
    signer = SnapshotSigner([KEY])
    token = signer._seal("vault", {"c": "vault", "i": "v-1", "t": 1, "v": version}, None)
    with pytest.raises(SnapshotError) as refused:
        signer.verify(token, "vault", expire=False)
    assert refused.value.problem == "malformed"


def test_a_token_with_both_a_version_and_state_is_malformed() -> None:
    signer = SnapshotSigner([KEY])
    token = signer._seal("vault", {"c": "vault", "i": "v-1", "t": 1, "v": 2, "s": {}}, None)
    with pytest.raises(SnapshotError, match="version"):
        signer.verify(token, "vault", expire=False)


# -- files ------------------------------------------------------------------------------------


async def test_a_multipart_upload_reaches_a_server_held_component(tmp_path: Path) -> None:
    uploads = build_app(tmp_path, state_on_server=True)
    mounted = await asgi_request(uploads, "POST", "/components/profile/", json={}, headers=JSON)
    assert "state" not in mounted.json()
    answer = await asgi_request(
        uploads,
        "POST",
        "/components/profile/",
        body=body(
            part("snapshot", mounted.json()["snapshot"].encode()),
            part("event", b"avatar"),
            part("avatar", b"\x89PNG\r\n\x1a\n" + DATA, "a.png", "image/png"),
        ),
        headers={"content-type": CONTENT_TYPE, **JSON},
    )
    assert answer.status == 200, answer.body[:300]
    assert "state" not in answer.json()
    assert payload_of(answer.json()["snapshot"])["v"] == 2


async def test_a_resumable_upload_is_claimed_by_a_server_held_component(tmp_path: Path) -> None:
    uploads = build_app(
        state_on_server=True, upload_resumable_directory=tmp_path, upload_chunk_bytes=80 * 1024
    )
    created = await asgi_request(
        uploads,
        "POST",
        "/components/_uploads/",
        json={"component": "profile", "event": "attach", "field": "files",
              "filename": "big.bin", "size": len(DATA), "content_type": "application/x-data"},
    )  # fmt: skip
    upload_id = created.json()["upload"]
    sent = await asgi_request(
        uploads,
        "PATCH",
        "/components/_uploads/" + upload_id,
        body=DATA,
        headers={"content-type": "application/offset+octet-stream", "upload-offset": "0"},
    )
    assert sent.json()["complete"] is True
    mounted = await asgi_request(uploads, "POST", "/components/profile/", json={}, headers=JSON)
    claimed = await asgi_request(
        uploads,
        "POST",
        "/components/profile/",
        json={"event": "attach", "payload": {"files": upload_id},
              "snapshot": mounted.json()["snapshot"]},
        headers=JSON,
    )  # fmt: skip
    assert claimed.status == 200, claimed.body[:300]
    assert "state" not in claimed.json()
    assert payload_of(claimed.json()["snapshot"])["v"] == 2


# -- held components ------------------------------------------------------------------------


async def test_a_socket_holds_a_server_held_child_and_http_takes_it_over() -> None:
    application = app()
    async with websocket_connect(application, ws_path("shelf")) as ws:
        mounted = await ws.receive_json()
        child = child_snapshot(mounted["html"])
        drawer_id = payload_of(child)["i"]
        put = await ws.send_json(
            {"type": "event", "event": "put", "component_id": drawer_id, "ref": "p"}
        )
        del put
        rendered = await ws.receive_json()
        assert rendered["component_id"] == drawer_id
        assert "state" not in rendered
        latest = rendered["snapshot"]
    answer = await post(application, {"event": "put", "snapshot": latest}, name="drawer")
    assert answer.status == 200, answer.body[:300]
    assert "<u>2</u>" in answer.json()["html"]


async def test_a_socket_whose_state_another_request_took_is_told_state_conflict() -> None:
    application = app()
    async with websocket_connect(application, ws_path("vault")) as ws:
        mounted = await ws.receive_json()
        await ws.event("open")  # its write lands behind the render
        opened = await ws.event("open")
        taken = await post(application, {"event": "open", "snapshot": opened["snapshot"]})
        assert taken.status == 200  # HTTP moved the stored state on
        await ws.send_json({"type": "event", "event": "open", "ref": "late"})
        messages = [await ws.receive_json(), await ws.receive_json()]
    codes = [message.get("code") for message in messages if message["type"] == "error"]
    assert codes == ["state_conflict"]
    assert mounted["component_id"] == opened["component_id"]


@on_both_loops
async def test_server_held_state_on_asyncio_and_trio() -> None:
    application = app()
    mounted = await post(application, {})
    assert PASSWORD not in mounted.body.decode()
    opened = await post(application, {"event": "open", "snapshot": mounted.json()["snapshot"]})
    assert "<b>1</b>" in opened.json()["html"]
    replay = await post(application, {"event": "open", "snapshot": mounted.json()["snapshot"]})
    assert json.loads(replay.body)["error"]["code"] == "stale_state"


# -- the page global ----------------------------------------------------------------------------


async def test_a_page_renders_a_server_held_component_whose_next_event_finds_its_state() -> None:
    application = app()
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment, application)
    page = environment.from_string('<main>{{ component("vault") }}</main>').render()
    assert PASSWORD not in page
    reference = re.search(r"snapshot&quot;:&quot;([^&]*)&quot;", page)
    assert reference is not None
    opened = await post(application, {"event": "open", "snapshot": reference.group(1)})
    assert opened.status == 200, opened.body[:300]
    assert "<b>1</b>" in opened.json()["html"]


def test_a_page_rendered_without_an_event_loop_refuses_a_server_held_component() -> None:
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment, app())
    template = environment.from_string('{{ component("vault") }}')
    with pytest.raises(ConfigurationError, match="lazy=True"):
        template.render()


# -- URL state ------------------------------------------------------------------------------------


async def test_url_state_works_the_same_when_the_state_stays_on_the_server() -> None:
    shop = make_url_app(state_on_server=True)
    page = "http://shop.example/shop?q=red&page=2"
    headers = {"host": "shop.example", "hx-current-url": page}
    mounted = await asgi_request(shop, "POST", "/components/search/", json={}, headers=headers)
    assert "state" not in mounted.json()
    assert "m" in payload_of(mounted.json()["snapshot"])  # URL state's defaults ride along
    body = {"event": "search", "payload": {"q": ""}, "snapshot": mounted.json()["snapshot"]}
    answer = await asgi_request(
        shop, "POST", "/components/search/", json=body, headers={**headers, "hx-request": "true"}
    )
    assert answer.status == 200, answer.body[:300]
    assert answer.header("hx-push-url") == "/shop"  # back at mount's defaults, as for a snapshot
