"""The page's streams on the page's socket (issue 18): ``stream`` / ``unstream`` messages
carry page-connection entries over an open WebSocket, through the page connection's own
entry path, with its control frames and the runs' frames as socket text messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from component_framework import ComponentASGI
from component_framework.asgi import socket_streams
from component_framework.core.websocket import WebSocketManager
from component_framework.protocol.sse import stream_ops
from component_framework.testing import websocket_connect
from tests.streaming.exchange import eventually
from tests.websocket.helpers import RawSocket, make_app, ws_path
from tests.websocket.socket_streams import Carried, read_carried, stream_entry
from tests.websocket.ws_components import gates, journal

Raw = Callable[..., RawSocket]


async def _ping(ws: object) -> dict[str, object]:
    """The socket still answers (a ping's pong)."""
    await ws.send_json({"type": "ping", "ref": "alive"})  # type: ignore[attr-defined]
    answer = await read_carried(ws, messages=1)  # type: ignore[arg-type]
    return answer.messages[-1]


async def test_streams_ride_the_socket_and_each_run_completes(app: ComponentASGI) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=2"))
        await ws.send_json(stream_entry("b", "ticker", "times=3"))
        carried = await read_carried(ws, until_ended=("a", "b"))
        own = await ws.event("increment", ref=1)
    assert carried.controls["a"]["run"] != carried.controls["b"]["run"]
    assert [frame.event for frame in carried.of("a")] == ["message"] * 2 + ["done"]
    assert [frame.event for frame in carried.of("b")] == ["message"] * 3 + ["done"]
    assert carried.messages == []
    assert own["state"] == {"count": 1}  # the socket's own component goes on


async def test_a_frame_is_the_page_connections_bytes_unchanged(app: ComponentASGI) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=1"))
        control = await ws.receive_text()
        first = await ws.receive_text()
    run = json.loads(control.split("data: ", 1)[1])["run"]
    assert control.startswith("event: page\n")
    assert first.startswith(f"id: {run}.1\n")
    assert first.endswith("\n\n")


async def test_a_run_resumed_on_a_new_socket_loses_and_repeats_nothing(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=6"))
        carried = await read_carried(ws, frames=2)
    seen = carried.frames[:2]  # what the page got before the drop
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "stream", "key": "a", "name": "ticker", "resume": seen[-1].id})
        again = await read_carried(ws, until_ended=("a",))
    ids = [frame.id for frame in seen + again.of("a")]
    run = carried.controls["a"]["run"]
    assert again.controls["a"]["run"] == run
    assert ids == [f"{run}.{seq}" for seq in range(1, len(ids) + 1)]
    assert (seen + again.of("a"))[-1].event == "done"
    assert len([f for f in seen + again.of("a") if f.event == "message"]) == 6


async def test_resuming_a_finished_run_says_finished_and_a_forged_one_is_lost(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=1"))
        carried = await read_carried(ws, until_ended=("a",))
        last = carried.of("a")[-1].id
        await ws.send_json({"type": "stream", "key": "b", "name": "ticker", "resume": last})
        await ws.send_json({"type": "stream", "key": "c", "name": "ticker", "resume": "made.3"})
        ends = await read_carried(ws, until_ended=("b", "c"))
        await ws.send_json({"type": "stream", "key": "d", "name": "counter", "resume": last})
        await read_carried(ws, ends, until_ended=("d",))
        alive = await _ping(ws)
    assert ends.controls["b"] == {"end": "finished"}
    assert (ends.controls["c"]["end"], ends.controls["c"]["error"]["code"]) == (
        "lost",
        "stream_lost",
    )
    assert ends.controls["d"]["end"] == "lost"  # another component's run is not this one's
    assert alive["type"] == "pong"


@pytest.mark.parametrize(
    ("entry", "status", "code"),
    [
        (stream_entry("x", "nothing-here"), 404, "component_not_found"),
        (stream_entry("x", "counter"), 404, "stream_not_found"),
        (stream_entry("x", "ticker", "times=lots"), 422, "validation_error"),
        (stream_entry("x", "ticker", "snapshot=forged"), 400, "invalid_snapshot"),
        (stream_entry("x", "ticker", "event=increment"), 404, "event_not_found"),
    ],
)
async def test_an_entry_its_own_stream_would_refuse_is_refused_with_that_status(
    app: ComponentASGI, entry: dict[str, object], status: int, code: str
) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(entry)
        carried = await read_carried(ws, until_ended=("x",))
        alive = await _ping(ws)
    control = carried.controls["x"]
    assert (control["end"], control["status"], control["error"]["code"]) == (
        "refused",
        status,
        code,
    )
    assert alive["type"] == "pong"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "stream", "name": "ticker", "query": ""},  # no key
        {"type": "stream", "key": "", "name": "ticker", "query": ""},
        {"type": "stream", "key": "k" * 65, "name": "ticker", "query": ""},
        {"type": "stream", "key": 3, "name": "ticker", "query": ""},
        {"type": "stream", "key": "k", "query": ""},  # no name
        {"type": "stream", "key": "k", "name": "n" * 129, "query": ""},
        {"type": "stream", "key": "k", "name": "ticker"},  # neither query nor resume
        {"type": "stream", "key": "k", "name": "ticker", "query": "", "resume": "r.1"},
        {"type": "stream", "key": "k", "name": "ticker", "query": 7},
        {"type": "stream", "key": "k", "name": "ticker", "resume": "r" * 97},
        {"type": "stream", "key": "k", "name": "ticker", "query": "", "extra": 1},
        {"type": "unstream"},
        {"type": "unstream", "key": ["k"]},
        {"type": "unstream", "key": "k", "name": "ticker"},
    ],
)
async def test_a_malformed_stream_message_is_an_error_and_the_socket_stays(
    app: ComponentASGI, message: dict[str, object]
) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json({**message, "ref": "bad"})
        answer = await ws.receive_json()
        alive = await _ping(ws)
    assert (answer["type"], answer["code"], answer["ref"]) == ("error", "malformed_request", "bad")
    assert alive["type"] == "pong"


async def test_a_key_in_use_is_refused_and_its_stream_goes_on(app: ComponentASGI) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=2"))
        await ws.send_json({**stream_entry("a", "ticker", "times=9"), "ref": "again"})
        carried = await read_carried(ws, until_ended=("a",), messages=1)
    assert (carried.messages[0]["code"], carried.messages[0]["ref"]) == (
        "malformed_request",
        "again",
    )
    assert [frame.event for frame in carried.of("a")] == ["message"] * 2 + ["done"]


async def test_a_run_the_socket_carries_is_not_resumed_by_a_second_key(
    app: ComponentASGI,
) -> None:
    # Carried by two keys, each of its frames would go out twice on the one socket.
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "gated", "tag=dup"))
        carried = await read_carried(ws, frames=1)
        again = {"type": "stream", "key": "b", "name": "gated", "ref": "dup"}
        await ws.send_json({**again, "resume": carried.frames[0].id})
        refused = await read_carried(ws, messages=1)
        gates.open("dup")
        await read_carried(ws, carried, until_ended=("a",))
    assert refused.messages[0]["code"] == "malformed_request"
    assert refused.messages[0]["ref"] == "dup"
    assert "b" not in refused.controls
    assert not refused.frames
    frames = carried.of("a")
    assert [frame.event for frame in frames] == ["message"] * 2 + ["done"]
    assert len({frame.id for frame in frames}) == len(frames)


async def test_unstream_of_an_unknown_key_is_not_joined(app: ComponentASGI) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "unstream", "key": "nope", "ref": 4})
        answer = await ws.receive_json()
        alive = await _ping(ws)
    assert (answer["type"], answer["code"], answer["ref"]) == ("error", "not_joined", 4)
    assert alive["type"] == "pong"


async def test_a_socket_carries_at_most_its_bound_of_streams(
    app: ComponentASGI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket_streams, "MAX_SOCKET_STREAMS", 1)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "live"))  # a live subscription: runs on
        await ws.send_json(stream_entry("b", "ticker", "times=1"))
        carried = await read_carried(ws, controls=2)
    assert (carried.controls["b"]["status"], carried.controls["b"]["error"]["code"]) == (
        429,
        "rate_limited",
    )
    assert "run" in carried.controls["a"]


async def test_new_runs_count_in_max_page_streams_per_client() -> None:
    app = make_app(max_page_streams_per_client=1)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "live"))
        await ws.send_json(stream_entry("b", "live"))
        carried = await read_carried(ws, controls=2)
    assert "run" in carried.controls["a"]
    assert (carried.controls["b"]["status"], carried.controls["b"]["error"]["code"]) == (
        429,
        "rate_limited",
    )


async def test_each_new_run_costs_a_request_of_the_clients_rate() -> None:
    app = make_app(http_rate=0.001, http_burst=2)  # the handshake takes one
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=1"))
        await ws.send_json(stream_entry("b", "ticker", "times=1"))
        carried = await read_carried(ws, until_ended=("a", "b"))
    assert "run" in carried.controls["a"]
    assert (carried.controls["b"]["status"], carried.controls["b"]["error"]["code"]) == (
        429,
        "rate_limited",
    )


async def test_unstream_stops_sending_that_run_only(app: ComponentASGI) -> None:
    manager = WebSocketManager(hub=app.hub)
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "live"))
        await ws.send_json(stream_entry("b", "live"))
        carried = await read_carried(ws, frames=2)  # each subscription's first render
        await ws.send_json({"type": "unstream", "key": "a", "ref": "stop"})
        await read_carried(ws, carried, messages=1)
        assert await manager.broadcast(component_name="live", event="bump") == 2
        while len(carried.of("b")) < 2:  # its first render, then the push
            carried.take(await ws.receive_text())
        await asyncio.sleep(0.05)  # a frame of "a" would have come by now
        alive = await _ping(ws)
    assert carried.messages[0] == {"type": "unstreamed", "key": "a", "ref": "stop"}
    assert len(carried.of("a")) == 1  # nothing of it after the unstream
    assert alive["type"] == "pong"


async def test_a_small_outbox_holds_frames_back_and_loses_none() -> None:
    app = make_app(ws_outbox_messages=4)  # a run of 60 frames passes through 2 at a time
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=60"))
        await ws.send_json(stream_entry("b", "ticker", "times=60"))
        carried = await read_carried(ws, until_ended=("a", "b"))
        alive = await _ping(ws)
    for key in ("a", "b"):
        run = carried.controls[key]["run"]
        frames = carried.of(key)
        assert [frame.id for frame in frames] == [f"{run}.{seq}" for seq in range(1, 62)]
        assert [frame.event for frame in frames] == ["message"] * 60 + ["done"]
    assert alive["type"] == "pong"


async def test_a_client_that_takes_no_frame_is_the_sockets_slow_consumer(raw: Raw) -> None:
    app = make_app(ws_send_timeout=0.2)
    socket = raw(app, "counter")
    await socket.wait_until(lambda: len(socket.messages) == 1)
    socket.hold_sends()
    socket.send_json(stream_entry("a", "ticker", "times=3"))
    close = await socket.closed()
    assert close["code"] == 1013
    socket.disconnect()
    await socket.finished()
    assert len(app.sockets) == 0


async def test_a_post_entry_rides_the_socket_with_its_form_body(app: ComponentASGI) -> None:
    entry = {"type": "stream", "key": "p", "name": "ticker", "query": "", "method": "POST"}
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json({**entry, "body": "times=2"})
        await ws.send_json({**entry, "key": "q", "body": "times=many"})
        await ws.send_json({**entry, "key": "r", "method": "PUT", "body": "times=1"})
        carried = await read_carried(ws, until_ended=("p", "q"), messages=1)
    assert [frame.event for frame in carried.of("p")] == ["message"] * 2 + ["done"]
    assert (carried.controls["q"]["status"], carried.controls["q"]["error"]["code"]) == (
        422,
        "validation_error",
    )
    assert carried.messages[0]["code"] == "malformed_request"  # a body is a POST's alone


async def test_an_unstream_while_its_entry_joins_cancels_it_and_nothing_of_it_comes(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("s", "slowstart"))
        await eventually(lambda: journal.has("mount", "slowstart"))
        await ws.send_json({"type": "unstream", "key": "s", "ref": "stop"})
        stopped = await ws.receive_json()
        gates.open("mount")
        await ws.send_json(stream_entry("t", "ticker", "times=1"))  # after the slow join ended
        carried = await read_carried(ws, until_ended=("t",))
        alive = await _ping(ws)
    assert stopped == {"type": "unstreamed", "key": "s", "ref": "stop"}
    assert "s" not in carried.controls
    assert all(
        (frame.id or "").startswith(carried.controls["t"]["run"]) for frame in carried.frames
    )
    assert alive["type"] == "pong"


async def test_an_entry_that_asks_for_compact_frames_gets_them_numbered_by_the_socket(
    app: ComponentASGI,
) -> None:
    async with websocket_connect(app, ws_path("counter")) as ws:
        await ws.receive_json()
        await ws.send_json(stream_entry("a", "ticker", "times=1", frames="compact"))
        form = {"method": "POST", "body": "event=write&parts=3", "frames": "compact"}
        await ws.send_json(stream_entry("b", "writer", **form))
        texts: list[str] = []
        carried = Carried()
        while not (carried.ended("a") and carried.ended("b")):
            text = await ws.receive_text()
            texts.append(text)
            carried.take(text)
        await ws.send_json({"type": "stream", "key": "c", "name": "ticker", "frames": "short"})
        answer = await ws.receive_json()
    assert {carried.controls["a"]["short"], carried.controls["b"]["short"]} == {1, 2}
    short = carried.controls["b"]["short"]
    compact = [text for text in texts if text.startswith(f"t:{short}.")]
    assert compact
    assert all(text.count("\n") == 3 for text in compact)  # t:, data:, blank line
    ops = [op for frame in carried.of("b") for op in stream_ops(frame) or [] if op["op"] == "text"]
    assert "".join(str(op["text"]) for op in ops) == "piece-0;piece-1;piece-2;"
    assert [frame.event for frame in carried.of("a")] == ["message", "done"]
    assert (answer["type"], answer["code"]) == ("error", "malformed_request")
    assert "'frames' must be" in answer["message"]
