"""The soak run checks what it claims: its smoke mode passes against a real uvicorn, reports every
phase and drains every counter; its stream checker rejects lost and replayed frames; its memory
endpoint answers loopback clients only. No timing here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks.common.wsclient import WrongAnswer
from benchmarks.soak.app import COUNTERS_PATH, DRAINED, MEMORY_PATH, soak_app
from benchmarks.soak.run import SMOKE, _TokenCheck

from component_framework.core.hub import reset_default_hub
from component_framework.protocol.sse import SSEEvent
from component_framework.testing import asgi_request

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_default_hub() -> Any:
    """The soak app joins the process's default hub; give it back afterwards."""
    yield
    reset_default_hub()


@pytest.mark.uvicorn
@pytest.mark.timeout(180)
def test_the_smoke_soak_holds_its_bounds_and_reports_every_phase(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--smoke", "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    report = completed.stdout
    for phase in ("| warm-up |", "| HTTP |", "| WebSocket |", "| SSE |"):
        assert phase in report
    for mark in ("| baseline |", "| after HTTP |", "| after WebSocket |", "| after SSE |"):
        assert mark in report
    assert "| final |" in report
    assert "**NO**" not in report

    [result] = tmp_path.glob("soak-smoke-*.json")
    document = json.loads(result.read_text(encoding="utf-8"))
    phases = {phase["name"]: phase for phase in document["phases"]}
    assert (phases["HTTP"]["count"], phases["WebSocket"]["count"], phases["SSE"]["count"]) == (
        SMOKE.load.http,
        SMOKE.load.ws,
        SMOKE.load.sse,
    )
    assert document["error_count"] == 0
    assert all(bound["held"] for bound in document["bounds"])
    final = document["marks"][-1]
    assert final["mark"] == "final"
    assert {key: final[key] for key in DRAINED} == dict.fromkeys(DRAINED, 0)
    assert final["traced_bytes"] > 0  # tracemalloc ran in the server
    outcomes = phases["SSE"]["detail"]["outcomes"]
    assert outcomes.get("dropped", 0) > 0
    assert outcomes.get("resumed", 0) > 0


def _stream(frame_id: str, ops: list[dict[str, Any]]) -> SSEEvent:
    return SSEEvent(data=json.dumps(ops), event="stream", id=frame_id)


def test_the_stream_check_accepts_a_stream_resumed_across_connections() -> None:
    check = _TokenCheck(3)
    check.on_event(_stream("r.1", [{"op": "start", "stream": "out"}]))
    check.on_event(_stream("r.2", [{"op": "text", "stream": "out", "text": "t0 t1 "}]))
    # the client left here and resumed with Last-Event-ID: r.2
    check.on_event(_stream("r.3", [{"op": "text", "stream": "out", "text": "t2 "},
                                   {"op": "done", "stream": "out"}]))  # fmt: skip
    check.on_event(SSEEvent(data="<div></div>", event="message", id="r.4"))
    check.on_event(SSEEvent(data="{}", event="done", id="r.5"))
    assert check.finished


def test_the_stream_check_rejects_a_replayed_frame_and_a_lost_token() -> None:
    replayed = _TokenCheck(3)
    replayed.on_event(_stream("r.1", [{"op": "start", "stream": "out"}]))
    with pytest.raises(WrongAnswer, match=r"after 'r\.1'"):
        replayed.on_event(_stream("r.1", [{"op": "text", "stream": "out", "text": "t0 "}]))

    lost = _TokenCheck(3)
    lost.on_event(_stream("r.1", [{"op": "start", "stream": "out"}]))
    with pytest.raises(WrongAnswer, match="expected token t0"):
        lost.on_event(_stream("r.2", [{"op": "text", "stream": "out", "text": "t1 "}]))

    unfinished = _TokenCheck(3)
    unfinished.on_event(_stream("r.1", [{"op": "start", "stream": "out"}]))
    with pytest.raises(WrongAnswer, match="done frame after 0 of 3"):
        unfinished.on_event(SSEEvent(data="{}", event="done", id="r.2"))


async def test_the_soak_endpoints_answer_loopback_clients_only() -> None:
    app = soak_app()
    counters = await asgi_request(app, "GET", COUNTERS_PATH)
    assert counters.status == 200
    assert {key: counters.json()[key] for key in DRAINED} == dict.fromkeys(DRAINED, 0)

    memory = await asgi_request(app, "GET", MEMORY_PATH, query={"mark": "x"})
    assert memory.status == 200
    assert memory.json()["rss_kib"] > 0

    for path in (COUNTERS_PATH, MEMORY_PATH):
        refused = await asgi_request(app, "GET", path, extra_scope={"client": ("10.1.2.3", 4000)})
        assert refused.status == 403
