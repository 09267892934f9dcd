"""The state store contract, run on the memory store and on a real Redis: versions start at
1 and advance by one per commit, a commit applies every write or none, entries expire after
their time to live, and a Redis that is away is ``StateStoreUnavailable``, not a hang."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from component_framework import ComponentASGI, Settings
from component_framework.adapters.redis_state_store import RedisStateStore
from component_framework.core.dispatch import Dispatcher
from component_framework.core.hub import Hub
from component_framework.core.server_state import state_key
from component_framework.core.state_store import (
    MemoryStateStore,
    StateStore,
    StateWrite,
    state_store_from_url,
)
from component_framework.errors import ConfigurationError, StateStoreUnavailable
from component_framework.testing import asgi_request
from tests.broker.redis_server import RedisServer
from tests.server_state import components


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        built: StateStore = MemoryStateStore()
    else:
        built = RedisStateStore(request.getfixturevalue("redis_server").url)
    try:
        yield built
    finally:
        await built.close()


def key() -> str:
    return f"cf:state:test:{uuid.uuid4().hex}"


async def test_a_first_commit_creates_version_one(store: StateStore) -> None:
    name = key()
    assert await store.load([name]) == [None]
    assert await store.commit([StateWrite(name, 0, '{"a":1}')], 60)
    (entry,) = await store.load([name])
    assert entry is not None
    assert (entry.version, entry.data) == (1, '{"a":1}')


async def test_a_commit_from_a_stale_version_changes_nothing(store: StateStore) -> None:
    name = key()
    await store.commit([StateWrite(name, 0, "{}")], 60)
    await store.commit([StateWrite(name, 1, '{"n":2}')], 60)
    assert not await store.commit([StateWrite(name, 1, '{"n":"lost"}')], 60)
    (entry,) = await store.load([name])
    assert entry is not None
    assert (entry.version, entry.data) == (2, '{"n":2}')


async def test_several_writes_are_all_or_nothing(store: StateStore) -> None:
    first, second = key(), key()
    await store.commit([StateWrite(first, 0, '"a1"'), StateWrite(second, 0, '"b1"')], 60)
    refused = [StateWrite(first, 1, '"a2"'), StateWrite(second, 0, '"b2"')]
    assert not await store.commit(refused, 60)
    entries = await store.load([first, second])
    assert [entry.data for entry in entries if entry is not None] == ['"a1"', '"b1"']


async def test_unicode_state_round_trips(store: StateStore) -> None:
    name = key()
    text = '{"t":"héllo ✓ \\n line"}'
    await store.commit([StateWrite(name, 0, text)], 60)
    (entry,) = await store.load([name])
    assert entry is not None
    assert entry.data == text


async def test_entries_expire_after_their_time_to_live(store: StateStore) -> None:
    name = key()
    await store.commit([StateWrite(name, 0, "{}")], 0.05)
    await asyncio.sleep(0.15)
    assert await store.load([name]) == [None]


async def test_delete_forgets_an_entry(store: StateStore) -> None:
    name = key()
    await store.commit([StateWrite(name, 0, "{}")], 60)
    await store.delete([name])
    assert await store.load([name]) == [None]


async def test_a_redis_that_is_away_is_unavailable_quickly(fresh_redis: RedisServer) -> None:
    store = RedisStateStore(fresh_redis.url, timeout=0.5)
    name = key()
    await store.commit([StateWrite(name, 0, "{}")], 60)
    fresh_redis.stop()
    try:
        async with asyncio.timeout(5):
            with pytest.raises(StateStoreUnavailable):
                await store.load([name])
            with pytest.raises(StateStoreUnavailable):
                await store.commit([StateWrite(name, 1, "{}")], 60)
        fresh_redis.start()
        assert await store.load([name]) == [None]  # no persistence: the state is gone
    finally:
        await store.close()


def test_the_store_comes_from_the_broker_url_scheme() -> None:
    assert isinstance(state_store_from_url("memory://"), MemoryStateStore)
    assert isinstance(state_store_from_url("redis://127.0.0.1:1/0"), RedisStateStore)
    with pytest.raises(ConfigurationError, match="postgresql"):
        state_store_from_url("postgresql://localhost/db")


async def test_an_app_keeps_server_held_state_in_its_hubs_redis(redis_server: RedisServer) -> None:
    hub = Hub(redis_server.url)
    application = ComponentASGI(
        registry=components.registry,
        renderer=components.renderer,
        settings=Settings(secret_keys=(components.SECRET,)),
        hub=hub,
        shutdown_on_signals=False,
    )
    try:
        mounted = await asgi_request(application, "POST", "/components/vault/", json={})
        component_id = mounted.json()["component_id"]
        store = RedisStateStore(redis_server.url)
        (entry,) = await store.load([state_key("vault", component_id)])
        await store.close()
        assert entry is not None
        assert entry.version == 1
        assert components.PASSWORD in entry.data  # the secret is on the server, not the page
    finally:
        await application.shutdown()  # closes the Redis store it built
        await hub.close()


def test_a_postgres_broker_keeps_no_state_and_says_what_to_set() -> None:
    dispatcher = Dispatcher(settings=Settings(secret_keys=(components.SECRET,)))
    dispatcher.state.broker_url = lambda: "postgresql://localhost/app"
    with pytest.raises(ConfigurationError, match="COMPONENT_FRAMEWORK_STATE_STORE_URL"):
        _ = dispatcher.state.store
