"""The page connection (``POST /_page/``) and the page socket (``join`` / ``leave`` on an open
WebSocket) in the bad-input matrix, on every host (``host`` / ``ws_host``: raw
``ComponentASGI``, middleware mode, Litestar and Starlette, in process and under uvicorn).

The page connection: a request that is not the documented shape is refused whole, with the
JSON error answer of HTTP (docs/protocol.md "The page connection"); a bad entry is that entry's
``refused`` (or ``lost``, ``finished``) control frame only, the others stream, and its status
and error document are exactly what the same stream requested alone answers (one source of
truth: ``asgi.sse``'s own checks). The page socket: a bad ``join``, ``leave`` or event naming
a component is an ``error`` with its code (docs/websocket.md "Several components on one
socket"); the socket, its own component and the joined ones are untouched.

As in the rest of the matrix: no user code runs on a refused input, nothing leaks (traceback,
key), and the host stays healthy. The caps and what a client leaves behind are in
``test_page_at_scale``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest

from component_framework.protocol.page import PageDecoder
from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.adversarial.apps import BODY_LIMIT, CAPS, USER_HEADER, WS_LIMIT, components_of, sign
from tests.adversarial.apps import HOST_BUILDERS as BUILDERS
from tests.adversarial.clients import (
    WAIT,
    Host,
    InProcessHost,
    OpenStream,
    Refused,
    Request,
    UvicornHost,
)
from tests.adversarial.test_bad_input_matrix import (
    INVALID_SNAPSHOT,
    JSON,
    LOST,
    MALFORMED,
    SOCKET,
    VALIDATION,
    HttpCase,
    Tokens,
    assert_error_answer,
    assert_no_leak,
    case,
    close_code,
    deep,
    form,
    get,
    js,
    post,
    q,
    send_ignoring_close,
    tokens_for,
)
from tests.servers import UvicornServer, start_uvicorn

PAGE: Final = "/components/_page/"
TOO_LARGE: Final = "payload_too_large"
NOT_FOUND: Final = "component_not_found"
#: What the error of a ``frames`` value other than ``"full"`` or ``"compact"`` says.
FRAMES_VALUE: Final = '\'frames\' must be "full" or "compact"'
#: What the error of a ``frames`` in a ``/_page/`` entry rather than beside ``streams`` says.
FRAMES_ONCE: Final = "give 'frames' once"
#: An answer that takes longer than this was not prompt (a generous bound, not a timing).
PROMPT: Final = 5.0


def new(key: str, name: str = "streamer", query: str = "") -> dict[str, Any]:
    """An entry starting a run (``query``: what its own stream URL would send)."""
    return {"key": key, "name": name, "query": query}


def resumed(key: str, name: str, resume: Any) -> dict[str, Any]:
    return {"key": key, "name": name, "resume": resume}


STREAMER: Final = "streamer"
#: A good entry: one render, then ``done``.
GOOD: Final = new("good", query="steps=1")


def page(*entries: Any, **extra: Any) -> bytes:
    return js({"streams": list(entries), **extra})


def page_request(*entries: Any, headers: tuple[tuple[str, str], ...] = ()) -> Request:
    return post(PAGE, page(*entries), headers=headers)


def controls(events: list[SSEEvent]) -> dict[str, dict[str, Any]]:
    """The page connection's control frames, by entry key."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.event == "page":
            document = json.loads(event.data)
            found[document.pop("key")] = document
    return found


def of_run(events: list[SSEEvent], run_id: str) -> list[SSEEvent]:
    return [e for e in events if (e.id or "").rpartition(".")[0] == run_id]


def sse_events(response: Any) -> list[SSEEvent]:
    assert response.status == 200, (response.status, response.body[:300])
    assert (response.header("content-type") or "").startswith("text/event-stream")
    assert_no_leak(response.body)
    return SSEDecoder().feed(response.body)


def assert_good_streamed(events: list[SSEEvent], key: str = "good", steps: int = 1) -> None:
    """Entry ``key`` joined and its run streamed ``steps`` renders, then ``done``."""
    run = controls(events)[key]["run"]
    assert [e.event for e in of_run(events, run)] == ["message"] * steps + ["done"], events


async def assert_page_works(host: Host) -> None:
    """A normal page connection right after: two runs, each streamed to its ``done``."""
    response = await host.send(page_request(GOOD, new("two", query="steps=2")))
    events = sse_events(response)
    assert_good_streamed(events)
    assert_good_streamed(events, "two", steps=2)


# -- the request as a whole -------------------------------------------------------------------
# Refused whole, as /_emit/ is: the JSON error answer of HTTP, no run started.

CROSS_SITE: Final = (("origin", "https://evil.example"), ("sec-fetch-site", "cross-site"))
ENTRIES_PAST_THE_LIMIT: Final = [new(str(n)) for n in range(257)]


def _raw(text: str) -> Callable[[Tokens], Request]:
    return lambda t: post(PAGE, text.encode())


def _entry(**changes: Any) -> Callable[[Tokens], Request]:
    """A request of one entry: ``GOOD`` with ``changes`` (``None``: the field left out)."""
    entry = {key: value for key, value in {**GOOD, **changes}.items() if value is not None}
    return lambda t: post(PAGE, page(entry))


def _frames(value: Any) -> Callable[[Tokens], Request]:
    """A request of ``GOOD`` with ``frames`` (the compact-frames opt-in) set to ``value``."""
    return lambda t: post(PAGE, page(GOOD, frames=value))


# fmt: off
WHOLE_CASES: Final = [
    # syntax
    case("page-not-json", _raw("not json"), 400, MALFORMED),
    case("page-truncated", _raw('{"streams": ['), 400, MALFORMED),
    case("page-two-documents", _raw('{"streams": []} {}'), 400, MALFORMED),
    case("page-a-list", lambda t: post(PAGE, js([GOOD])), 400, MALFORMED),
    case("page-nan", _raw('{"streams": [], "page": NaN}'), 400, MALFORMED),
    case("page-invalid-utf8", lambda t: post(PAGE, b'{"streams": "\xff"}'), 400, MALFORMED),
    case("page-too-deep", lambda t: post(PAGE, page(GOOD, page=deep(40))), 400, MALFORMED),
    case("page-too-deep-for-the-parser",
         lambda t: post(PAGE, b'{"streams": ' + b"[" * 8000 + b"]" * 8000 + b"}"), 400,
         MALFORMED),
    case("page-key-twice-in-json",
         _raw('{"streams": [{"key": "a", "key": "b", "name": "streamer", "query": ""}]}'), 400,
         MALFORMED, message="'key' twice"),
    case("page-streams-twice-in-json", _raw('{"streams": [], "streams": []}'), 400, MALFORMED),
    # content types
    case("page-text-plain", lambda t: post(PAGE, page(GOOD), "text/plain"), 415,
         "unsupported_media_type"),
    case("page-form", lambda t: form(PAGE, q(streams=[GOOD])), 415, "unsupported_media_type"),
    case("page-no-content-type", lambda t: post(PAGE, page(GOOD), None), 415,
         "unsupported_media_type"),
    case("page-json-latin1", lambda t: post(PAGE, page(GOOD), f"{JSON}; charset=latin-1"), 415,
         "unsupported_media_type"),
    # sizes and counts
    case("page-body-too-large", lambda t: post(PAGE, page(new("a", query="x=" + "y" * BODY_LIMIT))),
         413, TOO_LARGE),
    case("page-body-too-large-chunked",
         lambda t: post(PAGE, b"", content_length=None, chunked=True,
                        chunks=(b'{"streams": [], "pad": "', b"y" * BODY_LIMIT, b'"}')), 413,
         TOO_LARGE),
    case("page-content-length-lies-huge",
         lambda t: post(PAGE, page(GOOD), content_length=str(10**12), raw=True), 413, TOO_LARGE),
    case("page-too-many-entries", lambda t: post(PAGE, page(*ENTRIES_PAST_THE_LIMIT)), 413,
         TOO_LARGE),
    case("page-thousands-of-keys",
         lambda t: post(PAGE, page(GOOD, page={f"k{n}": 0 for n in range(1001)})), 413,
         TOO_LARGE),
    # shapes
    case("page-no-streams", lambda t: post(PAGE, js({"page": "p" * 16})), 400, MALFORMED),
    case("page-streams-empty", lambda t: post(PAGE, page()), 400, MALFORMED),
    case("page-streams-an-object", lambda t: post(PAGE, js({"streams": {"good": GOOD}})), 400,
         MALFORMED),
    case("page-entry-a-string", lambda t: post(PAGE, page("streamer")), 400, MALFORMED),
    case("page-unknown-field", lambda t: post(PAGE, page(GOOD, admin=True)), 400, MALFORMED),
    case("page-entry-unknown-field", _entry(snapshot="x"), 400, MALFORMED),
    case("page-key-missing", _entry(key=None), 400, MALFORMED),
    case("page-key-empty", _entry(key=""), 400, MALFORMED),
    case("page-key-too-long", _entry(key="k" * 65), 400, MALFORMED),
    case("page-key-not-a-string", _entry(key=5), 400, MALFORMED),
    case("page-key-twice", lambda t: post(PAGE, page(GOOD, GOOD)), 400, MALFORMED),
    # One run, one entry: a run resumed twice would have each of its frames written twice.
    case("page-one-run-resumed-twice",
         lambda t: post(PAGE, page(resumed("a", STREAMER, "run.1"),
                                   resumed("b", STREAMER, "run.4"))), 400, MALFORMED,
         message="twice"),
    case("page-name-missing", _entry(name=None), 400, MALFORMED),
    case("page-name-too-long", _entry(name="n" * 129), 400, MALFORMED),
    case("page-name-not-a-string", _entry(name=["streamer"]), 400, MALFORMED),
    case("page-query-and-resume", _entry(resume="run.1"), 400, MALFORMED),
    case("page-neither-query-nor-resume", _entry(query=None), 400, MALFORMED),
    case("page-query-not-a-string", _entry(query={"steps": 1}), 400, MALFORMED),
    case("page-resume-too-long", _entry(query=None, resume="r" * 97), 400, MALFORMED),
    case("page-resume-not-a-string", _entry(query=None, resume=3), 400, MALFORMED),
    case("page-resume-empty", _entry(query=None, resume=""), 400, MALFORMED),
    case("page-body-on-a-get-entry", _entry(body="steps=1"), 400, MALFORMED),
    case("page-body-not-a-string", _entry(method="POST", body={"steps": 1}), 400, MALFORMED),
    case("page-method-not-a-string", _entry(method=["POST"]), 400, MALFORMED),
    case("page-method-empty", _entry(method=""), 400, MALFORMED),
    case("page-body-on-a-resume", _entry(query=None, resume="run.1", method="POST", body=""),
         400, MALFORMED),
    case("page-post-entry-cross-site",
         lambda t: post(PAGE, page({**GOOD, "method": "POST", "body": "steps=1"}),
                        headers=CROSS_SITE), 403, "forbidden"),
    case("page-lone-surrogate-key", _entry(key="\ud800"), 400, MALFORMED),
    case("page-lone-surrogate-name", _entry(name="\udfff"), 400, MALFORMED),
    case("page-lone-surrogate-query", _entry(query="steps=\ud800"), 400, MALFORMED),
    case("page-lone-surrogate-resume", _entry(query=None, resume="\ud800.1"), 400, MALFORMED),
    # the compact-frames opt-in: "full" or "compact", once, beside 'streams'
    case("page-frames-unknown", _frames("short"), 400, MALFORMED, message=FRAMES_VALUE),
    case("page-frames-uppercase", _frames("COMPACT"), 400, MALFORMED, message=FRAMES_VALUE),
    case("page-frames-padded", _frames(" compact"), 400, MALFORMED, message=FRAMES_VALUE),
    case("page-frames-empty", _frames(""), 400, MALFORMED, message=FRAMES_VALUE),
    case("page-frames-not-a-string", _frames(1), 400, MALFORMED, message=FRAMES_VALUE),
    case("page-frames-null", _frames(None), 400, MALFORMED, message=FRAMES_VALUE),
    case("page-frames-true", _frames(True), 400, MALFORMED, message=FRAMES_VALUE),
    case("page-frames-an-object", _frames({"compact": True}), 400, MALFORMED,
         message=FRAMES_VALUE),
    case("page-frames-lone-surrogate", _frames("\ud800"), 400, MALFORMED),
    case("page-frames-twice-in-json",
         _raw('{"streams": [], "frames": "compact", "frames": "full"}'), 400, MALFORMED,
         message="'frames' twice"),
    case("page-frames-in-an-entry", _entry(frames="compact"), 400, MALFORMED,
         message=FRAMES_ONCE),
    case("page-frames-bad-in-an-entry", _entry(frames="short"), 400, MALFORMED,
         message=FRAMES_VALUE),
    case("page-frames-in-an-entry-and-beside",
         lambda t: post(PAGE, page({**GOOD, "frames": "full"}, frames="compact")), 400,
         MALFORMED, message=FRAMES_ONCE),
    case("page-frames-on-a-cross-site-page",
         lambda t: post(PAGE, page(GOOD, frames="compact"), headers=CROSS_SITE), 403,
         "forbidden"),
    # ... at scale: a megabyte value, one just under the body limit, the field many times
    case("page-frames-a-megabyte", _frames("c" * 2**20), 413, TOO_LARGE),
    case("page-frames-under-the-body-limit", _frames("c" * (BODY_LIMIT - 200)), 400,
         MALFORMED, message=FRAMES_VALUE),
    case("page-frames-a-thousand-entry-list", _frames(["compact"] * 1000), 400, MALFORMED,
         message=FRAMES_VALUE),
    case("page-frames-500-times-in-json",
         _raw('{"streams": [], ' + '"frames": "compact", ' * 500 + '"page": "p"}'), 400,
         MALFORMED, message="'frames' twice"),
    case("page-frames-in-each-of-200-entries",
         lambda t: post(PAGE, page(*({**new(f"k{n}"), "frames": "compact"} for n in range(200)))),
         400, MALFORMED, message=FRAMES_ONCE),
    # methods, hosts, cross-site pages
    *(
        case(f"page-method-{method.lower()}", lambda t, method=method: get(PAGE, method=method),
             405, "method_not_allowed", allow="POST")
        for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS")
    ),
    case("page-unknown-host", lambda t: post(PAGE, page(GOOD), headers=(("host", "localhost"),)),
         400, "host_not_allowed"),
    case("page-foreign-origin",
         lambda t: post(PAGE, page(GOOD), headers=(("origin", "https://evil.example"),)), 403,
         "forbidden"),
    case("page-cross-site-fetch",
         lambda t: post(PAGE, page(GOOD), headers=(("sec-fetch-site", "cross-site"),)), 403,
         "forbidden"),
    case("page-cross-site-resume-only",
         lambda t: post(PAGE, page(resumed("r", "streamer", "run.1")), headers=CROSS_SITE), 403,
         "forbidden"),
]
# fmt: on


@pytest.mark.parametrize("bad", WHOLE_CASES)
async def test_page_a_bad_request_is_refused_whole_with_its_documented_error(
    host: Host, bad: HttpCase
) -> None:
    before = await host.calls()

    response = await host.send(bad.build(Tokens(foreign="")))

    assert_error_answer(response, bad)
    assert len(response.body) < 2048, "a client's value came back whole"
    assert await host.calls() == before, "user code ran on a refused page connection"
    await asyncio.wait_for(host.check_healthy(), PROMPT)
    await assert_page_works(host)


@pytest.mark.parametrize("frames", ["full", "compact"])
async def test_page_either_frames_value_streams_every_entry(host: Host, frames: str) -> None:
    """The control case of the ``frames`` rows: each entry joins (with its number on a
    compact connection) and streams to its ``done``."""
    response = await host.send(post(PAGE, page(GOOD, new("two", query="steps=2"), frames=frames)))

    events = sse_events(response)
    assert_good_streamed(events)
    assert_good_streamed(events, "two", steps=2)
    shorts = {key: control.get("short") for key, control in controls(events).items()}
    assert shorts == ({"good": 1, "two": 2} if frames == "compact" else {"good": None, "two": None})


@pytest.mark.parametrize("named", [5, "short", "p" * 65, "<script>", {"id": "p" * 16}])
async def test_page_a_page_id_that_names_no_page_is_no_error(host: Host, named: Any) -> None:
    """docs/protocol.md: a page id is 8 to 64 characters of ``A-Z a-z 0-9 _ -``, "anything
    else names no page": the streams run, with no page's events (as on ``/_emit/``)."""
    response = await host.send(post(PAGE, page(GOOD, page=named)))

    events = sse_events(response)
    assert_good_streamed(events)
    assert "script" not in response.body.decode()


# -- one entry: refused alone, the others stream ------------------------------------------------


@dataclass(frozen=True)
class Seeds:
    """What the per-entry cases aim at: the host's tokens and a real run of ``streamer`` that
    finished (``run``: its id, ``last``: its last frame's id)."""

    tokens: Tokens
    run: str
    last: str


async def seeds_for(host: Host) -> Seeds:
    response = await host.send(page_request(GOOD))
    events = sse_events(response)
    run = controls(events)["good"]["run"]
    return Seeds(await tokens_for(host), run, of_run(events, run)[-1].id or "")


@dataclass(frozen=True)
class EntryCase:
    """One bad entry (key ``bad``), and its stream requested alone: ``name`` and ``query``
    (``GET {name}/stream/?{query}``), or ``resume`` (the same ``GET`` with that
    ``Last-Event-ID``). ``end``: the control frame's ``end``; ``status`` / ``code``: what both
    answer. ``user``: the request's :data:`USER_HEADER`. ``ran``: user code the refusal may
    run (an authorization that reads the restored state runs after ``hydrate``)."""

    id: str
    name: str
    query: Callable[[Seeds], str] | None
    end: str
    status: int
    code: str | None
    resume: Callable[[Seeds], str] | None = None
    user: str | None = None
    field: str | None = None
    ran: Mapping[str, int] = dataclasses.field(default_factory=dict)
    #: The code of the stream requested alone, when its path is refused before the component
    #: is looked up (a reserved name is no route: ``not_found``); the status is the same.
    also_alone: str | None = None
    #: A stream its own request starts with another method (``POST``: with this form body).
    method: str = "GET"
    body: Callable[[Seeds], str] | None = None

    def entry(self, seeds: Seeds) -> dict[str, Any]:
        if self.resume is not None:
            return resumed("bad", self.name, self.resume(seeds))
        assert self.query is not None
        entry = new("bad", self.name, self.query(seeds))
        if self.method != "GET":
            entry["method"] = self.method
        if self.body is not None:
            entry["body"] = self.body(seeds)
        return entry

    def headers(self) -> tuple[tuple[str, str], ...]:
        return () if self.user is None else ((USER_HEADER, self.user),)

    def alone(self, seeds: Seeds) -> Request:
        path = f"/components/{self.name}/stream/"
        if self.resume is not None:
            return get(path, headers=(("last-event-id", self.resume(seeds)),))
        assert self.query is not None
        if self.method == "GET":
            return get(path, self.query(seeds), headers=self.headers())
        body = "" if self.body is None else self.body(seeds)
        query = self.query(seeds).encode()
        return form(path, body, method=self.method, query=query, headers=self.headers())


def refused(id: str, name: str, query: Callable[[Seeds], str], status: int, code: str,
            **kw: Any) -> Any:  # fmt: skip
    return pytest.param(EntryCase(id, name, query, "refused", status, code, **kw), id=id)


def ended(id: str, name: str, resume: Callable[[Seeds], str], end: str, **kw: Any) -> Any:
    status, code = (200, LOST) if end == "lost" else (204, None)
    return pytest.param(EntryCase(id, name, None, end, status, code, resume, **kw), id=id)


def _snapshot(token: Callable[[Tokens], str]) -> Callable[[Seeds], str]:
    return lambda s: q(snapshot=token(s.tokens))


ANNS: Final = sign("locker", {"owner": "ann", "steps": 0})

# fmt: off
ENTRY_CASES: Final = [
    refused("unknown-component", "nope", lambda s: "", 404, NOT_FOUND),
    refused("reserved-name", "_page", lambda s: "", 404, NOT_FOUND, also_alone="not_found"),
    refused("component-without-a-stream", "target", lambda s: "", 404, "stream_not_found"),
    refused("unknown-event", STREAMER, lambda s: q(event="explode"), 404, "event_not_found"),
    refused("private-event", STREAMER, lambda s: q(event="_secret"), 404, "event_not_found"),
    refused("plain-handler", STREAMER, lambda s: q(event="reset"), 405, "method_not_allowed"),
    refused("wrong-type", STREAMER, lambda s: q(steps="lots"), 422, VALIDATION, field="steps"),
    refused("unexpected-field", STREAMER, lambda s: q(evil=1), 422, VALIDATION, field="evil"),
    refused("params-unexpected", STREAMER, lambda s: q(params={"evil": 1}), 422, VALIDATION,
            field="evil"),
    refused("params-not-json", STREAMER, lambda s: "params=%7Bevil", 400, MALFORMED),
    refused("payload-too-deep", STREAMER, lambda s: q(payload=deep(40)), 400, MALFORMED),
    refused("field-twice", STREAMER, lambda s: "steps=1&steps=2", 422, VALIDATION,
            field="steps"),
    refused("event-twice", STREAMER, lambda s: "event=run&event=run", 400, MALFORMED),
    refused("query-invalid-utf8", STREAMER, lambda s: "steps=%FF", 400, MALFORMED),
    refused("query-thousands-of-fields", STREAMER, lambda s: "a&" * 1500, 413, TOO_LARGE),
    refused("huge-field-name", STREAMER, lambda s: f"steps=1&{'n' * 10_000}=1", 422, VALIDATION),
    refused("huge-event-name", STREAMER, lambda s: q(event="e" * 10_000), 404, "event_not_found"),
    refused("bad-format", STREAMER, lambda s: q(format="xml"), 422, VALIDATION, field="format"),
    refused("raw-state", STREAMER, lambda s: q(state={"steps": [1]}), 400, INVALID_SNAPSHOT),
    refused("snapshot-tampered", STREAMER,
            _snapshot(lambda t: t.tampered_signature(STREAMER)), 400, INVALID_SNAPSHOT),
    refused("snapshot-forged-state", STREAMER,
            _snapshot(lambda t: t.tampered_payload(STREAMER)), 400, INVALID_SNAPSHOT),
    refused("snapshot-other-key", STREAMER, _snapshot(lambda t: t.other_key(STREAMER)), 400,
            INVALID_SNAPSHOT),
    refused("snapshot-of-another-component", STREAMER, _snapshot(lambda t: t.foreign), 400,
            INVALID_SNAPSHOT),
    refused("snapshot-expired", STREAMER, _snapshot(lambda t: t.expired(STREAMER)), 400,
            INVALID_SNAPSHOT),
    refused("snapshot-garbage", STREAMER, lambda s: q(snapshot="garbage"), 400,
            INVALID_SNAPSHOT),
    refused("another-users-component", "locker", lambda s: q(snapshot=ANNS), 403, "forbidden",
            user="bob", ran={"locker.hydrate": 1}),
    refused("authorization-refuses-no-user", "locker", lambda s: "", 401, "unauthorized"),
    refused("authorization-refuses-no-user-resuming", "locker", lambda s: q(snapshot=ANNS),
            401, "unauthorized", ran={"locker.hydrate": 1}),
    # POST streams (htmx 4's hx-post to a stream URL): the form body read as that POST reads it
    refused("post-method-put", STREAMER, lambda s: "", 405, "method_not_allowed",
            method="PUT"),
    refused("post-body-not-utf8", STREAMER, lambda s: "", 400, MALFORMED, method="POST",
            body=lambda s: "steps=%FF"),
    refused("post-body-thousands-of-fields", STREAMER, lambda s: "", 413, TOO_LARGE,
            method="POST", body=lambda s: "a&" * 1500),
    refused("post-body-wrong-type", STREAMER, lambda s: "", 422, VALIDATION, field="steps",
            method="POST", body=lambda s: "steps=lots"),
    refused("post-body-payload-not-json", STREAMER, lambda s: "", 400, MALFORMED,
            method="POST", body=lambda s: "payload=%7Bsteps"),
    refused("post-body-forged-snapshot", STREAMER, lambda s: "", 400, INVALID_SNAPSHOT,
            method="POST", body=lambda s: q(snapshot=s.tokens.tampered_payload(STREAMER))),
    refused("post-body-raw-state", STREAMER, lambda s: "", 400, INVALID_SNAPSHOT,
            method="POST", body=lambda s: q(state={"steps": [1]})),
    refused("post-unknown-event", STREAMER, lambda s: "", 404, "event_not_found",
            method="POST", body=lambda s: "event=explode"),
    refused("post-another-users-component", "locker", lambda s: "", 403, "forbidden",
            method="POST", body=lambda s: q(snapshot=ANNS), user="bob",
            ran={"locker.hydrate": 1}),
    ended("run-made-up", STREAMER, lambda s: "made-up.3", "lost"),
    ended("run-id-without-a-sequence", STREAMER, lambda s: "no-dot", "lost"),
    ended("run-sequence-negative", STREAMER, lambda s: f"{s.run}.-1", "lost"),
    ended("run-sequence-huge", STREAMER, lambda s: f"{s.run}.{'9' * 19}", "lost"),
    ended("run-id-forged", STREAMER, lambda s: f"{s.run[:-2]}xx.1", "lost"),
    ended("run-of-another-component", "target", lambda s: s.last, "lost"),
    ended("run-of-another-stream-component", "limited", lambda s: s.last, "lost"),
    ended("run-finished", STREAMER, lambda s: s.last, "finished"),
]
# fmt: on


def _never_sent(t: Tokens) -> Request:
    """The request of a case whose answer is checked after the fact (never sent)."""
    return Request("GET", PAGE)


def _alone_answer(response: Any, expected: EntryCase) -> tuple[int, dict[str, Any] | None]:
    """The status and error document of a stream requested alone."""
    assert_no_leak(response.body)
    if expected.end == "lost":
        assert_error_answer(response, HttpCase(expected.id, _never_sent, 200, LOST))
        (lost,) = SSEDecoder().feed(response.body)
        return response.status, json.loads(lost.data)
    if expected.end == "finished":
        return response.status, None
    code = expected.also_alone or expected.code
    answer = HttpCase(expected.id, _never_sent, expected.status, code, field=expected.field)
    assert_error_answer(response, answer)
    return response.status, response.json()["error"]


@pytest.mark.parametrize("bad", ENTRY_CASES)
async def test_page_a_bad_entry_is_refused_alone_as_its_own_stream_is_and_the_others_stream(
    host: Host, bad: EntryCase
) -> None:
    seeds = await seeds_for(host)
    before = await host.calls()

    response = await host.send(page_request(bad.entry(seeds), GOOD, headers=bad.headers()))

    events = sse_events(response)
    control = controls(events)["bad"]
    assert control["end"] == bad.end, control
    assert len(json.dumps(control)) < 2048, "a client's string came back whole"
    assert_good_streamed(events)
    calls = await host.calls()
    calls.subtract(before)
    assert +calls == {"streamer.mount": 1, "streamer.on_run": 1, **bad.ran}, "user code ran"
    before = await host.calls()
    status, error = _alone_answer(await host.send(bad.alone(seeds)), bad)
    if bad.also_alone is not None:
        assert (control["status"], control["error"]["code"]) == (status, bad.code), control
    elif bad.end == "refused":
        assert control == {"end": "refused", "status": status, "error": error}
    elif bad.end == "lost":
        assert control == {"end": "lost", "error": error}
    else:
        assert (control, status) == ({"end": "finished"}, 204)
    calls = await host.calls()
    calls.subtract(before)
    assert +calls == dict(bad.ran), "user code ran for the stream requested alone"
    await host.check_healthy()


async def test_page_each_entry_runs_its_own_stream_once(host: Host) -> None:
    """The control case: two entries of one component, each its own run and state."""
    before = await host.calls()

    response = await host.send(page_request(new("a", query="steps=1"), new("b", query="steps=3")))

    events = sse_events(response)
    found = controls(events)
    assert found["a"]["run"] != found["b"]["run"]
    assert_good_streamed(events, "a", steps=1)
    assert_good_streamed(events, "b", steps=3)
    last_b = [e for e in of_run(events, found["b"]["run"]) if e.event == "message"][-1]
    assert "<li>2</li>" in last_b.data
    assert "<li>2</li>" not in "".join(e.data for e in of_run(events, found["a"]["run"]))
    calls = await host.calls()
    calls.subtract(before)
    assert +calls == {"streamer.mount": 2, "streamer.on_run": 2}


async def test_page_the_owner_streams_its_locker_over_the_page_connection(host: Host) -> None:
    """The control case of the authorization rows: ann's snapshot, sent by ann."""
    headers = ((USER_HEADER, "ann"),)
    response = await host.send(
        page_request(new("mine", "locker", q(snapshot=ANNS)), headers=headers)
    )

    events = sse_events(response)
    renders = [e for e in of_run(events, controls(events)["mine"]["run"]) if e.event == "message"]
    assert [r.data.rpartition(">ann:")[2] for r in renders] == ["1</p>"]


# -- per client: request rate and the page runs' cap (in process, with small limits) --------------


async def test_page_a_client_past_its_request_rate_is_refused_whole_then_entry_by_entry(
    in_process_name: str,
) -> None:
    """``http_burst`` 3: the connection takes one request and each new run past the first one
    more (docs/scaling.md), so the fourth entry is refused ``429``, alone; the next connection
    is refused whole."""
    host = InProcessHost(in_process_name, BUILDERS[in_process_name](http_rate=0.001, http_burst=3))

    response = await host.send(page_request(GOOD, new("two"), new("three"), new("four")))

    found = controls(sse_events(response))
    assert ["run" in found[key] for key in ("good", "two", "three")] == [True] * 3
    assert (found["four"]["status"], found["four"]["error"]["code"]) == (429, "rate_limited")
    again = await host.send(page_request(GOOD))
    assert_no_leak(again.body)
    assert (again.status, again.json()["error"]["code"]) == (429, "rate_limited"), again.body
    assert float(again.header("retry-after") or 0) > 0, again.headers


async def test_page_entries_past_the_page_stream_cap_are_refused_alone_with_429(
    in_process_name: str,
) -> None:
    host = InProcessHost(in_process_name, BUILDERS[in_process_name](max_page_streams_per_client=2))
    before = await host.calls()

    response = await host.send(page_request(new("a"), GOOD, new("c"), new("d")))

    events = sse_events(response)
    found = controls(events)
    assert_good_streamed(events)
    for key in "cd":
        assert (found[key]["status"], found[key]["error"]["code"]) == (429, "rate_limited")
        assert found[key]["error"]["message"]
    calls = await host.calls()
    calls.subtract(before)
    assert +calls == {"streamer.mount": 2, "streamer.on_run": 2}


# -- the page socket: join, leave and events naming a component ----------------------------------
# The socket holds its own ``target`` (start 5) and a joined ``other``. Each row sends one bad
# message (after its ``setup``, if any): an ``error`` with its code and ``ref``, no user code,
# and afterwards an event on the joined ``other`` and one on the socket's own component both
# answer as before (the socket and the other components untouched).


@dataclass(frozen=True)
class Socket:
    """An open page socket: its own component's id and snapshot, a joined ``other``'s."""

    own_id: str
    own_snapshot: str
    joined_id: str
    joined_snapshot: str
    tokens: Tokens
    #: A component joined by the row's setup and then left (``""``: none).
    left_id: str = ""


@dataclass(frozen=True)
class SocketCase:
    """One bad message about the socket's components and the ``error`` it gets. ``setup``:
    ``"join-and-leave"`` joins a second ``other`` and leaves it first. ``component_id``: the
    error names that joined component (``True``: the one in the message)."""

    id: str
    message: Callable[[Socket], Any]
    code: str
    field: str | None = None
    user: str | None = None
    setup: str | None = None
    ran: Mapping[str, int] = dataclasses.field(default_factory=dict)
    names_component: bool = False
    #: Refused while the message is decoded, before its ``ref`` is read: the error has none.
    refless: bool = False
    #: What the error's message says (the field it names).
    says: str | None = None


def sock(id: str, message: Callable[[Socket], Any], code: str, **kw: Any) -> Any:
    return pytest.param(SocketCase(id, message, code, **kw), id=id)


def join(name: Any, **fields: Any) -> dict[str, Any]:
    return {"type": "join", "component": name, "ref": "bad", **fields}


def leave(component_id: Any) -> dict[str, Any]:
    return {"type": "leave", "component_id": component_id, "ref": "bad"}


def event_of(component_id: Any, event: str = "increment") -> dict[str, Any]:
    return {"type": "event", "event": event, "component_id": component_id, "ref": "bad"}


def stream_of(frames: Any) -> dict[str, Any]:
    """A ``stream`` message for a run of ``streamer``, its ``frames`` opt-in ``frames``."""
    return {"type": "stream", "ref": "bad", **GOOD, "frames": frames}


#: A ``stream`` message holding ``frames`` 500 times (raw text: JSON keeps one of each key).
FRAMES_500_TIMES: Final = (
    '{"type": "stream", "key": "a", "name": "streamer", "query": "", "ref": "bad", '
    + '"frames": "compact", ' * 500
    + '"frames": "full"}'
)


TARGET_NAME: Final = "target"
# fmt: off
SOCKET_CASES: Final = [
    # the join's component field
    sock("join-component-not-a-string", lambda s: join(5), MALFORMED),
    sock("join-component-a-list", lambda s: join([TARGET_NAME]), MALFORMED),
    sock("join-component-empty", lambda s: join(""), MALFORMED),
    sock("join-component-too-long", lambda s: join("c" * 129), MALFORMED),
    sock("join-component-lone-surrogate", lambda s: join("\ud800"), MALFORMED, refless=True),
    sock("join-target-not-an-id", lambda s: join(TARGET_NAME, target="<script>"), MALFORMED),
    sock("join-raw-state", lambda s: join(TARGET_NAME, state={"count": 1000}), MALFORMED),
    sock("join-url-too-long", lambda s: join(TARGET_NAME, url="http://app.example/" + "u" * 9000),
         MALFORMED),
    sock("join-children-of-another-parent",
         lambda s: join(TARGET_NAME, children=[sign("other", {"seen": 0}, component_id="o-1",
                                                    parent=("target-elsewhere", "1"))]),
         "invalid_child"),
    sock("join-params-too-deep", lambda s: join(TARGET_NAME, params=deep(40)), MALFORMED,
         refless=True),
    # the component it names
    sock("join-unknown-component", lambda s: join("nope"), NOT_FOUND),
    sock("join-reserved-name", lambda s: join("_page"), NOT_FOUND),
    sock("join-huge-unknown-name", lambda s: join("n" * 128), NOT_FOUND),
    # its snapshot and params
    sock("join-snapshot-tampered",
         lambda s: join(TARGET_NAME, snapshot=s.tokens.tampered_payload()), INVALID_SNAPSHOT),
    sock("join-snapshot-forged-signature",
         lambda s: join(TARGET_NAME, snapshot=s.tokens.tampered_signature()), INVALID_SNAPSHOT),
    sock("join-snapshot-other-key", lambda s: join(TARGET_NAME, snapshot=s.tokens.other_key()),
         INVALID_SNAPSHOT),
    sock("join-snapshot-of-another-component",
         lambda s: join(TARGET_NAME, snapshot=s.joined_snapshot), INVALID_SNAPSHOT),
    sock("join-snapshot-expired", lambda s: join(TARGET_NAME, snapshot=s.tokens.expired()),
         INVALID_SNAPSHOT),
    sock("join-snapshot-garbage", lambda s: join(TARGET_NAME, snapshot="garbage"),
         INVALID_SNAPSHOT),
    sock("join-params-wrong-type", lambda s: join(TARGET_NAME, params={"start": "lots"}),
         VALIDATION, field="start"),
    sock("join-params-unexpected", lambda s: join(TARGET_NAME, params={"evil": 1}), VALIDATION,
         field="evil"),
    # another user's, or refused by its authorization
    sock("join-another-users-component", lambda s: join("locker", snapshot=ANNS), "forbidden",
         user="bob", ran={"locker.hydrate": 1}),
    sock("join-without-a-user", lambda s: join("locker"), "unauthorized"),
    # already on the socket
    sock("join-the-joined-component-again", lambda s: join("other", snapshot=s.joined_snapshot),
         "bad_request", ran={"other.hydrate": 1}),
    sock("join-the-sockets-own-component",
         lambda s: join(TARGET_NAME, snapshot=s.own_snapshot), "bad_request",
         ran={"target.hydrate": 1}),
    # leave
    sock("leave-unknown-component", lambda s: leave("other-" + "f" * 32), "not_joined",
         names_component=True),
    sock("leave-the-sockets-own-component", lambda s: leave(s.own_id), "not_joined",
         names_component=True),
    sock("leave-a-component-that-left", lambda s: leave(s.left_id), "not_joined",
         setup="join-and-leave", names_component=True),
    sock("leave-without-component-id", lambda s: {"type": "leave", "ref": "bad"}, MALFORMED),
    sock("leave-component-id-not-a-string", lambda s: leave(5), MALFORMED),
    sock("leave-huge-component-id", lambda s: leave("x" * 5000), "not_joined",
         names_component=True),
    # events naming a component that is not (or no longer) on the socket
    sock("event-of-a-component-that-left", lambda s: event_of(s.left_id), "invalid_child",
         setup="join-and-leave"),
    sock("event-of-a-component-never-joined", lambda s: event_of("other-" + "e" * 32),
         "invalid_child"),
    sock("event-component-id-not-a-string", lambda s: event_of(["x"]), MALFORMED),
    sock("event-huge-component-id", lambda s: event_of("x" * 5000), "invalid_child"),
    sock("event-unknown-on-the-joined-component", lambda s: event_of(s.joined_id, "explode"),
         "event_not_found", names_component=True),
    # a stream entry's compact-frames opt-in: "full" or "compact"
    sock("stream-frames-unknown", lambda s: stream_of("short"), MALFORMED, says=FRAMES_VALUE),
    sock("stream-frames-uppercase", lambda s: stream_of("COMPACT"), MALFORMED,
         says=FRAMES_VALUE),
    sock("stream-frames-not-a-string", lambda s: stream_of(1), MALFORMED, says=FRAMES_VALUE),
    sock("stream-frames-null", lambda s: stream_of(None), MALFORMED, says=FRAMES_VALUE),
    sock("stream-frames-an-object", lambda s: stream_of({"compact": True}), MALFORMED,
         says=FRAMES_VALUE),
    sock("stream-frames-lone-surrogate", lambda s: stream_of("\ud800"), MALFORMED,
         refless=True),
    # ... at scale: one just under the message limit, the field many times, a long list
    sock("stream-frames-under-the-message-limit", lambda s: stream_of("c" * (WS_LIMIT - 300)),
         MALFORMED, says=FRAMES_VALUE),
    sock("stream-frames-a-thousand-entry-list", lambda s: stream_of(["compact"] * 1000),
         MALFORMED, says=FRAMES_VALUE),
    sock("stream-frames-500-times-in-json", lambda s: FRAMES_500_TIMES, MALFORMED,
         refless=True, says="'frames' twice"),
]
# fmt: on


async def _join_other(ws: Any, ref: str) -> dict[str, Any]:
    answer: dict[str, Any] = await ws.request({"type": "join", "component": "other", "ref": ref})
    assert (answer["type"], answer["ref"], answer["state"]) == ("render", ref, {"seen": 0}), answer
    return answer


async def _open_page_socket(ws: Any, tokens: Tokens) -> Socket:
    own = await ws.receive_json()
    assert (own["type"], own["state"]) == ("render", {"count": 5}), own
    joined = await _join_other(ws, "j0")
    return Socket(own["component_id"], own["snapshot"], joined["component_id"],
                  joined["snapshot"], tokens)  # fmt: skip


async def _assert_untouched(ws: Any, opened: Socket) -> None:
    """The joined ``other`` and the socket's own ``target`` both still answer events."""
    other = await ws.request({"type": "event", "event": "increment", "ref": "o",
                              "component_id": opened.joined_id})  # fmt: skip
    assert (other["type"], other["ref"]) == ("render", "o"), other
    assert (other["component_id"], other["state"]) == (opened.joined_id, {"seen": 1})
    own = await ws.request({"type": "event", "event": "increment", "ref": "t"})
    assert (own["type"], own["ref"], own["state"]) == ("render", "t", {"count": 6}), own
    assert own["component_id"] == opened.own_id


@pytest.mark.parametrize("bad", SOCKET_CASES)
async def test_page_socket_a_bad_join_leave_or_event_gets_an_error_and_nothing_else_changes(
    ws_host: Host, bad: SocketCase
) -> None:
    tokens = await tokens_for(ws_host)
    headers = None if bad.user is None else {USER_HEADER: bad.user}
    async with ws_host.websocket(SOCKET, {"start": 5}, headers) as ws:
        opened = await _open_page_socket(ws, tokens)
        if bad.setup == "join-and-leave":
            second = await _join_other(ws, "j1")
            left = await ws.request({"type": "leave", "component_id": second["component_id"]})
            assert left["type"] == "left", left
            opened = dataclasses.replace(opened, left_id=second["component_id"])
        before = await ws_host.calls()
        message = bad.message(opened)

        if isinstance(message, str):  # raw text
            await ws.send_text(message)
            answer = await ws.receive_json()
        else:
            answer = await ws.request(message)

        assert_no_leak(json.dumps(answer).encode())
        ref = None if bad.refless else "bad"
        assert (answer["type"], answer["code"], answer.get("ref")) == ("error", bad.code, ref)
        assert answer["message"], answer
        if bad.says is not None:
            assert bad.says in answer["message"], answer
        assert len(json.dumps(answer)) < 2048, "a client's string came back whole"
        if bad.field is not None:
            assert answer["field"] == bad.field, answer
        if bad.names_component:
            assert answer["component_id"] == str(message["component_id"])[:128], answer
        else:
            assert "component_id" not in answer, answer
        calls = await ws_host.calls()
        calls.subtract(before)
        assert +calls == dict(bad.ran), "user code ran on a refused message"
        await _assert_untouched(ws, opened)
    await asyncio.wait_for(ws_host.check_healthy(), PROMPT)


async def test_page_socket_a_megabyte_frames_value_closes_it_with_1009_and_nothing_else(
    ws_host: Host,
) -> None:
    """The ``frames`` opt-in past the message limit: the socket's oversized-message close, no
    user code; the host answers promptly and a new socket streams a compact entry."""
    async with ws_host.websocket(SOCKET, {"start": 5}) as ws:
        await ws.receive_json()
        before = await ws_host.calls()

        await send_ignoring_close(ws, [js(stream_of("c" * 2**20)).decode()])
        code, seen = await close_code(ws)

        assert (code, seen) == (1009, [])
        assert await ws_host.calls() == before
    await asyncio.wait_for(ws_host.check_healthy(), PROMPT)
    async with ws_host.websocket(SOCKET, {"start": 5}) as ws:
        await ws.receive_json()
        await ws.send_json({**stream_of("compact"), "ref": "ok"})
        decoder = PageDecoder()
        events = [event for _ in range(3) for event in decoder.feed(
            (await ws.receive_text()).encode())]  # fmt: skip
    control = json.loads(events[0].data)
    assert (events[0].event, control["key"], control["short"]) == ("page", "good", 1), events
    assert [e.event for e in events[1:]] == ["message", "done"]


async def test_page_socket_an_event_on_a_joined_component_changes_only_its_state(
    ws_host: Host,
) -> None:
    """The control case: each joined component is its own; leaving one leaves the others."""
    async with ws_host.websocket(SOCKET, {"start": 5}) as ws:
        opened = await _open_page_socket(ws, await tokens_for(ws_host))
        second = await _join_other(ws, "j1")
        bumped = await ws.request({"type": "event", "event": "increment", "ref": "b",
                                   "component_id": second["component_id"]})  # fmt: skip
        assert (bumped["component_id"], bumped["state"]) == (second["component_id"], {"seen": 1})
        left = await ws.request({"type": "leave", "component_id": second["component_id"],
                                 "ref": "l"})  # fmt: skip
        assert left == {"type": "left", "component_id": second["component_id"], "ref": "l"}
        await _assert_untouched(ws, opened)  # the first ``other`` is still at 0, then 1
    await ws_host.check_healthy()


# -- at scale: a client holding all it may, then going away ---------------------------------------
# With small caps (apps.CAPS) on every in-process host and a real uvicorn: a client opens page
# connections and sockets and joins components until each cap refuses it, clearly (429 /
# rate_limited); what it holds keeps working meanwhile. When it goes, the server frees all of
# it: the runs after their grace (``board``'s: 0.3 s), the sockets and their components at once.

PAGE_RUNS: Final = CAPS["max_page_streams_per_client"]
STREAMS: Final = CAPS["max_streams_per_client"]
SOCKETS: Final = CAPS["max_sockets_per_client"]
ON_A_SOCKET: Final = CAPS["ws_max_components"]
BOARD_SOCKET: Final = "/components/board/ws/"
#: How long the server may take to free what a client left (a generous bound, not a timing).
FREED_WITHIN: Final = 5.0


def _boards(count: int, prefix: str = "b") -> Request:
    return page_request(*(new(f"{prefix}{n}", "board") for n in range(count)))


async def _controls_of(opened: OpenStream, count: int) -> dict[str, dict[str, Any]]:
    """The first ``count`` control frames of an open page connection (then its frames)."""
    assert opened.status == 200, (opened.status, opened.body[:300])
    while len(controls(opened.events)) < count:
        await opened.next_event()
    return controls(opened.events)


async def _first_frame(opened: OpenStream, run: str) -> SSEEvent:
    while not of_run(opened.events, run):
        await opened.next_event()
    return of_run(opened.events, run)[0]


def _assert_429(response: Any) -> None:
    assert_no_leak(response.body)
    assert (response.status, response.json()["error"]["code"]) == (429, "rate_limited")
    assert response.json()["error"]["message"]


async def _hold_everything(host: Host, stack: contextlib.AsyncExitStack) -> None:
    """Open and join until every cap refuses, checking each refusal and that what is held
    still works."""
    # Page runs: one connection asks for two more than the cap; the rest are refused alone.
    first = await stack.enter_async_context(host.stream(_boards(PAGE_RUNS + 2)))
    found = await _controls_of(first, PAGE_RUNS + 2)
    runs = [found[f"b{n}"]["run"] for n in range(PAGE_RUNS)]
    for n in range(PAGE_RUNS, PAGE_RUNS + 2):
        assert (found[f"b{n}"]["status"], found[f"b{n}"]["error"]["code"]) == (429, "rate_limited")
    resume = (await _first_frame(first, runs[0])).id
    # Open responses: page connections resuming a run cost no run, only a connection each.
    for _ in range(STREAMS - 1):
        again = await stack.enter_async_context(host.stream(page_request(
            resumed("r", "board", resume))))  # fmt: skip
        assert "run" in (await _controls_of(again, 1))["r"]
    _assert_429(await host.send(page_request(resumed("r", "board", resume))))
    _assert_429(await host.send(get("/components/streamer/stream/")))
    # Sockets, and components on one socket.
    sockets = []
    for _ in range(SOCKETS):
        ws = await stack.enter_async_context(host.websocket(BOARD_SOCKET))
        assert (await ws.receive_json())["type"] == "render"
        sockets.append(ws)
    with pytest.raises(Refused) as refused:
        async with host.websocket(BOARD_SOCKET):
            pass
    assert refused.value.status == 429, refused.value
    assert json.loads(refused.value.body)["error"]["code"] == "rate_limited"
    joined = []
    for n in range(ON_A_SOCKET - 1):
        answer = await sockets[0].request({"type": "join", "component": "board", "ref": n})
        assert (answer["type"], answer["ref"]) == ("render", n), answer
        joined.append(answer["component_id"])
    past = await sockets[0].request({"type": "join", "component": "board", "ref": "past"})
    assert (past["type"], past["code"], past["ref"]) == ("error", "rate_limited", "past"), past
    assert "component_id" not in past
    # What is held still works.
    noted = await sockets[0].request(
        {"type": "event", "event": "note", "component_id": joined[-1], "ref": "n"}
    )
    assert (noted["component_id"], noted["state"]) == (joined[-1], {"notes": 1}), noted
    pong = await sockets[-1].request({"type": "ping", "ref": "p"})
    assert pong["type"] == "pong"
    assert len(first.events) >= PAGE_RUNS + 2  # and the page connection is still open
    assert not first.ended


async def _holds_nothing(host: Host) -> None:
    """The client can hold everything again: nothing of its last visit still counts (polled
    while the runs' grace passes)."""
    deadline = time.monotonic() + FREED_WITHIN
    while True:  # a server sees the client's connections close a moment after they do
        async with host.stream(_boards(PAGE_RUNS)) as opened:
            found = {} if opened.status == 429 else await _controls_of(opened, PAGE_RUNS)
        if found and all("run" in entry for entry in found.values()):
            break
        assert time.monotonic() < deadline, f"still held: {opened.status} {found}"
        await asyncio.sleep(0.1)
    while (status := await _all_sockets(host)) is not None:
        assert status == 429, status
        assert time.monotonic() < deadline, "sockets still held"
        await asyncio.sleep(0.1)


async def _all_sockets(host: Host) -> int | None:
    """Open as many sockets as the client may, together: ``None``, or the refusal's status."""
    try:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(SOCKETS):
                ws = await stack.enter_async_context(host.websocket(BOARD_SOCKET))
                assert (await ws.receive_json())["type"] == "render"
    except Refused as refused:
        return refused.status
    return None


async def _all_freed(app: Any) -> None:
    """In process: no open response, run, socket or hub member of the client is left."""
    components = components_of(app)
    deadline = time.monotonic() + FREED_WITHIN
    while True:
        held = {
            **{slot: components.guard.open_count(slot) for slot in ("stream", "page_stream",
                                                                     "socket")},
            "runs": len(components.streams),
            "members": len(components.hub.members("board")),
        }  # fmt: skip
        if not any(held.values()):
            return
        assert time.monotonic() < deadline, f"still held after the client left: {held}"
        await asyncio.sleep(0.05)


async def test_at_scale_a_client_holds_no_more_than_its_caps_and_leaves_nothing_behind(
    in_process_name: str,
) -> None:
    app = BUILDERS[in_process_name](**CAPS)
    host = InProcessHost(in_process_name, app)

    async with contextlib.AsyncExitStack() as stack:
        await _hold_everything(host, stack)

    await _all_freed(app)
    await _holds_nothing(host)
    await _all_freed(app)
    await host.check_healthy()


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """The raw host with :data:`apps.CAPS`, under uvicorn (httptools, websockets)."""
    server = start_uvicorn(
        "tests.adversarial.served:capped", tmp_path_factory.mktemp("capped-uvicorn"),
        ["--lifespan", "on", "--no-access-log", "--http", "httptools", "--ws", "websockets"],
    )  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.uvicorn
async def test_at_scale_under_uvicorn_a_client_holds_no_more_than_its_caps_and_leaves_nothing(
    capped_server: UvicornServer,
) -> None:
    async with httpx.AsyncClient(base_url=capped_server.base_url, timeout=WAIT) as client:
        host = UvicornHost("uvicorn-capped", capped_server, client)
        async with contextlib.AsyncExitStack() as stack:
            await _hold_everything(host, stack)

        await _holds_nothing(host)
        await host.check_healthy()


@pytest.mark.parametrize("name", ["raw", "litestar"])
async def test_at_scale_with_the_default_caps_the_largest_page_and_socket_are_bounded(
    name: str,
) -> None:
    """The documented defaults: a page connection of the largest list (256 entries) starts
    ``max_page_streams_per_client`` (128) runs and refuses the rest one by one; a socket
    takes ``ws_max_components`` (32, its own included) and refuses the next joins; the
    client holds ``max_streams_per_client`` (32) page connections and no more; an
    unrelated request is answered promptly meanwhile; all of it is freed when the client
    goes. (The socket's message budget is raised so that only the component cap speaks.)"""
    app = BUILDERS[name](ws_rate=1000.0, ws_burst=1000)
    settings = components_of(app).settings
    runs, places = settings.max_page_streams_per_client, settings.ws_max_components
    connections = settings.max_streams_per_client
    host = InProcessHost(name, app)
    statuses: list[int] = []

    async with contextlib.AsyncExitStack() as stack:
        opened = await stack.enter_async_context(host.stream(_boards(256)))
        found = await _controls_of(opened, 256)
        ws = await stack.enter_async_context(host.websocket(BOARD_SOCKET))
        await ws.receive_json()
        for ref in range(places + 8):
            await ws.send_json({"type": "join", "component": "board", "ref": ref})
        answers = [await ws.receive_json() for _ in range(places + 8)]
        answers.sort(key=lambda answer: answer["ref"])  # refusals come first, renders after
        # More page connections than the client may hold open, each resuming one of its runs.
        resume = (await _first_frame(opened, found["b0"]["run"])).id
        for _ in range(connections + 8):
            again = await stack.enter_async_context(
                host.stream(page_request(resumed("r", "board", resume)))
            )
            statuses.append(again.status)
        started = time.monotonic()
        probe = await asyncio.wait_for(host.post_json("/components/target/", {}), PROMPT)
        waited = time.monotonic() - started

    joined = [key for key, entry in found.items() if "run" in entry]
    assert len(joined) == runs == 128
    assert {(e["status"], e["error"]["code"]) for e in found.values() if "run" not in e} == {
        (429, "rate_limited")
    }
    assert [a["type"] for a in answers] == ["render"] * (places - 1) + ["error"] * 9
    assert {a["code"] for a in answers if a["type"] == "error"} == {"rate_limited"}
    assert statuses == [200] * (connections - 1) + [429] * 9  # the first one is open too
    assert (probe.status, waited < PROMPT) == (200, True)
    await _all_freed(app)


async def test_page_resumed_entries_before_the_first_new_run_do_not_make_it_cost_a_request(
    in_process_name: str,
) -> None:
    """docs/scaling.md: resumes cost nothing beyond the connection's own request, and each new
    run beyond the first costs one. So with ``http_burst`` 2, a re-open listing a resume and
    then two new runs (the runtime's list after a join) starts both."""
    host = InProcessHost(in_process_name, BUILDERS[in_process_name](http_rate=0.001, http_burst=2))

    response = await host.send(
        page_request(resumed("old", STREAMER, "made-up.3"), GOOD, new("two"))
    )

    found = controls(sse_events(response))
    assert found["old"]["end"] == "lost"
    assert ("run" in found["good"], "run" in found["two"]) == (True, True), found


async def test_page_a_post_entry_streams_with_its_form_body_as_its_own_post_would(
    host: Host,
) -> None:
    """The control case of the POST rows: the same stream, with a fitting body."""
    posted = {**new("posted"), "method": "POST", "body": "steps=2"}

    response = await host.send(page_request(posted))

    assert_good_streamed(sse_events(response), "posted", steps=2)
