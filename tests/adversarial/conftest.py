"""Fixtures of the bad-input matrix: ``host`` (HTTP and SSE) and ``ws_host`` (WebSocket) are
every host under test, in process or served by a real uvicorn.

In-process hosts are built fresh for each test (their own hub, buckets and body deadlines).
uvicorn hosts are started on first use, once per module (one process per host and variant:
``--http httptools --ws websockets`` and ``--http h11 --ws wsproto``), and always stopped at the
end of the module. Each test checks its own part of the server's log (no traceback, no key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.adversarial.apps import HOST_BUILDERS
from tests.adversarial.clients import WAIT, Host, InProcessHost, UvicornHost
from tests.servers import UvicornServer, start_uvicorn

#: variant id -> uvicorn arguments.
VARIANTS: Final = {
    "httptools-websockets": ("--http", "httptools", "--ws", "websockets"),
    "h11-wsproto": ("--http", "h11", "--ws", "wsproto"),
}
IN_PROCESS_HOSTS: Final = list(HOST_BUILDERS)
UVICORN_HOSTS: Final = {
    f"uvicorn-{host}-{variant}": (host, variant) for host in HOST_BUILDERS for variant in VARIANTS
}
#: HTTP and SSE: one uvicorn per host; WebSocket: both ``--ws`` implementations.
HTTP_HOST_PARAMS: Final = [
    *IN_PROCESS_HOSTS,
    *(
        pytest.param(name, marks=pytest.mark.uvicorn)
        for name, (_, variant) in UVICORN_HOSTS.items()
        if variant == "httptools-websockets"
    ),
]
WS_HOST_PARAMS: Final = [
    *IN_PROCESS_HOSTS,
    *(pytest.param(name, marks=pytest.mark.uvicorn) for name in UVICORN_HOSTS),
]


class ServerPool:
    """uvicorn processes started on demand, stopped together."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.servers: dict[str, UvicornServer] = {}

    def get(self, name: str) -> UvicornServer:
        server = self.servers.get(name)
        if server is None:
            host, variant = UVICORN_HOSTS[name]
            arguments = ["--lifespan", "on", "--no-access-log", *VARIANTS[variant]]
            server = start_uvicorn(
                f"tests.adversarial.served:{host}", self.log_dir / name, arguments
            )
            self.servers[name] = server
        return server

    def stop_all(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture(scope="module")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    """The module's uvicorn servers."""
    root = tmp_path_factory.mktemp("adversarial-uvicorn")
    pool = ServerPool(root)
    for name in UVICORN_HOSTS:
        (root / name).mkdir()
    try:
        yield pool
    finally:
        pool.stop_all()


async def _host(request: pytest.FixtureRequest) -> AsyncIterator[Host]:
    name: str = request.param
    if name in UVICORN_HOSTS:
        pool: ServerPool = request.getfixturevalue("server_pool")
        server = pool.get(name)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
            yield UvicornHost(name, server, client)
        return
    yield InProcessHost(name, HOST_BUILDERS[name]())


@pytest.fixture(params=HTTP_HOST_PARAMS)
async def host(request: pytest.FixtureRequest) -> AsyncIterator[Host]:
    """Every host, for HTTP and SSE (under uvicorn: ``--http httptools``)."""
    async for built in _host(request):
        yield built


@pytest.fixture(params=WS_HOST_PARAMS)
async def ws_host(request: pytest.FixtureRequest) -> AsyncIterator[Host]:
    """Every host, for WebSocket (under uvicorn: ``--ws websockets`` and ``--ws wsproto``)."""
    async for built in _host(request):
        yield built


@pytest.fixture(params=IN_PROCESS_HOSTS)
def in_process_name(request: pytest.FixtureRequest) -> str:
    """The name of each in-process host (for tests that build the app with other settings)."""
    name: str = request.param
    return name


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.uvicorn) for name in UVICORN_HOSTS])
async def uvicorn_host(request: pytest.FixtureRequest) -> AsyncIterator[UvicornHost]:
    """Every uvicorn host and variant (for what only a raw client can do to a real server)."""
    name: str = request.param
    pool: ServerPool = request.getfixturevalue("server_pool")
    server = pool.get(name)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
        yield UvicornHost(name, server, client)
