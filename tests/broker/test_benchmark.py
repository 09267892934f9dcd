"""The broker fan-out benchmark (``benchmarks.brokers``) measures what it says, on real servers.

Nothing here is timed: each broker kind runs a tiny plan and every subscriber must have
received every message, once and in order; the report has one row per kind.
"""

from __future__ import annotations

import pytest
from benchmarks.brokers.measure import KINDS, Plan, measure
from benchmarks.brokers.run import markdown
from benchmarks.presence.measure import SMOKE
from benchmarks.presence.measure import markdown as presence_markdown
from benchmarks.presence.measure import measure as measure_presence

from tests.broker.redis_server import RedisServer

TINY = Plan(
    subscribers=2,
    warmup_messages=2,
    latency_messages=5,
    throughput_messages=40,
    throughput_seconds=5.0,
    large_messages=2,
)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_subscriber_gets_every_message_of_the_run(
    kind: str, request: pytest.FixtureRequest
) -> None:
    server_name = KINDS[kind][1]
    server = None if server_name is None else request.getfixturevalue(f"{server_name}_server")
    pid = None if server is None else server.process.pid

    run = await measure(kind, None if server is None else server.url, pid, TINY)

    assert run["errors"] == []
    assert run["messages"] == TINY.throughput_messages
    assert run["latency_p50_ms"] > 0
    assert (run["server_cpu_us_per_message"] is None) == (server is None)


def test_the_report_has_one_row_per_kind() -> None:
    run = {
        "message_bytes": 124, "messages_per_s": 1000.0, "messages_per_s_min": 900.0,
        "messages_per_s_max": 1100.0, "latency_p50_ms": 0.2, "latency_p99_ms": 1.0,
        "large_p50_ms": 2.0, "client_cpu_us_per_message": 90.0, "server_cpu_us_per_message": None,
    }  # fmt: skip

    report = markdown(dict.fromkeys(KINDS, run), {"cpu": "test"}, TINY)

    rows = [line for line in report.splitlines() if line.startswith("| ") and "1,000" in line]
    assert len(rows) == len(KINDS)


async def test_the_presence_benchmark_measures_every_follower_hearing_every_change(
    redis_server: RedisServer,
) -> None:
    result = await measure_presence(redis_server.url, redis_server.process.pid, SMOKE)

    assert result["cost"]["members"] == SMOKE.members
    assert result["cost"]["idle_publishes_per_heartbeat"] > 0
    assert "| 50 ms |" in presence_markdown(result, {"cpu": "test"})
