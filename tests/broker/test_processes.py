"""Broadcasts across real processes: two uvicorn servers on one broker, of each deployment kind.

The kinds (``DEPLOYMENTS``): ``tests.broker.ws_app`` with ``COMPONENT_FRAMEWORK_BROKER_URL``
pointing at one real Redis or one real PostgreSQL, and ``tests.broker.litestar_app``, a
Litestar app whose own ``ChannelsPlugin`` (asyncpg backend) is the broker. WebSocket clients
(the ``websockets`` library) hold ``ticker`` components in both processes; an HTTP event on
``announcer`` in process A broadcasts a price through a bare ``WebSocketManager()``. Every
client keeps a reader task that records what it receives, and the tests poll those records
with bounded waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from component_framework.core.hub import DEFAULT_CHANNEL
from tests.broker.postgres_server import PostgresServer
from tests.broker.redis_server import RedisServer
from tests.broker.support import WAIT, wait_for, wait_subscribers
from tests.servers import UvicornServer, start_uvicorn

pytestmark = pytest.mark.uvicorn

SECRET = "broker-processes-secret-0123456789abcdef"
CLIENTS_PER_PROCESS = 2
RECOVERY_WAIT = 20.0


@dataclass(frozen=True)
class Deployment:
    """How the processes of one kind find their broker: ``app`` served with ``env``, given
    the URL of the server (Redis or PostgreSQL) fixture named ``server``."""

    app: str
    server: str
    env_name: str = "COMPONENT_FRAMEWORK_BROKER_URL"
    #: Whether the broker reconnects after its server restarts (Litestar's backends do not).
    reconnects: bool = True


DEPLOYMENTS = {
    "redis": Deployment("tests.broker.ws_app:app", "fresh_redis"),
    "postgres": Deployment("tests.broker.ws_app:app", "fresh_postgres"),
    "litestar-postgres": Deployment(
        "tests.broker.litestar_app:app", "fresh_postgres", "CF_TEST_CHANNELS_DSN", False
    ),
}


@dataclass
class Setup:
    """One deployment kind and its running broker server."""

    kind: str
    deployment: Deployment
    server: RedisServer | PostgresServer

    async def linked(self, processes: int = 2) -> None:
        """Wait until ``processes`` processes listen on the hub channel. Redis counts them;
        the PostgreSQL brokers have run LISTEN before their first client was accepted."""
        if isinstance(self.server, RedisServer):
            await wait_subscribers(self.server.url, DEFAULT_CHANNEL, processes)


def _setup(request: pytest.FixtureRequest) -> Setup:
    deployment = DEPLOYMENTS[request.param]
    return Setup(request.param, deployment, request.getfixturevalue(deployment.server))


@pytest.fixture(params=list(DEPLOYMENTS))
def setup(request: pytest.FixtureRequest) -> Setup:
    """Every deployment kind."""
    return _setup(request)


@pytest.fixture(params=[kind for kind, d in DEPLOYMENTS.items() if d.reconnects])
def reconnecting_setup(request: pytest.FixtureRequest) -> Setup:
    """The deployment kinds whose broker reconnects after its server restarts."""
    return _setup(request)


@contextlib.contextmanager
def two_processes(setup: Setup, log_dir: Path) -> Iterator[tuple[UvicornServer, ...]]:
    """Processes A and B of one deployment (same broker and secret), always stopped."""
    env = {setup.deployment.env_name: setup.server.url, "COMPONENT_FRAMEWORK_SECRET_KEY": SECRET}
    with contextlib.ExitStack() as stack:
        servers = []
        for _ in range(2):
            server = start_uvicorn(
                setup.deployment.app, log_dir, ["--no-access-log", "--lifespan", "on"], env
            )
            stack.callback(server.stop)
            servers.append(server)
        yield tuple(servers)


@dataclass(eq=False)
class Client:
    """A WebSocket client of one ``ticker`` and everything it has received."""

    label: str
    ws: ClientConnection
    messages: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                self.messages.append(json.loads(raw))

    def prices(self) -> list[Any]:
        return [m["state"]["price"] for m in self.messages if m.get("type") == "render"]

    def has_price(self, price: float) -> bool:
        return price in self.prices()

    async def wait_price(self, price: float, within: float = WAIT) -> None:
        await wait_for(lambda: self.has_price(price), f"{self.label} to show {price}", within)

    async def ping(self) -> None:
        """Answered while the connection is alive: proves it stayed open and responsive."""
        ref = uuid.uuid4().hex
        await self.ws.send(json.dumps({"type": "ping", "ref": ref}))
        await wait_for(
            lambda: {"type": "pong", "ref": ref} in self.messages, f"{self.label} to answer ping"
        )


@contextlib.asynccontextmanager
async def clients_of(server: UvicornServer, label: str) -> AsyncIterator[list[Client]]:
    """``CLIENTS_PER_PROCESS`` ticker clients of ``server``, each past its initial render."""
    url = f"ws://127.0.0.1:{server.port}/components/ticker/ws/?ticker=ACME"
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for index in range(CLIENTS_PER_PROCESS):
            ws = await stack.enter_async_context(connect(url, open_timeout=WAIT))
            client = Client(f"{label}{index}", ws)
            client.reader = asyncio.create_task(client.read())
            stack.push_async_callback(_stop_reader, client)
            clients.append(client)
        for client in clients:
            await wait_for(lambda c=client: c.prices() == [None], f"{client.label} mounted")
        yield clients


async def _stop_reader(client: Client) -> None:
    await client.ws.close()
    if client.reader is not None:
        await asyncio.wait_for(asyncio.gather(client.reader, return_exceptions=True), WAIT)


async def announce(server: UvicornServer, price: float) -> int:
    """Broadcast ``price`` to every ticker from an HTTP event in ``server``; returns how many
    tickers of that process it reached."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as http:
        mounted = await http.post("/components/announcer/", json={})
        assert mounted.status_code == 200, mounted.text
        answer = await http.post(
            "/components/announcer/",
            json={
                "event": "announce",
                "payload": {"ticker": "ACME", "price": price},
                "snapshot": mounted.json()["snapshot"],
            },
        )
    assert answer.status_code == 200, answer.text
    reached: int = answer.json()["state"]["reached"]
    return reached


async def test_a_broadcast_in_one_process_reaches_clients_of_both(
    setup: Setup, tmp_path: Path
) -> None:
    with two_processes(setup, tmp_path) as (server_a, server_b):
        async with clients_of(server_a, "a") as on_a, clients_of(server_b, "b") as on_b:
            await setup.linked()

            reached = await announce(server_a, 101.5)

            for client in on_a + on_b:
                await client.wait_price(101.5)
            assert reached == CLIENTS_PER_PROCESS
            assert [client.prices() for client in on_a + on_b] == [[None, 101.5]] * 4
        logs = server_a.log() + server_b.log()
    assert "Traceback" not in logs


@pytest.mark.timeout(120)
async def test_clients_of_both_processes_ride_out_a_broker_restart(
    reconnecting_setup: Setup, tmp_path: Path
) -> None:
    setup = reconnecting_setup
    with two_processes(setup, tmp_path) as (server_a, server_b):
        async with clients_of(server_a, "a") as on_a, clients_of(server_b, "b") as on_b:
            await setup.linked()
            await announce(server_a, 1.0)
            for client in on_a + on_b:
                await client.wait_price(1.0)

            setup.server.stop()
            reached = await asyncio.wait_for(announce(server_a, 2.0), WAIT)

            assert reached == CLIENTS_PER_PROCESS
            for client in on_a:
                await client.wait_price(2.0)
            for client in on_b:
                await client.ping()
                assert not client.has_price(2.0)

            setup.server.start()
            price = 100.0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + RECOVERY_WAIT
            while not all(client.prices()[-1] >= 100.0 for client in on_b):
                assert loop.time() < deadline, "process B never got broadcasts again"
                price += 1
                await asyncio.wait_for(announce(server_a, price), WAIT)
                with contextlib.suppress(AssertionError):
                    await wait_for(lambda p=price: on_b[0].has_price(p), "B to recover", 0.5)

            await announce(server_a, 999.0)

            for client in on_a + on_b:
                await client.wait_price(999.0)
            for client in on_a + on_b:
                await client.ping()
        assert server_a.process.poll() is None
        assert server_b.process.poll() is None
        log_a, log_b = server_a.log(), server_b.log()
    assert "reached this process only" in log_a
    assert "is unavailable" in log_b
    assert "is back" in log_b
    assert "Traceback" not in log_a + log_b
