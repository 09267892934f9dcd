"""The server-held state benchmark (``benchmarks.server_state``) measures correct answers: its
smoke run (a real redis-server) gets every count right, never sends server-held state, and its
report has a row per state size and kind. No timing here."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.server_state.measure import KINDS, SIZES
from benchmarks.server_state.run import SMOKE, main, markdown


def test_the_report_compares_each_kind_with_client_held_state() -> None:
    row = {
        "p50_us": 80.0,
        "p99_us": 120.0,
        "cpu_us_per_event": 90.0,
        "server_cpu_us_per_event": None,
        "request_bytes": 166,
        "answer_bytes": 239,
    }
    summary = {"small/client": {**row, "p50_us": 50.0}, "small/memory": row}

    report = markdown(summary, {"cpu": "test cpu"}, SMOKE)

    assert "| small | server-held, memory store | 80.0 | 120.0 | +30.0 | 90.0 | - |" in report


def test_the_smoke_run_answers_every_event_right(tmp_path: Path) -> None:
    status = main(["--smoke", "--results", str(tmp_path)])

    (written,) = tmp_path.glob("server-state-smoke-*.json")
    runs = json.loads(written.read_text())["runs"]
    assert status == 0
    assert set(runs) == {f"{size}/{kind}" for size in SIZES for kind in KINDS}
    for (run,) in runs.values():
        assert run["errors"] == []
        assert run["events"] == SMOKE.events
