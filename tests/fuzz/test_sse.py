"""The SSE entry point on arbitrary stream requests and ``Last-Event-ID`` values: a ``200``
stream of documented frames, ``204``, or a documented 4xx; never a 500, a server-fault frame,
an exception out of the app, or a task left running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import event, example, given
from hypothesis import strategies as st

from tests.fuzz import strategies as fz
from tests.fuzz.apps import make_app, query_pairs, settle
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.wire import check_http_answer, check_sse_body, http_exchange, http_scope

STREAM_COMPONENTS = ("report", "live", "counter", "echo", "note", "typed", "nope")
HOST = [(b"host", b"testserver")]


@st.composite
def stream_queries(draw: st.DrawFn) -> bytes:
    """The fields of a stream request (event, format, snapshot, handler and mount fields)."""
    if draw(fz.one_in(4)):
        return draw(fz.query_strings)
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["event"] = draw(
            fz.weighted((3, st.sampled_from(["generate", "tokens", "bump"])), (1, fz.event_names))
        )
    if draw(fz.one_in(3)):
        fields["format"] = draw(st.sampled_from(["html", "json", "xml", ""]))
    if draw(fz.one_in(3)):
        fields["snapshot"] = draw(fz.token_strings)
    fields.update(draw(st.dictionaries(fz.field_names, fz.parameter_values, max_size=3)))
    return urlencode(query_pairs(fields)).encode("ascii")


@dataclass
class StreamRequest:
    method: str
    component: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    #: ``None``: no header; ``"run"``: the id of an earlier stream of the same example, with
    #: ``seq`` as its sequence number; anything else is sent as it is.
    last_event_id: str | None
    seq: int
    earlier: str | None  # the component of the earlier stream (``None``: no earlier stream)


@st.composite
def stream_requests(draw: st.DrawFn) -> StreamRequest:
    method = draw(fz.weighted((6, st.just("GET")), (3, st.just("POST")), (1, st.text(max_size=6))))
    component = draw(
        fz.weighted(
            (3, st.just("report")), (2, st.just("live")), (2, st.sampled_from(STREAM_COMPONENTS))
        )
    )
    content_type, body = draw(fz.bodies()) if method == "POST" else (None, b"")
    headers = draw(fz.request_headers(body, content_type))
    last_event_id = draw(
        fz.weighted(
            (8, st.none()),
            (3, st.just("run")),
            (1, st.sampled_from(["", "x", ".", "run.", ".5", "abc.-1", "a.b.c.1", "0" * 200])),
            (1, st.text(max_size=12)),
        )
    )
    earlier = draw(st.none() | st.sampled_from(["report", "live"]))
    return StreamRequest(
        method, component, draw(stream_queries()), headers, draw(fz.chunked(body)),
        last_event_id, draw(st.integers(-2, 8)), earlier,
    )  # fmt: skip


async def open_earlier_stream(app: Any, component: str) -> str | None:
    """Open a stream and leave it after its first frames; returns its run id."""
    query = b"event=generate&count=3" if component == "report" else b""
    scope = http_scope("GET", f"/components/{component}/stream/", query, HOST)
    answer = await http_exchange(app, scope, [b""], budget=0.02)
    assert answer.status == 200, answer.body[:300]
    events = check_sse_body(answer.body)
    ids = [event.id for event in events if event.id]
    return ids[0].rpartition(".")[0] if ids else None


async def serve_stream(request: StreamRequest) -> None:
    app = make_app()
    before = asyncio.all_tasks()
    run_id = None
    if request.earlier is not None:
        run_id = await open_earlier_stream(app, request.earlier)
    headers = list(request.headers)
    after = 0
    if request.last_event_id == "run":
        if run_id is not None:
            headers.append((b"last-event-id", f"{run_id}.{request.seq}".encode()))
            after = max(request.seq, 0)
    elif request.last_event_id is not None:
        headers.append((b"last-event-id", fz.latin1(request.last_event_id)))
    scope = http_scope(request.method, f"/components/{request.component}/stream/", request.query,
                       headers)  # fmt: skip
    answer = await http_exchange(app, scope, request.chunks, budget=0.1)
    event(f"status {answer.status}")
    check_http_answer(answer, request.method)
    if answer.status == 200:
        assert answer.content_type == b"text/event-stream", answer.headers
        check_sse_body(answer.body, after=after)
    await settle(app, before)


@fuzz_settings(scale=0.8)
@given(request=stream_requests())
async def test_any_stream_request_gets_a_stream_a_204_or_a_documented_error(
    request: StreamRequest,
) -> None:
    await serve_stream(request)


@fuzz_settings(scale=0.1)
@given(
    method=st.sampled_from(["GET", "POST"]),
    component=st.sampled_from(["report", "counter", "live"]),
    query=st.sampled_from([b"event=mount", b"event=mount&format=json", b"event=mount&count=2"]),
)
@example(method="GET", component="report", query=b"event=mount")
async def test_a_stream_request_naming_the_mount_event_gets_a_documented_answer(
    method: str, component: str, query: bytes
) -> None:
    """``mount`` is the protocol's "no event" (docs/protocol.md); a stream asked to run it
    must mount and stream, or refuse with a 4xx, not fail inside the stream."""
    await serve_stream(StreamRequest(method, component, query, HOST, [b""], None, 0, None))
