"""Who the client is behind a reverse proxy: ``X-Forwarded-For`` counts only when the peer is a
configured trusted proxy (address or network), and then the right-most hop that is not itself
a trusted proxy is the client. The checks' ``context.client`` and the rate limits both key on
that address."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from starlette.requests import Request

from component_framework import Settings
from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.errors import ConfigurationError
from component_framework.testing import http_scope
from tests.security.wire import make_app, post, socket


class ClientProbe:
    """An app hook that records ``context.client``."""

    def __init__(self) -> None:
        self.clients: list[str | None] = []

    def __call__(self, context: AccessContext, component: Component, event: str) -> bool:
        self.clients.append(context.client)
        return True


async def _client_seen(peer: str, forwarded: str | None = None, **settings: Any) -> str | None:
    probe = ClientProbe()
    app = make_app(authorize=probe, **settings)
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else None
    answer = await post(app, "public", client=peer, headers=headers)
    assert answer.status == 200, answer.text
    return probe.clients[-1]


async def test_forwarded_for_is_ignored_without_trusted_proxies():
    assert await _client_seen("203.0.113.9", "198.51.100.7") == "203.0.113.9"


async def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    seen = await _client_seen("203.0.113.9", "198.51.100.7", trusted_proxies="10.0.0.1")
    assert seen == "203.0.113.9"


async def test_forwarded_for_from_a_trusted_address_names_the_client():
    seen = await _client_seen("10.0.0.1", "198.51.100.7", trusted_proxies="10.0.0.1")
    assert seen == "198.51.100.7"


async def test_forwarded_for_from_a_trusted_network_names_the_client():
    seen = await _client_seen("10.20.30.40", "198.51.100.7", trusted_proxies=("10.0.0.0/8",))
    assert seen == "198.51.100.7"


async def test_trusted_peer_without_forwarded_for_is_the_client():
    assert await _client_seen("10.0.0.1", None, trusted_proxies="10.0.0.1") == "10.0.0.1"


async def test_the_right_most_untrusted_hop_is_the_client():
    # The client wrote "6.6.6.6" itself; its real address was appended by the first proxy,
    # and 10.0.0.2 (an inner proxy) appended after it.
    forwarded = "6.6.6.6, 198.51.100.7, 10.0.0.2"
    seen = await _client_seen("10.0.0.1", forwarded, trusted_proxies="10.0.0.0/8")
    assert seen == "198.51.100.7"


async def test_when_every_hop_is_trusted_the_left_most_is_the_client():
    seen = await _client_seen("10.0.0.1", "10.0.0.7, 10.0.0.2", trusted_proxies="10.0.0.0/8")
    assert seen == "10.0.0.7"


@pytest.mark.parametrize("forwarded", ["not-an-address", "198.51.100.7, garbage", "", " , "])
async def test_garbage_hop_falls_back_to_the_peer(forwarded: str):
    assert await _client_seen("10.0.0.1", forwarded, trusted_proxies="10.0.0.1") == "10.0.0.1"


async def test_ipv6_proxies_and_clients():
    seen = await _client_seen("::1", "2001:db8::7", trusted_proxies="::1")
    assert seen == "2001:db8::7"


async def test_websocket_connections_see_the_forwarded_client_too():
    probe = ClientProbe()
    app = make_app(authorize=probe, trusted_proxies="10.0.0.1")
    async with socket(
        app, "public", client="10.0.0.1", headers={"X-Forwarded-For": "198.51.100.7"}
    ) as ws:
        await ws.receive_json()
    assert probe.clients == ["198.51.100.7"]


# -- configuration --------------------------------------------------------------------------


def test_trusted_proxies_are_read_from_the_environment():
    settings = Settings.from_env(
        {"COMPONENT_FRAMEWORK_TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.1 ,::1,"}
    )
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.1", "::1")


@pytest.mark.parametrize("entry", ["banana", "10.0.0.0/33", "10.0.0.1:8080", "*"])
def test_invalid_trusted_proxy_is_a_configuration_error_naming_it(entry: str):
    with pytest.raises(ConfigurationError, match="trusted_proxies") as error:
        Settings(trusted_proxies=f"10.0.0.1,{entry}")
    assert repr(entry) in str(error.value)


def test_invalid_trusted_proxy_in_the_environment_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="'banana'"):
        Settings.from_env({"COMPONENT_FRAMEWORK_TRUSTED_PROXIES": "banana"})


# -- rate limits key on the resolved address -----------------------------------------------------


async def test_clients_behind_one_trusted_proxy_get_separate_buckets():
    app = make_app(http_rate=0.01, http_burst=2, trusted_proxies="10.0.0.1")

    async def status(forwarded: str) -> int:
        answer = await post(
            app, "public", client="10.0.0.1", headers={"X-Forwarded-For": forwarded}
        )
        return answer.status

    assert [await status("198.51.100.1") for _ in range(3)] == [200, 200, 429]
    assert [await status("198.51.100.2") for _ in range(2)] == [200, 200]


async def test_a_client_cannot_escape_its_bucket_by_forging_forwarded_for():
    app = make_app(http_rate=0.01, http_burst=2)  # no trusted proxies

    async def status(forwarded: str) -> int:
        answer = await post(
            app, "public", client="203.0.113.9", headers={"X-Forwarded-For": forwarded}
        )
        return answer.status

    statuses = [await status(f"198.51.100.{n}") for n in range(3)]
    assert statuses == [200, 200, 429]


def test_page_global_sees_the_forwarded_client_behind_a_trusted_proxy():
    # AccessContext.client is "the client's address ... or behind a configured trusted proxy
    # the address X-Forwarded-For names", on every transport, the page included.
    probe = ClientProbe()
    app = make_app(authorize=probe, trusted_proxies="10.0.0.1")
    environment = jinja2.Environment(autoescape=True)
    register_component_global(environment, app)
    scope = http_scope(
        "GET", "/page", headers={"X-Forwarded-For": "198.51.100.7"},
        extra_scope={"client": ("10.0.0.1", 40000)},
    )  # fmt: skip
    environment.from_string('{{ component("public") }}').render(request=Request(scope))
    assert probe.clients == ["198.51.100.7"]
