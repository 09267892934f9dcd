"""The client runtime under ``/_static/``: only package files, cached, with ETag."""

from __future__ import annotations

import pytest

from component_framework import ComponentASGI
from component_framework.asgi.static import STATIC_DIRECTORY
from component_framework.testing import asgi_request

RUNTIME = "/components/_static/component-framework.js"


async def test_runtime_is_served_with_caching_headers(components_app: ComponentASGI) -> None:
    answer = await asgi_request(components_app, "GET", RUNTIME)
    assert answer.status == 200
    assert answer.header("content-type") == "text/javascript; charset=utf-8"
    assert answer.header("cache-control") == "public, max-age=3600"
    assert answer.body == (STATIC_DIRECTORY / "component-framework.js").read_bytes()
    assert b"htmx:sseOpen" in answer.body


async def test_matching_etag_answers_304_without_body(components_app: ComponentASGI) -> None:
    first = await asgi_request(components_app, "GET", RUNTIME)
    etag = first.header("etag")
    assert etag is not None
    again = await asgi_request(components_app, "GET", RUNTIME, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""


async def test_head_gives_headers_only(components_app: ComponentASGI) -> None:
    answer = await asgi_request(components_app, "HEAD", RUNTIME)
    assert answer.status == 200
    assert answer.body == b""
    assert int(answer.header("content-length") or 0) > 0


@pytest.mark.parametrize(
    "name",
    ["missing.js", "..%2Fapp.py", ".hidden.js", "component-framework.py", "__init__.py"],
)
async def test_anything_but_a_runtime_file_is_404(components_app: ComponentASGI, name: str) -> None:
    answer = await asgi_request(components_app, "GET", f"/components/_static/{name}")
    assert answer.status == 404
    assert answer.json()["error"]["code"] == "not_found"


async def test_static_files_are_read_only(components_app: ComponentASGI) -> None:
    answer = await asgi_request(components_app, "POST", RUNTIME, json={})
    assert answer.status == 405
    assert answer.header("allow") == "GET, HEAD"
