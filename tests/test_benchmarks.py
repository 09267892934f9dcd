"""The benchmark harness measures correct contenders: each answers the counter event right.

Only answers are checked here, never timing (performance is measured by ``benchmarks/``).
"""

from __future__ import annotations

import json

import pytest
from benchmarks.common.counter import EXPECTED_COUNT, WrongAnswer, check_answer
from benchmarks.http.contenders import CONTENDERS
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
