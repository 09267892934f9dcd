"""The SIGTERM/SIGINT hook: it ends open streams and always hands the signal on to the handler
that was there before (the server's), once its streams got their final frame, and even after
the loop it served is gone.

The hook is process-wide state, so :mod:`tests.streaming.signal_probe` exercises it in a
subprocess of its own and reports what happened; these tests read that report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.servers import REPO_ROOT

PROBE_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.streaming.signal_probe"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_sigterm_during_a_stream_ends_it_with_a_shutdown_frame(report: dict[str, Any]) -> None:
    during = report["during_stream"]
    assert "error" not in during, during
    assert during["events"] == ["message", "shutdown"]
    assert during["finally_ran"]


def test_sigterm_during_a_stream_still_calls_the_previous_handler(
    report: dict[str, Any],
) -> None:
    during = report["during_stream"]
    assert during["raised"] is None, during
    assert during["previous_held"], "held until the stream's shutdown frame went out"
    assert during["previous_called"], "then called, once"


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_signal_after_the_loop_closed_still_reaches_the_previous_handler(
    report: dict[str, Any], signal_name: str
) -> None:
    """An app used from a script or a test (``asyncio.run``) leaves the hook installed; a later
    Ctrl+C or SIGTERM must reach the previous handler, not fail in ours."""
    outcome = report["after_loop_closed"][signal_name]
    assert outcome["raised"] is None, outcome
    assert outcome["previous_called"]


def test_sigterm_reaches_the_streams_of_an_app_on_a_later_loop(report: dict[str, Any]) -> None:
    second = report["second_loop"]
    assert "error" not in second, second
    assert second["events"] == ["message", "shutdown"]
    assert second["finally_ran"]
    assert second["raised"] is None, second
    assert second["previous_called"]
