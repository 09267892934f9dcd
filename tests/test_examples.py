"""The example apps in process: each host serves the same page, the components behave.

The browser suites (``tests/browser/test_showcase*.py``) drive them for real; these tests pin
what each app serves and what each showcase component does, through the public API.
"""

from __future__ import annotations

import asyncio
import html
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from examples import fake_services
from starlette.authentication import SimpleUser, UnauthenticatedUser

from component_framework import ComponentASGI
from component_framework.adapters import litestar as litestar_adapter
from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.core.hub import Hub
from component_framework.core.registry import default_registry
from component_framework.testing import (
    ComponentTestClient,
    asgi_request,
    sse_request,
    websocket_connect,
)

KEY = "examples-test-key-0123456789abcdef0123"
#: Importing the examples registers their components in the default registry, sets
#: ``Component.renderer`` and replaces the Litestar adapter's shared app: :func:`examples`
#: imports them for this module only and puts all of that back afterwards.
showcase: Any = None
APPS = ["examples.litestar_example", "examples.starlette_app", "examples.standalone"]
COMPONENTS = ("counter", "sentiment", "report", "chat", "ticker", "todo", "profile")

#: examples.account's, beside the showcase's own.
ACCOUNT_COMPONENTS = ("greeting", "checkout")


def _forget_examples() -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "examples"]:
        del sys.modules[name]


@pytest.fixture(scope="module", autouse=True)
def examples() -> Iterator[None]:
    global showcase
    renderer, shared = Component.renderer, list(litestar_adapter._shared)
    before = set(default_registry.names())
    _forget_examples()
    showcase = importlib.import_module("examples.showcase")
    for app in APPS:
        importlib.import_module(app)
    try:
        yield
    finally:
        for name in set(default_registry.names()) - before:
            default_registry.unregister(name)
        Component.renderer = renderer
        litestar_adapter._shared[:] = shared
        _forget_examples()


@pytest.fixture(params=APPS)
def example_app(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", KEY)
    return importlib.import_module(request.param).app


async def test_every_host_serves_the_page_with_every_component(example_app: Any) -> None:
    page = await asgi_request(example_app, "GET", "/")
    assert page.status == 200
    assert page.header("content-security-policy") == showcase.CONTENT_SECURITY_POLICY
    for name in (*COMPONENTS, *ACCOUNT_COMPONENTS):
        assert f'data-component="{name}"' in page.text
    assert '<body hx-ext="component-framework">' in page.text
    assert "<style" not in page.text  # nothing inline, for the strict CSP
    assert "onclick" not in page.text


async def test_every_host_serves_htmx_and_the_runtime_locally(example_app: Any) -> None:
    page = (await asgi_request(example_app, "GET", "/")).text
    for script in ("htmx.min.js", "sse.min.js", "ws.min.js", "component-framework.min.js"):
        assert f'<script src="/components/_static/{script}' in page
        answer = await asgi_request(example_app, "GET", f"/components/_static/{script}")
        assert answer.status == 200
    assert (await asgi_request(example_app, "GET", "/static/showcase.css")).status == 200


async def test_every_host_serves_the_component_routes(example_app: Any) -> None:
    answer = await asgi_request(
        example_app, "POST", "/components/counter/", json={"event": "mount"}
    )
    assert answer.status == 200
    assert answer.json()["state"] == {"count": 0}


@pytest.fixture
def client() -> ComponentTestClient:
    return ComponentTestClient(ComponentASGI(settings=showcase.example_settings(), hub=Hub()))


async def test_sentiment_scores_positive_and_negative_text(client: ComponentTestClient) -> None:
    session = await client.mount("sentiment")
    await session.send("analyze", text="I love this great tool")
    assert session.state["mood"] == "positive"
    await session.send("analyze", text="this is awful and slow")
    assert session.state["mood"] == "negative"


def test_chat_reply_is_local_and_deterministic() -> None:
    tokens = fake_services.fake_reply("What is a component?")
    assert len(tokens) > 10
    assert tokens == fake_services.fake_reply("What is a component?")
    assert "What is a component?" in "".join(tokens)


async def test_report_streams_sections_and_progress() -> None:
    app = ComponentASGI(settings=showcase.example_settings(), hub=Hub())
    answer = await sse_request(app, "/components/report/stream/", query={"report_id": 7})
    ops = answer.ops
    inserted = [str(op["html"]) for op in ops if op["op"] == "insert"]
    assert len(inserted) == len(fake_services.REPORT_SECTIONS)
    assert "report #7" in inserted[0]
    assert ops[0]["op"] == "start"
    assert any(op["op"] == "replace" and "report-done" in op["html"] for op in ops)
    assert answer.events[-1].event == "done"


async def test_todo_changes_reach_every_live_list() -> None:
    hub = Hub()
    showcase.todo_store.items = []
    app = ComponentASGI(settings=showcase.example_settings(), hub=hub)
    original = showcase.manager
    showcase.manager = type(original)(hub=hub)
    try:
        async with websocket_connect(app, "/components/todo/ws/") as first:
            await first.receive_json()
            async with websocket_connect(app, "/components/todo/ws/") as second:
                await second.receive_json()
                await first.event("add", {"text": "  buy   milk "}, ref=1)
                seen: dict[str, Any] = await _render_with_items(second)
                assert [item["text"] for item in seen["state"]["items"]] == ["buy milk"]
    finally:
        showcase.manager = original


VIEWER = r'class="viewer[ "]'


async def test_todo_shows_who_is_viewing_the_list() -> None:
    hub = Hub()
    app = ComponentASGI(settings=showcase.example_settings(), hub=hub)
    async with websocket_connect(app, "/components/todo/ws/") as first:
        alone = (await first.receive_json())["html"]
        assert re.search(r'<span class="viewer you">Guest [0-9a-f]{4} \(you\)</span>\s*</p>', alone)
        async with websocket_connect(app, "/components/todo/ws/") as second:
            both = (await second.receive_json())["html"]
            assert len(re.findall(VIEWER, both)) == 2
            pushed = await _render_matching(first, lambda html: len(re.findall(VIEWER, html)) == 2)
            assert pushed.count("(you)") == 1
        left = await _render_matching(first, lambda html: len(re.findall(VIEWER, html)) == 1)
    assert "(you)" in left
    await hub.close()


async def _render_matching(session: Any, wanted: Any) -> str:
    async with asyncio.timeout(5):
        while True:
            message: dict[str, Any] = await session.receive_json()
            if message["type"] == "render" and wanted(message["html"]):
                return str(message["html"])


async def _render_with_items(session: Any) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            message: dict[str, Any] = await session.receive_json()
            if message["type"] == "render" and message["state"]["items"]:
                return message


def test_todo_store_keeps_a_bounded_list() -> None:
    store = showcase.TodoStore()
    for number in range(showcase.MAX_TODO_ITEMS + 5):
        store.add(f"item {number}")
    assert len(store.items) == showcase.MAX_TODO_ITEMS
    first = store.items[0]["id"]
    store.toggle(int(str(first)))
    assert store.items[0]["done"] is True
    store.remove(int(str(first)))
    assert len(store.items) == showcase.MAX_TODO_ITEMS - 1


async def test_ticker_feed_broadcasts_prices_to_live_tickers() -> None:
    hub = Hub()
    app = ComponentASGI(settings=showcase.example_settings(), hub=hub)
    original = showcase.manager
    showcase.manager = type(original)(hub=hub)
    feed = showcase.TickerFeed(interval=0.01)
    try:
        async with websocket_connect(app, "/components/ticker/ws/") as socket:
            await socket.receive_json()
            await feed.start()
            async with asyncio.timeout(5):
                while True:
                    message = await socket.receive_json()
                    if message["type"] == "render" and message["state"]["ticks"] >= 2:
                        break
            assert set(message["state"]["prices"]) == set(showcase.TICKER_SYMBOLS)
    finally:
        await feed.stop()
        showcase.manager = original
    assert feed.task is None


PROFILE = {"name": "Ann", "email": "ann@example.com", "age": "33", "website": "", "bio": "Hi"}


async def test_profile_reports_every_invalid_field_and_keeps_the_typing(
    client: ComponentTestClient,
) -> None:
    session = await client.mount("profile")
    typed = {"name": "A", "email": "ann", "age": "12", "website": "ftp://x", "bio": "b" * 161}
    body = {"event": "save", "snapshot": session.snapshot, **typed}

    answer = await client.post("profile", body)

    assert answer.status == 422
    document = answer.json()
    assert document["errors"] == {
        "name": ["Enter at least 2 characters."],
        "email": ["Enter a value in the expected format."],
        "age": ["Enter a number of at least 13."],
        "website": ["Enter a value in the expected format."],
        "bio": ["Enter at most 160 characters."],
    }
    assert document["state"] == session.state  # nothing saved
    assert 'value="ftp://x" hx-trigger' in document["html"]
    assert "5 fields need correcting." in document["html"]


async def test_profile_checks_one_field_as_the_person_types(client: ComponentTestClient) -> None:
    session = await client.mount("profile")
    body = {"event": "save", "snapshot": session.snapshot, "name": "A", "email": "ann"}

    typing = await client.post("profile", {**body, "validate": "email"})
    right = await client.post("profile", {**body, "email": "ann@example.com", "validate": "email"})

    assert typing.status == 200
    assert typing.json()["errors"] == {"email": ["Enter a value in the expected format."]}
    assert right.status == 200
    assert "errors" not in right.json()
    assert 'value="ann@example.com"' in right.json()["html"]
    assert right.json()["state"]["saves"] == 0


async def test_profile_saves_a_valid_form_and_refuses_a_taken_name(
    client: ComponentTestClient,
) -> None:
    session = await client.mount("profile")

    taken = await client.post(
        "profile", {"event": "save", "snapshot": session.snapshot, **PROFILE, "name": "Admin"}
    )
    await session.send("save", **PROFILE, newsletter="on")

    assert taken.status == 422
    assert taken.json()["errors"] == {"name": [showcase.TAKEN]}
    assert session.state["saves"] == 1
    assert session.state["profile"] == {**PROFILE, "age": 33, "newsletter": True}
    assert "Saved." in session.html


async def test_greeting_greets_a_stranger_on_the_demo_and_says_who_waved(
    client: ComponentTestClient,
) -> None:
    session = await client.mount("greeting")
    assert "Hello, stranger!" in session.html

    await session.send("wave")

    assert "Wave 1 came from someone not signed in, over http." in session.html


def test_greeting_names_the_user_the_authentication_middleware_put_in_the_scope() -> None:
    account = importlib.import_module("examples.account")
    greeting = account.GreetingComponent()
    greeting.request = AccessContext("http", {"user": SimpleUser("ada")})

    greeting.mount()

    assert greeting.state["name"] == "ada"
    assert account.user_name(AccessContext("http", {"user": UnauthenticatedUser()})) is None


async def test_checkout_redirects_to_the_order_and_refuses_to_send_the_browser_elsewhere(
    client: ComponentTestClient,
) -> None:
    session = await client.mount("checkout")
    await session.send("add")
    await session.send("add")

    checkout = await client.post("checkout", {"event": "checkout", "snapshot": session.snapshot})
    body = {"event": "pay_elsewhere", "snapshot": session.snapshot}
    elsewhere = await client.post("checkout", body)

    assert checkout.json()["effects"] == {"redirect": "/?ordered=2#checkout-demo"}
    assert elsewhere.status == 400
    assert elsewhere.json()["error"]["reason"] == "foreign_origin"
    assert "snapshot" not in elsewhere.json()


# -- the shop page (examples.shop): URL state, session sign-in, an owner-only action -----------

#: The hosts with session middleware (the standalone host serves the shop without sign-in).
SHOP_APPS = ["examples.litestar_example", "examples.starlette_app"]


@pytest.fixture(params=SHOP_APPS)
def shop_app(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", KEY)
    return importlib.import_module(request.param).app


async def sign_in(app: Any, name: str) -> dict[str, str]:
    answer = await asgi_request(app, "POST", "/login", form={"name": name})
    assert answer.status == 303
    assert answer.header("location") == "/shop"
    return {"cookie": (answer.header("set-cookie") or "").split(";")[0]}


def products_on(page: str) -> list[str]:
    return [line.split(">", 1)[1] for line in page.split('<span class="name')[1:]]


async def test_every_host_serves_the_shop_reading_the_search_and_page_from_its_url(
    example_app: Any,
) -> None:
    shop = importlib.import_module("examples.shop")
    matching = [p.name for p in shop.PRODUCTS if "s" in p.name.lower()]

    page = await asgi_request(example_app, "GET", "/shop", query={"q": "s", "page": "2"})

    assert page.status == 200
    assert page.header("content-security-policy") == showcase.CONTENT_SECURITY_POLICY
    names = [name.split("<", 1)[0] for name in products_on(page.text)]
    assert names == matching[shop.PAGE_SIZE : 2 * shop.PAGE_SIZE]
    assert "Page 2 of 3" in page.text
    for name in ("greeting", "shop_products", "checkout"):
        assert f'data-component="{name}"' in page.text


async def test_the_shop_paints_the_reviews_placeholder_and_loads_the_reviews_after(
    example_app: Any,
) -> None:
    shop = importlib.import_module("examples.shop")
    page = await asgi_request(example_app, "GET", "/shop")
    assert page.status == 200
    assert 'class="reviews-loading"' in page.text, "the page paints the placeholder"
    assert shop.REVIEWS[0][1] not in page.text, "not the reviews themselves"
    (url,) = re.findall(r'hx-get="(/components/shop_reviews/\?lazy=[^"]+)"', page.text)
    assert 'hx-trigger="load"' in page.text

    path, _, token = html.unescape(url).partition("?lazy=")
    loaded = await asgi_request(example_app, "GET", path, query={"lazy": token})

    assert loaded.status == 200
    for name, text in shop.REVIEWS:
        assert f"<b>{name}</b>: {text}" in loaded.text
    assert 'data-component="shop_reviews"' in loaded.text


async def test_a_hostile_shop_url_shows_the_first_page(example_app: Any) -> None:
    page = await asgi_request(example_app, "GET", "/shop", query={"q": "<x>", "page": "1e99"})
    assert page.status == 200
    assert "0 products for “&lt;x&gt;”" in page.text
    assert "Page 1 of 1" in page.text


async def test_a_shop_search_replaces_the_url_and_a_page_change_pushes_it(shop_app: Any) -> None:
    at = {"hx-current-url": "http://testserver/shop"}
    mounted = await asgi_request(
        shop_app, "POST", "/components/shop_products/", json={}, headers=at
    )
    body = {"event": "search", "payload": {"q": "s"}, "snapshot": mounted.json()["snapshot"]}
    searched = await asgi_request(
        shop_app, "POST", "/components/shop_products/", json=body, headers=at
    )
    body = {"event": "page", "payload": {"page": 2}, "snapshot": searched.json()["snapshot"]}
    at = {"hx-current-url": "http://testserver/shop?q=s", "hx-request": "true"}
    paged = await asgi_request(
        shop_app, "POST", "/components/shop_products/", json=body, headers=at
    )

    assert searched.json()["effects"] == {"replace_url": "/shop?q=s"}
    assert paged.header("hx-push-url") == "/shop?q=s&page=2"


async def test_the_shop_greets_the_signed_in_user_and_shows_the_owner_the_feature_button(
    shop_app: Any,
) -> None:
    owner = await sign_in(shop_app, "ada")
    guest = await sign_in(shop_app, "bob")

    as_owner = (await asgi_request(shop_app, "GET", "/shop", headers=owner)).text
    as_guest = (await asgi_request(shop_app, "GET", "/shop", headers=guest)).text
    anonymous = (await asgi_request(shop_app, "GET", "/shop")).text

    assert "Hello, ada!" in as_owner
    assert 'class="feature"' in as_owner
    assert "Hello, bob!" in as_guest
    assert 'class="feature"' not in as_guest
    assert "Hello, stranger!" in anonymous
    assert 'class="sign-in"' in anonymous
    assert 'class="sign-out"' in as_owner


async def test_only_the_owner_may_feature_a_product(shop_app: Any) -> None:
    owner = await sign_in(shop_app, "ada")
    guest = await sign_in(shop_app, "bob")
    item = "/components/shop_item/"
    mounted = await asgi_request(shop_app, "POST", item, json={"params": {"product_id": 3}})
    body = {"event": "feature", "snapshot": mounted.json()["snapshot"]}

    refused = await asgi_request(shop_app, "POST", item, json=body, headers=guest)
    nobody = await asgi_request(shop_app, "POST", item, json=body)
    featured = await asgi_request(shop_app, "POST", item, json=body, headers=owner)

    assert refused.status == 403
    assert nobody.status == 403
    assert featured.status == 200
    assert featured.json()["effects"]["emit"] == [
        {"event": "featured", "payload": {"product_id": 3}}
    ]
    listing = await asgi_request(shop_app, "POST", "/components/shop_products/", json={})
    assert "Featured: <b>Blue shoes</b>" in listing.json()["html"]


def roots(fragment: str) -> dict[str, str]:
    """The snapshot of each nested product root in ``fragment``, by product id."""
    found = {}
    for match in re.finditer(
        r'<li class="product" data-product="(\d+)"[^>]*hx-vals="([^"]+)"', fragment
    ):
        found[match.group(1)] = json.loads(html.unescape(match.group(2)))["snapshot"]
    return found


async def test_each_product_is_a_nested_component_that_keeps_its_state_across_a_search(
    shop_app: Any,
) -> None:
    listing = "/components/shop_products/"
    mounted = (await asgi_request(shop_app, "POST", listing, json={})).json()
    items = roots(mounted["html"])
    assert list(items) == ["1", "2", "3", "4"]
    body = {"event": "add", "snapshot": items["2"]}
    added = (await asgi_request(shop_app, "POST", "/components/shop_item/", json=body)).json()
    assert added["state"] == {"product_id": 2, "added": 1}

    search = {
        "event": "search",
        "payload": {"q": "hat"},
        "snapshot": mounted["snapshot"],
        "children": [added["snapshot"], items["1"], items["3"], items["4"]],
    }
    searched = (await asgi_request(shop_app, "POST", listing, json=search)).json()

    assert list(roots(searched["html"])) == ["2", "6"]  # Red hat (kept), Blue hat (new)
    assert '<span class="added">1 added</span>' in searched["html"]
    assert searched["effects"] == {"replace_url": "?q=hat"}


async def test_the_standalone_shop_offers_no_sign_in_and_the_index_links_to_the_shop() -> None:
    standalone = importlib.import_module("examples.standalone").app
    page = (await asgi_request(standalone, "GET", "/shop")).text
    index = (await asgi_request(standalone, "GET", "/")).text
    assert 'class="no-sessions"' in page
    assert 'class="sign-in"' not in page
    assert '<a href="/shop">' in index


async def test_add_to_cart_emits_added_and_the_badge_and_the_cart_hear_it(shop_app: Any) -> None:
    item = "/components/shop_item/"
    mounted = await asgi_request(shop_app, "POST", item, json={"params": {"product_id": 2}})
    body = {"event": "add", "snapshot": mounted.json()["snapshot"]}
    added = await asgi_request(shop_app, "POST", item, json=body)
    events = added.json()["effects"]["emit"]
    assert events == [{"event": "added", "payload": {"product_id": 2, "qty": 1}}]

    listeners = []
    for name, params in (("cart_badge", {}), ("checkout", {"adder": False})):
        page = await asgi_request(shop_app, "POST", f"/components/{name}/", json={"params": params})
        document = page.json()
        listeners.append(
            {"component": name, "id": document["component_id"], "snapshot": document["snapshot"]}
        )
    batch = {"events": events + events, "listeners": listeners, "format": "json"}
    heard = await asgi_request(shop_app, "POST", "/components/_emit/", json=batch)

    badge, cart = heard.json()["results"]
    assert badge["state"] == {"count": 2}
    assert cart["state"] == {"items": 2, "adder": False}
    assert "Add an item" not in cart["html"]


async def test_the_shop_page_shows_the_cart_badge_and_a_cart_without_its_own_add_button(
    shop_app: Any,
) -> None:
    page = (await asgi_request(shop_app, "GET", "/shop")).text
    assert 'data-component="cart_badge"' in page
    assert 'data-listens="added"' in page
    assert "Add to cart" in page
    assert "Add an item" not in page


#: What the dev extra brings and ``scripts/demo.sh``'s install (the ``litestar`` extra) does not.
NOT_IN_THE_LITESTAR_EXTRA = (
    "itsdangerous",
    "redis",
    "asyncpg",
    "trio",
    "pydantic",
    "starlette",
    "hypercorn",
    "granian",
    "daphne",
    "django",
)
DEMO_PROBE = """
import asyncio, sys
for name in sys.argv[1:]:
    sys.modules[name] = None  # as if not installed
from component_framework.testing import asgi_request
from examples.litestar_example import app

async def main():
    page = await asgi_request(app, "GET", "/shop")
    assert page.status == 200, page.status
    signed = await asgi_request(app, "POST", "/login", form={"name": "ada"})
    assert signed.status == 303, signed.status
    cookie = (signed.header("set-cookie") or "").split(";")[0]
    again = await asgi_request(app, "GET", "/shop", headers={"cookie": cookie})
    assert "ada" in again.text
    print("served")

asyncio.run(main())
"""


def test_the_demo_app_needs_nothing_beyond_the_litestar_extra() -> None:
    """``scripts/demo.sh`` installs the ``litestar`` extra only: the example app it serves (the
    shop's sign-in included) must not need a package that only the dev extra brings (it once
    needed ``cryptography`` for Litestar's cookie sessions, before the extra brought it, and
    failed to start)."""
    completed = subprocess.run(
        [sys.executable, "-c", DEMO_PROBE, *NOT_IN_THE_LITESTAR_EXTRA],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COMPONENT_FRAMEWORK_SECRET_KEY": KEY},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().endswith("served")
