"""POST streams on the page connection: an entry with ``"method": "POST"`` and its form
``body`` starts the run its own ``POST {prefix}/{name}/stream/`` would (the fields reach the
handler, a plain handler may be named), is refused as that request would be (its field limits,
a body that is not UTF-8 form text, another method), resumes by run id like any entry, and
the page connection's own checks (body limit, cross-site) cover its body."""

from __future__ import annotations

from typing import Any

import pytest

from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange, stream_scope
from tests.streaming.page_wire import controls, new, of_run, page_request, posted, steps
from tests.streaming.stream_components import journal, pacer

FORM = "application/x-www-form-urlencoded"


def own_post(streams: Streams, app: Any, name: str, body: bytes) -> Exchange:
    """The stream request of its own that a POST entry stands for."""
    scope = stream_scope(name, method="POST", headers={"content-type": FORM})
    return streams.track(Exchange(app, scope, body=body).start())


async def test_a_post_streams_form_fields_reach_its_handler_over_the_page_connection(
    streams: Streams,
) -> None:
    app = streams.app()
    exchange = page_request(
        app,
        streams,
        [posted("p", "paced", "tag=posted&steps=2"), new("g", "paced", tag="got", steps=1)],
    )
    await exchange.wait_until(lambda: len(controls(exchange)) == 2)
    pacer.grant("posted", 2)
    await exchange.run_to_end()
    assert journal.tags("start") == ["posted", "got"]
    events = of_run(exchange, controls(exchange)["p"]["run"])
    assert [e.event for e in events] == ["message", "message", "done"]
    assert steps(events) == ["1", "2"]
    assert "posted" in events[-2].data


async def test_a_post_entry_may_name_a_plain_handler_as_its_own_post_may(
    streams: Streams,
) -> None:
    app = streams.app()
    alone = own_post(streams, app, "paced", b"event=bump")
    await alone.run_to_end()
    exchange = page_request(app, streams, [posted("p", "paced", "event=bump")])
    await exchange.run_to_end()
    events = of_run(exchange, controls(exchange)["p"]["run"])
    assert [e.event for e in events] == [e.event for e in alone.events] == ["message", "done"]
    assert journal.tags("start") == []  # bump ran, not the stream handler


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("%ff=1", "malformed_request"),  # percent-escapes that are not UTF-8
        ("&".join(f"f{n}=1" for n in range(1001)), "payload_too_large"),  # too many fields
    ],
    ids=["escapes-not-utf8", "too-many-fields"],
)
async def test_a_bad_post_body_is_that_entrys_refusal_as_its_own_post_would_be(
    streams: Streams, body: str, code: str
) -> None:
    app = streams.app()
    alone = own_post(streams, app, "paced", body.encode("utf-8", "surrogatepass"))
    await alone.run_to_end()
    exchange = page_request(
        app, streams, [posted("bad", "paced", body), new("ok", "paced", tag="fine", steps=1)]
    )
    await exchange.run_to_end()
    found = controls(exchange)
    assert found["bad"]["end"] == "refused"
    assert (found["bad"]["status"], found["bad"]["error"]["code"]) == (alone.status, code)
    assert steps(of_run(exchange, found["ok"]["run"])) == ["1"]
    assert journal.tags("start") == ["fine"]


async def test_another_method_is_refused_with_405_and_the_methods_allowed(
    streams: Streams,
) -> None:
    app = streams.app()
    entry = {"key": "put", "name": "paced", "method": "PUT", "query": "tag=x"}
    exchange = page_request(app, streams, [entry, new("ok", "paced", tag="ok", steps=1)])
    await exchange.run_to_end()
    found = controls(exchange)
    assert (found["put"]["status"], found["put"]["error"]["code"]) == (405, "method_not_allowed")
    assert journal.tags("start") == ["ok"]


@pytest.mark.parametrize(
    "entry",
    [
        {"key": "a", "name": "paced", "query": "", "body": "tag=x"},  # a body without POST
        {"key": "a", "name": "paced", "method": "GET", "query": "", "body": "tag=x"},
        {"key": "a", "name": "paced", "method": "POST", "query": "", "body": {"tag": "x"}},
        {"key": "a", "name": "paced", "method": 5, "query": ""},
        {"key": "a", "name": "paced", "method": "POST", "resume": "r.1", "body": ""},
        {"key": "a", "name": "paced", "method": "POST", "query": "", "body": "tag=\ud800"},
    ],
    ids=[
        "body-on-get",
        "body-on-explicit-get",
        "body-not-text",
        "method-not-text",
        "resume",
        "body-not-unicode",  # a lone surrogate escape: no text, refused with the whole request
    ],
)
async def test_a_misshapen_post_entry_is_a_malformed_page_request(
    streams: Streams, entry: dict[str, Any]
) -> None:
    app = streams.app()
    exchange = page_request(app, streams, [entry])
    await exchange.run_to_end()
    assert (exchange.status, exchange.json_body()["error"]["code"]) == (400, "malformed_request")
    assert journal.tags("start") == []


async def test_a_post_body_past_the_body_limit_refuses_the_page_connection_and_starts_nothing(
    streams: Streams,
) -> None:
    app = streams.app(max_body_bytes=4096)
    big = posted("big", "paced", "tag=" + "x" * 5000)
    exchange = page_request(app, streams, [big, new("ok", "paced", tag="ok", steps=1)])
    await exchange.run_to_end()
    assert (exchange.status, exchange.json_body()["error"]["code"]) == (413, "payload_too_large")
    assert journal.tags("start") == []


async def test_a_cross_site_page_cannot_start_a_post_stream_through_it(streams: Streams) -> None:
    app = streams.app()
    exchange = page_request(
        app,
        streams,
        [posted("p", "paced", "event=bump")],
        headers={"origin": "https://evil.example", "host": "testserver"},
    )
    await exchange.run_to_end()
    assert exchange.status == 403
    assert len(app.streams) == 0


async def test_a_post_stream_resumes_by_its_run_id_after_its_last_frame(streams: Streams) -> None:
    app = streams.app()
    first = page_request(app, streams, [posted("p", "paced", "tag=again&steps=3")])
    await first.wait_until(
        lambda: len(of_run(first, controls(first).get("p", {}).get("run", ""))) == 1
    )
    run = controls(first)["p"]["run"]
    first.cancel()
    pacer.grant("again", 3)
    second = page_request(app, streams, [{"key": "p", "name": "paced", "resume": f"{run}.1"}])
    await second.run_to_end()
    assert controls(second)["p"]["run"] == run
    assert steps(of_run(second, run)) == ["2", "3"]
    assert journal.tags("start") == ["again"]
