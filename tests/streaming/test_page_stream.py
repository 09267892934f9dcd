"""The page connection (``POST /_page/``): several component streams over one SSE response,
at the ASGI message level. Each entry is started or resumed as a stream of its own would be
and keeps its own errors; the connection ends when no run is left."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from component_framework.core.broker import MemoryBroker
from component_framework.core.hub import Hub
from component_framework.protocol.sse import SSEEvent
from component_framework.testing import http_scope
from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange, eventually
from tests.streaming.page_wire import controls, new, of_run, page_request, steps
from tests.streaming.stream_components import journal, pacer


async def test_two_components_stream_over_one_connection_which_ends_with_the_last_run(
    streams: Streams,
) -> None:
    app = streams.app()
    exchange = page_request(
        app, streams, [new("a", "paced", tag="pa", steps=2), new("b", "paced", tag="pb", steps=2)]
    )
    await exchange.wait_until(lambda: len(controls(exchange)) == 2)
    runs = {key: control["run"] for key, control in controls(exchange).items()}
    assert runs["a"] != runs["b"]
    assert exchange.status == 200
    assert exchange.headers["content-type"].startswith("text/event-stream")
    pacer.grant("pa", 2)
    await exchange.wait_until(lambda: any(e.event == "done" for e in of_run(exchange, runs["a"])))
    assert not exchange.ended  # b still streams
    pacer.grant("pb", 2)
    await exchange.run_to_end()
    for key in "ab":
        events = of_run(exchange, runs[key])
        assert [e.event for e in events] == ["message", "message", "done"]
        assert steps(events) == ["1", "2"]


async def test_one_components_error_ends_its_run_only(streams: Streams) -> None:
    app = streams.app()
    exchange = page_request(
        app, streams, [new("bad", "failing", event="explode"), new("ok", "paced", tag="ok")]
    )
    await exchange.wait_until(lambda: any(e.event == "error" for e in exchange.events))
    assert not exchange.ended
    pacer.grant("ok", 3)
    await exchange.run_to_end()
    runs = {key: control["run"] for key, control in controls(exchange).items()}
    assert [e.event for e in of_run(exchange, runs["bad"])] == ["message", "error"]
    assert "database" not in exchange.body.decode()  # the secret stays in the log
    assert steps(of_run(exchange, runs["ok"])) == ["1", "2", "3"]


async def test_an_entry_is_refused_with_what_its_own_stream_would_answer(streams: Streams) -> None:
    app = streams.app()
    alone = streams.open(app, "plain")
    await alone.run_to_end()
    exchange = page_request(
        app,
        streams,
        [new("plain", "plain"), new("nobody", "no-such"), new("ok", "paced", tag="r", steps=1)],
    )
    await exchange.run_to_end()
    found = controls(exchange)
    assert found["plain"]["end"] == "refused"
    assert found["plain"]["status"] == alone.status == 404
    assert found["plain"]["error"] == alone.json_body()["error"]
    assert found["nobody"]["status"] == 404
    assert found["nobody"]["error"]["code"] == "component_not_found"
    assert steps(of_run(exchange, found["ok"]["run"])) == ["1"]


async def test_a_get_stream_rule_holds_for_entries_a_plain_handler_is_refused(
    streams: Streams,
) -> None:
    app = streams.app()
    exchange = page_request(app, streams, [new("bump", "paced", event="bump")])
    await exchange.run_to_end()
    assert controls(exchange)["bump"]["status"] == 405
    assert journal.tags("start") == []


async def test_resume_continues_each_run_after_its_own_last_frame(streams: Streams) -> None:
    app = streams.app()
    first = page_request(
        app, streams, [new("a", "paced", tag="ra", steps=4), new("b", "paced", tag="rb", steps=4)]
    )
    await first.wait_until(
        lambda: len([e for e in first.events if e.event is None or e.event == "message"]) == 2
    )
    runs = {key: control["run"] for key, control in controls(first).items()}
    pacer.grant("ra", 2)
    await first.wait_until(lambda: len(of_run(first, runs["a"])) == 2)
    first.disconnect()
    await first.finished()
    pacer.grant("ra", 4)  # produced while the page is away
    pacer.grant("rb", 3)
    await eventually(lambda: pacer.waiting("rb"))
    second = page_request(
        app,
        streams,
        [
            {"key": "a", "name": "paced", "resume": of_run(first, runs["a"])[-1].id},
            {"key": "b", "name": "paced", "resume": of_run(first, runs["b"])[-1].id},
        ],
    )
    await second.wait_until(lambda: any(e.event == "done" for e in of_run(second, runs["a"])))
    pacer.grant("rb", 4)
    await second.run_to_end()
    assert steps(of_run(first, runs["a"]) + of_run(second, runs["a"])) == ["1", "2", "3", "4"]
    assert steps(of_run(first, runs["b"]) + of_run(second, runs["b"])) == ["1", "2", "3", "4"]
    assert journal.tags("start").count("ra") == 1


async def test_a_forged_or_foreign_run_id_is_lost_and_a_finished_run_ended(
    streams: Streams,
) -> None:
    app = streams.app()
    done = page_request(app, streams, [new("t", "paced", tag="f", steps=1)])
    await done.run_to_end()
    finished_id = done.last_id
    exchange = page_request(
        app,
        streams,
        [
            {"key": "forged", "name": "paced", "resume": "not-a-run.3"},
            {"key": "other", "name": "tokens", "resume": finished_id},  # another component's
            {"key": "junk", "name": "paced", "resume": "no dot"},
        ],
    )
    await exchange.run_to_end()
    # A run is resumed by one entry of a request: its own name, asked apart.
    own = page_request(app, streams, [{"key": "fin", "name": "paced", "resume": finished_id}])
    await own.run_to_end()
    found = {**controls(exchange), **controls(own)}
    assert found["forged"]["end"] == found["other"]["end"] == found["junk"]["end"] == "lost"
    assert found["forged"]["error"]["code"] == "stream_lost"
    assert found["fin"] == {"key": "fin", "end": "finished"}
    assert [e.event for e in exchange.events + own.events] == ["page"] * 4


async def test_leaving_starts_each_runs_grace_then_it_is_cancelled(streams: Streams) -> None:
    app = streams.app()
    exchange = page_request(app, streams, [new("g", "no-grace", tag="gone", steps=3)])
    await exchange.events_count(2)
    exchange.disconnect()
    await exchange.finished()
    await eventually(lambda: journal.has("cancelled", "gone"))
    assert len(app.streams) == 0
    assert app.guard.open_count("page_stream") == 0  # the client's count of its runs


async def test_the_connection_takes_one_stream_slot_of_the_client(streams: Streams) -> None:
    app = streams.app(max_streams_per_client=3)
    held = [streams.open(app, "paced", query={"tag": f"h{n}"}) for n in range(2)]
    for exchange in held:
        await exchange.events_count(1)
    exchange = page_request(
        app, streams, [new(str(n), "paced", tag=f"s{n}", steps=1) for n in range(3)]
    )
    await exchange.run_to_end()
    assert len([e for e in exchange.events if e.event == "done"]) == 3
    assert app.guard.open_count("stream") == 2


async def test_bad_requests_get_the_json_error_answer(streams: Streams) -> None:
    app = streams.app(max_streams_per_client=2)
    cases = [
        ({"streams": []}, 400, "malformed_request"),
        ({"streams": [{"key": "a", "name": "paced"}]}, 400, "malformed_request"),
        ({"streams": [new("a", "paced"), new("a", "paced")]}, 400, "malformed_request"),
        ({"streams": [new(str(n), "paced") for n in range(257)]}, 413, "payload_too_large"),
        ({"streams": [new("a", "paced")], "extra": 1}, 400, "malformed_request"),
    ]
    for document, status, code in cases:
        body = json.dumps(document).encode()
        scope = http_scope(
            "POST", "/components/_page/", headers={"content-type": "application/json"}
        )
        exchange = streams.track(Exchange(app, scope, body=body).start())
        await exchange.run_to_end()
        assert (exchange.status, exchange.json_body()["error"]["code"]) == (status, code), document
    get = streams.track(Exchange(app, http_scope("GET", "/components/_page/")).start())
    await get.run_to_end()
    assert get.status == 405
    form = streams.track(
        Exchange(
            app,
            http_scope("POST", "/components/_page/", headers={"content-type": "text/plain"}),
            body=b"{}",
        ).start()
    )
    await form.run_to_end()
    assert form.status == 415
    assert len(app.streams) == 0


async def test_a_cross_site_page_cannot_open_it(streams: Streams) -> None:
    app = streams.app()
    exchange = page_request(
        app,
        streams,
        [new("a", "paced", tag="x")],
        headers={"origin": "https://evil.example", "host": "testserver"},
    )
    await exchange.run_to_end()
    assert exchange.status == 403
    assert journal.tags("start") == []


async def test_a_resume_on_another_worker_follows_the_run_from_the_resume_store(
    streams: Streams,
) -> None:
    broker = MemoryBroker()
    worker_a, worker_b = streams.app(hub=Hub(broker)), streams.app(hub=Hub(broker))
    first = page_request(worker_a, streams, [new("a", "paced", tag="hop", steps=4)])
    await first.events_count(2)
    run_id = controls(first)["a"]["run"]
    first.disconnect()
    await first.finished()
    pacer.grant("hop", 3)  # produced on worker A while the page is away
    await eventually(lambda: pacer.waiting("hop"))
    resume = {"key": "a", "name": "paced", "resume": of_run(first, run_id)[-1].id}
    second = page_request(worker_b, streams, [resume])
    await second.wait_until(lambda: len(of_run(second, run_id)) == 2)
    pacer.grant("hop", 4)
    await second.run_to_end()
    assert steps(of_run(first, run_id) + of_run(second, run_id)) == ["1", "2", "3", "4"]
    assert of_run(second, run_id)[-1].event == "done"
    assert journal.tags("start") == ["hop"]
    assert len(worker_b.streams) == 0


async def test_runs_past_the_clients_page_stream_limit_are_refused_one_by_one(
    streams: Streams,
) -> None:
    app = streams.app(max_page_streams_per_client=2)
    exchange = page_request(
        app, streams, [new(str(n), "paced", tag=f"l{n}", steps=1) for n in range(3)]
    )
    await exchange.run_to_end()
    found = controls(exchange)
    assert ["run" in found[key] for key in "012"] == [True, True, False]
    assert (found["2"]["status"], found["2"]["error"]["code"]) == (429, "rate_limited")
    assert journal.tags("start") == ["l0", "l1"]


async def test_shutdown_ends_the_connection_with_one_shutdown_frame(streams: Streams) -> None:
    app = streams.app()
    exchange = page_request(
        app, streams, [new("a", "paced", tag="sa", steps=3), new("b", "paced", tag="sb")]
    )
    await exchange.wait_until(lambda: len(of_run_events(exchange)) == 2)
    async with asyncio.timeout(3):
        await app.shutdown()
    await exchange.run_to_end()
    assert [e.event for e in exchange.events][-1] == "shutdown"
    assert [e.event for e in exchange.events].count("shutdown") == 1
    assert exchange.events[-1].id is None
    assert journal.has("cancelled", "sa")
    assert journal.has("cancelled", "sb")
    assert app.guard.open_count("stream") == app.guard.open_count("page_stream") == 0


async def test_a_stalled_reader_is_given_up_and_its_runs_go_after_their_grace(
    streams: Streams,
) -> None:
    app = streams.app(stream_send_timeout=0.1)
    never = asyncio.Event()

    async def stall(message: Any, body_messages: int) -> None:
        if body_messages >= 3:  # the head, the control frame, the first render
            await never.wait()

    body = json.dumps({"streams": [new("a", "no-grace", tag="stall", steps=3)]}).encode()
    scope = http_scope("POST", "/components/_page/", headers={"content-type": "application/json"})
    exchange = streams.track(Exchange(app, scope, body=body, fault=stall).start())
    await eventually(lambda: pacer.waiting("stall"))
    pacer.grant("stall", 2)
    await exchange.finished(2)
    await eventually(lambda: journal.has("cancelled", "stall"))
    assert app.guard.open_count("stream") == app.guard.open_count("page_stream") == 0


async def test_a_page_of_a_hundred_streams_delivers_every_frame_to_its_stream(
    streams: Streams,
) -> None:
    app = streams.app(http_rate=None)
    entries = [new(str(n), "no-grace", tag=f"h{n}", steps=2) for n in range(100)]
    for n in range(100):
        pacer.grant(f"h{n}", 2)
    exchange = page_request(app, streams, entries)
    await exchange.run_to_end(10)
    found = controls(exchange)
    assert len(found) == 100
    for key, control in found.items():
        events = of_run(exchange, control["run"])
        assert [e.event for e in events] == ["message", "message", "done"], key
        assert f"<p>h{key}</p>" in events[0].data
    assert app.guard.open_count("page_stream") == 0


def of_run_events(exchange: Exchange) -> list[SSEEvent]:
    return [e for e in exchange.events if e.id]
