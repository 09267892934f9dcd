"""The streaming benchmark's checker accepts exactly the right streams: no timing here.

``benchmarks.streaming.decode.ResponseReader`` is what makes ``python -m benchmarks.streaming
--smoke`` fail on a lost, repeated or reordered token; these tests feed it hand-built responses.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator

import pytest
from benchmarks.streaming.decode import ResponseReader, WrongStream
from benchmarks.streaming.report import load_summary, token_text_bytes

from component_framework.protocol.sse import encode_event

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _stream_frame(seq: int, ops: list[dict[str, str]]) -> bytes:
    return encode_event(json.dumps(ops), event="stream", id=f"run.{seq}")


def _text(*indices: int) -> dict[str, str]:
    text = "".join(f"{index}@1700000000.{index:06d} " for index in indices)
    return {"op": "text", "stream": "out", "text": text, "mode": "append"}


def _response(batches: list[list[int]], *, done: bool = True) -> bytes:
    frames = [b"retry: 2000\n\n", _stream_frame(1, [{"op": "start", "stream": "out"}])]
    for seq, batch in enumerate(batches, start=2):
        frames.append(_stream_frame(seq, [_text(*batch)]))
    if done:
        frames.append(_stream_frame(99, [{"op": "done", "stream": "out"}]))
        frames.append(encode_event("<div></div>", id="run.100"))
        frames.append(encode_event('{"component_id": "x"}', event="done", id="run.101"))
    body = b"".join(b"%x\r\n%s\r\n" % (len(frame), frame) for frame in frames)
    return HEAD + body + (b"0\r\n\r\n" if done else b"")


def _read(data: bytes, tokens: int, *, step: int = 1) -> ResponseReader:
    reader = ResponseReader(expected_tokens=tokens, stamped=True)
    for offset in range(0, len(data), step):
        reader.feed(float(offset), data[offset : offset + step])
    return reader


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_a_complete_stream_passes_however_it_is_split(step: int) -> None:
    data = _response([[0, 1], [2], [3, 4, 5]])
    reader = _read(data, 6, step=step)
    reader.check_complete()
    assert reader.tokens == 6
    assert list(reader.sent) == [1700000000 + index / 1e6 for index in range(6)]
    assert reader.arrived[0] <= reader.arrived[2] <= reader.arrived[5] < len(data)
    assert reader.events["stream"] == 5
    assert reader.wire_bytes == len(data)


@pytest.mark.parametrize(
    ("batches", "message"),
    [
        ([[0, 2]], "expected token 1"),
        ([[0, 1], [1]], "expected token 2"),
        ([[1, 0]], "expected token 0"),
    ],
)
def test_a_lost_repeated_or_reordered_token_fails(batches: list[list[int]], message: str) -> None:
    with pytest.raises(WrongStream, match=message):
        _read(_response(batches), 2)


def test_a_done_op_before_the_last_token_fails() -> None:
    with pytest.raises(WrongStream, match="done op after 2 of 3 tokens"):
        _read(_response([[0, 1]]), 3)


def test_a_cut_response_fails_the_completeness_check() -> None:
    reader = _read(_response([[0, 1]], done=False), 2)
    with pytest.raises(WrongStream, match="response cut after 2 of 2 tokens"):
        reader.check_complete()


def test_an_error_frame_fails() -> None:
    frame = encode_event('{"code": "boom"}', event="error")
    data = HEAD + b"%x\r\n%s\r\n" % (len(frame), frame)
    with pytest.raises(WrongStream, match="unexpected 'error' frame"):
        _read(data, 1)


def test_a_non_200_answer_fails() -> None:
    with pytest.raises(WrongStream, match="expected status 200"):
        _read(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", 1)


def test_token_text_sizes() -> None:
    assert token_text_bytes(10, stamped=False) == 3  # "t0 " .. "t9 "
    assert token_text_bytes(10, stamped=True) == 20  # "0@1700000000.000000 "


def _plain_response(tokens: list[int], *, done: bool = True) -> bytes:
    """What the sse-starlette contender sends: one message per token (CRLF separators)."""
    frames = [f"data: {index}@1700000000.{index:06d} \r\n\r\n".encode() for index in tokens]
    if done:
        frames.append(b"event: done\r\ndata: done\r\n\r\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(frame), frame) for frame in frames)
    return HEAD + body + (b"0\r\n\r\n" if done else b"")


def _read_plain(data: bytes, tokens: int, *, step: int = 1) -> ResponseReader:
    reader = ResponseReader(expected_tokens=tokens, stamped=True, plain=True)
    for offset in range(0, len(data), step):
        reader.feed(float(offset), data[offset : offset + step])
    return reader


@pytest.mark.parametrize("step", [1, 5, 4096])
def test_a_complete_contender_stream_passes_however_it_is_split(step: int) -> None:
    reader = _read_plain(_plain_response([0, 1, 2]), 3, step=step)
    reader.check_complete()
    assert reader.tokens == 3
    assert reader.events["message"] == 3


@pytest.mark.parametrize(
    ("tokens", "message"),
    [([0, 2], "expected token 1"), ([0, 1, 1], "expected token 2"), ([1, 0], "expected token 0")],
)
def test_a_contender_stream_that_loses_repeats_or_reorders_fails(
    tokens: list[int], message: str
) -> None:
    with pytest.raises(WrongStream, match=message):
        _read_plain(_plain_response(tokens), 2)


def test_a_contender_stream_ending_early_fails() -> None:
    with pytest.raises(WrongStream, match="done after 1 of 2 tokens"):
        _read_plain(_plain_response([0]), 2)


@pytest.mark.parametrize("clock", [[], ["--virtual-clock"]], ids=["uvloop", "virtual-clock"])
def test_the_in_process_diagnostic_checks_every_stream_of_every_contender(
    clock: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.streaming import inprocess

    assert inprocess.main(["--smoke", *clock]) == 0

    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["ComponentASGI", "20"],
        ["sse-starlette", "20"],
        ["ComponentASGI page compact", "20"],
        ["ComponentASGI page full", "20"],
        ["ComponentASGI floor", "20"],
        ["token loop alone", "20"],
    ]
    cells = {row.split(" | ")[0]: row.split(" | ") for row in rows}
    assert cells["ComponentASGI floor"][6:] == ["-", "-"]  # it streams no token
    assert cells["token loop alone"][6:] == ["-", "-"]
    if clock:  # a virtual clock never runs late: every run ends on its schedule
        assert [float(row.split(" | ")[5]) <= 0 for row in rows] == [True] * 6
        # and the latency is the batching's alone: none for one send per token, at most
        # a frame clock's longest wait (three frames) for ours
        assert cells["sse-starlette"][6:] == ["0.0", "0.0"]
        assert 0 < float(cells["ComponentASGI"][6]) <= float(cells["ComponentASGI"][7]) <= 50


def test_the_in_process_diagnostic_takes_a_rate_and_can_skip_the_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks.streaming import inprocess

    arguments = ["--smoke", "--virtual-clock", "--rate", "40", "--no-check"]
    assert inprocess.main([*arguments, "--only", "ComponentASGI"]) == 0

    (row,) = capsys.readouterr().out.splitlines()[1:]
    cells = row.split(" | ")
    # 40 tokens/s is a token every 25 ms, more than a frame: each goes out alone, in a send
    # of its own (at 100 tokens/s a frame carries about 1.7)
    assert float(cells[3]) >= 1
    assert cells[6:] == ["-", "-"]  # unchecked: no latency either


def _load_run(*, p99_ms: float, last_token_after_s: float | None) -> dict[str, object]:
    """A load run of 10 s of tokens after a 1 s ramp, as the client reports it."""
    return {
        "complete": True,
        "schedule_latency": {"p99_ms": p99_ms},
        "ramp_s": 1.0,
        "tokens_per_stream": 1000,
        "rate": 100.0,
        "last_token_after_s": last_token_after_s,
    }


def test_a_load_run_on_time_and_on_pace_works() -> None:
    assert load_summary([_load_run(p99_ms=60.0, last_token_after_s=11.6)])["works"]


def test_a_load_run_whose_last_token_came_far_past_its_nominal_end_does_not_work() -> None:
    # Each stream kept its own schedule from its late first token, so p99 looks fine, but
    # the server fell behind the opening ramp and never carried all the streams at once.
    late = _load_run(p99_ms=60.0, last_token_after_s=26.5)
    assert not load_summary([late])["works"]


def test_a_load_run_over_the_latency_target_does_not_work() -> None:
    assert not load_summary([_load_run(p99_ms=150.0, last_token_after_s=11.2)])["works"]


# -- the collector settings and the count through the server ------------------------------------


@pytest.fixture
def collector() -> Iterator[None]:
    """Puts the collector back as it was: thresholds, callbacks (each app built adds its
    pause counter) and nothing frozen."""
    thresholds, callbacks = gc.get_threshold(), gc.callbacks[:]
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks


async def _lifespan(app: object) -> list[str]:
    """Run ``app``'s lifespan (startup, then shutdown); the message types it sent."""
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return next(incoming)

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)  # type: ignore[operator]
    return sent


async def _get(app: object, path: str) -> dict[str, object]:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    await app(scope, receive, send)  # type: ignore[operator]
    assert sent[0]["status"] == 200
    body = sent[1]["body"]
    assert isinstance(body, bytes)
    found: dict[str, object] = json.loads(body)
    return found


@pytest.mark.parametrize(
    "factory", ["build_stream_app", "build_served_token_loop_app", "contender"]
)
async def test_the_freeze_setting_freezes_the_workers_objects_at_the_lifespan_startup(
    factory: str, monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    from benchmarks.streaming import app as streaming_app
    from benchmarks.streaming.contender import build_contender_app

    monkeypatch.setenv(streaming_app.GC_ENV, "freeze")
    build = build_contender_app if factory == "contender" else getattr(streaming_app, factory)
    app = build()
    assert gc.get_freeze_count() == 0
    assert await _lifespan(app) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # everything imported so far
    objects = await _get(app, streaming_app.OBJECTS_PATH)
    assert objects["frozen"] == frozen
    assert set(objects) == {"gen0", "gen1", "gen2", "frozen"}


async def test_the_default_setting_leaves_the_collector_alone(
    monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    from benchmarks.streaming import app as streaming_app

    monkeypatch.delenv(streaming_app.GC_ENV, raising=False)
    thresholds = gc.get_threshold()
    app = streaming_app.build_served_token_loop_app()
    await _lifespan(app)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
    objects = await _get(app, streaming_app.OBJECTS_PATH)
    assert objects["frozen"] == 0
    assert isinstance(objects["gen2"], int)
    assert objects["gen2"] > 0


def test_the_thresholds_setting_raises_the_young_threshold(
    monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    from benchmarks.streaming import app as streaming_app

    monkeypatch.setenv(streaming_app.GC_ENV, "thresholds")
    assert streaming_app.apply_gc_setting() == "thresholds"
    assert gc.get_threshold() == (7000, 10, 10)


def test_an_unknown_collector_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.streaming import app as streaming_app

    monkeypatch.setenv(streaming_app.GC_ENV, "off")
    with pytest.raises(ValueError, match="'off' is not one of default, thresholds, freeze"):
        streaming_app.apply_gc_setting()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--window", "5:3"], "not 0 <= START < END"),
        (["--window", "3"], "not START:END"),
        (["--window", "3:12"], "--window ends after the streams do"),
        (["--gc", "off"], "'off' is not one of default, thresholds, freeze"),
        (["--contenders", "ours,litestar"], "'litestar' is not one of"),
        (["--streams", "0"], "--streams: not counts"),
    ],
)
def test_the_perf_count_refuses_bad_options_by_name(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.streaming import perfcount

    with pytest.raises(SystemExit) as exited:
        perfcount.main(arguments)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
