"""Cost and echo: inputs that are cheap to send but were expensive to answer, or answered with
themselves, and loose parsing (issue 11, points 1, 5 and 6) x every host and transport.

Hosts are the matrix's (``host``: HTTP and SSE; ``ws_host``: WebSocket; raw ``ComponentASGI``,
middleware mode, Litestar and Starlette, in process and under uvicorn), with the matrix's
settings: a 16 KiB body and message limit, a 4 KiB snapshot limit and the default
``max_fields`` of 1000. The cases:

- **many fields**: a form or query of thousands of (repeated) fields, JSON with thousands of
  keys at any level: ``413 payload_too_large`` naming the limit (a WebSocket ``error``);
- **duplicate JSON keys**, in bodies, in JSON form fields, in query strings and in messages:
  ``400 malformed_request`` naming the key;
- **strict numbers**: ``1_000``, Arabic-Indic, Devanagari, full-width and superscript digits for
  an ``int``: ``422 validation_error`` naming the field;
- **echo**: field, event, component and ``format`` values of 10,000 characters: the answer,
  each of its headers (``HX-Trigger``) and each WebSocket error stay under 2 KiB;
- **state past the snapshot limit**: ``413 snapshot_too_large``; the previous snapshot (HTTP)
  or the held component (WebSocket) stays what it was.

Then the same attacks at full size on hosts with room for them (a 2 MiB body and message
limit): the issue's 586 KiB body of ``a&`` repeated answered at once, in process and under a
real uvicorn while other requests are served, and a field name of a million characters; and
the resumable upload protocol and a client's ``on_presence`` call at that size: a million
repeats of a field or a header, names and header values of a megabyte.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from component_framework.protocol.sse import SSEDecoder
from tests.adversarial.apps import BODY_LIMIT, SNAPSHOT_LIMIT, sign
from tests.adversarial.apps import HOST_BUILDERS as BUILDERS
from tests.adversarial.clients import (
    WAIT,
    Host,
    InProcessHost,
    Refused,
    Request,
    UvicornHost,
    WSClient,
)
from tests.adversarial.test_bad_input_matrix import (
    EVENT_NOT_FOUND,
    FORM,
    HTMX_HEADERS,
    INVALID_SNAPSHOT,
    JSON,
    MALFORMED,
    PNG,
    ROSTER,
    SENT,
    SOCKET,
    STREAM,
    TARGET,
    TARGET_STREAM,
    UPLOADS,
    VALIDATION,
    HttpCase,
    Tokens,
    assert_error_answer,
    assert_no_leak,
    assert_streams_work,
    assert_upload_holds,
    at,
    case,
    chunk,
    describe,
    ev,
    form,
    get,
    js,
    post,
    q,
)
from tests.servers import UvicornServer, start_uvicorn

TOO_LARGE: Final = "payload_too_large"
SNAPSHOT_TOO_LARGE: Final = "snapshot_too_large"
FIELD_LIMIT: Final = 1000  # Settings.max_fields by default: the matrix keeps it
#: Every answer, header and WebSocket message to these inputs is smaller than this.
SMALL: Final = 2048
#: A client string of this size fits the matrix's 16 KiB limits and uvicorn's URL limits.
LONG: Final = 10_000
HALF: Final = LONG // 2
HX: Final = (("hx-request", "true"),)
DIGITS: Final = {
    "underscore": "1_000",
    "arabic-indic": "\u0661\u0662\u0663",
    "devanagari": "\u0967\u0968",
    "full-width": "\uff11\uff12",
    "superscript": "\u00b2",
}

assert len(js({f"k{index}": 0 for index in range(FIELD_LIMIT + 1)})) < BODY_LIMIT


def many_keys(count: int = FIELD_LIMIT + 1) -> dict[str, int]:
    return {f"k{index}": 0 for index in range(count)}


def nested_keys(count: int = FIELD_LIMIT) -> list[dict[str, int]]:
    """``count`` objects of one key each, inside a list: keys count at every level."""
    return [{"a": 0}] * count


def raw_json(path: str, text: str, **options: Any) -> Request:
    """A JSON body spelled by hand (``json.dumps`` cannot repeat a key)."""
    return post(path, text.encode(), **options)


def _event(t: Tokens, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"event": name, "payload": payload, "snapshot": t.valid()}


# -- HTTP and SSE cases ---------------------------------------------------------------------

# fmt: off
HTTP_CASES: Final = [
    # many fields: 413, before routing, snapshots or user code
    case("form-thousands-of-empty-fields", lambda t: form(TARGET, "a&" * 5000), 413, TOO_LARGE,
         message=f"over the limit of {FIELD_LIMIT}"),
    case("form-thousands-of-fields-to-no-component",
         lambda t: form("/components/nope/", "a&" * 5000), 413, TOO_LARGE),
    case("form-one-field-repeated",
         lambda t: form(TARGET, q(event="add", snapshot=t.valid()) + "&amount=1" * 1500), 413,
         TOO_LARGE),
    case("query-thousands-of-fields", lambda t: get(TARGET, "a&" * 5000), 413, TOO_LARGE),
    case("json-thousands-of-keys", lambda t: post(TARGET, js({"params": many_keys()})), 413,
         TOO_LARGE),
    case("json-thousands-of-nested-keys",
         lambda t: post(TARGET, js(_event(t, "label", {"text": "x", "tags": nested_keys()}))),
         413, TOO_LARGE),
    case("form-payload-json-thousands-of-keys",
         lambda t: form(TARGET, q(event="add", payload=many_keys(), snapshot=t.valid())), 413,
         TOO_LARGE),
    case("htmx-thousands-of-fields", lambda t: form(TARGET, "a&" * 5000, headers=HX), 413,
         TOO_LARGE, htmx=True),
    # duplicate JSON keys: 400, naming the key
    case("json-event-twice",
         lambda t: raw_json(TARGET, f'{{"event": "add", "event": "increment", '
                                    f'"snapshot": "{t.valid()}"}}'), 400, MALFORMED,
         message="'event' twice"),
    case("json-payload-key-twice",
         lambda t: raw_json(TARGET, f'{{"event": "add", "payload": {{"amount": 1, "amount": 99}},'
                                    f' "snapshot": "{t.valid()}"}}'), 400, MALFORMED,
         message="'amount' twice"),
    case("json-params-key-twice-deep",
         lambda t: raw_json(TARGET, '{"params": {"start": 1, "x": [{"a": 1, "a": 2}]}}'), 400,
         MALFORMED, message="'a' twice"),
    case("form-payload-json-key-twice",
         lambda t: form(TARGET, q(event="add", snapshot=t.valid(),
                                  payload='{"amount": 1, "amount": 2}')), 400, MALFORMED,
         message="'amount' twice"),
    case("query-params-json-key-twice",
         lambda t: get(TARGET, q(params='{"start": 1, "start": 2}')), 400, MALFORMED,
         message="'start' twice"),
    # numbers: only ASCII digits with an optional sign
    *(
        case(f"form-int-{name}",
             lambda t, digits=digits: form(TARGET, q(event="add", amount=digits,
                                                     snapshot=t.valid())),
             422, VALIDATION, field="amount")
        for name, digits in DIGITS.items()
    ),
    case("json-int-string-underscore",
         lambda t: post(TARGET, js(_event(t, "add", {"amount": "1_000"}))), 422, VALIDATION,
         field="amount"),
    case("query-mount-int-arabic-indic", lambda t: get(TARGET, q(start=DIGITS["arabic-indic"])),
         422, VALIDATION, field="start"),
    # client strings echoed: the answer stays small (checked by the test for every case)
    case("json-huge-field-name",
         lambda t: post(TARGET, js(_event(t, "add", {"amount": 1, "n" * LONG: 1}))), 422,
         VALIDATION),
    case("htmx-huge-field-name",
         lambda t: form(TARGET, q(event="add", amount="1", snapshot=t.valid()) + f"&{'n' * LONG}=1",
                        headers=HX), 422, VALIDATION, htmx=True),
    case("query-huge-mount-param-name", lambda t: get(TARGET, f"{'n' * LONG}=1"), 422,
         VALIDATION),
    case("json-huge-event-name", lambda t: post(TARGET, js(_event(t, "e" * LONG, {}))), 404,
         EVENT_NOT_FOUND),
    case("htmx-huge-event-name",
         lambda t: form(TARGET, q(event="e" * LONG, snapshot=t.valid()), headers=HX), 404,
         EVENT_NOT_FOUND, htmx=True),
    case("htmx-huge-component-name",
         lambda t: form(f"/components/{'c' * LONG}/", "a=1", headers=HX), 404,
         "component_not_found", htmx=True),
    case("json-huge-number-string", lambda t: post(TARGET, js({"params": {"start": "9" * LONG}})),
         422, VALIDATION, field="start"),
    case("json-huge-key-twice",
         lambda t: raw_json(TARGET, f'{{"params": {{"{"k" * HALF}": 1, "{"k" * HALF}": 2}}}}'),
         400, MALFORMED),
    case("json-huge-snapshot-garbage",
         lambda t: post(TARGET, js({"event": "add", "snapshot": "s" * LONG})), 400,
         INVALID_SNAPSHOT),
]

SSE_CASES: Final = [
    case("sse-get-thousands-of-fields", lambda t: get(STREAM, "a&" * 5000), 413, TOO_LARGE),
    case("sse-post-form-thousands-of-fields", lambda t: form(STREAM, "a&" * 5000), 413,
         TOO_LARGE),
    case("sse-post-json-thousands-of-keys",
         lambda t: post(STREAM, js({"steps": 1, "extra": nested_keys()})), 413, TOO_LARGE),
    case("sse-post-json-key-twice", lambda t: raw_json(STREAM, '{"steps": 1, "steps": 2}'), 400,
         MALFORMED, message="'steps' twice"),
    case("sse-get-payload-json-key-twice",
         lambda t: get(STREAM, q(payload='{"steps": 1, "steps": 2}')), 400, MALFORMED),
    *(
        case(f"sse-get-int-{name}", lambda t, digits=digits: get(STREAM, q(steps=digits)), 422,
             VALIDATION, field="steps")
        for name, digits in DIGITS.items()
    ),
    case("sse-post-huge-field-name", lambda t: post(STREAM, js({"steps": 1, "n" * LONG: 1})),
         422, VALIDATION),
    case("sse-get-huge-field-name", lambda t: get(STREAM, f"steps=1&{'n' * LONG}=1"), 422,
         VALIDATION),
    case("sse-post-huge-format", lambda t: post(STREAM, js({"format": "f" * LONG})), 422,
         VALIDATION, field="format"),
]
# fmt: on


def assert_small(response: Any) -> None:
    """No header and no body of ``response`` holds a long client string."""
    assert len(response.body) < SMALL, (response.status, len(response.body), response.body[:300])
    for name, value in response.headers:
        assert len(value) < SMALL, (name, len(value), value[:300])


@pytest.mark.parametrize("bad", [*HTTP_CASES, *SSE_CASES])
async def test_costly_or_echoed_request_gets_a_small_documented_error(
    host: Host, bad: HttpCase
) -> None:
    request = bad.build(Tokens(foreign=""))
    before = await host.calls()

    response = await host.send(request)

    assert_error_answer(response, bad)
    assert_small(response)
    assert await host.calls() == before, "user code ran on a refused request"
    await host.check_healthy()
    if "/stream/" in request.path:
        await assert_streams_work(host)


# -- state grown past the snapshot limit: HTTP and SSE ----------------------------------------

GROW: Final = {"text": "x" * (2 * SNAPSHOT_LIMIT)}


@pytest.mark.parametrize("htmx", [False, True], ids=["json", "htmx"])
async def test_http_state_grown_past_the_snapshot_limit_is_413_and_the_old_snapshot_stays_valid(
    host: Host, htmx: bool, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = Tokens.valid()
    if htmx:
        grow = form(TARGET, q(event="label", snapshot=snapshot, **GROW), headers=HX)
    else:
        grow = post(TARGET, js({"event": "label", "payload": GROW, "snapshot": snapshot}))

    response = await host.send(grow)

    expected = HttpCase("grow", lambda t: grow, 413, SNAPSHOT_TOO_LARGE, htmx=htmx,
                        message="the change was not applied")  # fmt: skip
    assert_error_answer(response, expected)
    assert_small(response)
    again = await host.post_json(TARGET, _event(Tokens(""), "add", {"amount": 1}))
    assert again.status == 200, again.body[:300]
    assert again.json()["state"] == {"count": 6}  # the token held before the refused event
    assert not [r for r in caplog.records if r.levelno > logging.WARNING or r.exc_info]
    await host.check_healthy()


async def test_stream_state_grown_past_the_snapshot_limit_ends_with_an_error_frame(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    response = await host.send(post(TARGET_STREAM, js({"event": "label", **GROW})))

    assert response.status == 200, response.body[:300]
    last = SSEDecoder().feed(response.body)[-1]  # the only frame: it carries the retry hint
    assert last.event == "error", response.body[:300]
    error = json.loads(last.data)
    assert error["code"] == SNAPSHOT_TOO_LARGE
    assert len(response.body) < SMALL
    assert not [r for r in caplog.records if r.levelno > logging.WARNING or r.exc_info]
    await host.check_healthy()
    await assert_streams_work(host)


# -- WebSocket messages --------------------------------------------------------------------


@dataclass(frozen=True)
class MessageCase:
    """One message and the ``error`` it gets; the socket stays open."""

    id: str
    text: Callable[[], str]
    code: str
    field: str | None = None
    text_in_message: str | None = None


def msg(id: str, text: Callable[[], Any], code: str, **kw: Any) -> Any:
    def encoded() -> str:
        value = text()
        return value if isinstance(value, str) else json.dumps(value)

    return pytest.param(MessageCase(id, encoded, code, **kw), id=id)


HTMX_JSON: Final = json.dumps(HTMX_HEADERS)

# fmt: off
MESSAGE_CASES: Final = [
    msg("thousands-of-keys", lambda: ev("add", {"amount": 1}, extra=many_keys()), TOO_LARGE,
        text_in_message=f"over the limit of {FIELD_LIMIT}"),
    msg("thousands-of-nested-keys", lambda: ev("add", {"amount": 1, "tags": nested_keys()}),
        TOO_LARGE),
    msg("htmx-thousands-of-keys", lambda: {"HEADERS": HTMX_HEADERS, "event": "add",
                                          **many_keys()}, TOO_LARGE),
    msg("key-twice-in-payload",
        lambda: '{"type": "event", "event": "add", "payload": {"amount": 1, "amount": 2}}',
        MALFORMED, text_in_message="'amount' twice"),
    msg("type-twice", lambda: '{"type": "event", "type": "ping", "event": "increment"}',
        MALFORMED, text_in_message="'type' twice"),
    msg("htmx-key-twice",
        lambda: f'{{"HEADERS": {HTMX_JSON}, "event": "add", "amount": "1", "amount": "2"}}',
        MALFORMED),
    *(
        msg(f"int-{name}", lambda digits=digits: ev("add", {"amount": digits}), VALIDATION,
            field="amount")
        for name, digits in DIGITS.items()
    ),
    msg("huge-field-name", lambda: ev("add", {"amount": 1, "n" * LONG: 1}), VALIDATION),
    msg("huge-event-name", lambda: ev("e" * LONG), EVENT_NOT_FOUND),
    msg("huge-type", lambda: {"type": "t" * LONG}, MALFORMED),
    msg("huge-type-list", lambda: {"type": ["t"] * (LONG // 6)}, MALFORMED),
    msg("huge-key-twice", lambda: f'{{"type": "ping", "{"k" * HALF}": 1, "{"k" * HALF}": 2}}',
        MALFORMED),
]
# fmt: on


async def _opened(ws: WSClient) -> None:
    first = await ws.receive_json()
    assert (first["type"], first["state"]) == ("render", {"count": 5}), first


async def _still_holds(ws: WSClient, count: int) -> None:
    """The socket is open and holds the component with ``count`` (and nothing else)."""
    await ws.send_json(ev("increment", ref="after"))
    after = await ws.receive_json()
    assert (after["type"], after["ref"]) == ("render", "after"), after
    assert after["state"] == {"count": count + 1}


@pytest.mark.parametrize("bad", MESSAGE_CASES)
async def test_websocket_costly_or_echoed_message_gets_a_small_error_and_the_socket_stays_open(
    ws_host: Host, bad: MessageCase
) -> None:
    async with ws_host.websocket(SOCKET, {"start": 5}) as ws:
        await _opened(ws)
        before = await ws_host.calls()

        await ws.send_text(bad.text())
        answer = await ws.receive_text()

        assert len(answer) < SMALL, answer[:300]
        error = json.loads(answer)
        assert_no_leak(answer.encode())
        assert (error["type"], error["code"]) == ("error", bad.code), error
        assert set(error) <= {"type", "code", "message", "ref", "field"}, error
        if bad.field is not None:
            assert error["field"] == bad.field, error
        if bad.text_in_message is not None:
            assert bad.text_in_message in error["message"], error
        assert await ws_host.calls() == before, "user code ran on a refused message"
        await _still_holds(ws, 5)
    await ws_host.check_healthy()


async def test_websocket_state_grown_past_the_snapshot_limit_is_refused_and_rolled_back(
    ws_host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    async with ws_host.websocket(SOCKET, {"start": 5}) as ws:
        await _opened(ws)

        await ws.send_json(ev("label", GROW, ref="grow"))
        refused = await ws.receive_json()

        assert (refused["type"], refused["code"], refused["ref"]) == (
            "error", SNAPSHOT_TOO_LARGE, "grow",
        )  # fmt: skip
        assert "the change was not applied" in refused["message"]
        await _still_holds(ws, 5)  # no "label": the held state is the one last sent
    assert not [r for r in caplog.records if r.levelno > logging.WARNING or r.exc_info]
    await ws_host.check_healthy()


# -- WebSocket handshakes ------------------------------------------------------------------

#: The websockets library refuses request lines over 8 KiB before the app sees them.
SHORTER: Final = 5000

# fmt: off
HANDSHAKE_CASES: Final = [
    pytest.param(many_keys(), 413, TOO_LARGE, None, id="thousands-of-fields"),
    pytest.param({"params": '{"start": 1, "start": 2}'}, 400, MALFORMED, None,
                 id="params-key-twice"),
    *(
        pytest.param({"start": digits}, 422, VALIDATION, "start", id=f"int-{name}")
        for name, digits in DIGITS.items()
    ),
    pytest.param({"n" * SHORTER: "1"}, 422, VALIDATION, None, id="huge-param-name"),
    pytest.param({"format": "f" * SHORTER}, 422, VALIDATION, "format", id="huge-format"),
]
# fmt: on


@pytest.mark.parametrize(("query", "status", "code", "field"), HANDSHAKE_CASES)
async def test_websocket_costly_or_echoed_handshake_is_refused_with_a_small_error(
    ws_host: Host, query: dict[str, str], status: int, code: str, field: str | None
) -> None:
    before = await ws_host.calls()

    with pytest.raises(Refused) as refused:
        async with ws_host.websocket(SOCKET, query):
            pass

    denial = refused.value
    assert denial.status == status, denial
    assert len(denial.body) < SMALL
    error = json.loads(denial.body)["error"]
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    assert await ws_host.calls() == before
    await ws_host.check_healthy()


# -- at full size: hosts with room for the issue's inputs -----------------------------------

ROOM: Final = 2 * 1024 * 1024
#: The issue's body: 586 KiB of ``a&``, 300,000 empty fields (55 s of a quadratic merge).
ISSUE_BODY: Final = b"a&" * 300_000
HUGE: Final = "n" * 1_000_000
#: An answer that takes longer than this was not "at once" (a generous bound, not a timing).
PROMPT: Final = 5.0


def roomy(name: str, **overrides: Any) -> InProcessHost:
    """The in-process host ``name`` with a 2 MiB body and message limit."""
    return InProcessHost(
        name, BUILDERS[name](max_body_bytes=ROOM, ws_max_message_bytes=ROOM, **overrides)
    )


def issue_body(path: str = "/components/nope/") -> Request:
    return post(path, ISSUE_BODY, FORM)


async def test_the_issue_body_is_refused_at_once_in_process(in_process_name: str) -> None:
    host = roomy(in_process_name)

    for path in ("/components/nope/", TARGET, STREAM):
        response = await asyncio.wait_for(host.send(issue_body(path)), PROMPT)

        assert response.status == 413, (path, response.body[:300])
        assert response.json()["error"]["message"].startswith(
            "form data holds 300000 fields, over the limit of 1000"
        )
    await host.check_healthy()


async def test_with_the_field_limit_raised_the_issue_body_is_merged_in_linear_time(
    in_process_name: str,
) -> None:
    """300,000 repeats of ``a`` become one list: the quadratic merge took 55 s here."""
    host = roomy(in_process_name, max_fields=1_000_000)

    response = await asyncio.wait_for(host.send(issue_body()), PROMPT)

    assert (response.status, response.json()["error"]["code"]) == (404, "component_not_found")
    mounted = await asyncio.wait_for(host.send(issue_body(TARGET)), PROMPT)
    assert mounted.status == 422  # ``a`` is no parameter of mount
    assert mounted.json()["error"]["field"] == "a"


def _huge_name_requests() -> list[Request]:
    return [
        post(TARGET, js({"params": {HUGE: 1}})),
        form(TARGET, f"{HUGE}=1", headers=HX),
        post(STREAM, js({"steps": 1, HUGE: 1})),
    ]


async def _assert_huge_name_answers_are_small(host: Host) -> None:
    for request in _huge_name_requests():
        response = await host.send(request)

        assert response.status == 422, response.body[:300]
        assert_small(response)
        assert response.json()["error"]["field"] == "n" * 128 + "..."
    async with host.websocket(SOCKET, {"start": 5}) as ws:
        await _opened(ws)
        await ws.send_json(ev("add", {"amount": 1, HUGE: 1}))
        answer = await ws.receive_text()
        assert len(answer) < SMALL
        assert json.loads(answer)["code"] == VALIDATION
        await _still_holds(ws, 5)


async def test_a_million_character_field_name_gets_small_answers_in_process(
    in_process_name: str,
) -> None:
    host = roomy(in_process_name)

    await _assert_huge_name_answers_are_small(host)

    await host.check_healthy()


@pytest.fixture(scope="module")
def roomy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """The raw host with room for the issue's inputs, under uvicorn (httptools, websockets)."""
    log_dir: Path = tmp_path_factory.mktemp("roomy-uvicorn")
    server = start_uvicorn(
        "tests.adversarial.served:roomy", log_dir,
        ["--lifespan", "on", "--no-access-log", "--http", "httptools", "--ws", "websockets"],
    )  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def roomy_host(roomy_server: UvicornServer) -> AsyncIterator[UvicornHost]:
    async with httpx.AsyncClient(base_url=roomy_server.base_url, timeout=WAIT) as client:
        yield UvicornHost("uvicorn-roomy", roomy_server, client)


async def _timed(host: Host, request: Request) -> tuple[float, Any]:
    started = time.monotonic()
    response = await host.send(request)
    return time.monotonic() - started, response


@pytest.mark.uvicorn
async def test_under_uvicorn_the_issue_body_is_refused_at_once_and_others_are_served_meanwhile(
    roomy_host: UvicornHost,
) -> None:
    """Four issue bodies at once, and a plain mount beside them: every one is answered,
    and the mount promptly (with the quadratic merge, the event loop was blocked for
    minutes)."""
    probe = Request("GET", TARGET, headers=(("accept", JSON),))

    attacks = [asyncio.create_task(_timed(roomy_host, issue_body())) for _ in range(4)]
    await asyncio.sleep(0.05)  # the bodies are on their way
    waited, mounted = await asyncio.wait_for(_timed(roomy_host, probe), PROMPT)
    answers = await asyncio.wait_for(asyncio.gather(*attacks), PROMPT)

    assert mounted.status == 200, mounted.body[:300]
    assert waited < PROMPT
    for took, response in answers:
        assert response.status == 413, response.body[:300]
        assert took < PROMPT
    await roomy_host.check_healthy()


@pytest.mark.uvicorn
async def test_under_uvicorn_a_million_character_field_name_gets_small_answers(
    roomy_host: UvicornHost,
) -> None:
    await _assert_huge_name_answers_are_small(roomy_host)

    await roomy_host.check_healthy()


# -- at full size: the resumable upload protocol and a client's on_presence call ----------------
# In process, with room for a 16 MiB body: a million repeats of a field (or of a header), a name
# or header value of a megabyte. Each answer is the documented error, small, prompt, and leaves
# the test's upload as it was. On the standalone app and behind Litestar's mount (the parsing
# is the app's own; Starlette's Mount and middleware mode hand the bytes over as they are), so
# that the matrix stays quick: a million repeats take the parser a second or two here.

LARGE_BODY: Final = 16 << 20
MILLION: Final = 1_000_000
MEGA_ID: Final = "v2." + "n" * MILLION + ".e30.AAAA"


def _presence_with(payload_text: bytes) -> Request:
    snapshot = js(sign("roster", {"room": "lobby", "news": []}))
    return post(ROSTER, b'{"event": "presence", "snapshot": ' + snapshot + b", " + payload_text)


# fmt: off
AT_SCALE: Final = [
    # (id, request for the upload ``u``, status, code)
    ("description-a-million-repeated-keys",
     lambda u: post(UPLOADS, b"{" + b'"size": 1, ' * MILLION + b'"component": "avatar"}'), 400,
     MALFORMED),
    ("description-megabyte-component", lambda u: post(UPLOADS, js(describe(component=HUGE))), 404,
     "component_not_found"),
    ("description-megabyte-event", lambda u: post(UPLOADS, js(describe(event=HUGE))), 404,
     EVENT_NOT_FOUND),
    ("description-megabyte-field", lambda u: post(UPLOADS, js(describe(field=HUGE))), 422,
     VALIDATION),
    ("description-megabyte-content-type",
     lambda u: post(UPLOADS, js(describe(event="attach", field="file", content_type=HUGE))), 400,
     MALFORMED),
    ("description-megabyte-key", lambda u: post(UPLOADS, js(describe(**{HUGE: 1}))), 400,
     MALFORMED),
    ("megabyte-id-head", lambda u: at(MEGA_ID, "HEAD"), 404, "upload_not_found"),
    ("megabyte-id-patch", lambda u: chunk(MEGA_ID, PNG[SENT:], str(SENT)), 404,
     "upload_not_found"),
    ("megabyte-id-delete", lambda u: at(MEGA_ID, "DELETE"), 404, "upload_not_found"),
    ("megabyte-offset", lambda u: chunk(u, PNG[SENT:], "1" * MILLION), 400, MALFORMED),
    ("megabyte-length",
     lambda u: chunk(u, PNG[SENT:], str(SENT), headers=(("upload-length", "1" * MILLION),)), 400,
     MALFORMED),
    ("a-million-offset-headers",
     lambda u: chunk(u, PNG[SENT:], str(SENT), headers=(("upload-offset", str(SENT)),) * MILLION),
     400, MALFORMED),
    ("presence-a-million-repeated-keys",
     lambda u: _presence_with(b'"payload": {"left": [], ' + b'"joined": [], ' * MILLION
                              + b'"joined": []}}'), 400, MALFORMED),
    ("presence-megabyte-name",
     lambda u: post(ROSTER, js({"event": "presence", "payload": {"joined": [], "left": [],
                                                                 HUGE: 1},
                                "snapshot": sign("roster", {"room": "lobby", "news": []})})),
     422, VALIDATION),
]
# fmt: on


@pytest.mark.parametrize("name", ["raw", "litestar"])
@pytest.mark.parametrize(
    ("build", "status", "code"), [pytest.param(*row[1:], id=row[0]) for row in AT_SCALE]
)
async def test_uploads_and_presence_at_full_size_get_small_prompt_errors_in_process(
    name: str, build: Callable[[str], Request], status: int, code: str
) -> None:
    host = InProcessHost(name, BUILDERS[name](max_body_bytes=LARGE_BODY))
    upload = (await host.send(post(UPLOADS, js(describe())))).json()["upload"]
    assert (await host.send(chunk(upload, PNG[:SENT]))).status == 200
    before = await host.calls()

    response = await asyncio.wait_for(host.send(build(upload)), PROMPT)

    assert_no_leak(response.body)
    assert_small(response)
    assert response.status == status, response.body[:300]
    if response.body:  # a HEAD answer has none
        assert response.json()["error"]["code"] == code, response.body[:300]
    assert await host.calls() == before
    await assert_upload_holds(host, upload, SENT)
    await host.check_healthy()


async def test_a_megabyte_file_name_is_clipped_and_the_upload_works(in_process_name: str) -> None:
    host = InProcessHost(in_process_name, BUILDERS[in_process_name](max_body_bytes=LARGE_BODY))

    created = await host.send(post(UPLOADS, js(describe(filename="é" * MILLION + ".png"))))

    assert created.status == 201, created.body[:300]
    assert_small(created)
    upload = created.json()["upload"]
    assert (await host.send(chunk(upload, PNG))).json()["complete"] is True
