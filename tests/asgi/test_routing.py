"""Pure routing: relative paths on each kind of host, route matching and the bounded cache."""

from __future__ import annotations

from typing import Any

import pytest

from component_framework.asgi.routing import (
    NOT_OURS,
    Route,
    RouteCache,
    RouteKind,
    match_route,
    relative_path,
)


def scope(path: str, root_path: str = "", app_root_path: str | None = None) -> dict[str, Any]:
    built: dict[str, Any] = {"path": path, "root_path": root_path}
    if app_root_path is not None:
        built["app_root_path"] = app_root_path
    return built


@pytest.mark.parametrize(
    ("given", "prefix", "expected"),
    [
        (scope("/components/counter/"), "/components", "/counter/"),
        (scope("/components"), "/components", ""),
        (scope("/componentsXYZ/a"), "/components", None),
        (scope("/api/components/counter", "/api"), "/components", "/counter"),
        (scope("/components/counter/", "/components", ""), "/elsewhere", "/counter/"),
        (scope("/counter/"), "", "/counter/"),
        (scope("/other"), "/components", None),
    ],
    ids=["standalone", "prefix-only", "prefix-lookalike", "root-path", "starlette-mount",
         "no-prefix", "outside"],
)  # fmt: skip
def test_relative_path_per_host(given: dict[str, Any], prefix: str, expected: str | None) -> None:
    assert relative_path(given, prefix) == expected


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("/counter/", Route(RouteKind.COMPONENT, "counter")),
        ("/counter", Route(RouteKind.COMPONENT, "counter")),
        ("/counter/stream/", Route(RouteKind.STREAM, "counter")),
        ("/counter/ws", Route(RouteKind.WEBSOCKET, "counter")),
        ("/_static/cf.js", Route(RouteKind.STATIC, "cf.js")),
        ("/_static/", None),
        ("/_uploads/", Route(RouteKind.UPLOADS, "")),
        ("/_uploads/v2.abc", Route(RouteKind.UPLOADS, "v2.abc")),
        ("/_uploads/v2.abc/more", None),
        ("/_emit/", Route(RouteKind.EMIT, "")),
        ("/_emit", Route(RouteKind.EMIT, "")),
        ("/_emit/more/", None),
        ("/_private/", None),
        ("/counter/other/", None),
        ("/", None),
        ("", None),
    ],
)
def test_match_route(relative: str, expected: Route | None) -> None:
    assert match_route(relative) == expected


def test_cache_answers_like_the_pure_functions_and_stays_bounded() -> None:
    cache = RouteCache("/components", max_entries=4)
    for index in range(10):
        assert cache.resolve(scope(f"/components/c{index}/")) == Route(
            RouteKind.COMPONENT, f"c{index}"
        )
        assert len(cache._entries) <= 4
    assert cache.resolve(scope("/elsewhere")) is NOT_OURS
    assert cache.resolve(scope("/components/a/b/c")) is None


def test_cache_resolves_relative_paths_of_stripping_hosts() -> None:
    cache = RouteCache("/ignored")
    assert cache.resolve_relative("/counter/") == Route(RouteKind.COMPONENT, "counter")
    assert cache.resolve_relative("XYZ/a/") is NOT_OURS
    # Same path, other meaning: relative and full lookups never share an entry.
    assert cache.resolve(scope("/counter/")) is NOT_OURS
