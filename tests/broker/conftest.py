"""Fixtures of the broker tests: real Redis servers and brokers of each kind.

``redis_server`` and ``postgres_server`` (session) serve the contract and hub suites, each test
on channels of its own; ``fresh_redis`` and ``fresh_postgres`` (function) are for tests that
stop and restart the server. All fail, never skip, when the server is not installed.
``broker_factory`` runs a test once per broker kind (``support.BROKER_KINDS``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from component_framework.core import hub as hub_module
from component_framework.core.hub import ENV_BROKER_URL, Hub
from tests.broker.postgres_server import PostgresServer, PostgresServerMissing
from tests.broker.redis_server import RedisServer, RedisServerMissing
from tests.broker.support import BROKER_KINDS, BrokerKit


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


def _started_postgres(log_dir: Path) -> PostgresServer:
    server = PostgresServer(log_dir)
    try:
        server.start()
    except PostgresServerMissing as exc:
        server.remove()
        pytest.fail(str(exc), pytrace=False)
    except BaseException:
        server.remove()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL for the whole session (tests use channels of their own)."""
    server = _started_postgres(tmp_path_factory.mktemp("postgres-session"))
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def fresh_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of this test alone, which it may stop and start again (same port)."""
    server = _started_postgres(tmp_path)
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(params=list(BROKER_KINDS))
async def broker_factory(request: pytest.FixtureRequest) -> AsyncIterator[BrokerKit]:
    """Brokers of one kind (``support.BROKER_KINDS``), on the session server of that kind."""
    server = BROKER_KINDS[request.param]
    url = None if server is None else request.getfixturevalue(f"{server}_server").url
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
