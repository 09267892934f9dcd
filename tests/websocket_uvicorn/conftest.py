"""Module-scoped server fixtures: each test module starts each server it uses once per
uvicorn WebSocket implementation (see :func:`tests.websocket_uvicorn.wsclient.serve`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import UvicornServer
from tests.websocket_uvicorn.wsclient import WS_IMPLEMENTATIONS, serve


@pytest.fixture(scope="module", params=WS_IMPLEMENTATIONS)
def ws_impl(request: pytest.FixtureRequest) -> str:
    """The uvicorn ``--ws`` implementation of the servers of this module."""
    implementation: str = request.param
    return implementation


@pytest.fixture(scope="module")
def standalone(ws_impl: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """Standalone ``ComponentASGI`` (prefix ``/components``)."""
    with serve("standalone", ws_impl, tmp_path_factory.mktemp(f"ws-standalone-{ws_impl}")) as s:
        yield s
