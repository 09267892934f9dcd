"""The page-connection benchmark measures correct answers: its smoke run (both parts, against a
real uvicorn) gets every answer right and reports every figure, and its checks refuse a page
socket whose pushes went missing or whose two sides did different work. No timing here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.common.wsclient import WrongAnswer
from benchmarks.page.socket import SOCKET_MODES, _check_pushes, _Page, _same_work

ROOT = Path(__file__).resolve().parents[1]


class _Received:
    """What a socket received, as :class:`~benchmarks.common.wsclient.WsProtocol` keeps it."""

    def __init__(self, *messages: dict[str, object]) -> None:
        self.messages = [(0.0, json.dumps(message).encode()) for message in messages]


def _push(component_id: str, price: float) -> dict[str, object]:
    html = f'<div id="{component_id}" class="ticker"><span class="price">{price}</span></div>'
    return {"type": "render", "html": html, "state": {"price": price},
            "snapshot": "s", "component_id": component_id, "ref": None}  # fmt: skip


def _page(*messages: dict[str, object]) -> _Page:
    page = _Page(ids=["a", "b"])
    page.sockets = [_Received(*messages)]  # type: ignore[list-item]
    return page


def test_every_ticker_getting_every_price_in_order_counts_each_push_render() -> None:
    page = _page(_push("a", 100.25), _push("b", 100.25), _push("b", 101.25), _push("a", 101.25))

    assert _check_pushes([page], 2) == 4


@pytest.mark.parametrize(
    "messages",
    [
        [_push("a", 100.25), _push("b", 100.25), _push("a", 101.25)],  # b missed one
        [_push("a", 100.25), _push("b", 101.25), _push("b", 100.25), _push("a", 101.25)],
        [_push("a", 100.25), _push("a", 100.25), _push("b", 100.25), _push("a", 101.25)],
    ],
    ids=["missing", "reordered", "repeated"],
)
def test_a_missing_reordered_or_repeated_push_render_is_a_wrong_answer(
    messages: list[dict[str, object]],
) -> None:
    with pytest.raises(WrongAnswer, match="push renders"):
        _check_pushes([_page(*messages)], 2)


def test_two_sides_that_answered_different_numbers_of_messages_fail_the_run() -> None:
    same = {mode: {"round_trips": [200.0], "pushed": [40.0]} for mode in SOCKET_MODES}
    _same_work(same)

    same["shared"]["pushed"] = [39.0]
    with pytest.raises(WrongAnswer, match="different work"):
        _same_work(same)


@pytest.mark.uvicorn
@pytest.mark.timeout(240)
def test_the_smoke_run_gets_every_answer_right_on_both_parts(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.page", "--smoke", "--results", str(tmp_path)],
        cwd=ROOT,
        env=os.environ,  # PYTHONPATH too: the servers it starts inherit it
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    (written,) = tmp_path.glob("page-smoke-*.json")
    document = json.loads(written.read_text(encoding="utf-8"))
    for mode in ("separate", "page", "over-socket"):
        assert document["figures"][mode]["frames"] > 0
    socket = document["socket"]
    assert socket["separate"]["round_trips"] == socket["shared"]["round_trips"] > 0
    assert socket["separate"]["pushed"] == socket["shared"]["pushed"] > 0
    assert (socket["separate"]["sockets_per_page"], socket["shared"]["sockets_per_page"]) == (
        10,
        1,
    )
    assert "| server CPU per round trip (µs) |" in completed.stdout
