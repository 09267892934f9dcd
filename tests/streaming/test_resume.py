"""Delivery as frames are produced, resume with ``Last-Event-ID``, the resume grace, heartbeats
and the bounded replay buffer, at the ASGI message level."""

from __future__ import annotations

import asyncio
import json

import pytest

from component_framework.testing import SSEResponse, sse_request
from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange, eventually
from tests.streaming.stream_components import journal, pacer


def run_of(event_id: str | None) -> str:
    assert event_id is not None
    return event_id.rpartition(".")[0]


def seq_of(event_id: str | None) -> int:
    assert event_id is not None
    return int(event_id.rpartition(".")[2])


async def test_first_frame_arrives_before_the_second_is_produced(streams: Streams) -> None:
    app = streams.app()
    exchange = streams.open(app, "paced", query={"tag": "inc", "steps": 3})

    await exchange.events_count(1)
    await eventually(lambda: pacer.waiting("inc"))
    assert [e.event for e in exchange.events] == ["message"]
    assert "<p>step 1</p>" in exchange.events[0].data
    assert not exchange.ended

    pacer.grant("inc", 2)
    await exchange.events_count(2)
    assert "<p>step 2</p>" in exchange.events[1].data
    await eventually(lambda: pacer.waiting("inc"))
    assert len(exchange.events) == 2

    pacer.grant("inc", 3)
    await exchange.run_to_end()
    assert [e.event for e in exchange.events] == ["message"] * 3 + ["done"]


async def test_resume_gets_exactly_the_missed_frames_then_the_rest(streams: Streams) -> None:
    app = streams.app()
    tag = "resume"
    first = streams.open(app, "paced", query={"tag": tag, "steps": 6})
    await first.events_count(1)
    # A second reader of the same run, attached from frame 1 on: the reference sequence.
    observer = streams.open(app, "paced", headers={"Last-Event-ID": first.last_id})
    pacer.grant(tag, 2)
    await first.events_count(2)
    first.disconnect()
    await first.finished()

    pacer.grant(tag, 4)  # frames 3 and 4 are produced while the client is away
    await observer.events_count(3)
    second = streams.open(app, "paced", headers={"Last-Event-ID": first.last_id})
    await second.events_count(2)
    await eventually(lambda: pacer.waiting(tag))
    assert [seq_of(e.id) for e in second.events] == [3, 4], "the missed frames, at once"

    pacer.grant(tag, 6)
    await second.run_to_end()
    await observer.run_to_end()

    received = first.events + second.events
    run_id = run_of(first.events[0].id)
    assert [e.id for e in received] == [f"{run_id}.{seq}" for seq in range(1, 8)]
    reference = first.events[:1] + observer.events
    assert [(e.id, e.event, e.data) for e in received] == [
        (e.id, e.event, e.data) for e in reference
    ]
    for step, event in enumerate(received[:6], start=1):
        assert f"<p>step {step}</p>" in event.data
    assert received[-1].event == "done"
    assert journal.tags("start") == [tag], "the work ran once"
    assert journal.tags("complete") == [tag]


async def test_resume_after_the_run_finished_gets_the_missed_frames(streams: Streams) -> None:
    app = streams.app()
    first = streams.open(app, "paced", query={"tag": "late", "steps": 3})
    await first.events_count(1)
    first.disconnect()
    await first.finished()
    pacer.grant("late", 3)
    await eventually(lambda: journal.has("complete", "late"))

    second = await streams.open(app, "paced", headers={"Last-Event-ID": first.last_id}).run_to_end()

    assert [seq_of(e.id) for e in second.events] == [2, 3, 4]
    assert [e.event for e in second.events] == ["message", "message", "done"]


async def test_reconnect_after_done_within_the_grace_is_204(streams: Streams) -> None:
    app = streams.app(stream_resume_grace=5.0)
    pacer.grant("done", 2)
    exchange = await streams.open(app, "paced", query={"tag": "done", "steps": 2}).run_to_end()
    assert len(app.streams) == 1, "the finished run is kept for the grace"

    again = await sse_request(
        app, "/components/paced/stream/", headers={"Last-Event-ID": exchange.last_id}
    )

    assert again.status == 204
    assert again.body == b""
    assert journal.tags("start") == ["done"], "the work did not run again"


def assert_told_lost(response: SSEResponse, shown_id: str) -> None:
    """``response`` is the answer to a resume of a stream the server does not have: one
    ``lost`` frame with the ``stream_lost`` error, never a new run and never "finished"."""
    assert response.status == 200
    (lost,) = response.events
    assert lost.event == "lost"
    assert lost.id == f"{shown_id}.lost"
    assert lost.retry is not None, "the retry hint rides on it, as on every first frame"
    error = json.loads(lost.data)
    assert error["code"] == "stream_lost"
    assert "lost" in error["message"]


async def test_reconnect_after_the_grace_expired_is_told_the_stream_is_lost(
    streams: Streams,
) -> None:
    app = streams.app(stream_resume_grace=0.05)
    pacer.grant("expired", 2)
    exchange = await streams.open(app, "paced", query={"tag": "expired", "steps": 2}).run_to_end()
    await eventually(lambda: len(app.streams) == 0)
    assert exchange.last_id is not None
    run_id = exchange.last_id.rpartition(".")[0]

    again = await sse_request(
        app, "/components/paced/stream/", headers={"Last-Event-ID": exchange.last_id}
    )

    assert_told_lost(again, run_id)
    assert journal.tags("start") == ["expired"], "the work did not run again"
    told = await sse_request(
        app, "/components/paced/stream/", headers={"Last-Event-ID": again.events[0].id or ""}
    )
    assert (told.status, told.body) == (204, b""), "once told, a plain EventSource stops"


@pytest.mark.parametrize(
    ("last_event_id", "shown_id"),
    [
        ("unknownrun.3", "unknownrun"),
        ("garbage", "unknown"),
        ("12", "unknown"),
        (".4", "unknown"),
        ("run.", "unknown"),
        ("run.x", "unknown"),
        ("run.-1", "unknown"),
        ("a.b.c", "unknown"),
        ("\u00e9t\u00e9.1", "unknown"),
        ("other-worker_Run9.17", "other-worker_Run9"),
    ],
)
async def test_unknown_or_garbage_last_event_id_is_told_lost_and_starts_nothing(
    streams: Streams, last_event_id: str, shown_id: str
) -> None:
    app = streams.app()
    response = await sse_request(
        app,
        "/components/paced/stream/",
        query={"tag": "never", "steps": 1},
        headers={"Last-Event-ID": last_event_id},
    )

    assert_told_lost(response, shown_id)
    assert len(app.streams) == 0, "no run was started"
    assert journal.entries == []


async def test_last_event_id_of_another_components_run_is_told_lost(streams: Streams) -> None:
    app = streams.app()
    running = streams.open(app, "paced", query={"tag": "other", "steps": 2})
    await running.events_count(1)
    assert running.last_id is not None

    response = await sse_request(
        app,
        "/components/tokens/stream/",
        query={"text": "x"},
        headers={"Last-Event-ID": running.last_id},
    )

    assert_told_lost(response, running.last_id.rpartition(".")[0])
    assert len(app.streams) == 1
    pacer.grant("other", 2)
    await running.run_to_end()
    assert [e.event for e in running.events] == ["message", "message", "done"]


async def _read_one_then_leave(streams: Streams, app: object, name: str, tag: str) -> Exchange:
    exchange = streams.open(app, name, query={"tag": tag, "steps": 5})
    await exchange.events_count(1)
    exchange.disconnect()
    await exchange.finished()
    return exchange


@pytest.mark.parametrize(
    ("name", "app_grace", "grace"),
    [("paced", 0.2, 0.2), ("quick-grace", 30.0, 0.2)],
    ids=["app-setting", "component-setting"],
)
async def test_run_is_cancelled_after_the_grace_with_nobody_back(
    streams: Streams, name: str, app_grace: float, grace: float
) -> None:
    app = streams.app(stream_resume_grace=app_grace)
    loop = asyncio.get_running_loop()
    exchange = await _read_one_then_leave(streams, app, name, "gone")
    left_at = loop.time()

    await asyncio.sleep(grace / 2)
    assert not journal.has("finally", "gone"), "cancelled before the grace ended"
    assert len(app.streams) == 1
    await eventually(lambda: journal.has("finally", "gone"), within=grace + 2)
    waited = loop.time() - left_at

    assert waited >= grace * 0.9
    assert journal.has("cancelled", "gone")
    assert not journal.has("complete", "gone")
    assert len(app.streams) == 0
    again = await sse_request(
        app, f"/components/{name}/stream/", headers={"Last-Event-ID": exchange.last_id}
    )
    assert again.status == 200
    assert [event.event for event in again.events] == ["lost"]


@pytest.mark.parametrize(
    ("name", "app_grace"), [("paced", 0.0), ("no-grace", 30.0)], ids=["app", "component"]
)
async def test_grace_zero_cancels_at_once(streams: Streams, name: str, app_grace: float) -> None:
    app = streams.app(stream_resume_grace=app_grace)
    await _read_one_then_leave(streams, app, name, "now")

    assert len(app.streams) == 0, "forgotten as the reader left"
    waited = await eventually(lambda: journal.has("finally", "now"), within=1.0)
    assert waited < 0.1
    assert journal.has("cancelled", "now")


async def test_reader_back_within_the_grace_stops_the_cancellation(streams: Streams) -> None:
    grace = 0.3
    app = streams.app(stream_resume_grace=grace)
    first = await _read_one_then_leave(streams, app, "paced", "back")
    await asyncio.sleep(grace / 3)

    second = streams.open(app, "paced", headers={"Last-Event-ID": first.last_id})
    await asyncio.sleep(grace * 2)
    assert not journal.has("finally", "back"), "the run was cancelled with a reader attached"

    pacer.grant("back", 5)
    await second.run_to_end()
    assert [seq_of(e.id) for e in second.events] == [2, 3, 4, 5, 6]
    assert journal.has("complete", "back")
    assert not journal.has("cancelled", "back")


async def test_idle_stream_sends_heartbeat_comments(streams: Streams) -> None:
    app = streams.app(stream_heartbeat=0.05)
    exchange = streams.open(app, "paced", query={"tag": "idle", "steps": 2})
    await exchange.events_count(1)

    await exchange.wait_until(lambda: exchange.decoder.comments >= 3, within=2.0)

    assert b"\n\n: keep-alive\n\n" in exchange.body
    assert len(exchange.events) == 1, "comments are not events"
    pacer.grant("idle", 2)
    await exchange.run_to_end()
    assert [e.event for e in exchange.events] == ["message", "message", "done"]


@pytest.mark.parametrize(
    ("settings", "seen", "expected_seqs"),
    [
        ({"stream_replay_frames": 5}, 1, [2, 7, 8, 9, 10, 11]),
        ({"stream_replay_frames": 5}, 2, [7, 8, 9, 10, 11]),
        ({"stream_replay_bytes": 1}, 1, [2, 11]),
        ({"stream_replay_bytes": 1}, 2, [11]),
    ],
    ids=["frames-missed-render", "frames-saw-render", "bytes-missed-render", "bytes-saw-render"],
)
async def test_reconnect_from_behind_the_replay_buffer(
    streams: Streams, settings: dict[str, int], seen: int, expected_seqs: list[int]
) -> None:
    """Frames: 1 and 2 render, 3-10 are one stream op each, 11 is done. The buffer keeps the
    newest frames (``stream_replay_frames``; ``stream_replay_bytes``, the newest frame always
    kept). A reader behind it first gets the latest render it has not seen and the buffer no
    longer holds, then what is kept; never a render it already has."""
    app = streams.app(**settings)
    first = streams.open(app, "burst", query={"tag": "far", "ops": 8})
    await first.events_count(1)
    if seen == 2:
        pacer.grant("far", 2)
        await first.events_count(2)
    first.disconnect()
    await first.finished()
    run = app.streams.get(run_of(first.last_id))
    assert run is not None
    pacer.grant("far", 3)
    await eventually(lambda: run.finished)
    assert run.next_seq == 12

    second = await streams.open(app, "burst", headers={"Last-Event-ID": first.last_id}).run_to_end()

    assert [seq_of(e.id) for e in second.events] == expected_seqs
    if 2 in expected_seqs:
        assert second.events[0].event == "message"
        assert "step 2" in second.events[0].data
    for event in second.events:
        if event.event == "stream":
            (op,) = json.loads(event.data)
            assert op == {"op": "start", "stream": f"part-{seq_of(event.id) - 3}"}
    assert [e.event for e in second.events if e.event != "stream"][-1] == "done"
    assert len(run.frames) <= settings.get("stream_replay_frames", 512)
