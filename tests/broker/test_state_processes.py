"""Server-held state across two real uvicorn processes sharing one real redis-server: a
component mounted by one worker is served by the other, replays are refused wherever they
land, the combination never reaches a client, and a Redis outage is a 503 then (no
persistence) a 410 once Redis is back."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.broker.redis_server import RedisServer
from tests.broker.state_app import SECRET_COMBINATION
from tests.servers import UvicornServer, start_uvicorn

pytestmark = pytest.mark.uvicorn

SECRET = "state-processes-secret-0123456789abcdef"
JSON = {"accept": "application/json"}


@contextlib.contextmanager
def two_workers(redis: RedisServer, log_dir: Path) -> Iterator[tuple[UvicornServer, ...]]:
    env = {"COMPONENT_FRAMEWORK_BROKER_URL": redis.url, "COMPONENT_FRAMEWORK_SECRET_KEY": SECRET}
    with contextlib.ExitStack() as stack:
        servers = []
        for _ in range(2):
            server = start_uvicorn("tests.broker.state_app:app", log_dir, ["--no-access-log"], env)
            stack.callback(server.stop)
            servers.append(server)
        yield tuple(servers)


async def post(server: UvicornServer, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        return await client.post("/components/safe/", json=body, headers=JSON)


async def test_the_second_worker_serves_the_next_event(fresh_redis: RedisServer, tmp_path: Path):
    with two_workers(fresh_redis, tmp_path) as (first, second):
        mounted = await post(first, {})
        assert mounted.status_code == 200
        assert "state" not in mounted.json()
        snapshot = mounted.json()["snapshot"]
        served = []
        for worker in (second, first, second):
            answer = await post(worker, {"event": "turn", "snapshot": snapshot})
            assert answer.status_code == 200, answer.text
            assert SECRET_COMBINATION not in answer.text
            snapshot = answer.json()["snapshot"]
            served.append(answer)
        html = served[-1].json()["html"]
        assert "<b>3</b>" in html
        pids = {int(pid) for pid in html.split("<i>[")[1].split("]")[0].split(", ")}
        assert len(pids) == 2  # both processes served this one component


async def test_a_replay_is_refused_on_either_worker(fresh_redis: RedisServer, tmp_path: Path):
    with two_workers(fresh_redis, tmp_path) as (first, second):
        old = (await post(first, {})).json()["snapshot"]
        assert (await post(second, {"event": "turn", "snapshot": old})).status_code == 200
        for worker in (first, second):
            replay = await post(worker, {"event": "turn", "snapshot": old})
            assert replay.status_code == 409
            assert replay.json()["error"]["code"] == "stale_state"


async def test_a_redis_outage_is_503_and_lost_state_is_410(
    fresh_redis: RedisServer, tmp_path: Path
):
    with two_workers(fresh_redis, tmp_path) as (first, second):
        snapshot = (await post(first, {})).json()["snapshot"]
        fresh_redis.stop()
        down = await post(second, {"event": "turn", "snapshot": snapshot})
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "state_store_unavailable"
        fresh_redis.start()  # without persistence: what it held is gone
        gone = await post(first, {"event": "turn", "snapshot": snapshot})
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "state_expired"
        fresh = await post(second, {})
        assert fresh.status_code == 200  # a new mount works again


async def test_a_socket_resumes_on_the_other_worker(fresh_redis: RedisServer, tmp_path: Path):
    with two_workers(fresh_redis, tmp_path) as (first, second):
        async with connect(first.base_url.replace("http", "ws") + "/components/safe/ws/") as ws:
            json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "event", "event": "turn", "ref": "t"}))
            turned = json.loads(await ws.recv())
        assert "state" not in turned
        resume = second.base_url.replace("http", "ws") + "/components/safe/ws/?join=message"
        async with connect(resume) as ws:
            await ws.send(json.dumps({"type": "join", "snapshot": turned["snapshot"]}))
            resumed = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "event", "event": "turn", "ref": "u"}))
            again = json.loads(await ws.recv())
        assert resumed["type"] == "render", resumed
        assert "<b>1</b>" in resumed["html"]
        assert "<b>2</b>" in again["html"]
        answer = await post(first, {"event": "turn", "snapshot": again["snapshot"]})
        assert answer.status_code == 200, answer.text
        assert "<b>3</b>" in answer.json()["html"]
