"""The HTTP entry point on arbitrary requests: a documented status (never a 500), a JSON error
body for every error, no exception out of the app, nothing left running, and the app still
serves a normal request afterwards."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st

from tests.fuzz import strategies as fz
from tests.fuzz.apps import make_app, settle
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.wire import check_http_answer, http_exchange, http_scope

METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH")


@dataclass
class Request:
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    leave_after_chunks: int | None = None

    def scope(self) -> dict[str, Any]:
        return http_scope(self.method, self.path, self.query, self.headers)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(
        fz.weighted(
            (6, st.just("POST")), (3, st.just("GET")), (1, st.sampled_from(METHODS)),
            (1, st.text(min_size=1, max_size=8)),
        )
    )  # fmt: skip
    path = draw(fz.component_paths())
    content_type, body = draw(fz.bodies())
    if method in ("GET", "HEAD") and draw(st.integers(0, 3)):
        body = b""
    headers = draw(fz.request_headers(body, content_type))
    query = draw(fz.query_strings) if draw(st.booleans()) else b""
    chunks = draw(fz.chunked(body))
    leave = draw(st.integers(0, len(chunks))) if draw(fz.one_in(20)) else None
    return Request(method, path, query, headers, chunks, leave)


JSON = [(b"host", b"testserver"), (b"content-type", b"application/json")]


async def still_serves(app: Any) -> None:
    """A plain mount and an event on the same app: both 200 with a JSON render."""
    scope = http_scope("POST", "/components/counter/", b"", JSON)
    mounted = await http_exchange(app, scope, [b'{"params": {"start": 2}}'])
    assert mounted.status == 200, mounted.body[:300]
    snapshot = json.loads(mounted.body)["snapshot"]
    event = json.dumps({"event": "add", "payload": {"amount": 3}, "snapshot": snapshot})
    added = await http_exchange(app, scope, [event.encode()])
    assert added.status == 200, added.body[:300]
    assert json.loads(added.body)["state"] == {"count": 5}


async def serve_one(app: Any, request: Request) -> None:
    before = asyncio.all_tasks()
    answer = await http_exchange(
        app, request.scope(), request.chunks, leave_after_chunks=request.leave_after_chunks
    )
    event(f"status {answer.status}")
    check_http_answer(answer, request.method, left_early=request.leave_after_chunks is not None)
    await settle(app, before)


@fuzz_settings(scale=2.0)
@given(request=requests())
@example(  # the GET of the docs: lazy loading with mount params in the query string
    request=Request("GET", "/components/counter", b"start=3", [(b"host", b"testserver")], [b""])
)
async def test_any_request_gets_a_documented_answer_and_the_app_keeps_serving(
    request: Request,
) -> None:
    app = make_app()
    await serve_one(app, request)
    await still_serves(app)


def json_post(path: str, body: bytes) -> Request:
    return Request("POST", path, b"", JSON, [body])


@fuzz_settings(scale=0.1)
@given(
    text=st.sampled_from(['"\\ud800"', '"x\\udfff"', '"\\udc00\\ud800"'])
    | st.text(max_size=3).map(json.dumps),
    where=st.sampled_from(["key", "event", "param", "payload"]),
    component=st.sampled_from(["counter", "echo", "typed"]),
)
@example(text='"\\ud800"', where="key", component="counter")  # field name echoed in a 422
@example(text='"\\ud800"', where="param", component="echo")  # text kept in the state
async def test_json_strings_with_lone_surrogate_escapes_get_a_documented_answer(
    text: str, where: str, component: str
) -> None:
    """JSON may spell a lone surrogate (``"\\ud800"``), which no UTF-8 answer can carry."""
    app = make_app()
    documents = {
        "key": "{TEXT: 1}",
        "event": '{"event": TEXT}',
        "param": '{"params": {"text": TEXT}}',
        "payload": '{"payload": {"meta": {"k": TEXT}}}',
    }
    document = documents[where].replace("TEXT", text)
    await serve_one(app, json_post(f"/components/{component}/", document.encode()))
    await still_serves(app)


@fuzz_settings(scale=0.1)
@given(number=st.sampled_from(["1e999", "-1e400", "1E+309", "1e308", "-0", "1e-400"]))
@example(number="1e999")
async def test_json_numbers_out_of_float_range_get_a_documented_answer(number: str) -> None:
    """``1e999`` is valid JSON syntax that Python decodes to ``inf``, which no JSON answer or
    snapshot can carry (``decode_json_object`` refuses ``Infinity`` itself)."""
    app = make_app()
    mounted = await http_exchange(app, http_scope("POST", "/components/typed/", b"", JSON), [b"{}"])
    snapshot = json.loads(mounted.body)["snapshot"]
    meta = '{"x": ' + number + "}"
    body = json.dumps({"event": "collect", "snapshot": snapshot, "payload": {"ids": [], "meta": 0}})
    body = body.replace('"meta": 0', f'"meta": {meta}')
    await serve_one(app, json_post("/components/typed/", body.encode()))
    await still_serves(app)


@fuzz_settings(scale=0.4)
@given(sequence=st.lists(requests(), min_size=1, max_size=6))
async def test_with_the_rate_limiter_every_answer_is_still_documented(
    sequence: list[Request],
) -> None:
    burst = 4
    app = make_app(http_rate=2.0, http_burst=burst)
    for request in sequence:
        await serve_one(app, request)
    scope = http_scope("POST", "/components/counter/", b"", JSON)
    statuses = [(await http_exchange(app, scope, [b"{}"])).status for _ in range(burst + 1)]
    assert 429 in statuses, statuses  # the limiter still counts
    assert set(statuses) <= {200, 429}, statuses
