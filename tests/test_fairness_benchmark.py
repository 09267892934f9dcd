"""The fairness benchmark measures correct answers: its report reads the client's document,
its smoke checks hold the shipped configurations to what they promise, and (``uvicorn``
marker) its smoke run against the real showcase gets every answer right. No timing here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks.fairness.client import viewer_address
from benchmarks.fairness.run import SMOKE, main, markdown


def result(refused: int) -> dict[str, Any]:
    latency = {"p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0}
    load = {"probes": 10, "latency": latency, "server_cpu_share": 0.5, "events_sent": 45,
            "events_run": 45 - refused, "events_rate_limited": refused,
            "viewer_renders_per_second": 100.0}  # fmt: skip
    return {"quiet": {"probes": 5, "latency": latency}, "load": load}


def test_the_report_has_a_row_per_configuration() -> None:
    results = {"limits off": result(0), "limits on": result(40)}

    report = markdown({"cpu": "test cpu"}, SMOKE, results)

    assert "| limits off | 1.0 / 3.0 ms | 1.0 / 2.0 / 3.0 ms | 50% | 45 / 0 / 45 | 100 |" in report
    assert "| limits on | 1.0 / 3.0 ms | 1.0 / 2.0 / 3.0 ms | 50% | 5 / 40 / 45 | 100 |" in report


def test_each_viewer_has_its_own_loopback_address() -> None:
    addresses = {viewer_address(index) for index in range(1000)}

    assert len(addresses) == 1000
    assert all(address.startswith("127.") for address in addresses)


@pytest.mark.uvicorn
def test_the_smoke_run_gets_every_answer_right_and_the_shipped_limits_refuse_the_flood(
    tmp_path: Path,
) -> None:
    status = main(["--smoke", "--results", str(tmp_path)])

    (written,) = tmp_path.glob("fairness-smoke-*.json")
    document = json.loads(written.read_text(encoding="utf-8"))
    assert status == 0, document["errors"]
    results = document["results"]
    assert results["limits off"]["load"]["events_rate_limited"] == 0
    assert results["limits on"]["load"]["events_rate_limited"] > 0
    assert results["limits on"]["load"]["events_run"] > 0
