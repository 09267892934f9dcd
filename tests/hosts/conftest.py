"""Fixtures of the host contract suite: ``host`` is a :class:`HostClient`, once per host.

uvicorn servers are session-scoped (one process per implementation, started on first use, so
``-m "not uvicorn"`` starts none) and always terminated at the end of the session; so are the
other servers of the table (hypercorn, daphne, granian: :mod:`tests.hosts.asgi_servers`), whose
hosts are marked ``servers``; the ``-h2`` hosts talk HTTP/2 (h2c, prior knowledge) to the same
process. The Litestar hosts use the adapter's shared app, which :func:`litestar_components`
configures with the sample components and restores afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.adapters import litestar as litestar_adapter
from component_framework.adapters.litestar import configure_components
from tests import sample_components
from tests.hosts.asgi_servers import SERVERS, start
from tests.hosts.django_host import build_django_middleware
from tests.hosts.hosts import (
    ASGIHostClient,
    HostClient,
    UvicornServer,
    build_fastapi_mount,
    build_litestar_create_routes,
    build_litestar_handlers,
    build_middleware,
    build_raw,
    build_starlette_mount,
    http_host_client,
    start_uvicorn,
)

IN_PROCESS_HOSTS: dict[str, Callable[[], Any]] = {
    "raw-asgi": build_raw,
    "litestar-handlers": build_litestar_handlers,
    "litestar-create-routes": build_litestar_create_routes,
    "starlette-mount": build_starlette_mount,
    "fastapi-mount": build_fastapi_mount,
    "middleware": build_middleware,
    "django-middleware": build_django_middleware,
}
#: host id -> name of the session fixture running that uvicorn.
UVICORN_HOSTS: dict[str, str] = {
    "uvicorn-h11": "uvicorn_h11",
    "uvicorn-httptools": "uvicorn_httptools",
    "uvicorn-h11-root-path": "uvicorn_root_path",
}
#: host id -> (server of the table serving ``tests.hosts.uvicorn_app:app``, HTTP/2 client).
#: No ``hypercorn-trio-h2``: hypercorn's trio worker dies (a KeyError in its h2 protocol, which
#: its asyncio worker survives) when a client's DATA follows an answer given before the body
#: was read (the 405, 413 and 415 here); docs/hosts.md says so, and tests/hosts/test_servers.py
#: still runs the HTTP, SSE and resume rows on it over h2.
SERVER_HOSTS: dict[str, tuple[str, bool]] = {
    "hypercorn": ("hypercorn", False),
    "hypercorn-h2": ("hypercorn", True),
    "hypercorn-trio": ("hypercorn-trio", False),
    "daphne": ("daphne", False),
    "granian": ("granian", False),
    "granian-h2": ("granian", True),
}
HOST_PARAMS = [
    *IN_PROCESS_HOSTS,
    *(pytest.param(name, marks=pytest.mark.uvicorn) for name in UVICORN_HOSTS),
    *(pytest.param(name, marks=pytest.mark.servers) for name in SERVER_HOSTS),
]
CONTRACT_APP = "tests.hosts.uvicorn_app:app"


@pytest.fixture
def litestar_components() -> Iterator[ComponentASGI]:
    """The Litestar adapter's shared app, serving the sample components for one test."""
    # The adapter has no public reset: keep whatever app it held and put it back.
    saved = list(litestar_adapter._shared)
    app = configure_components(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=sample_components.SETTINGS,
    )
    try:
        yield app
    finally:
        litestar_adapter._shared[:] = saved


def _uvicorn(
    tmp_path_factory: pytest.TempPathFactory, http: str, *extra: str
) -> Iterator[UvicornServer]:
    server = start_uvicorn(http, tmp_path_factory.mktemp(f"uvicorn-{http}"), extra)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def uvicorn_h11(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """uvicorn ``--http h11`` serving the standalone app."""
    yield from _uvicorn(tmp_path_factory, "h11")


@pytest.fixture(scope="session")
def uvicorn_httptools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """uvicorn ``--http httptools`` serving the standalone app."""
    yield from _uvicorn(tmp_path_factory, "httptools")


@pytest.fixture(scope="session")
def uvicorn_root_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """uvicorn ``--http h11 --root-path /api``, as behind a proxy that strips ``/api``."""
    yield from _uvicorn(tmp_path_factory, "h11", "--root-path", "/api")


@pytest.fixture(scope="session")
def contract_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], UvicornServer]]:
    """``kind name -> its process`` serving the contract app, started on first use and all
    stopped at the end of the session."""
    running: dict[str, UvicornServer] = {}

    def server(kind: str) -> UvicornServer:
        if kind not in running:
            running[kind] = start(SERVERS[kind], CONTRACT_APP, tmp_path_factory.mktemp(kind))
        return running[kind]

    try:
        yield server
    finally:
        for process in running.values():
            process.stop()


@pytest.fixture(params=list(IN_PROCESS_HOSTS))
def in_process_app(request: pytest.FixtureRequest) -> Any:
    """Each in-process host's ASGI app, for tests that drive the scope themselves."""
    name: str = request.param
    if name.startswith("litestar"):
        request.getfixturevalue("litestar_components")
    return IN_PROCESS_HOSTS[name]()


@dataclass(frozen=True)
class HostTarget:
    """Where a host lives: an in-process app or a server's base URL."""

    name: str
    app: Any = None
    base_url: str = ""
    http2: bool = False


@pytest.fixture(params=HOST_PARAMS)
def host_target(request: pytest.FixtureRequest) -> HostTarget:
    """Build (or start) the host named by the parameter."""
    name: str = request.param
    if name in UVICORN_HOSTS:
        server: UvicornServer = request.getfixturevalue(UVICORN_HOSTS[name])
        return HostTarget(name, base_url=server.base_url)
    if name in SERVER_HOSTS:
        kind, http2 = SERVER_HOSTS[name]
        process = request.getfixturevalue("contract_servers")(kind)
        return HostTarget(name, base_url=process.base_url, http2=http2)
    if name.startswith("litestar"):
        request.getfixturevalue("litestar_components")
    return HostTarget(name, app=IN_PROCESS_HOSTS[name]())


@pytest.fixture
async def host(host_target: HostTarget) -> AsyncIterator[HostClient]:
    """A :class:`HostClient` for every host of the contract."""
    if host_target.app is not None:
        yield ASGIHostClient(host_target.name, host_target.app)
        return
    async with http_host_client(
        host_target.name, host_target.base_url, http2=host_target.http2
    ) as client:
        yield client
