"""The benchmark harness measures correct contenders: each answers the counter event right,
in process and under each server the loopback part starts (uvicorn, granian).

Only answers are checked here, never timing (performance is measured by ``benchmarks/``).
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from benchmarks.common.counter import (
    CONTENT_TYPE,
    EXPECTED_COUNT,
    PATH,
    WrongAnswer,
    check_answer,
    request_body,
)
from benchmarks.common.processes import HOST, ServerName, free_port, serve, server_command
from benchmarks.http.contenders import CONTENDERS, by_key
from benchmarks.http.inprocess import run_inprocess


def test_every_contender_answers_the_counter_event_in_process() -> None:
    results = run_inprocess(CONTENDERS, iterations=3, rounds=1, warmup=1)
    assert [result.key for result in results] == [contender.key for contender in CONTENDERS]


def test_an_answer_that_does_not_increment_is_rejected() -> None:
    answer = {"html": "", "state": {"count": EXPECTED_COUNT - 1}, "snapshot": "",
              "component_id": ""}  # fmt: skip
    with pytest.raises(WrongAnswer, match="expected state"):
        check_answer(200, json.dumps(answer).encode(), "stale")


def test_an_error_status_is_rejected() -> None:
    with pytest.raises(WrongAnswer, match="expected status 200"):
        check_answer(400, b"{}", "broken")


def _post_counter(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("POST", PATH, request_body(), {"Content-Type": CONTENT_TYPE})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "server",
    [
        pytest.param("uvicorn", marks=pytest.mark.uvicorn),
        pytest.param("granian", marks=pytest.mark.servers),
    ],
)
def test_the_loopback_launcher_serves_a_correct_contender_under_each_server(
    server: ServerName,
) -> None:
    port = free_port()
    command = server_command(server, by_key("components").factory, port)
    with serve(command, port, server=server) as running:
        status, body = _post_counter(port)
        check_answer(status, body, f"components under {server}")
        worker = running.worker_pid  # whose CPU and memory the benchmarks read
        if server == "granian":  # granian runs the app in its one worker process
            assert worker != running.pid
            assert Path(f"/proc/{worker}/stat").read_text().split(") ")[1].split()[1] == str(
                running.pid
            )
        else:
            assert worker == running.pid


def test_the_hotspots_diagnostic_prints_its_stage_piece_and_profile_tables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks.http import hotspots

    assert hotspots.main(["--iterations", "4", "--rounds", "1", "--requests", "4"]) == 0
    printed = capsys.readouterr().out
    for heading in ("| stage (cumulative 1-6) |", "| piece (each alone) |", "| function |"):
        assert heading in printed
    assert "| body read (read_body) |" in printed


def test_the_cache_simulation_child_serves_the_counter_with_the_caches_evicted() -> None:
    from benchmarks.http import cachesim

    # the run valgrind counts: the answers are checked (WrongAnswer otherwise)
    assert cachesim.main(["--serve", "components", "--requests", "5", "--evict", "65536"]) == 0


def test_the_http_cache_simulation_refuses_an_unknown_contender() -> None:
    from benchmarks.http import cachesim

    with pytest.raises(SystemExit):
        cachesim.main(["--contenders", "floor,nginx"])
