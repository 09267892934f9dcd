"""Resume on any worker, across real processes: two and four uvicorn workers of
``tests.broker.stream_app`` (one real Redis, one shared secret key) behind a round-robin proxy
that sends each new connection to the next worker, as a load balancer without sticky sessions.

Every stream is dropped mid-way, again and again, and resumed with ``Last-Event-ID`` through the
proxy, so its reconnects land on every worker in turn; the client must receive every frame
exactly once, in order, and the handler must have run once. Everything is loopback only and
bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.broker.redis_server import RedisServer
from tests.broker.round_robin import RoundRobinProxy
from tests.broker.stream_app import RUNS_FILE_VARIABLE
from tests.broker.support import WAIT, wait_for
from tests.servers import UvicornServer, start_uvicorn

pytestmark = pytest.mark.uvicorn

APP = "tests.broker.stream_app:app"
SECRET = "resume-workers-secret-0123456789abcdef"
STEPS = 12
#: New frames a connection reads before the client drops it.
FRAMES_PER_CONNECTION = 3


@contextlib.contextmanager
def workers(redis: RedisServer, log_dir: Path, count: int) -> Iterator[list[UvicornServer]]:
    """``count`` workers of one deployment (same broker URL, secret and runs file)."""
    env = {
        "COMPONENT_FRAMEWORK_BROKER_URL": redis.url,
        "COMPONENT_FRAMEWORK_SECRET_KEY": SECRET,
        RUNS_FILE_VARIABLE: str(log_dir / "runs.txt"),
    }
    with contextlib.ExitStack() as stack:
        servers = []
        for _ in range(count):
            server = start_uvicorn(APP, log_dir, ["--no-access-log"], env)
            stack.callback(server.stop)
            servers.append(server)
        yield servers


@contextlib.asynccontextmanager
async def proxy_to(servers: list[UvicornServer]) -> AsyncIterator[RoundRobinProxy]:
    proxy = await RoundRobinProxy([server.port for server in servers]).start()
    try:
        yield proxy
    finally:
        await proxy.close()


@dataclass
class Reader:
    """One client's view of one stream, across all its connections."""

    tag: str
    interval: float = 0.08
    events: list[SSEEvent] = field(default_factory=list)
    connections: int = 0
    statuses: list[int] = field(default_factory=list)

    @property
    def last_id(self) -> str | None:
        ids = [event.id for event in self.events if event.id]
        return ids[-1] if ids else None

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1].event in {"done", "error", "lost"}

    async def connect(self, base_url: str, stop_after: int | None) -> None:
        """One connection through the proxy: read until ``stop_after`` new frames arrived
        (then drop it) or the stream ends."""
        self.connections += 1
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        start = {"tag": self.tag, "steps": STEPS, "interval": self.interval}
        params = {} if self.last_id else start
        decoder, fresh = SSEDecoder(), 0
        async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as http:
            url = "/components/counter/stream/"
            async with http.stream("GET", url, params=params, headers=headers) as response:
                self.statuses.append(response.status_code)
                async for chunk in response.aiter_bytes():
                    for event in decoder.feed(chunk):
                        self.events.append(event)
                        fresh += 1
                    if self.finished or (stop_after is not None and fresh >= stop_after):
                        return

    async def read_dropping(self, base_url: str, most: int = 40) -> None:
        """Read the whole stream, dropping each connection after a few frames."""
        for _ in range(most):
            await self.connect(base_url, FRAMES_PER_CONNECTION)
            if self.finished:
                return
        raise AssertionError(f"{self.tag}: no end after {most} connections: {self.events}")

    def assert_every_frame_once(self) -> None:
        run_id = (self.last_id or "").rpartition(".")[0]
        assert [event.id for event in self.events] == [
            f"{run_id}.{seq}" for seq in range(1, STEPS + 2)
        ], f"{self.tag}: {[e.id for e in self.events]}"
        assert [event.event for event in self.events] == ["message"] * STEPS + ["done"]
        for count, event in enumerate(self.events[:STEPS], start=1):
            assert event.data.endswith(f">{self.tag} {count}</p>")


async def resume_status(base_url: str, last_event_id: str) -> tuple[int, str]:
    """The status of a resume through the proxy and the type of its first event ("" if none)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as http:
        answer = await http.get(
            "/components/counter/stream/", headers={"Last-Event-ID": last_event_id}
        )
    events = SSEDecoder().feed(answer.content)
    return answer.status_code, events[0].event if events else ""


def handler_runs(log_dir: Path) -> list[str]:
    path = log_dir / "runs.txt"
    if not path.exists():
        return []
    return sorted(line.split()[0] for line in path.read_text().splitlines())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("worker_count", [2, 4])
async def test_every_dropped_stream_resumes_on_any_worker_with_every_frame_once(
    fresh_redis: RedisServer, tmp_path: Path, worker_count: int
) -> None:
    with workers(fresh_redis, tmp_path, worker_count) as servers:
        async with proxy_to(servers) as proxy:
            readers = [Reader(f"s{index}") for index in range(worker_count)]
            for reader in readers:  # one after the other: the n-th connection -> worker n
                await reader.read_dropping(proxy.base_url)
            visited = set(proxy.chosen)
            # Finished anywhere: 204 on every worker; unknown anywhere: still lost.
            finished = [await resume_status(proxy.base_url, readers[0].last_id or "")]
            finished += [await resume_status(proxy.base_url, readers[0].last_id or "")
                         for _ in range(worker_count - 1)]  # fmt: skip
            unknown = await resume_status(proxy.base_url, "nosuchrun.3")
        logs = "".join(server.log() for server in servers)

    for reader in readers:
        reader.assert_every_frame_once()
        assert reader.connections >= worker_count, "its reconnects visited every worker"
        assert set(reader.statuses) == {200}
    assert visited == {server.port for server in servers}
    assert finished == [(204, "")] * worker_count
    assert unknown == (200, "lost")
    assert handler_runs(tmp_path) == sorted(reader.tag for reader in readers), "each ran once"
    assert "Traceback" not in logs


@pytest.mark.timeout(120)
async def test_a_stream_followed_on_another_worker_rides_out_a_redis_restart(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    with workers(fresh_redis, tmp_path, 2) as servers:
        async with proxy_to(servers) as proxy:
            reader = Reader("restart", interval=0.15)
            await reader.connect(proxy.base_url, 2)  # worker 1 runs the handler
            following = asyncio.create_task(reader.connect(proxy.base_url, None))  # worker 2
            await wait_for(lambda: len(reader.events) >= 4, "two frames through Redis")
            fresh_redis.stop()  # no persistence: Redis comes back empty
            await asyncio.sleep(0.5)  # frames produced meanwhile reach Redis only afterwards
            fresh_redis.start()
            await asyncio.wait_for(following, WAIT)
            chosen = proxy.chosen
        logs = "".join(server.log() for server in servers)

    assert chosen[0] != chosen[1], "the stream was followed on the other worker"
    reader.assert_every_frame_once()
    assert reader.connections == 2
    assert handler_runs(tmp_path) == ["restart"]
    assert "resume store" in logs
    assert "is back" in logs
    assert "Traceback" not in logs
