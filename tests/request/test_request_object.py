"""The request object itself (``core.access.AccessContext``), sans-IO: what each property
reads from a scope, that nothing is read before it is asked for, and the empty request of a
component no transport serves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from component_framework.core.access import UNSERVED, AccessContext
from component_framework.core.component import Component


class WatchedScope(dict[str, Any]):
    """A scope that records which keys were read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.append(key)
        return super().get(key, default)

    def __iter__(self) -> Iterator[str]:
        self.read.append("*")
        return super().__iter__()


def http_scope(**extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "https",
        "path": "/components/greeting/",
        "raw_path": b"/components/greeting/",
        "root_path": "",
        "query_string": b"q=caf%C3%A9&page=2&page=3&empty=&plus=a+b",
        "headers": [
            (b"host", b"shop.example"),
            (b"cookie", b'theme=dark; session="abc%3D%3D"; broken; =novalue'),
            (b"cookie", b"second=2"),
            (b"X-Custom", b"One"),
        ],
        "server": ("10.0.0.5", 8000),
    }
    scope.update(extra)
    return scope


def test_building_a_request_reads_nothing_from_the_scope():
    scope = WatchedScope(http_scope())
    AccessContext("http", scope, "127.0.0.1")
    assert scope.read == []


def test_user_auth_and_session_read_only_their_own_keys():
    scope = WatchedScope(http_scope(user="ada", auth="token", session={"cart": 3}))
    request = AccessContext("http", scope)
    assert (request.user, request.auth, request.session) == ("ada", "token", {"cart": 3})
    assert scope.read == ["user", "auth", "session"]


def test_headers_are_lower_case_names_to_the_last_value():
    request = AccessContext("http", http_scope())
    assert request.headers["x-custom"] == "One"
    assert request.headers["cookie"] == "second=2"


def test_cookies_come_from_every_cookie_header_unquoted_and_decoded():
    request = AccessContext("http", http_scope())
    assert request.cookies == {"theme": "dark", "session": "abc==", "second": "2"}


def test_query_params_are_decoded_and_the_last_repeated_value_wins():
    request = AccessContext("http", http_scope())
    assert request.query_params == {"q": "café", "page": "3", "empty": "", "plus": "a b"}


def test_each_parsed_mapping_is_computed_once():
    scope = WatchedScope(http_scope())
    request = AccessContext("http", scope)
    assert request.cookies is request.cookies
    assert request.query_params is request.query_params
    assert scope.read.count("headers") == 1
    assert scope.read.count("query_string") == 1


def test_url_is_absolute_from_scheme_host_and_the_path_as_sent():
    request = AccessContext("http", http_scope())
    assert request.url == (
        "https://shop.example/components/greeting/?q=caf%C3%A9&page=2&page=3&empty=&plus=a+b"
    )


def test_url_uses_the_path_as_sent_even_when_a_mount_cut_the_scope_path():
    # Litestar mounts hand over the path relative to the mount; raw_path is what was sent
    # (and some test clients append the query string to it).
    scope = http_scope(path="/greeting/", raw_path=b"/components/greeting/?x=1", query_string=b"")
    assert AccessContext("http", scope).url == "https://shop.example/components/greeting/"


def test_url_without_host_or_raw_path_falls_back_to_server_and_root_path():
    scope = http_scope(headers=[], raw_path=None, root_path="/app", query_string=b"")
    assert AccessContext("http", scope).url == "https://10.0.0.5:8000/app/components/greeting/"


def test_websocket_url_keeps_its_scheme():
    scope = http_scope(type="websocket", scheme="wss", query_string=b"")
    assert AccessContext("websocket", scope).url == "wss://shop.example/components/greeting/"


def test_a_component_nobody_serves_has_the_empty_request():
    component = Component()
    assert component.request is UNSERVED
    assert component.request.user is None
    assert component.request.headers == {}
    assert component.request.cookies == {}
    assert component.request.query_params == {}
    assert component.get_context()["request"] is UNSERVED


def test_a_unit_test_may_give_a_component_its_own_request():
    component = Component()
    component.request = AccessContext("http", {"user": "ada"})
    assert component.request.user == "ada"
    assert Component().request is UNSERVED  # the class default is untouched


def test_a_query_of_a_million_parameters_reads_the_first_thousand_only():
    scope = http_scope(query_string=b"&".join(b"k%d=v" % i for i in range(1_000_000)))
    params = AccessContext("http", scope).query_params
    assert len(params) == 1000
    assert params["k999"] == "v"
