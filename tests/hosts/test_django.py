"""Django as a host, under a real uvicorn: Django's pages, static files and admin beside
components on every transport, and the Django user (logged in through Django's own admin login,
with its session cookie and CSRF token) reaching the components' authorization.

The site is ``tests/hosts/django_site``: migrations run into a sqlite file of this session's
temporary directory, then ``uvicorn tests.hosts.django_site.asgi:application`` serves
``DjangoSessionAuth(ComponentASGI(django_app))`` on loopback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.servers import REPO_ROOT, UvicornServer, start_uvicorn

pytestmark = pytest.mark.uvicorn

SETTINGS_MODULE = "tests.hosts.django_site.settings"
WAIT = 10.0
#: username -> password; both are staff (they may log in to the admin), only cy may view users.
USERS = {"bob": "bob-password-1", "cy": "cy-password-2"}
CREATE_USERS = f"""
from django.contrib.auth.models import Permission, User
users = {USERS!r}
User.objects.create_user("bob", password=users["bob"], is_staff=True)
cy = User.objects.create_user("cy", password=users["cy"], is_staff=True)
cy.user_permissions.add(Permission.objects.get(codename="view_user"))
"""


def _manage(environment: dict[str, str], *arguments: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", *arguments],
        cwd=REPO_ROOT, env=environment, check=True, capture_output=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def django_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """The test site under uvicorn, on a freshly migrated database with two staff users."""
    directory = tmp_path_factory.mktemp("django-site")
    site_env = {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "DJANGO_SITE_DATABASE": str(directory / "site.sqlite3"),
    }
    environment = {**os.environ, **site_env}
    _manage(environment, "migrate", "--verbosity", "0")
    _manage(environment, "shell", "--command", CREATE_USERS)
    server = start_uvicorn(
        "tests.hosts.django_site.asgi:application",
        directory,
        ["--lifespan", "on", "--timeout-graceful-shutdown", "3"],
        env=site_env,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client(django_site: UvicornServer) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh browser-like client: its own cookie jar, nobody signed in."""
    async with httpx.AsyncClient(base_url=django_site.base_url, timeout=WAIT) as http:
        yield http


async def log_in(client: httpx.AsyncClient, username: str) -> None:
    """Sign in through Django's admin login form (CSRF cookie and token, session cookie)."""
    form = await client.get("/admin/login/", params={"next": "/admin/"})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None, form.text[:500]
    answer = await client.post(
        "/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": USERS[username],
            "next": "/admin/",
        },
    )
    assert answer.status_code == 302, answer.text[:500]
    assert answer.headers["location"] == "/admin/"
    assert "sessionid" in client.cookies


async def post(client: httpx.AsyncClient, component: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/components/{component}/", json=body)


def ws_url(server: UvicornServer, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def cookie_header(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in client.cookies.items())}


async def read_stream(client: httpx.AsyncClient, path: str) -> tuple[int, list[SSEEvent]]:
    """Status and every frame of an SSE stream, read to its end."""
    decoder = SSEDecoder()
    frames: list[SSEEvent] = []
    async with client.stream("GET", path) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code, frames
        async for chunk in response.aiter_bytes():
            frames.extend(decoder.feed(chunk))
    return 200, frames


# -- Django's own side ----------------------------------------------------------------------


async def test_django_page_renders_components_and_their_scripts(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert "<h1>A Django page</h1>" in page.text
    assert '<div class="counter" id="counter-' in page.text
    scripts = re.findall(r'<script src="([^"]+)"></script>', page.text)
    assert len(scripts) == 4
    for src in scripts:
        assert (await client.get(src)).status_code == 200, src


async def test_django_static_files_are_served(client: httpx.AsyncClient) -> None:
    own = await client.get("/static/django_site/site.css")
    admin = await client.get("/static/admin/css/base.css")
    assert (own.status_code, admin.status_code) == (200, 200)
    assert "font-family" in own.text


async def test_django_admin_login_page_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/admin/login/")
    assert page.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in page.text
    assert "csrftoken" in client.cookies


async def test_django_admin_needs_a_login_and_accepts_one(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/")).status_code == 302
    await log_in(client, "bob")
    assert (await client.get("/admin/")).status_code == 200


# -- components beside Django ---------------------------------------------------------------


async def test_component_event_over_http(client: httpx.AsyncClient) -> None:
    mounted = await post(client, "counter", {})
    assert mounted.status_code == 200, mounted.text
    clicked = await post(
        client, "counter", {"event": "increment", "snapshot": mounted.json()["snapshot"]}
    )
    assert clicked.json()["state"] == {"count": 1}


async def test_component_stream_over_sse_for_a_signed_in_user(client: httpx.AsyncClient) -> None:
    await log_in(client, "bob")
    status, frames = await read_stream(client, "/components/report/stream/?report_id=7")
    assert status == 200
    renders = [frame.data for frame in frames if frame.event == "message"]
    assert "<h2>Revenue #7</h2>" in renders[-1]
    assert frames[-1].event == "done"


async def test_sse_stream_of_a_protected_component_is_401_for_anonymous(
    client: httpx.AsyncClient,
) -> None:
    status, frames = await read_stream(client, "/components/report/stream/?report_id=7")
    assert (status, frames) == (401, [])


async def test_websocket_round_trip(django_site: UvicornServer) -> None:
    async with connect(ws_url(django_site, "/components/counter/ws/"), open_timeout=WAIT) as ws:
        first = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "event", "event": "increment", "ref": "1"}))
        answer = json.loads(await ws.recv())
    assert (first["type"], first["state"]) == ("render", {"count": 0})
    assert (answer["ref"], answer["state"]) == ("1", {"count": 1})


async def test_websocket_outside_the_components_prefix_is_refused_without_an_error(
    django_site: UvicornServer,
) -> None:
    """Django's ASGI handler speaks HTTP only; the adapter refuses the handshake for it."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(django_site, "/chat/"), open_timeout=WAIT):
            pass
    assert refused.value.response.status_code == 403
    assert "Traceback" not in django_site.log()


# -- the Django user in the components' authorization ---------------------------------------


async def test_anonymous_client_is_refused_with_401(client: httpx.AsyncClient) -> None:
    answer = await post(client, "badge", {})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


async def test_forged_session_cookie_is_anonymous(client: httpx.AsyncClient) -> None:
    client.cookies.set("sessionid", "not-a-session-key-of-this-site")
    answer = await post(client, "badge", {})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


async def test_signed_in_django_user_reaches_the_component(client: httpx.AsyncClient) -> None:
    await log_in(client, "bob")
    mounted = await post(client, "badge", {})
    assert mounted.status_code == 200, mounted.text
    assert mounted.json()["state"] == {"username": "bob"}
    refreshed = await post(
        client, "badge", {"event": "refresh", "snapshot": mounted.json()["snapshot"]}
    )
    assert refreshed.json()["state"] == {"username": "bob"}


async def test_page_renders_a_protected_component_only_for_a_signed_in_user(
    client: httpx.AsyncClient,
) -> None:
    assert "signed in as" not in (await client.get("/")).text
    await log_in(client, "cy")
    assert "signed in as <b>cy</b>" in (await client.get("/")).text


async def test_django_permissions_reach_authorize(client: httpx.AsyncClient) -> None:
    """``user.has_perm`` inside ``authorize``: loaded by ``load_permissions=True``."""
    await log_in(client, "bob")
    refused = await post(client, "staff_report", {})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"

    client.cookies.clear()
    await log_in(client, "cy")
    allowed = await post(client, "staff_report", {})
    assert allowed.status_code == 200, allowed.text


async def test_websocket_handshake_carries_the_django_user(
    django_site: UvicornServer, client: httpx.AsyncClient
) -> None:
    url = ws_url(django_site, "/components/badge/ws/")
    async with connect(url, open_timeout=WAIT) as anonymous:
        with pytest.raises(ConnectionClosed) as closed:
            await anonymous.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "authentication required")

    await log_in(client, "bob")
    async with connect(url, additional_headers=cookie_header(client), open_timeout=WAIT) as ws:
        render = json.loads(await ws.recv())
    assert render["state"] == {"username": "bob"}


async def test_session_ends_for_components_at_django_logout(client: httpx.AsyncClient) -> None:
    await log_in(client, "bob")
    session = client.cookies["sessionid"]
    assert (await post(client, "badge", {})).status_code == 200
    token = client.cookies["csrftoken"]
    logged_out = await client.post("/admin/logout/", data={"csrfmiddlewaretoken": token})
    assert logged_out.status_code == 200
    client.cookies.set("sessionid", session)  # the old cookie, replayed
    assert (await post(client, "badge", {})).status_code == 401
