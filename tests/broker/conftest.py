"""Fixtures of the broker tests: real Redis servers and brokers of each kind.

``redis_server`` (session) serves the contract and hub suites, each test on channels of its
own; ``fresh_redis`` (function) is for fault tests that stop and restart Redis. Both fail, never
skip, when ``redis-server`` is missing. ``broker_factory`` runs a test once per broker kind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from component_framework.core import hub as hub_module
from component_framework.core.hub import ENV_BROKER_URL, Hub
from tests.broker.redis_server import RedisServer, RedisServerMissing
from tests.broker.support import BrokerKit


def _started(log_dir: Path) -> RedisServer:
    server = RedisServer(log_dir)
    try:
        server.start()
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for the whole session (tests use channels of their own)."""
    server = _started(tmp_path_factory.mktemp("redis-session"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone, which it may stop and start again (same port)."""
    server = _started(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["memory", "redis"])
async def broker_factory(request: pytest.FixtureRequest) -> AsyncIterator[BrokerKit]:
    """Brokers of one kind: the shared in-memory reference, or one RedisBroker per call on
    the session Redis (several processes)."""
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    kit = BrokerKit(request.param, url)
    try:
        yield kit
    finally:
        await kit.close()


@pytest.fixture
async def fresh_default_hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """No default hub and no broker URL in the environment; the hub a test creates is closed
    afterwards and the process's previous default hub comes back (monkeypatch undo)."""
    monkeypatch.delenv(ENV_BROKER_URL, raising=False)
    monkeypatch.setattr(hub_module, "_default_hub", None)
    try:
        yield
    finally:
        created: Hub | None = hub_module.reset_default_hub()
        if created is not None:
            await created.close()
