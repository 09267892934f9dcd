"""Presence benchmark: propagation latency across workers and the Redis cost of presence.

Starts a ``redis-server`` on a free loopback port and ``workers`` hubs in this process, each
with its own :class:`RedisBroker` (its own connections, as separate processes would have).

- **Latency**: a member enters (then leaves) a topic in hub A, after a quiet window; the time
  until a follower in every other hub heard it through ``presence_changed``. Measured with
  the default coalescing tick (50 ms, what an app gets) and with ``tick = 0``.
- **Cost**: ``members`` members spread over ``topics`` topics in hub A, followed in the
  others; then the Redis ``PUBLISH`` calls (``INFO commandstats``) and the Redis server's CPU
  over ``idle_seconds`` with nobody coming or going, per heartbeat; and the ``PUBLISH``
  calls one burst of ``members`` joins costs.

Prints a Markdown report and writes it with the JSON to ``benchmarks/results/``. Nothing is
asserted about time. ``--smoke``: tiny counts (a correctness run of a few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis import asyncio as redis_asyncio

from benchmarks.common.machine import machine_info
from benchmarks.common.report import RESULTS, log, write_results
from benchmarks.websocket.server import redis_server
from component_framework.adapters.redis_broker import RedisBroker
from component_framework.core.hub import Hub

__all__ = ["Plan", "main", "measure"]


@dataclass(frozen=True)
class Plan:
    workers: int = 4
    rounds: int = 50
    members: int = 1000
    topics: int = 10
    heartbeat: float = 2.0
    idle_seconds: float = 10.0


SMOKE = Plan(workers=2, rounds=3, members=20, topics=2, heartbeat=0.5, idle_seconds=1.0)


class Follower:
    """Records when it heard each key join or leave."""

    def __init__(self) -> None:
        self.heard: dict[tuple[str, str], float] = {}

    def presence_changed(
        self, topic: str, joined: list[dict[str, Any]], left: list[dict[str, Any]]
    ) -> None:
        now = time.perf_counter()
        for entry in joined:
            self.heard.setdefault(("join", entry["key"]), now)
        for entry in left:
            self.heard.setdefault(("leave", entry["key"]), now)


class Member:
    def presence_changed(self, topic: str, joined: Any, left: Any) -> None:
        return None


async def _wait(condition: Any, within: float = 10.0) -> None:
    deadline = time.perf_counter() + within
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("presence did not arrive")
        await asyncio.sleep(0.001)


async def _publishes(client: Any) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


def _server_cpu(pid: int) -> float:
    """Seconds of CPU (user and system) the process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(url: str, server_pid: int | None, plan: Plan) -> dict[str, Any]:
    hubs = [
        Hub(RedisBroker(url), channel="bench", presence_heartbeat=plan.heartbeat)
        for _ in range(plan.workers)
    ]
    client = redis_asyncio.Redis.from_url(url)
    followers = [Follower() for _ in hubs[1:]]
    result: dict[str, Any] = {"plan": asdict(plan)}
    try:
        for hub, follower in zip(hubs[1:], followers, strict=True):
            await hub.presence.enter(follower, f"f-{id(hub)}", ["lat"], None, notify=True)
        await hubs[0].presence.enter(Member(), "warm", ["lat"], {"name": "warm"}, notify=False)
        await _wait(lambda: all(("join", "warm") in f.heard for f in followers))
        for label, tick in (("default_tick", hubs[0].presence.tick), ("tick_0", 0.0)):
            for hub in hubs:
                hub.presence.tick = tick
            joins, leaves = [], []
            for index in range(plan.rounds):
                member, key = Member(), f"{label}-{index}"
                await asyncio.sleep(tick * 1.2)  # after a quiet window: what a sparse join sees
                started = time.perf_counter()
                await hubs[0].presence.enter(member, key, ["lat"], {"name": key}, notify=False)
                await _wait(lambda k=key: all(("join", k) in f.heard for f in followers))
                joins.append(max(f.heard[("join", key)] for f in followers) - started)
                await asyncio.sleep(tick * 1.2)
                started = time.perf_counter()
                hubs[0].presence.leave(member)
                await _wait(lambda k=key: all(("leave", k) in f.heard for f in followers))
                leaves.append(max(f.heard[("leave", key)] for f in followers) - started)
            result[label] = {
                "tick_ms": tick * 1000,
                "join_p50_ms": statistics.median(joins) * 1000,
                "join_max_ms": max(joins) * 1000,
                "leave_p50_ms": statistics.median(leaves) * 1000,
                "leave_max_ms": max(leaves) * 1000,
            }
        for hub in hubs:
            hub.presence.tick = 0.05
        # cost: a burst of joins, then nobody coming or going
        topics = [f"doc:{n}" for n in range(plan.topics)]
        for hub, follower in zip(hubs[1:], followers, strict=True):
            hub.presence.update(follower, f"f-{id(hub)}", [*topics, "lat"], None, notify=True)
        await asyncio.sleep(plan.heartbeat * 1.5)  # the follows' syncs settle
        before = await _publishes(client)
        for index in range(plan.members):
            key = f"m{index}"
            topic = topics[index % plan.topics]
            await hubs[0].presence.enter(Member(), key, [topic], {"name": key}, notify=False)
        each = plan.members // plan.topics
        await _wait(
            lambda: all(hub.presence.count(t) >= each for hub in hubs[1:] for t in topics), 30.0
        )
        await asyncio.sleep(plan.heartbeat)
        burst = await _publishes(client) - before
        before, cpu_before = await _publishes(client), None
        if server_pid is not None:
            cpu_before = _server_cpu(server_pid)
        await asyncio.sleep(plan.idle_seconds)
        idle = await _publishes(client) - before
        beats = plan.idle_seconds / plan.heartbeat
        result["cost"] = {
            "members": plan.members,
            "topics": plan.topics,
            "publishes_for_the_join_burst_and_one_beat": burst,
            "idle_publishes_per_heartbeat": idle / beats,
            "idle_publishes_per_heartbeat_per_worker": idle / beats / plan.workers,
            "redis_cpu_ms_per_heartbeat": None
            if cpu_before is None
            else (_server_cpu(server_pid) - cpu_before) * 1000 / beats,  # type: ignore[arg-type]
        }
    finally:
        for hub in hubs:
            await hub.close()
        await client.aclose()
    return result


def markdown(result: dict[str, Any], info: dict[str, str]) -> str:
    plan, cost = result["plan"], result["cost"]
    lines = [
        "# Presence across workers",
        "",
        f"{plan['workers']} hubs, each its own Redis connections, one process; heartbeat "
        f"{plan['heartbeat']} s. Latency: a member entering / leaving in hub A until every "
        f"other hub's follower heard it ({plan['rounds']} rounds).",
        "",
        "| coalescing tick | join p50 ms | join max ms | leave p50 ms | leave max ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    for label in ("default_tick", "tick_0"):
        run = result[label]
        lines.append(
            f"| {run['tick_ms']:.0f} ms | {run['join_p50_ms']:.1f} | {run['join_max_ms']:.1f} "
            f"| {run['leave_p50_ms']:.1f} | {run['leave_max_ms']:.1f} |"
        )
    cpu = cost["redis_cpu_ms_per_heartbeat"]
    lines += [
        "",
        f"Cost with {cost['members']} members over {cost['topics']} topics: "
        f"{cost['publishes_for_the_join_burst_and_one_beat']} PUBLISH for the burst of "
        f"{cost['members']} joins (and one round of beats); idle, "
        f"{cost['idle_publishes_per_heartbeat']:.1f} PUBLISH per heartbeat "
        f"({cost['idle_publishes_per_heartbeat_per_worker']:.2f} per worker), Redis CPU "
        f"{'-' if cpu is None else f'{cpu:.2f}'} ms per heartbeat.",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, a correctness run")
    parser.add_argument("--members", type=int, default=Plan.members)
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else Plan(members=args.members)
    with redis_server() as server:
        url = f"redis://127.0.0.1:{server.port}/0"
        log(f"presence benchmark on {url}: {plan}")
        result = asyncio.run(measure(url, server.process.pid, plan))
    info = machine_info()
    report = markdown(result, info)
    print(report)
    if not args.smoke:
        write_results(RESULTS, "presence", {"result": result, "machine": info}, report)
    return 0
