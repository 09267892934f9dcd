"""The WebSocket benchmark measures correct answers: every contender answers the counter over
WebSocket right, the benchmark's own client reads frames right, and the smoke pieces (round
trips, fan-out on one worker, fan-out through Redis) deliver every render. No timing here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from benchmarks.common.processes import cpu_plan
from benchmarks.common.wsclient import WrongAnswer, WsProtocol, mask_frame
from benchmarks.websocket.app import (
    COUNTER_PATH,
    build_ws_components,
    build_ws_floor,
    build_ws_litestar,
    build_ws_starlette,
)
from benchmarks.websocket.cachesim import main as cache_main
from benchmarks.websocket.cachesim import parse_counts, per_event
from benchmarks.websocket.client import check_render
from benchmarks.websocket.inprocess import main as in_process_main
from benchmarks.websocket.perfcount import parse_totals, per_member
from benchmarks.websocket.server import redis_server, run_client, ws_servers
from benchmarks.websocket.workercount import main as worker_count_main
from benchmarks.websocket.workercount import round_trips

from component_framework.core.hub import reset_default_hub
from component_framework.testing import websocket_connect

FACTORIES = [build_ws_floor, build_ws_components, build_ws_litestar, build_ws_starlette]


@pytest.fixture(autouse=True)
def _fresh_default_hub() -> Any:
    """ComponentASGI joins the process's default hub; give it back afterwards."""
    yield
    reset_default_hub()


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda factory: factory.__name__)
async def test_every_contender_answers_the_counter_over_websocket_in_process(
    factory: Callable[[], Any],
) -> None:
    async with websocket_connect(factory(), COUNTER_PATH) as ws:
        check_render((await ws.receive_text()).encode(), None, 0)
        for ref in (1, 2, 3):
            event: dict[str, Any] = {
                "type": "event",
                "event": "increment",
                "payload": {},
                "ref": ref,
            }
            await ws.send_text(json.dumps(event))
            check_render((await ws.receive_text()).encode(), ref, ref)


def test_a_render_with_the_wrong_count_is_rejected() -> None:
    answer = {"type": "render", "html": '<span class="count">1</span>', "state": {"count": 1},
              "snapshot": "v1.x", "component_id": "counter-1", "ref": 2}  # fmt: skip
    with pytest.raises(WrongAnswer, match="expected count 2"):
        check_render(json.dumps(answer).encode(), 2, 2)


def _unmask(frame: bytes) -> tuple[int, bytes]:
    length, offset = frame[1] & 0x7F, 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    key, payload = frame[offset : offset + 4], frame[offset + 4 :]
    assert frame[1] & 0x80  # masked
    assert len(payload) == length
    return frame[0], bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))


@pytest.mark.parametrize("size", [0, 5, 125, 126, 70_000])
def test_client_frames_are_masked_text_frames(size: int) -> None:
    payload = bytes(index % 251 for index in range(size))
    first, unmasked = _unmask(mask_frame(0x1, payload))
    assert first == 0x81
    assert unmasked == payload


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False


async def test_the_client_reassembles_fragments_and_answers_pings() -> None:
    protocol = WsProtocol("/x/", 1)
    transport = _Transport()
    protocol.connection_made(cast(asyncio.BaseTransport, transport))
    accept = protocol.accept.decode()
    protocol.data_received(f"HTTP/1.1 101 Switching\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                           .encode())  # fmt: skip
    frames = b"\x01\x03abc" + b"\x89\x02hi" + b"\x80\x02de" + b"\x81\x7e\x00\x80" + b"x" * 128
    for index in range(len(frames)):  # one byte at a time
        protocol.data_received(frames[index : index + 1])
    assert protocol.opened.done()
    assert [message for _, message in protocol.messages] == [b"abcde", b"x" * 128]
    assert _unmask(transport.written[-1]) == (0x8A, b"hi")  # the pong


@pytest.mark.uvicorn
def test_round_trips_and_a_broadcast_are_correct_under_uvicorn() -> None:
    plan = cpu_plan()
    with ws_servers("build_ws_components", "websockets") as servers:
        rtt = run_client(plan.wrk, "rtt", servers, ["--clients", "5", "--seconds", "0.3",
                                                    "--warmup", "0.1"], 60)  # fmt: skip
        fanout = run_client(plan.wrk, "fanout", servers, ["--connections", "50",
                                                          "--rounds", "2"], 60)  # fmt: skip
    assert rtt.get("error") is None
    assert rtt["round_trips"] > 0
    assert fanout.get("error") is None
    assert [run["delivered"] for run in fanout["rounds"]] == [50, 50]
    assert all(run["complete"] for run in fanout["rounds"])
    # Each round says how many full collections the server ran during it (read from it).
    assert all(type(run["full_collections"]) is int for run in fanout["rounds"])
    assert all(run["full_collection_ms"] >= 0 for run in fanout["rounds"])


@pytest.mark.uvicorn
def test_a_broadcast_reaches_every_worker_through_redis() -> None:
    with redis_server() as redis:
        env = {"COMPONENT_FRAMEWORK_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0"}
        with ws_servers("build_ws_components", "websockets", count=2, env=env) as servers:
            fanout = run_client((), "fanout", servers, ["--connections", "20", "--rounds", "1"],
                                60)  # fmt: skip
    assert fanout.get("error") is None
    assert fanout["members_per_worker"] == [10, 10]
    assert fanout["rounds"][0]["reached_on_trigger_worker"] == 10
    assert fanout["rounds"][0]["delivered"] == 20


def test_the_in_process_run_checks_its_answers_and_reports_both_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert in_process_main(["--smoke"]) == 0
    printed = capsys.readouterr().out
    assert "us of CPU per event (200 events)" in printed
    assert "us of CPU per member" in printed
    assert "50 connections, 2 broadcasts" in printed


def test_the_in_process_round_trips_run_every_contender_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ["components", "floor", "litestar", "starlette"]
    assert in_process_main(["--smoke", "--parts", "rtt", "--contenders", ",".join(names)]) == 0
    printed = capsys.readouterr().out
    for name in names:
        assert f"rtt {name}: " in printed
    assert "us of CPU per member" not in printed


def test_the_in_process_round_trips_run_many_clients_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--smoke", "--parts", "rtt", "--contenders", "components,floor", "--clients", "20"]
    assert in_process_main(argv) == 0
    printed = capsys.readouterr().out
    assert "us of CPU per event (200 events over 20 clients)" in printed
    assert "rtt floor: " in printed


def test_the_in_process_run_refuses_more_clients_than_events() -> None:
    with pytest.raises(SystemExit):
        in_process_main(["--smoke", "--parts", "rtt", "--clients", "201"])


def test_the_in_process_run_refuses_an_unknown_contender() -> None:
    with pytest.raises(SystemExit):
        in_process_main(["--smoke", "--contenders", "components,nginx"])


CACHEGRIND_OUT = """desc: I1 cache:         32768 B, 64 B, 8-way associative
cmd: python -m benchmarks.websocket.inprocess
events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw
fl=ceval.c
fn=_PyEval_EvalFrameDefault
1 5 0 0 0 0 0 0 0 0
summary: {}
"""


def test_the_cache_simulation_counts_one_event_as_the_difference_of_two_runs() -> None:
    short = parse_counts(CACHEGRIND_OUT.format("1000 10 1 400 40 4 200 20 2"))
    long = parse_counts(CACHEGRIND_OUT.format("3000 30 3 1200 100 14 600 60 12"))
    assert short["D1mr"] == 40
    assert per_event(short, long, 10) == {
        "instructions": 200.0,
        "L1 data misses": 10.0,  # reads (100 - 40) and writes (60 - 20), over 10 events
        "last-level misses": 2.0,
        "L1 instruction misses": 2.0,
    }


def test_the_cache_simulation_refuses_a_file_without_totals() -> None:
    with pytest.raises(ValueError, match="no summary"):
        parse_counts("events: Ir\n")
    with pytest.raises(ValueError, match="2 counts for 1 events"):
        parse_counts("events: Ir\nsummary: 1 2\n")


def test_the_cache_simulation_refuses_an_unknown_contender() -> None:
    with pytest.raises(SystemExit):
        cache_main(["--smoke", "--contenders", "components,nginx"])


def test_the_cache_simulation_of_the_fan_out_refuses_a_short_run_of_warm_up_only() -> None:
    with pytest.raises(SystemExit):  # the in-process fan-out measures after two broadcasts
        cache_main(["--part", "fanout", "--events", "2"])


@pytest.mark.uvicorn
@pytest.mark.parametrize("factory", ["build_ws_components", "build_ws_floor"])
def test_the_worker_counts_loop_checks_every_answer_under_uvicorn(factory: str) -> None:
    with ws_servers(factory, "websockets") as servers:
        asyncio.run(round_trips(servers[0].port, 5))  # raises WrongAnswer on a wrong render


@pytest.mark.parametrize(
    "arguments",
    [["--contenders", "components,nginx"], ["--extra", "0"], ["--repeats", "0"]],
    ids=["unknown contender", "no extra round trips", "no repeats"],
)
def test_the_worker_count_refuses_arguments_it_cannot_count_with(arguments: list[str]) -> None:
    with pytest.raises(SystemExit):
        worker_count_main(arguments)


def test_the_worker_count_is_the_broadcast_window_less_the_idle_one_per_member() -> None:
    busy = parse_totals("events: Ir\nsummary: 9\nfn=x\n1 9\ntotals: 1205000\n")
    assert busy == 1_205_000
    assert per_member(busy, 5_000, connections=400, broadcasts=3) == 1000.0


def test_the_worker_count_refuses_a_dump_without_totals() -> None:
    with pytest.raises(ValueError, match="no totals"):
        parse_totals("events: Ir\nsummary: 9\n")
