"""Presence across real processes: two uvicorn workers on one real Redis.

Each worker serves ``tests.presence.presence_app`` (beats every 0.5 s: a lease of 1.5 s).
WebSocket clients (the ``websockets`` library) hold ``viewer`` components, which list who is
viewing their document; each client keeps a reader task that records the lists it was sent.
A worker killed with SIGKILL says nothing: its viewers must disappear from the other worker's
lists once its lease ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.broker.redis_server import RedisServer
from tests.broker.support import WAIT, wait_for
from tests.servers import UvicornServer, start_uvicorn

pytestmark = pytest.mark.uvicorn

SECRET = "presence-processes-secret-0123456789abcdef"
HEARTBEAT = 0.5
#: A killed worker's viewers are gone within its lease (3 beats) and one beat of a survivor,
#: plus the coalescing tick; the wait allows for a busy machine on top.
EXPIRY_BOUND = 4 * HEARTBEAT + 0.1


@contextlib.contextmanager
def two_workers(
    redis: RedisServer, log_dir: Path, heartbeat: float = HEARTBEAT
) -> Iterator[tuple[UvicornServer, ...]]:
    env = {
        "COMPONENT_FRAMEWORK_BROKER_URL": redis.url,
        "COMPONENT_FRAMEWORK_SECRET_KEY": SECRET,
        "CF_TEST_PRESENCE_HEARTBEAT": str(heartbeat),
    }
    with contextlib.ExitStack() as stack:
        servers = []
        for _ in range(2):
            server = start_uvicorn(
                "tests.presence.presence_app:app", log_dir, ["--no-access-log"], env
            )
            stack.callback(server.stop)
            servers.append(server)
        yield tuple(servers)


@dataclass(eq=False)
class Viewer:
    """A client of one ``viewer`` and every list it was sent (with when it arrived)."""

    name: str
    ws: ClientConnection
    lists: list[tuple[float, list[str]]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                message = json.loads(raw)
                if message.get("type") == "render":
                    match = re.search(r'<p class="viewers">(.*)</p>', message["html"])
                    assert match is not None
                    names = sorted(filter(None, match.group(1).split(",")))
                    self.lists.append((time.monotonic(), names))

    def sees(self) -> list[str]:
        return self.lists[-1][1] if self.lists else []

    async def wait_sees(self, names: list[str], within: float = WAIT) -> float:
        """Wait until the latest list is ``names``; returns when that list arrived."""
        await wait_for(lambda: self.sees() == sorted(names), f"{self.name} to see {names}", within)
        return self.lists[-1][0]


@contextlib.asynccontextmanager
async def viewer(server: UvicornServer, name: str) -> AsyncIterator[Viewer]:
    url = f"ws://127.0.0.1:{server.port}/components/viewer/ws/?name={name}"
    async with connect(url, open_timeout=WAIT) as ws:
        client = Viewer(name, ws)
        client.reader = asyncio.create_task(client.read())
        try:
            await wait_for(lambda: name in client.sees(), f"{name} mounted")
            yield client
        finally:
            await ws.close()
            await asyncio.wait_for(asyncio.gather(client.reader, return_exceptions=True), WAIT)


async def test_joins_and_leaves_reach_viewers_on_the_other_worker(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    with two_workers(fresh_redis, tmp_path) as (worker_a, worker_b):
        async with viewer(worker_a, "ada") as ada:
            async with viewer(worker_b, "bob") as bob:
                await bob.wait_sees(["ada", "bob"])
                await ada.wait_sees(["ada", "bob"])
            await ada.wait_sees(["ada"])
        logs = worker_a.log() + worker_b.log()
    assert "Traceback" not in logs


@pytest.mark.timeout(120)
async def test_a_killed_workers_viewers_expire_on_the_other_within_the_bound(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    with two_workers(fresh_redis, tmp_path) as (worker_a, worker_b):
        async with viewer(worker_b, "bob") as bob, viewer(worker_a, "ada"):
            await bob.wait_sees(["ada", "bob"])

            worker_a.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()

            seen = await bob.wait_sees(["bob"], within=EXPIRY_BOUND + WAIT)
            took = seen - killed
            print(f"a killed worker's viewer expired after {took:.2f} s")
            # The bound holds on an idle machine; on a loaded one the wait above allows more.
            assert took < EXPIRY_BOUND + 5.0
        assert "Traceback" not in worker_b.log()


@pytest.mark.timeout(120)
async def test_a_worker_that_shuts_down_takes_its_viewers_away_at_once(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    """SIGTERM: its sockets close with 1012 and their leaves are published before it exits;
    with a 30 s heartbeat, only that (not a lease of 90 s) can clear the other's list."""
    with two_workers(fresh_redis, tmp_path, heartbeat=30.0) as (worker_a, worker_b):
        async with viewer(worker_b, "bob") as bob, viewer(worker_a, "ada"):
            await bob.wait_sees(["ada", "bob"])

            worker_a.process.send_signal(signal.SIGTERM)

            await bob.wait_sees(["bob"])
        assert "Traceback" not in worker_a.log() + worker_b.log()
