"""The bad-input matrix: every bad input x every host and transport.

Hosts (the ``host`` fixture): raw ``ComponentASGI``, middleware mode, Litestar
``create_component_routes`` and Starlette ``Mount`` in process, and each of them under a real
uvicorn (``--http httptools --ws websockets`` and ``--http h11 --ws wsproto``). Transports: HTTP
``POST|GET /{name}/``, SSE ``/{name}/stream/`` and WebSocket ``/{name}/ws/``.

Every case asserts the same four things:

1. the documented answer: HTTP status and JSON body ``{"error": {"code", "message"}}`` (plus
   ``field`` for a 422, ``Allow`` for a 405), a WebSocket ``error`` message (the socket stays
   open) or close code, or a refused handshake with the JSON error;
2. no user code ran: the ``mount`` / ``hydrate`` / handler counters of the serving process
   (:data:`tests.adversarial.apps.CALLS`) did not move;
3. nothing leaks: no traceback and no secret key in the answer (nor, for a server, in its log);
4. the worker stays healthy: a normal mount and event right after answer 200 (and a server
   process is still alive).

The statuses are those of docs/protocol.md, docs/streaming.md and docs/websocket.md, and of the
issue-6 spec for ``408 request_timeout``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

import pytest

from component_framework.protocol.sse import SSEDecoder
from tests.adversarial.apps import (
    BODY_LIMIT,
    MAX_AGE,
    OTHER_SECRET,
    SECRET,
    SNAPSHOT_LIMIT,
    WS_BURST,
    WS_LIMIT,
    build_raw,
    sign,
)
from tests.adversarial.apps import HOST_BUILDERS as BUILDERS
from tests.adversarial.clients import (
    Closed,
    Host,
    InProcessHost,
    Refused,
    Request,
    UvicornHost,
    WSClient,
    raw_exchange,
)

TARGET: Final = "/components/target/"
STREAM: Final = "/components/streamer/stream/"
TARGET_STREAM: Final = "/components/target/stream/"
SOCKET: Final = "/components/target/ws/"
JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
ALL_METHODS: Final = "GET, HEAD, POST"
STREAM_METHODS: Final = "GET, POST"
#: What an answer must never contain.
LEAKS: Final = (b"Traceback", b'File "', SECRET.encode())

# -- tokens ---------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[2]  # v2.<key id>.<payload>.<signature>
    document: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return document


@dataclass(frozen=True)
class Tokens:
    """Snapshots for the cases: valid ones signed with the app's key, forgeries of them, and
    ``foreign``, a real token the host issued to the ``other`` component."""

    foreign: str

    @staticmethod
    def valid(component: str = "target") -> str:
        return sign(component, _STATES[component])

    def tampered_payload(self, component: str = "target") -> str:
        """The state rewritten, the original signature kept."""
        version, identifier, _, signature = self.valid(component).split(".")
        document = _payload(self.valid(component))
        document["s"] = {**document["s"], "count": 1000}
        return f"{version}.{identifier}.{_b64(json.dumps(document).encode())}.{signature}"

    def tampered_signature(self, component: str = "target") -> str:
        """One character of the signature changed."""
        version, identifier, payload, signature = self.valid(component).split(".")
        swapped = "A" if signature[10] != "A" else "B"
        return f"{version}.{identifier}.{payload}.{signature[:10]}{swapped}{signature[11:]}"

    @staticmethod
    def other_key(component: str = "target") -> str:
        """A well-formed token signed with a key this app does not have."""
        return sign(component, _STATES[component], key=OTHER_SECRET)

    @staticmethod
    def expired(component: str = "target") -> str:
        """Signed with the app's key twice ``snapshot_max_age`` ago."""
        return sign(component, _STATES[component], age=2 * MAX_AGE)

    @staticmethod
    def future(component: str = "target") -> str:
        """Signed with the app's key, issued a day from now."""
        return sign(component, _STATES[component], age=-86400)

    @staticmethod
    def oversized(component: str = "target") -> str:
        """A validly signed token over ``max_snapshot_bytes``."""
        return sign(component, {**_STATES[component], "pad": "x" * SNAPSHOT_LIMIT})


_STATES: Final[dict[str, dict[str, Any]]] = {"target": {"count": 5}, "streamer": {"steps": []}}


async def tokens_for(host: Host) -> Tokens:
    """Tokens for one test; the foreign one is issued by ``host`` itself."""
    mounted = await host.post_json("/components/other/", {})
    assert mounted.status == 200, mounted.body[:300]
    return Tokens(foreign=mounted.json()["snapshot"])


# -- request builders -----------------------------------------------------------------------


def js(document: Any) -> bytes:
    """JSON text (ASCII: lone surrogates travel as valid ``\\ud800`` escapes)."""
    return json.dumps(document).encode()


def deep(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def post(
    path: str,
    body: bytes,
    content_type: str | None = JSON,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    content_length: str | None = "auto",
    chunks: tuple[bytes, ...] | None = None,
    chunked: bool = False,
    raw: bool = False,
    method: str = "POST",
    query: bytes = b"",
) -> Request:
    """A request with a body; ``content_length`` ``"auto"`` is the true length, ``None``
    none at all (``chunked``), anything else is sent as is (a lie)."""
    sent: list[tuple[str, str]] = []
    if content_type is not None:
        sent.append(("content-type", content_type))
    if content_length == "auto" and not chunked:
        sent.append(("content-length", str(len(body))))
    elif content_length not in ("auto", None):
        sent.append(("content-length", str(content_length)))
    sent.extend(headers)
    return Request(
        method, path, query=query, headers=tuple(sent), chunks=chunks or (body,),
        chunked=chunked, raw=raw,
    )  # fmt: skip


def form(path: str, text: str | bytes, **options: Any) -> Request:
    body = text.encode() if isinstance(text, str) else text
    return post(path, body, FORM, **options)


def get(
    path: str,
    query: str | bytes = b"",
    *,
    headers: tuple[tuple[str, str], ...] = (),
    **options: Any,
) -> Request:
    raw_query = query.encode() if isinstance(query, str) else query
    return Request(options.pop("method", "GET"), path, query=raw_query, headers=headers, **options)


def q(**fields: Any) -> str:
    """A URL-encoded query string (values that are dicts or lists travel as JSON)."""
    encoded = {
        key: json.dumps(value) if isinstance(value, dict | list) else value
        for key, value in fields.items()
    }
    return urlencode(encoded)


# -- cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpCase:
    """One bad HTTP or SSE request and its documented answer. ``status`` 204: an empty body.
    ``also``: another acceptable (status, code), for inputs whose documentation allows two
    readings."""

    id: str
    build: Callable[[Tokens], Request]
    status: int
    code: str | None
    field: str | None = None
    allow: str | None = None
    message: str | None = None
    htmx: bool = False
    head: bool = False
    also: tuple[tuple[int, str], ...] = ()


def case(
    id: str, build: Callable[[Tokens], Request], status: int, code: str | None, **kw: Any
) -> Any:
    return pytest.param(HttpCase(id, build, status, code, **kw), id=id)


MALFORMED: Final = "malformed_request"
HOST_NOT_ALLOWED: Final = "host_not_allowed"
#: A Host the matrix apps do not answer for (their ``allowed_hosts``: 127.0.0.1, app.example).
UNKNOWN_HOST: Final = (("host", "localhost"),)
INVALID_SNAPSHOT: Final = "invalid_snapshot"
LOST: Final = "stream_lost"
SNAPSHOT_REASONS: Final = frozenset(
    ("malformed", "tampered", "unknown_key", "foreign", "expired", "oversized")
)
VALIDATION: Final = "validation_error"
EVENT_NOT_FOUND: Final = "event_not_found"
FRAMEWORK_NAMES: Final = (
    "_secret", "__init__", "__class__", "__dict__", "_hidden", "hydrate", "dehydrate", "render",
    "before_render", "get_context", "authorize", "topics", "event_handler", "stream_text",
    "stream_done", "on_add", "_stream", "add()", "../add", "add ", "a" * 65, "évènement",
)  # fmt: skip


def _event(t: Tokens, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"event": name, "payload": payload or {}, "snapshot": t.valid()}


# fmt: off
HTTP_CASES: Final = [
    # body syntax: 400
    case("json-truncated", lambda t: post(TARGET, b'{"event": "add"'), 400, MALFORMED),
    case("json-garbage", lambda t: post(TARGET, b"not json at all"), 400, MALFORMED),
    case("json-two-documents", lambda t: post(TARGET, b"{} {}"), 400, MALFORMED),
    case("json-nan", lambda t: post(TARGET, b'{"params": {"start": NaN}}'), 400, MALFORMED),
    case("json-infinity", lambda t: post(TARGET, b'{"params": {"start": -Infinity}}'), 400,
         MALFORMED),
    case("json-array", lambda t: post(TARGET, b"[]"), 400, MALFORMED),
    case("json-string", lambda t: post(TARGET, b'"mount"'), 400, MALFORMED),
    case("json-number", lambda t: post(TARGET, b"42"), 400, MALFORMED),
    case("json-null", lambda t: post(TARGET, b"null"), 400, MALFORMED),
    case("json-event-not-string", lambda t: post(TARGET, js({"event": ["add"]})), 400, MALFORMED),
    case("json-payload-not-object",
         lambda t: post(TARGET, js({"event": "add", "payload": [1], "snapshot": t.valid()})),
         400, MALFORMED),
    case("json-params-not-object", lambda t: post(TARGET, js({"params": "start=1"})), 400,
         MALFORMED),
    case("json-snapshot-not-string", lambda t: post(TARGET, js({"snapshot": {"s": 1}})), 400,
         MALFORMED),
    case("json-state-not-object", lambda t: post(TARGET, js({"state": [1]})), 400, MALFORMED),
    case("json-validate-not-names",
         lambda t: post(TARGET, js({**_event(t, "add", {"amount": 1}), "validate": {"a": 1}})),
         400, MALFORMED),
    case("json-validate-list-of-numbers",
         lambda t: post(TARGET, js({**_event(t, "add", {"amount": 1}), "validate": [1, 2]})),
         400, MALFORMED),
    case("validate-without-event", lambda t: post(TARGET, js({"validate": "amount"})), 422,
         VALIDATION, field="validate"),
    case("json-loose-field-twice",
         lambda t: post(TARGET, js({**_event(t, "add", {"amount": 1}), "amount": 1})),
         400, MALFORMED),
    case("json-invalid-utf8", lambda t: post(TARGET, b'{"params": {"start": "\xff\xfe"}}'), 400,
         MALFORMED),
    case("json-utf16", lambda t: post(TARGET, '{"params": {}}'.encode("utf-16")), 400, MALFORMED),
    case("json-overlong-utf8", lambda t: post(TARGET, b'{"event": "\xc0\xaf"}'), 400, MALFORMED),
    case("json-raw-surrogate-bytes", lambda t: post(TARGET, b'{"event": "\xed\xa0\x80"}'), 400,
         MALFORMED),
    # A lone surrogate escape is valid JSON syntax but no text: it must not reach the wire,
    # the state or a handler.
    case("json-lone-surrogate-field-name",
         lambda t: post(TARGET, js({"params": {"\ud800": 1}})), 400, MALFORMED,
         also=((422, VALIDATION),)),
    case("json-lone-surrogate-payload-name",
         lambda t: post(TARGET, js(_event(t, "add", {"amount": 1, "\udfff": 1}))), 400, MALFORMED,
         also=((422, VALIDATION),)),
    case("json-lone-surrogate-string-value",
         lambda t: post(TARGET, js(_event(t, "label", {"text": "\ud800"}))), 400, MALFORMED,
         also=((422, VALIDATION),)),
    case("query-lone-surrogate-field-name", lambda t: get(TARGET, q(params={"\ud800": 1})), 400,
         MALFORMED, also=((422, VALIDATION),)),
    case("json-too-deep", lambda t: post(TARGET, js({"params": deep(40)})), 400, MALFORMED,
         message="nesting"),
    case("json-too-deep-for-the-parser",
         lambda t: post(TARGET, b'{"params": ' + b"[" * 8000 + b"]" * 8000 + b"}"), 400,
         MALFORMED),
    case("json-too-deep-in-payload",
         lambda t: post(TARGET, js(_event(t, "add", {"amount": deep(40)}))), 400, MALFORMED),
    # forms: 400
    case("form-invalid-utf8-bytes", lambda t: form(TARGET, b"start=\xff"), 400, MALFORMED),
    case("form-invalid-utf8-escape", lambda t: form(TARGET, "start=%FF%FE"), 400, MALFORMED),
    case("form-surrogate-escape", lambda t: form(TARGET, "start=%ED%A0%80"), 400, MALFORMED),
    case("form-payload-not-json",
         lambda t: form(TARGET, q(event="add", payload="{amount", snapshot=t.valid())), 400,
         MALFORMED),
    case("form-payload-array",
         lambda t: form(TARGET, q(event="add", payload=[1], snapshot=t.valid())), 400, MALFORMED),
    case("form-params-number", lambda t: form(TARGET, "params=5"), 400, MALFORMED),
    case("form-event-twice", lambda t: form(TARGET, "event=add&event=increment"), 400, MALFORMED),
    case("form-snapshot-twice",
         lambda t: form(TARGET, q(event="increment", snapshot=t.valid()) + "&snapshot=x"), 400,
         MALFORMED),
    case("form-loose-and-payload",
         lambda t: form(TARGET, q(event="add", amount="1", payload={"amount": 1},
                                  snapshot=t.valid())), 400, MALFORMED),
    case("form-too-deep-payload",
         lambda t: form(TARGET, q(event="add", payload=deep(40), snapshot=t.valid())), 400,
         MALFORMED),
    case("form-only-separators", lambda t: form(TARGET, "===&&&"), 422, VALIDATION, field=""),
    # content types: 415
    case("type-text-plain", lambda t: post(TARGET, b"{}", "text/plain"), 415,
         "unsupported_media_type"),
    case("type-xml", lambda t: post(TARGET, b"<a/>", "application/xml"), 415,
         "unsupported_media_type"),
    case("type-multipart",
         lambda t: post(TARGET, b'--x\r\nContent-Disposition: form-data; name="start"\r\n\r\n1'
                        b"\r\n--x--\r\n", "multipart/form-data; boundary=x"), 415,
         "unsupported_media_type"),
    case("type-missing", lambda t: post(TARGET, b"{}", None), 415, "unsupported_media_type"),
    case("type-json-latin1", lambda t: post(TARGET, b"{}", "application/json; charset=latin-1"),
         415, "unsupported_media_type"),
    case("type-form-utf16", lambda t: post(TARGET, b"start=1", f"{FORM}; charset=utf-16"), 415,
         "unsupported_media_type"),
    case("type-jsonish", lambda t: post(TARGET, b"{}", "application/json-patch+json"), 415,
         "unsupported_media_type"),
    # sizes: 413
    case("body-too-large", lambda t: post(TARGET, js({"params": {"x": "y" * BODY_LIMIT}})), 413,
         "payload_too_large"),
    case("body-too-large-form", lambda t: form(TARGET, "x=" + "y" * BODY_LIMIT), 413,
         "payload_too_large"),
    case("content-length-lies-huge",
         lambda t: post(TARGET, b"{}", content_length=str(10**12), raw=True), 413,
         "payload_too_large"),
    case("body-too-large-chunked",
         lambda t: post(TARGET, b"", content_length=None, chunked=True,
                        chunks=(b'{"params": {"x": "', b"y" * BODY_LIMIT, b'"}}')), 413,
         "payload_too_large"),
    # routing: 404
    case("unknown-component", lambda t: post(TARGET.replace("target", "nope"), b"{}"), 404,
         "component_not_found"),
    case("unknown-component-get", lambda t: get("/components/nope/"), 404,
         "component_not_found"),
    case("reserved-name", lambda t: post("/components/_static/", b"{}"), 404, "not_found"),
    case("reserved-private-name", lambda t: post("/components/_secret/", b"{}"), 404,
         "not_found", also=((404, "component_not_found"),)),
    case("dunder-component", lambda t: post("/components/__init__/", b"{}"), 404,
         "not_found", also=((404, "component_not_found"),)),
    case("socket-path-over-http", lambda t: get("/components/target/ws/"), 404, "not_found"),
    case("nested-path", lambda t: post("/components/target/a/b/", b"{}"), 404, "not_found"),
    case("unknown-event", lambda t: post(TARGET, js(_event(t, "explode"))), 404, EVENT_NOT_FOUND),
    case("unknown-event-without-snapshot", lambda t: post(TARGET, js({"event": "explode"})), 404,
         EVENT_NOT_FOUND),
    *(
        case(f"framework-name-{name[:12]}", lambda t, name=name: post(TARGET, js(_event(t, name))),
             404, EVENT_NOT_FOUND)
        for name in FRAMEWORK_NAMES
    ),
    case("private-event-form",
         lambda t: form(TARGET, q(event="_secret", snapshot=t.valid())), 404, EVENT_NOT_FOUND),
    case("private-event-without-snapshot", lambda t: post(TARGET, js({"event": "__init__"})), 404,
         EVENT_NOT_FOUND),
    # payloads: 422
    case("wrong-type-string", lambda t: post(TARGET, js(_event(t, "add", {"amount": "lots"}))),
         422, VALIDATION, field="amount"),
    case("wrong-type-list", lambda t: post(TARGET, js(_event(t, "add", {"amount": [1]}))), 422,
         VALIDATION, field="amount"),
    case("wrong-type-object", lambda t: post(TARGET, js(_event(t, "add", {"amount": {}}))), 422,
         VALIDATION, field="amount"),
    case("wrong-type-float", lambda t: post(TARGET, js(_event(t, "add", {"amount": 1.5}))), 422,
         VALIDATION, field="amount"),
    case("wrong-type-form", lambda t: form(TARGET, q(event="add", amount="lots",
                                                     snapshot=t.valid())), 422, VALIDATION,
         field="amount"),
    case("wrong-type-loose-json",
         lambda t: post(TARGET, js({"event": "add", "amount": None, "snapshot": t.valid()})), 422,
         VALIDATION, field="amount"),
    case("missing-required-field", lambda t: post(TARGET, js(_event(t, "add"))), 422, VALIDATION,
         field="amount"),
    case("unexpected-field",
         lambda t: post(TARGET, js(_event(t, "add", {"amount": 1, "evil": 1}))), 422, VALIDATION,
         field="evil"),
    case("unexpected-field-no-arguments",
         lambda t: post(TARGET, js(_event(t, "increment", {"evil": 1}))), 422, VALIDATION,
         field="evil"),
    case("mount-param-wrong-type", lambda t: post(TARGET, js({"params": {"start": "lots"}})), 422,
         VALIDATION, field="start"),
    case("mount-param-unexpected", lambda t: post(TARGET, js({"params": {"evil": 1}})), 422,
         VALIDATION, field="evil"),
    case("mount-param-unexpected-form", lambda t: form(TARGET, "__class__=x"), 422, VALIDATION,
         field="__class__"),
    case("mount-params-on-component-without-mount-args",
         lambda t: post("/components/other/", js({"params": {"x": 1}})), 422, VALIDATION,
         field="x"),
    # snapshots: 400
    case("event-without-snapshot", lambda t: post(TARGET, js({"event": "increment"})), 400,
         INVALID_SNAPSHOT),
    case("snapshot-tampered-payload",
         lambda t: post(TARGET, js({"event": "increment", "snapshot": t.tampered_payload()})),
         400, INVALID_SNAPSHOT, message="tampered"),
    case("snapshot-tampered-signature",
         lambda t: post(TARGET, js({"event": "increment", "snapshot": t.tampered_signature()})),
         400, INVALID_SNAPSHOT, message="tampered"),
    case("snapshot-other-key",
         lambda t: post(TARGET, js({"event": "increment", "snapshot": t.other_key()})), 400,
         INVALID_SNAPSHOT, message="(unknown key)"),
    case("snapshot-garbage", lambda t: post(TARGET, js({"snapshot": "not-a-snapshot"})), 400,
         INVALID_SNAPSHOT),
    case("snapshot-v3", lambda t: post(TARGET, js({"snapshot": "v3" + t.valid()[2:]})), 400,
         INVALID_SNAPSHOT),
    case("snapshot-truncated", lambda t: post(TARGET, js({"snapshot": t.valid()[:-5]})), 400,
         INVALID_SNAPSHOT),
    case("snapshot-non-ascii", lambda t: post(TARGET, js({"snapshot": t.valid() + "é"})), 400,
         INVALID_SNAPSHOT),
    case("snapshot-from-another-component",
         lambda t: post(TARGET, js({"event": "increment", "snapshot": t.foreign})), 400,
         INVALID_SNAPSHOT, message="foreign"),
    case("snapshot-from-another-component-rerender",
         lambda t: post(TARGET, js({"snapshot": t.foreign})), 400, INVALID_SNAPSHOT,
         message="foreign"),
    case("snapshot-expired",
         lambda t: post(TARGET, js({"event": "increment", "snapshot": t.expired()})), 400,
         INVALID_SNAPSHOT, message="expired"),
    case("snapshot-issued-in-the-future",
         lambda t: post(TARGET, js({"event": "increment", "snapshot": t.future()})), 400,
         INVALID_SNAPSHOT, message="expired"),
    case("snapshot-oversized", lambda t: post(TARGET, js({"snapshot": t.oversized()})), 400,
         INVALID_SNAPSHOT, message="oversized"),
    case("snapshot-forged-in-form",
         lambda t: form(TARGET, q(event="increment", snapshot=t.tampered_payload())), 400,
         INVALID_SNAPSHOT),
    case("snapshot-forged-in-get", lambda t: get(TARGET, q(snapshot=t.tampered_payload())), 400,
         INVALID_SNAPSHOT),
    case("raw-state-with-event",
         lambda t: post(TARGET, js({"event": "increment", "state": {"count": 1000}})), 400,
         INVALID_SNAPSHOT),
    case("raw-state-at-mount", lambda t: post(TARGET, js({"state": {"count": 1000}})), 400,
         INVALID_SNAPSHOT),
    case("raw-state-in-form", lambda t: form(TARGET, q(event="add", amount=1, state={"count": 9})),
         400, INVALID_SNAPSHOT),
    case("raw-state-in-get", lambda t: get(TARGET, q(state={"count": 9})), 400, INVALID_SNAPSHOT),
    # methods: 405
    case("get-with-event", lambda t: get(TARGET, q(event="increment", snapshot=t.valid())), 405,
         "method_not_allowed", allow="POST"),
    case("get-with-private-event", lambda t: get(TARGET, q(event="_secret")), 405,
         "method_not_allowed", allow="POST", also=((404, EVENT_NOT_FOUND),)),
    case("head-with-event", lambda t: get(TARGET, q(event="increment"), method="HEAD"), 405,
         "method_not_allowed", allow="POST", head=True),
    *(
        case(f"method-{method.lower()}", lambda t, method=method: post(TARGET, b"{}",
                                                                       method=method),
             405, "method_not_allowed", allow=ALL_METHODS)
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND")
    ),
    # cross-site
    # hosts: 400 (allowed_hosts; a DNS-rebinding page is same-origin with what it asks for)
    case("unknown-host", lambda t: post(TARGET, b"{}", headers=UNKNOWN_HOST), 400,
         HOST_NOT_ALLOWED),
    case("unknown-host-same-origin",
         lambda t: post(TARGET, b"{}", headers=(*UNKNOWN_HOST, ("origin", "http://localhost"))),
         400, HOST_NOT_ALLOWED),
    case("unknown-host-get", lambda t: get(TARGET, headers=UNKNOWN_HOST), 400, HOST_NOT_ALLOWED),
    case("foreign-origin", lambda t: post(TARGET, b"{}", headers=(("origin", "https://evil.example"),)),
         403, "forbidden"),
    case("cross-site-fetch",
         lambda t: post(TARGET, b"{}", headers=(("sec-fetch-site", "cross-site"),)), 403,
         "forbidden"),
    # htmx requests get the same errors, plus headers that keep the component on the page
    case("htmx-wrong-type",
         lambda t: form(TARGET, q(event="add", amount="lots", snapshot=t.valid()),
                        headers=(("hx-request", "true"),)), 422, VALIDATION, field="amount",
         htmx=True),
    case("htmx-forged-snapshot",
         lambda t: form(TARGET, q(event="add", amount="1", snapshot=t.tampered_signature()),
                        headers=(("hx-request", "true"),)), 400, INVALID_SNAPSHOT, htmx=True),
    case("htmx-private-event",
         lambda t: form(TARGET, q(event="_secret", snapshot=t.valid()),
                        headers=(("hx-request", "true"),)), 404, EVENT_NOT_FOUND, htmx=True),
    case("htmx-malformed-form",
         lambda t: form(TARGET, b"event=\xff", headers=(("hx-request", "true"),)), 400, MALFORMED,
         htmx=True),
]
# fmt: on

LEI: Final = "last-event-id"
# fmt: off
SSE_CASES: Final = [
    case("sse-unknown-component", lambda t: get("/components/nope/stream/"), 404,
         "component_not_found"),
    case("sse-component-without-stream", lambda t: get(TARGET_STREAM), 404, "stream_not_found"),
    case("sse-unknown-event", lambda t: get(STREAM, q(event="explode")), 404, EVENT_NOT_FOUND),
    *(
        case(f"sse-framework-name-{name[:12]}", lambda t, name=name: get(STREAM, q(event=name)),
             404, EVENT_NOT_FOUND)
        for name in ("_secret", "__init__", "hydrate", "render", "authorize", "on_run", "_hidden")
    ),
    case("sse-wrong-type", lambda t: get(STREAM, q(steps="lots")), 422, VALIDATION, field="steps"),
    case("sse-unexpected-field", lambda t: get(STREAM, q(evil=1)), 422, VALIDATION, field="evil"),
    case("sse-mount-params-unexpected", lambda t: get(STREAM, q(params={"evil": 1})), 422,
         VALIDATION, field="evil"),
    case("sse-bad-format", lambda t: get(STREAM, q(format="xml")), 422, VALIDATION,
         field="format"),
    case("sse-query-payload-not-json", lambda t: get(STREAM, "payload=%7Bsteps"), 400, MALFORMED),
    case("sse-query-too-deep", lambda t: get(STREAM, q(payload=deep(40))), 400, MALFORMED),
    case("sse-query-event-twice", lambda t: get(STREAM, "event=run&event=run"), 400, MALFORMED),
    case("sse-query-invalid-utf8", lambda t: get(STREAM, "steps=%FF"), 400, MALFORMED),
    case("sse-snapshot-tampered",
         lambda t: get(STREAM, q(snapshot=t.tampered_signature("streamer"))), 400,
         INVALID_SNAPSHOT),
    case("sse-snapshot-from-another-component", lambda t: get(STREAM, q(snapshot=t.foreign)),
         400, INVALID_SNAPSHOT, message="foreign"),
    case("sse-snapshot-expired", lambda t: get(STREAM, q(snapshot=t.expired("streamer"))), 400,
         INVALID_SNAPSHOT, message="expired"),
    case("sse-snapshot-garbage", lambda t: get(STREAM, q(snapshot="garbage")), 400,
         INVALID_SNAPSHOT),
    case("sse-raw-state", lambda t: get(STREAM, q(state={"steps": [1, 2, 3]})), 400,
         INVALID_SNAPSHOT),
    case("sse-post-malformed-json", lambda t: post(STREAM, b'{"steps": '), 400, MALFORMED),
    case("sse-post-json-array", lambda t: post(STREAM, b"[1]"), 400, MALFORMED),
    case("sse-post-invalid-utf8", lambda t: post(STREAM, b'{"steps": "\xff"}'), 400, MALFORMED),
    case("sse-post-lone-surrogate-name", lambda t: post(STREAM, js({"\ud800": 1})), 400,
         MALFORMED, also=((422, VALIDATION),)),
    case("sse-query-lone-surrogate-name", lambda t: get(STREAM, q(payload={"\ud800": 1})), 400,
         MALFORMED, also=((422, VALIDATION),)),
    case("sse-post-form-bad-payload", lambda t: form(STREAM, "payload=[1]"), 400, MALFORMED),
    case("sse-post-text-plain", lambda t: post(STREAM, b"steps=1", "text/plain"), 415,
         "unsupported_media_type"),
    case("sse-post-too-large", lambda t: post(STREAM, js({"pad": "y" * BODY_LIMIT})), 413,
         "payload_too_large"),
    case("sse-post-content-length-lies-huge",
         lambda t: post(STREAM, b"{}", content_length=str(10**12), raw=True), 413,
         "payload_too_large"),
    case("sse-post-too-large-chunked",
         lambda t: post(STREAM, b"", content_length=None, chunked=True,
                        chunks=(b'{"pad": "', b"y" * BODY_LIMIT, b'"}')), 413,
         "payload_too_large"),
    case("sse-post-wrong-type", lambda t: post(STREAM, js({"steps": "lots"})), 422, VALIDATION,
         field="steps"),
    case("sse-post-forged-snapshot",
         lambda t: post(STREAM, js({"snapshot": t.tampered_payload("streamer")})), 400,
         INVALID_SNAPSHOT),
    case("sse-method-put", lambda t: post(STREAM, b"{}", method="PUT"), 405, "method_not_allowed",
         allow=STREAM_METHODS),
    case("sse-method-delete", lambda t: get(STREAM, method="DELETE"), 405, "method_not_allowed",
         allow=STREAM_METHODS),
    case("sse-unknown-host", lambda t: get(STREAM, headers=UNKNOWN_HOST), 400, HOST_NOT_ALLOWED),
    case("sse-resume-unknown-host",
         lambda t: get(STREAM, headers=(*UNKNOWN_HOST, ("last-event-id", "run.1"))), 400,
         HOST_NOT_ALLOWED),
    # A GET starts only stream handlers: an <img> or a link on another site sends a GET
    # without Origin, so a plain (state-changing) handler named in one must not run.
    case("sse-get-plain-handler", lambda t: get(STREAM, q(event="reset")), 405,
         "method_not_allowed", allow="POST", message="not a stream handler"),
    case("sse-get-plain-handler-of-plain-component",
         lambda t: get(TARGET_STREAM, q(event="add", amount=1)), 405, "method_not_allowed",
         allow="POST", message="not a stream handler"),
    case("sse-get-plain-handler-with-snapshot",
         lambda t: get(TARGET_STREAM, q(event="increment", snapshot=t.valid())), 405,
         "method_not_allowed", allow="POST"),
    case("sse-foreign-origin", lambda t: get(STREAM, headers=(("origin", "https://evil.example"),)),
         403, "forbidden"),
    # Last-Event-ID of no run the server has: one `lost` frame, never a new run and never a
    # "finished" 204 (docs/streaming.md, Decisions); the id that frame gives is answered 204.
    case("sse-last-event-id-garbage", lambda t: get(STREAM, headers=((LEI, "garbage"),)), 200,
         LOST),
    case("sse-last-event-id-unknown-run", lambda t: get(STREAM, headers=((LEI, "nope.3"),)), 200,
         LOST),
    case("sse-last-event-id-dots", lambda t: get(STREAM, headers=((LEI, "..."),)), 200, LOST),
    case("sse-last-event-id-negative", lambda t: get(STREAM, headers=((LEI, "run.-1"),)), 200,
         LOST),
    case("sse-last-event-id-on-component-without-stream",
         lambda t: get(TARGET_STREAM, headers=((LEI, "run.1"),)), 200, LOST),
    case("sse-last-event-id-non-ascii-digit",
         lambda t: get(STREAM, headers=((LEI, "run.\xb2"),), raw=True), 200, LOST),
    case("sse-last-event-id-huge-number",
         lambda t: get(STREAM, headers=((LEI, "run." + "9" * 5000),)), 200, LOST),
    case("sse-last-event-id-huge-run-id",
         lambda t: get(STREAM, headers=((LEI, "r" * 5000 + ".1"),)), 200, LOST),
    case("sse-last-event-id-already-told-lost",
         lambda t: get(STREAM, headers=((LEI, "nope.lost"),)), 204, None),
]
# fmt: on

# -- nested and lazy components: forged, moved or misplaced children, forged lazy loads ---------
# ``target`` is the parent: its snapshot's id is ``target-adversary``, so a child bound to
# ("target-adversary", key) is its own; anything else is refused before user code runs.
INVALID_CHILD: Final = "invalid_child"
CHILD_REASONS: Final = frozenset(("foreign_parent", "repeated", "orphan", "unknown_child"))
OWN_PARENT: Final = ("target-adversary", "1")


def _child(parent: tuple[str, str] = OWN_PARENT, **options: Any) -> str:
    return sign("other", {"seen": 0}, component_id="other-child", parent=parent, **options)


def _with_children(t: Tokens, *children: Any) -> Request:
    return post(TARGET, js({**_event(t, "increment"), "children": list(children)}))


def _lazy(**options: Any) -> str:
    return sign("target:lazy", {"params": {"start": 1}}, **options)


# fmt: off
NESTING_CASES: Final = [
    case("children-tampered",
         lambda t: _with_children(t, _child()[:-6] + ("AAAAAA" if _child()[-6:] != "AAAAAA"
                                                      else "BBBBBB")), 400, INVALID_CHILD),
    case("children-other-key", lambda t: _with_children(t, _child(key=OTHER_SECRET)), 400,
         INVALID_CHILD),
    case("children-expired", lambda t: _with_children(t, _child(age=2 * MAX_AGE)), 400,
         INVALID_CHILD),
    case("children-of-another-parent",
         lambda t: _with_children(t, _child(("target-elsewhere", "1"))), 400, INVALID_CHILD),
    case("children-a-top-level-snapshot", lambda t: _with_children(t, t.foreign), 400,
         INVALID_CHILD),
    case("children-the-parents-own-snapshot", lambda t: _with_children(t, t.valid()), 400,
         INVALID_CHILD),
    case("children-one-key-twice", lambda t: _with_children(t, _child(), _child()), 400,
         INVALID_CHILD),
    case("children-without-the-parent", lambda t: post(TARGET, js({"children": [_child()]})),
         400, INVALID_CHILD),
    case("children-not-strings", lambda t: _with_children(t, 1, {"a": 1}), 400, MALFORMED),
    case("children-not-an-array",
         lambda t: post(TARGET, js({**_event(t, "increment"), "children": {"1": _child()}})),
         400, MALFORMED),
    case("children-form-not-json",
         lambda t: form(TARGET, q(event="increment", snapshot=t.valid(), children="[nope")), 400,
         MALFORMED),
    case("lazy-tampered", lambda t: get(TARGET, q(lazy=_lazy()[:-4] + "AAAA")), 400,
         INVALID_SNAPSHOT),
    case("lazy-other-key", lambda t: get(TARGET, q(lazy=_lazy(key=OTHER_SECRET))), 400,
         INVALID_SNAPSHOT),
    case("lazy-a-snapshot", lambda t: get(TARGET, q(lazy=t.valid())), 400, INVALID_SNAPSHOT),
    case("lazy-of-another-component",
         lambda t: get("/components/other/", q(lazy=_lazy())), 400, INVALID_SNAPSHOT),
    case("lazy-with-client-params", lambda t: get(TARGET, q(lazy=_lazy(), start=1000)), 422,
         VALIDATION, field="start"),
    case("lazy-with-a-snapshot", lambda t: get(TARGET, q(lazy=_lazy(), snapshot=t.valid())),
         400, INVALID_SNAPSHOT),
    case("lazy-token-as-a-snapshot",
         lambda t: post(TARGET, js({"event": "increment", "snapshot": _lazy()})), 400,
         INVALID_SNAPSHOT),
]
# fmt: on

#: Inputs only an ASGI-level client can deliver (a real server refuses or reframes them).
# fmt: off
ASGI_ONLY_CASES: Final = [
    case("content-length-lies-small",
         lambda t: post(TARGET, b"", content_length="10",
                        chunks=(b'{"params": {"x": "', b"y" * BODY_LIMIT, b'"}}')), 413,
         "payload_too_large"),
    case("content-length-not-a-number", lambda t: post(TARGET, b"{}", content_length="abc"), 400,
         MALFORMED),
    case("content-length-hex", lambda t: post(TARGET, b"{}", content_length="0x10"), 400,
         MALFORMED),
    case("query-not-ascii", lambda t: get(TARGET, "start=\xe9".encode("latin-1")), 400,
         MALFORMED),
    case("sse-query-not-ascii", lambda t: get(STREAM, "steps=\xe9".encode("latin-1")), 400,
         MALFORMED),
    case("sse-last-event-id-control-characters",
         lambda t: get(STREAM, headers=((LEI, "run\x01\x7f.1"),), raw=True), 200, LOST),
    case("sse-post-content-length-lies-small",
         lambda t: post(STREAM, b"", content_length="10",
                        chunks=(b'{"pad": "', b"y" * BODY_LIMIT, b'"}')), 413,
         "payload_too_large"),
]
# fmt: on


# -- checks ---------------------------------------------------------------------------------


def assert_no_leak(body: bytes) -> None:
    for leak in LEAKS:
        assert leak not in body, f"{leak!r} leaked in {body[:500]!r}"


def assert_error_answer(response: Any, expected: HttpCase) -> None:
    """``response`` is the documented answer of ``expected``."""
    assert_no_leak(response.body)
    outcomes = {(expected.status, expected.code), *expected.also}
    if expected.status == 204:
        assert (response.status, response.body) == (204, b""), (response.status, response.body)
        return
    if expected.code == LOST:  # an event stream of one frame: EventSource reads no error body
        assert response.status == 200, (response.status, response.body[:300])
        assert (response.header("content-type") or "").startswith("text/event-stream")
        (lost,) = SSEDecoder().feed(response.body)
        assert lost.event == "lost", lost
        assert (lost.id or "").endswith(".lost"), lost
        assert len(lost.id or "") <= 80, "a client's id is echoed only if it is one of ours"
        assert json.loads(lost.data)["code"] == LOST, lost
        return
    assert (response.header("content-type") or "").startswith(JSON), (
        response.status,
        response.headers,
        response.body[:300],
    )
    if expected.head:
        assert response.status == expected.status
        assert response.body == b""
    else:
        document = response.json()
        assert set(document) == {"error"}, document
        error = document["error"]
        assert set(error) <= {"code", "message", "field", "reason"}, error
        if "reason" in error:  # why a snapshot was refused, for programs
            assert error["code"] in (INVALID_SNAPSHOT, INVALID_CHILD), error
            assert error["reason"] in SNAPSHOT_REASONS | CHILD_REASONS, error
        assert (response.status, error["code"]) in outcomes, (response.status, error)
        assert isinstance(error["message"], str)
        assert error["message"]
        if expected.field is not None and response.status == expected.status:
            assert error.get("field") == expected.field, error
        if error["code"] == VALIDATION:
            assert "field" in error, error
        if expected.message is not None:
            assert expected.message in error["message"], error
    if expected.allow is not None and response.status == 405:
        assert response.header("allow") == expected.allow
    if expected.htmx:
        assert response.header("hx-reswap") == "none"
        trigger = json.loads(response.header("hx-trigger") or "{}")
        assert trigger["component-error"]["code"] in {code for _, code in outcomes}


async def assert_streams_work(host: Host) -> None:
    """A normal stream right after: ``steps`` render frames, then ``done``."""
    response = await host.send(get(STREAM, q(steps=2)))
    assert response.status == 200, response.body[:300]
    assert (response.header("content-type") or "").startswith("text/event-stream")
    assert response.body.count(b"event: done") == 1, response.body[:1000]
    assert_no_leak(response.body)


# -- HTTP and SSE ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [*HTTP_CASES, *NESTING_CASES])
async def test_http_bad_input_gets_its_documented_error(host: Host, bad: HttpCase) -> None:
    tokens = await tokens_for(host)
    request = bad.build(tokens)
    before = await host.calls()

    response = await host.send(request)

    assert_error_answer(response, bad)
    assert await host.calls() == before, "user code ran on a refused request"
    await host.check_healthy()


@pytest.mark.parametrize("bad", SSE_CASES)
async def test_stream_bad_input_gets_its_documented_error(host: Host, bad: HttpCase) -> None:
    tokens = await tokens_for(host)
    request = bad.build(tokens)
    before = await host.calls()

    response = await host.send(request)

    assert_error_answer(response, bad)
    assert await host.calls() == before, "user code ran on a refused stream request"
    await host.check_healthy()
    await assert_streams_work(host)


@pytest.mark.parametrize("bad", ASGI_ONLY_CASES)
async def test_asgi_level_bad_input_gets_its_documented_error(
    in_process_name: str, bad: HttpCase
) -> None:
    host = InProcessHost(in_process_name, BUILDERS[in_process_name]())
    tokens = await tokens_for(host)
    request = bad.build(tokens)
    before = await host.calls()

    response = await host.send(request)

    assert_error_answer(response, bad)
    assert await host.calls() == before
    await host.check_healthy()


@pytest.mark.parametrize("name", ["mount", "", None])
async def test_event_named_mount_only_re_renders_the_signed_state(
    host: Host, name: str | None
) -> None:
    """``event: "mount"`` (or empty, or absent) with a snapshot is a documented re-render:
    the signed state is restored, ``mount`` and every handler stay untouched."""
    before = await host.calls()

    response = await host.post_json(TARGET, {"event": name, "snapshot": Tokens.valid()})

    assert response.status == 200, response.body[:300]
    assert response.json()["state"] == {"count": 5}
    calls = await host.calls()
    calls.subtract(before)
    assert +calls == {"target.hydrate": 1}
    await host.check_healthy()


# -- slow-loris ----------------------------------------------------------------------------


SLOW_PATHS: Final = [pytest.param(TARGET, id="component"), pytest.param(STREAM, id="stream")]


def _half_sent(path: str) -> Request:
    """Headers announcing the whole body, then half of it, then nothing more."""
    body = js({"params": {"start": 1}} if path == TARGET else {"steps": 1})
    headers = (("content-type", JSON), ("content-length", str(len(body))))
    return Request("POST", path, headers=headers, chunks=(body[: len(body) // 2],), stall=True)


SLOW: Final = HttpCase("slow-loris", lambda t: Request("POST", TARGET), 408, "request_timeout")


@pytest.mark.parametrize("path", SLOW_PATHS)
async def test_a_body_that_never_completes_gets_408_in_process(
    in_process_name: str, path: str
) -> None:
    host = InProcessHost(in_process_name, BUILDERS[in_process_name](body_timeout=0.2))
    before = await host.calls()

    response = await host.send(_half_sent(path))

    assert_error_answer(response, SLOW)
    # The rest of the body may still come: the answer ends the connection.
    assert response.header("connection") == "close", response.headers
    assert await host.calls() == before
    await host.check_healthy()


@pytest.mark.parametrize("path", SLOW_PATHS)
async def test_a_body_that_never_completes_gets_408_and_the_connection_closes(
    uvicorn_host: UvicornHost, path: str
) -> None:
    before = await uvicorn_host.calls()

    response, closed = await raw_exchange(
        uvicorn_host.server.port, _half_sent(path), wait_for_close=True
    )

    assert_error_answer(response, SLOW)
    assert response.header("connection") == "close", response.headers
    assert closed, "the server kept the connection of a half-sent body open"
    assert await uvicorn_host.calls() == before
    await uvicorn_host.check_healthy()


# -- WebSocket: messages on an open socket --------------------------------------------------


@dataclass(frozen=True)
class MessageCase:
    """One bad client message and the ``error`` it gets (the socket stays open).
    ``html_after``: the message was in htmx's dialect, so later answers are HTML."""

    id: str
    message: Callable[[Tokens], str | bytes]
    code: str
    field: str | None = None
    text: str | None = None
    also: tuple[str, ...] = ()
    html_after: bool = False


def msg(id: str, message: Callable[[Tokens], Any], code: str, **kw: Any) -> Any:
    def encoded(t: Tokens) -> str | bytes:
        value = message(t)
        return value if isinstance(value, str | bytes) else json.dumps(value)

    return pytest.param(MessageCase(id, encoded, code, **kw), id=id)


def ev(name: Any, payload: Any = None, **extra: Any) -> dict[str, Any]:
    document = {"type": "event", "event": name, **extra}
    if payload is not None:
        document["payload"] = payload
    return document


HTMX_HEADERS: Final = {"HX-Request": "true", "HX-Trigger": "form"}
# fmt: off
MESSAGE_CASES: Final = [
    msg("not-json", lambda t: "not json", MALFORMED),
    msg("empty-text", lambda t: "", MALFORMED),
    msg("json-array", lambda t: "[1, 2]", MALFORMED),
    msg("json-string", lambda t: '"event"', MALFORMED),
    msg("json-nan", lambda t: '{"type": "event", "event": "add", "payload": {"amount": NaN}}',
        MALFORMED),
    msg("too-deep", lambda t: ev("add", {"amount": deep(40)}), MALFORMED),
    msg("too-deep-for-the-parser", lambda t: '{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000
        + "}", MALFORMED),
    msg("unknown-type", lambda t: {"type": "explode"}, MALFORMED),
    msg("type-not-a-string", lambda t: {"type": ["event"]}, MALFORMED),
    msg("no-type", lambda t: {"event": "increment"}, MALFORMED),
    msg("event-without-name", lambda t: {"type": "event"}, MALFORMED),
    msg("event-empty-name", lambda t: ev(""), MALFORMED),
    msg("event-name-not-a-string", lambda t: ev(5), MALFORMED),
    msg("payload-not-an-object", lambda t: ev("add", [1]), MALFORMED),
    msg("ref-too-long", lambda t: {"type": "ping", "ref": "r" * 200}, MALFORMED),
    msg("ref-a-float", lambda t: {"type": "ping", "ref": 1.5}, MALFORMED),
    msg("state-in-event", lambda t: ev("increment", state={"count": 1000}), MALFORMED),
    msg("validate-not-names", lambda t: ev("increment", validate={"a": 1}), MALFORMED),
    msg("loose-field-twice", lambda t: ev("add", {"amount": 1}, amount=1), MALFORMED),
    msg("unknown-event", lambda t: ev("explode"), EVENT_NOT_FOUND),
    *(
        msg(f"framework-name-{name[:12]}", lambda t, name=name: ev(name), EVENT_NOT_FOUND)
        for name in FRAMEWORK_NAMES
    ),
    msg("wrong-type", lambda t: ev("add", {"amount": "lots"}), VALIDATION, field="amount"),
    msg("wrong-type-list", lambda t: ev("add", {"amount": [1]}), VALIDATION, field="amount"),
    msg("wrong-type-loose", lambda t: ev("add", amount=True), VALIDATION, field="amount"),
    msg("missing-field", lambda t: ev("add"), VALIDATION, field="amount"),
    msg("unexpected-field", lambda t: ev("add", {"amount": 1, "evil": 1}), VALIDATION,
        field="evil"),
    msg("lone-surrogate-field-name", lambda t: ev("add", {"amount": 1, "\ud800": 1}), MALFORMED,
        also=(VALIDATION,)),
    msg("lone-surrogate-string-value", lambda t: ev("label", {"text": "\ud800"}), MALFORMED,
        also=(VALIDATION,)),
    msg("join-snapshot-tampered-payload",
        lambda t: {"type": "join", "snapshot": t.tampered_payload()}, INVALID_SNAPSHOT,
        text="tampered"),
    msg("join-snapshot-tampered-signature",
        lambda t: {"type": "join", "snapshot": t.tampered_signature()}, INVALID_SNAPSHOT,
        text="tampered"),
    msg("join-snapshot-other-key", lambda t: {"type": "join", "snapshot": t.other_key()},
        INVALID_SNAPSHOT, text="(unknown key)"),
    msg("join-snapshot-from-another-component",
        lambda t: {"type": "join", "snapshot": t.foreign}, INVALID_SNAPSHOT, text="foreign"),
    msg("join-snapshot-expired", lambda t: {"type": "join", "snapshot": t.expired()},
        INVALID_SNAPSHOT, text="expired"),
    msg("join-snapshot-in-the-future", lambda t: {"type": "join", "snapshot": t.future()},
        INVALID_SNAPSHOT, text="expired"),
    msg("join-snapshot-oversized", lambda t: {"type": "join", "snapshot": t.oversized()},
        INVALID_SNAPSHOT),
    msg("join-snapshot-garbage", lambda t: {"type": "join", "snapshot": "garbage"},
        INVALID_SNAPSHOT),
    msg("join-snapshot-not-a-string", lambda t: {"type": "join", "snapshot": 5}, MALFORMED),
    msg("join-params-wrong-type", lambda t: {"type": "join", "params": {"start": "lots"}},
        VALIDATION, field="start"),
    msg("join-params-unexpected", lambda t: {"type": "join", "params": {"evil": 1}}, VALIDATION,
        field="evil"),
    msg("join-raw-state", lambda t: {"type": "join", "state": {"count": 1000}}, MALFORMED),
    msg("htmx-without-event", lambda t: {"HEADERS": HTMX_HEADERS, "amount": "1"}, MALFORMED),
    msg("htmx-private-event", lambda t: {"HEADERS": HTMX_HEADERS, "event": "_secret"},
        EVENT_NOT_FOUND, html_after=True),
    msg("htmx-wrong-type", lambda t: {"HEADERS": HTMX_HEADERS, "event": "add", "amount": "x"},
        VALIDATION, field="amount", html_after=True),
    msg("event-for-an-unknown-child", lambda t: ev("increment", component_id="other-child"),
        INVALID_CHILD),
    msg("event-for-an-unknown-child-htmx",
        lambda t: {"HEADERS": HTMX_HEADERS, "event": "increment", "component_id": "x-1"},
        INVALID_CHILD, html_after=True),
    msg("join-children-of-another-parent",
        lambda t: {"type": "join", "snapshot": t.valid(),
                   "children": [_child(("target-elsewhere", "1"))]}, INVALID_CHILD),
    msg("join-children-tampered",
        lambda t: {"type": "join", "snapshot": t.valid(), "children": [_child()[:-4] + "AAAA"]},
        INVALID_CHILD),
    msg("join-children-without-the-parent", lambda t: {"type": "join", "children": [_child()]},
        INVALID_CHILD),
    msg("join-children-not-strings",
        lambda t: {"type": "join", "snapshot": t.valid(), "children": [5]}, MALFORMED),
    msg("binary-frame", lambda t: b"\x00\x01\x02", "unsupported_media_type"),
    msg("binary-json-event", lambda t: js(ev("increment")), "unsupported_media_type"),
]
# fmt: on


def _open_target(host: Host) -> Any:
    """A socket holding a ``target`` mounted with ``start=5``."""
    return host.websocket(SOCKET, {"start": 5})


async def _next_answer(ws: WSClient, *, html: bool) -> Any:
    if html:
        return await ws.receive_text()
    return await ws.receive_json()


@pytest.mark.parametrize("bad", MESSAGE_CASES)
async def test_websocket_bad_message_gets_an_error_and_the_socket_stays_open(
    ws_host: Host, bad: MessageCase
) -> None:
    tokens = await tokens_for(ws_host)
    async with _open_target(ws_host) as ws:
        first = await ws.receive_json()
        assert (first["type"], first["state"]) == ("render", {"count": 5})
        before = await ws_host.calls()
        message = bad.message(tokens)

        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_text(message)
        answer = await ws.receive_json()

        assert_no_leak(json.dumps(answer).encode())
        assert answer["type"] == "error", answer
        assert answer["code"] in {bad.code, *bad.also}, answer
        assert isinstance(answer["message"], str)
        assert answer["message"]
        assert set(answer) <= {"type", "code", "message", "ref", "field", "reason"}, answer
        if bad.field is not None:
            assert answer["field"] == bad.field, answer
        if bad.text is not None:
            assert bad.text in answer["message"], answer
        assert await ws_host.calls() == before, "user code ran on a refused message"

        # The socket is open and holds the same component.
        await ws.send_json(ev("increment", ref="after"))
        after = await _next_answer(ws, html=bad.html_after)
        if bad.html_after:
            assert '<span class="count">6</span>' in after, after
        else:
            assert (after["type"], after["ref"]) == ("render", "after"), after
            assert after["state"] == {"count": 6}
    await ws_host.check_healthy()


# -- effects: open redirects and bad trigger names ------------------------------------------
# Here user code does run (a handler that echoes what a client sent into redirect / push_url /
# replace_url / trigger): the refusal is a 400 with its machine code, and nothing of the
# handler's change is applied (no snapshot; a held component keeps its state).

OFF_SITE: Final = [
    ("https://evil.example/", "foreign_origin"),
    ("http://127.0.0.1.evil.example/", "foreign_origin"),
    ("//evil.example", "scheme_relative"),
    ("//evil.example/%2F..", "scheme_relative"),
    ("/\\evil.example", "backslash"),
    ("\\\\evil.example", "backslash"),
    ("/\t/evil.example", "control_character"),
    (" https://evil.example", "control_character"),
    ("/ok\r\nlocation: https://evil.example", "control_character"),
    ("javascript:alert(document.cookie)", "scheme"),
    ("JaVaScRiPt:alert(1)", "scheme"),
    ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "scheme"),
    ("https:evil.example", "scheme"),
    ("https://app.example@evil.example/", "userinfo"),
    ("../../evil.example", "relative"),
    ("evil.example/login", "relative"),
]
BAD_TRIGGER_NAMES: Final = [
    "htmx:afterSwap",
    "htmx:beforeRequest",
    "component-error",
    "component:broadcast",
    "stream:done",
    "",
    "1flash",
    "flash now",
    "flash\n",
    "<img src=x>",
    "a" * 65,
]
URL_NOT_ALLOWED: Final = "url_not_allowed"


def _refused_effect(response: Any, code: str, reason: str | None) -> None:
    assert_no_leak(response.body)
    assert response.status == 400, (response.status, response.body[:300])
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error.get("reason") == reason, error
    assert error["message"]
    assert "snapshot" not in response.json()


@pytest.mark.parametrize("how", ["redirect", "push_url", "replace_url"])
@pytest.mark.parametrize(("url", "reason"), OFF_SITE)
async def test_http_a_handler_sending_the_browser_off_site_is_refused(
    host: Host, url: str, reason: str, how: str
) -> None:
    tokens = await tokens_for(host)
    body = js(_event(tokens, "go", {"url": url, "how": how}))
    response = await host.send(post(TARGET, body))
    _refused_effect(response, URL_NOT_ALLOWED, reason)
    htmx = await host.send(post(TARGET, body, headers=(("hx-request", "true"),)))
    assert htmx.status == 400
    assert htmx.header("hx-reswap") == "none"
    for header in ("hx-redirect", "hx-push-url", "hx-replace-url"):
        assert htmx.header(header) is None
    await host.check_healthy()


@pytest.mark.parametrize("name", BAD_TRIGGER_NAMES)
async def test_http_a_bad_trigger_name_is_refused(host: Host, name: str) -> None:
    tokens = await tokens_for(host)
    response = await host.send(post(TARGET, js(_event(tokens, "flash", {"name": name}))))
    _refused_effect(response, "invalid_trigger", None)
    await host.check_healthy()


@pytest.mark.parametrize(("url", "reason"), OFF_SITE[:6])
@pytest.mark.parametrize("name", BAD_TRIGGER_NAMES[:3])
async def test_websocket_refused_effects_leave_the_held_component_as_it_was(
    ws_host: Host, url: str, reason: str, name: str
) -> None:
    async with _open_target(ws_host) as ws:
        assert (await ws.receive_json())["state"] == {"count": 5}
        await ws.send_json(ev("go", {"url": url}, ref="go"))
        refused = await ws.receive_json()
        assert (refused["type"], refused["code"], refused["reason"], refused["ref"]) == (
            "error",
            URL_NOT_ALLOWED,
            reason,
            "go",
        )
        await ws.send_json(ev("flash", {"name": name}, ref="flash"))
        refused = await ws.receive_json()
        assert (refused["type"], refused["code"]) == ("error", "invalid_trigger")
        assert_no_leak(json.dumps(refused).encode())
        await ws.send_json(ev("increment", ref="after"))
        after = await ws.receive_json()
        assert after["state"] == {"count": 6}, "a refused effect's change was kept"
    await ws_host.check_healthy()


# -- WebSocket: closes ------------------------------------------------------------------------


async def _close_code(ws: WSClient) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes; its close code and the messages before it."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while True:
            try:
                seen.append(await ws.receive_json())
            except Closed as closed:
                return closed.code, seen


async def _send_ignoring_close(ws: WSClient, frames: Sequence[str | bytes]) -> None:
    for frame in frames:
        try:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_text(frame)
        except Exception as exc:  # the server closed while the client was still sending
            if type(exc).__name__.startswith("ConnectionClosed"):
                return
            raise


OVERSIZED: Final = [
    pytest.param([js({"type": "ping", "pad": "x" * WS_LIMIT}).decode()], id="oversized-text"),
    pytest.param([b"x" * (WS_LIMIT + 1)], id="oversized-binary"),
    pytest.param([js(ev("add", {"amount": "9" * WS_LIMIT})).decode()], id="oversized-event"),
]


@pytest.mark.parametrize("frames", OVERSIZED)
async def test_websocket_oversized_message_closes_with_1009(
    ws_host: Host, frames: list[str | bytes]
) -> None:
    async with _open_target(ws_host) as ws:
        await ws.receive_json()
        before = await ws_host.calls()

        await _send_ignoring_close(ws, frames)
        code, seen = await _close_code(ws)

        assert code == 1009, (code, seen)
        assert seen == []
        assert await ws_host.calls() == before
    await ws_host.check_healthy()


async def test_websocket_flood_is_rate_limited_then_closed_with_1008(ws_host: Host) -> None:
    """Pings one at a time until one is refused (``rate_limited`` with ``retry_after``: the
    burst is spent), then a flood without reading: closed with 1008. No handler runs."""
    async with _open_target(ws_host) as ws:
        await ws.receive_json()
        before = await ws_host.calls()

        answers = []
        for ref in range(5 * WS_BURST):
            answers.append(await ws.request({"type": "ping", "ref": ref}))
            if answers[-1]["type"] != "pong":
                break
        refused = answers[-1]
        assert refused["type"] == "error", answers
        assert refused["code"] == "rate_limited", refused
        assert refused["retry_after"] > 0, refused
        assert len(answers) > WS_BURST, "refused before the burst was spent"

        pings = [js({"type": "ping", "ref": n}).decode() for n in range(400)]
        await _send_ignoring_close(ws, pings)
        code, seen = await _close_code(ws)

        assert code == 1008, (code, seen[-3:])
        assert {message["type"] for message in seen} <= {"pong", "error"}, seen
        assert {m["code"] for m in seen if m["type"] == "error"} <= {"rate_limited"}, seen
        assert await ws_host.calls() == before
    await ws_host.check_healthy()


async def test_websocket_flood_of_binary_frames_is_closed_with_1008(ws_host: Host) -> None:
    async with _open_target(ws_host) as ws:
        await ws.receive_json()
        before = await ws_host.calls()

        await _send_ignoring_close(ws, [b"\x00"] * 400)
        code, seen = await _close_code(ws)

        assert code == 1008, (code, seen[-3:])
        assert {message["code"] for message in seen} <= {"unsupported_media_type", "rate_limited"}
        assert await ws_host.calls() == before
    await ws_host.check_healthy()


async def test_websocket_text_frame_of_invalid_utf8_is_closed_by_the_server(
    uvicorn_host: UvicornHost,
) -> None:
    """Only a raw client can send one; the server's WebSocket layer ends the connection before
    the app sees anything (``websockets``: close 1007, invalid frame payload data; ``wsproto``:
    the connection drops)."""
    async with _open_target(uvicorn_host) as ws:
        await ws.receive_json()
        before = await uvicorn_host.calls()

        await ws.send_invalid_utf8_text(b'{"type": "ping", "x": "\xff"}')
        code, seen = await _close_code(ws)

        assert code in (1007, None), (code, seen)  # 1007, or wsproto's abrupt close
        assert await uvicorn_host.calls() == before
    await uvicorn_host.check_healthy()


# -- WebSocket: refused handshakes ------------------------------------------------------------


@dataclass(frozen=True)
class HandshakeCase:
    """A connect URL (or header) refused before accept, with its HTTP denial."""

    id: str
    query: Callable[[Tokens], dict[str, Any]]
    status: int
    code: str
    path: str = SOCKET
    headers: dict[str, str] = field(default_factory=dict)
    field: str | None = None
    text: str | None = None
    also: tuple[tuple[int, str], ...] = ()


def hs(
    id: str, query: Callable[[Tokens], dict[str, Any]], status: int, code: str, **kw: Any
) -> Any:
    return pytest.param(HandshakeCase(id, query, status, code, **kw), id=id)


# fmt: off
HANDSHAKE_CASES: Final = [
    hs("unknown-component", lambda t: {}, 404, "component_not_found",
       path="/components/nope/ws/"),
    hs("reserved-name", lambda t: {}, 404, "not_found", path="/components/_static/ws/"),
    hs("snapshot-tampered-payload", lambda t: {"snapshot": t.tampered_payload()}, 400,
       INVALID_SNAPSHOT, text="tampered"),
    hs("snapshot-tampered-signature", lambda t: {"snapshot": t.tampered_signature()}, 400,
       INVALID_SNAPSHOT, text="tampered"),
    hs("snapshot-other-key", lambda t: {"snapshot": t.other_key()}, 400, INVALID_SNAPSHOT),
    hs("snapshot-from-another-component", lambda t: {"snapshot": t.foreign}, 400,
       INVALID_SNAPSHOT, text="foreign"),
    hs("snapshot-expired", lambda t: {"snapshot": t.expired()}, 400, INVALID_SNAPSHOT,
       text="expired"),
    hs("snapshot-in-the-future", lambda t: {"snapshot": t.future()}, 400, INVALID_SNAPSHOT,
       text="expired"),
    hs("snapshot-oversized", lambda t: {"snapshot": t.oversized()}, 400, INVALID_SNAPSHOT),
    hs("snapshot-garbage", lambda t: {"snapshot": "garbage"}, 400, INVALID_SNAPSHOT),
    hs("event-in-url", lambda t: {"event": "increment"}, 400, MALFORMED),
    hs("state-in-url", lambda t: {"state": json.dumps({"count": 1000})}, 400, MALFORMED),
    hs("validate-in-url", lambda t: {"validate": "count"}, 400, MALFORMED),
    hs("params-not-json", lambda t: {"params": "{start"}, 400, MALFORMED),
    hs("params-too-deep", lambda t: {"params": json.dumps(deep(40))}, 400, MALFORMED),
    hs("params-lone-surrogate-name", lambda t: {"params": json.dumps({"\ud800": 1})}, 400,
       MALFORMED, also=((422, VALIDATION),)),
    hs("param-invalid-utf8", lambda t: {"start": b"\xff"}, 400, MALFORMED),
    hs("param-wrong-type", lambda t: {"start": "lots"}, 422, VALIDATION, field="start"),
    hs("param-unexpected", lambda t: {"evil": "1"}, 422, VALIDATION, field="evil"),
    hs("snapshot-with-param", lambda t: {"snapshot": t.valid(), "start": "9"}, 422, VALIDATION,
       field="start"),
    hs("bad-format", lambda t: {"format": "xml"}, 422, VALIDATION, field="format"),
    hs("bad-target", lambda t: {"format": "html", "target": "<script>"}, 422, VALIDATION,
       field="target"),
    hs("foreign-origin", lambda t: {}, 403, "forbidden",
       headers={"Host": "app.example", "Origin": "https://evil.example"}),
    # DNS rebinding: the attacker's name points at the server, the page is "same-origin".
    hs("unknown-host", lambda t: {}, 400, HOST_NOT_ALLOWED,
       headers={"Host": "localhost", "Origin": "http://localhost"}),
]
# fmt: on


@pytest.mark.parametrize("bad", HANDSHAKE_CASES)
async def test_websocket_bad_handshake_is_refused_with_its_documented_error(
    ws_host: Host, bad: HandshakeCase
) -> None:
    tokens = await tokens_for(ws_host)
    query = bad.query(tokens)
    before = await ws_host.calls()

    with pytest.raises(Refused) as refused:
        async with ws_host.websocket(bad.path, query or None, bad.headers or None):
            pass

    denial = refused.value
    assert_no_leak(denial.body)
    assert denial.status is not None, f"no HTTP denial: {denial}"
    assert denial.body.startswith(b"{"), f"no JSON error: {denial}"
    document = json.loads(denial.body)
    assert set(document) == {"error"}, document
    error = document["error"]
    assert (denial.status, error["code"]) in {(bad.status, bad.code), *bad.also}, denial
    assert isinstance(error["message"], str)
    assert error["message"]
    if bad.field is not None:
        assert error["field"] == bad.field, error
    if bad.text is not None:
        assert bad.text in error["message"], error
    if error["code"] == VALIDATION:
        assert "field" in error, error
    assert await ws_host.calls() == before
    await ws_host.check_healthy()


# -- sanity of the matrix itself -------------------------------------------------------------


def test_the_tokens_are_what_the_cases_say() -> None:
    """The forgeries differ from a valid token only where they claim to."""
    tokens = Tokens(foreign=sign("other", {"seen": 0}))
    valid = tokens.valid()
    assert tokens.tampered_signature().split(".")[:3] == valid.split(".")[:3]
    assert tokens.tampered_signature() != valid
    assert tokens.tampered_payload().split(".")[3] == valid.split(".")[3]
    assert tokens.tampered_payload().split(".")[1] == valid.split(".")[1]  # the same key id
    assert tokens.other_key().split(".")[1] != valid.split(".")[1]
    assert _payload(tokens.tampered_payload())["s"]["count"] == 1000
    assert len(tokens.oversized()) > SNAPSHOT_LIMIT
    app = build_raw()
    assert app.dispatcher.signer.verify(valid, "target").state == {"count": 5}


# -- emitted events (issue 14.3) ----------------------------------------------------------------
# A handler emitting what a client names is refused like a bad trigger; a batch to /_emit/ is
# refused whole when malformed, and each listener's bad case is that listener's error only:
# its handler never runs for an event it does not list, a payload that does not fit, or a
# snapshot that is not its own.

EMIT: Final = "/components/_emit/"
BAD_EMITTED_EVENTS: Final = [
    ("", None),
    ("mount", None),
    ("_private", None),
    ("htmx:load", None),
    ("added now", None),
    ("<img src=x>", None),
    ("a" * 65, None),
    ("added", {"text": "x" * 2000}),
]


@pytest.mark.parametrize(("event", "payload"), BAD_EMITTED_EVENTS)
async def test_http_a_handler_emitting_a_bad_event_or_payload_is_refused(
    host: Host, event: str, payload: Any
) -> None:
    tokens = await tokens_for(host)
    body = js(_event(tokens, "shout", {"event": event, "payload": payload}))
    response = await host.send(post(TARGET, body))
    _refused_effect(response, "invalid_emit", None)
    await host.check_healthy()


def _batch(events: Any, listeners: Any, **extra: Any) -> bytes:
    return js({"events": events, "listeners": listeners, **extra})


def _listener(component: str = "listener", snapshot: str | None = None) -> dict[str, str]:
    token = snapshot or sign(component, {"seen": 0})
    return {"component": component, "id": f"{component}-adversary", "snapshot": token}


ADDED: Final = [{"event": "added", "payload": {"amount": 1}}]

# fmt: off
EMIT_BATCH_CASES: Final = [
    case("emit-get", lambda t: get(EMIT, b""), 405, "method_not_allowed"),
    case("emit-form", lambda t: post(EMIT, b"events=x", FORM), 415, "unsupported_media_type"),
    case("emit-truncated", lambda t: post(EMIT, b'{"events": ['), 400, MALFORMED),
    case("emit-not-object", lambda t: post(EMIT, b"[1, 2]"), 400, MALFORMED),
    case("emit-not-utf8", lambda t: post(EMIT, b'{"events": "\xff"}'), 400, MALFORMED),
    case("emit-no-events", lambda t: post(EMIT, _batch([], [_listener()])), 400, MALFORMED),
    case("emit-event-not-object", lambda t: post(EMIT, _batch(["added"], [_listener()])), 400,
         MALFORMED),
    case("emit-payload-list",
         lambda t: post(EMIT, _batch([{"event": "added", "payload": [1]}], [_listener()])),
         400, MALFORMED),
    case("emit-listener-no-snapshot",
         lambda t: post(EMIT, _batch(ADDED, [{"component": "listener", "id": "x"}])), 400,
         MALFORMED),
    case("emit-listener-id-huge",
         lambda t: post(EMIT, _batch(ADDED, [{**_listener(), "id": "x" * 129}])), 400,
         MALFORMED),
    case("emit-depth-past-chain",
         lambda t: post(EMIT, _batch(ADDED, [_listener()], depth=9)), 400, MALFORMED),
    case("emit-depth-not-int",
         lambda t: post(EMIT, _batch(ADDED, [_listener()], depth="1")), 400, MALFORMED),
    case("emit-unknown-field",
         lambda t: post(EMIT, _batch(ADDED, [_listener()], snapshot="x")), 400, MALFORMED),
    case("emit-too-many-events", lambda t: post(EMIT, _batch(ADDED * 9, [_listener()])), 413,
         "payload_too_large"),
    case("emit-too-many-listeners", lambda t: post(EMIT, _batch(ADDED, [_listener()] * 65)),
         413, "payload_too_large"),
    case("emit-too-deep",
         lambda t: post(EMIT, _batch([{"event": "added", "payload": deep(40)}], [_listener()])),
         400, "malformed_request"),
    case("emit-body-too-large",
         lambda t: post(EMIT, _batch([{"event": "added", "payload": {"x": "y" * BODY_LIMIT}}],
                                     [_listener()])), 413, "payload_too_large"),
    case("emit-cross-site",
         lambda t: post(EMIT, _batch(ADDED, [_listener()]),
                        headers=(("origin", "https://evil.example"),
                                 ("sec-fetch-site", "cross-site"))), 403, "forbidden"),
]
# fmt: on


@pytest.mark.parametrize("bad", EMIT_BATCH_CASES)
async def test_http_a_bad_batch_of_emitted_events_is_refused_whole(
    host: Host, bad: HttpCase
) -> None:
    tokens = await tokens_for(host)
    before = await host.calls()
    response = await host.send(bad.build(tokens))
    assert_error_answer(response, bad)
    assert await host.calls() == before, "user code ran on a refused batch"
    await host.check_healthy()


# fmt: off
UNFIT_EVENTS: Final = [
    # (id, events, listener, code, field)
    ("payload-wrong-type", [{"event": "added", "payload": {"amount": "many"}}], _listener(),
     VALIDATION, "amount"),
    ("payload-missing", [{"event": "added", "payload": {}}], _listener(), VALIDATION, "amount"),
    ("payload-extra", [{"event": "added", "payload": {"amount": 1, "admin": True}}],
     _listener(), VALIDATION, "admin"),
    ("payload-object", [{"event": "added", "payload": {"amount": {"n": 1}}}], _listener(),
     VALIDATION, "amount"),
    ("unknown-event", [{"event": "deleted", "payload": {}}], _listener(), "not_listening",
     None),
    ("framework-name", [{"event": "hydrate", "payload": {}}], _listener(), "not_listening",
     None),
    ("not-listed", [{"event": "add", "payload": {"amount": 1}}], _listener("target"),
     "not_listening", None),
]
BAD_LISTENERS: Final = [
    ("forged-snapshot", _listener(snapshot=sign("listener", {"seen": 0})[:-6] + "AAAAAA"),
     INVALID_SNAPSHOT),
    ("foreign-key", _listener(snapshot=sign("listener", {"seen": 9}, key=OTHER_SECRET)),
     INVALID_SNAPSHOT),
    ("snapshot-of-another-component", {**_listener(), "snapshot": sign("target", {"count": 5})},
     INVALID_SNAPSHOT),
    ("unknown-component", _listener("nothing"), "component_not_found"),
    ("reserved-component", _listener("_static"), "component_not_found"),
]
# fmt: on


@pytest.mark.parametrize(
    ("events", "listener", "code", "field"),
    [pytest.param(*row[1:], id=row[0]) for row in UNFIT_EVENTS],
)
async def test_http_an_emitted_event_a_listener_cannot_take_never_runs_it(
    host: Host, events: Any, listener: dict[str, str], code: str, field: str | None
) -> None:
    before = await host.calls()
    response = await host.send(post(EMIT, _batch(events, [listener])))
    assert_no_leak(response.body)
    assert response.status == 200, (response.status, response.body[:300])
    (refused,) = response.json()["results"]
    assert (refused["error"]["code"], refused["error"].get("field")) == (code, field), refused
    assert (refused["component_id"], "html" in refused) == (listener["id"], False)
    assert await host.calls() == before, "user code ran for an event it cannot take"
    await host.check_healthy()


@pytest.mark.parametrize(
    ("bad", "code"), [pytest.param(*row[1:], id=row[0]) for row in BAD_LISTENERS]
)
async def test_http_a_listener_with_a_bad_snapshot_fails_alone(
    host: Host, bad: dict[str, str], code: str
) -> None:
    token = sign("listener", {"seen": 0}, component_id="listener-good")
    good = {"component": "listener", "id": "listener-good", "snapshot": token}
    before = await host.calls()
    response = await host.send(post(EMIT, _batch(ADDED, [bad, good])))
    assert_no_leak(response.body)
    assert response.status == 200, (response.status, response.body[:300])
    refused, ran = response.json()["results"]
    assert (refused["error"]["code"], refused["component_id"]) == (code, bad["id"]), refused
    assert "error" not in ran, ran
    assert ran["component_id"] == "listener-good"
    assert (await host.calls())["listener.on_added"] == before["listener.on_added"] + 1
    await host.check_healthy()


# -- URL state: hostile page URLs and query values ------------------------------------------
# A page URL is the client's to name (HX-Current-URL): whatever it holds, a mount answers 200
# with mount's values for what does not read, and a history change never leaves the page's
# own site (a path we would not repeat gives the query alone).

FINDER: Final = "/components/finder/"
HOSTILE_PAGE_URLS: Final = [
    "//evil.example/shop?q=a",
    "http://app.example//evil.example/?q=a",
    "javascript:alert(1)//?q=a",
    "http://app.example/\\evil.example?q=a",
    "http://app.example/a b?q=a",
    "http://[::1/shop?q=a",
    "http://app.example/shop?page=1e999&page=-&q=%00%FF",
    "http://app.example/shop?" + "&".join(["x=1"] * 2000) + "&q=a",
    "http://app.example/shop?q=" + "x" * 3000,
    "not a url at all",
]


@pytest.mark.parametrize("page_url", HOSTILE_PAGE_URLS, ids=range(len(HOSTILE_PAGE_URLS)))
async def test_url_state_a_hostile_page_url_keeps_the_defaults_and_stays_on_site(
    host: Host, page_url: str
) -> None:
    headers = (("hx-current-url", page_url),)
    mounted = await host.send(post(FINDER, js({}), headers=headers))
    assert_no_leak(mounted.body)
    assert mounted.status == 200, mounted.body[:300]
    state = mounted.json()["state"]
    assert type(state["page"]) is int
    assert isinstance(state["q"], str)
    body = {"event": "search", "payload": {"q": "b"}, "snapshot": mounted.json()["snapshot"]}
    searched = await host.send(post(FINDER, js(body), headers=headers))
    assert searched.status == 200, searched.body[:300]
    effects = searched.json()["effects"]
    url = effects.get("replace_url") or effects["push_url"]
    assert url[0] in "/?", url
    assert not url.startswith("//"), url
    assert "\\" not in url
    await host.check_healthy()


async def test_url_state_a_value_too_long_for_a_url_is_refused_and_not_applied(
    host: Host,
) -> None:
    mounted = await host.send(post(FINDER, js({})))
    body = {"event": "search", "payload": {"q": "x" * 5000}, "snapshot": mounted.json()["snapshot"]}
    response = await host.send(post(FINDER, js(body)))
    _refused_effect(response, URL_NOT_ALLOWED, "too_long")
    await host.check_healthy()
