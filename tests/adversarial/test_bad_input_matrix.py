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
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

import pytest

from component_framework.core.resumable import ResumableUploads
from component_framework.protocol.snapshot import SnapshotSigner
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
    registry,
    settings,
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
VAULT: Final = "/components/vault/"
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
    #: A vault's (server-held state) first reference, after an event advanced it: a replay.
    replayed: str = ""

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
    vault = await host.post_json(VAULT, {})
    assert vault.status == 200, vault.body[:300]
    first = vault.json()["snapshot"]
    opened = await host.post_json(VAULT, {"event": "open", "snapshot": first})
    assert opened.status == 200, opened.body[:300]
    return Tokens(foreign=mounted.json()["snapshot"], replayed=first)


def reference(
    version: int, *, component: str = "vault", component_id: str = "vault-never", key: str = SECRET
) -> str:
    """A reference token (server-held state) as an app with ``key`` would sign it."""
    return SnapshotSigner([key]).sign_reference(component, component_id, version)


def with_version(token: str, version: Any) -> str:
    """``token`` with the version in its payload changed and its signature kept."""
    head, identifier, _, signature = token.split(".")
    document = _payload(token)
    document["v"] = version
    return f"{head}.{identifier}.{_b64(json.dumps(document).encode())}.{signature}"


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
    ("malformed", "tampered", "unknown_key", "foreign", "expired", "oversized", "state_on_server")
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


def _open(snapshot: str) -> bytes:
    return js({"event": "open", "snapshot": snapshot})


# Server-held state (docs/server-state.md): forged, replayed and foreign references.
# fmt: off
SERVER_STATE_CASES: Final = [
    case("reference-replayed", lambda t: post(VAULT, _open(t.replayed)), 409, "stale_state"),
    case("reference-replayed-rerender", lambda t: post(VAULT, js({"snapshot": t.replayed})), 409,
         "stale_state"),
    case("reference-replayed-in-form", lambda t: form(VAULT, q(event="open", snapshot=t.replayed)),
         409, "stale_state"),
    case("reference-version-tampered", lambda t: post(VAULT, _open(with_version(t.replayed, 2))),
         400, INVALID_SNAPSHOT, message="tampered"),
    case("reference-other-key",
         lambda t: post(VAULT, _open(reference(1, key=OTHER_SECRET))), 400, INVALID_SNAPSHOT,
         message="(unknown key)"),
    case("reference-to-state-never-stored", lambda t: post(VAULT, _open(reference(1))), 410,
         "state_expired"),
    case("reference-version-zero", lambda t: post(VAULT, _open(reference(0))), 400,
         INVALID_SNAPSHOT, message="malformed"),
    case("reference-version-negative", lambda t: post(VAULT, _open(reference(-3))), 400,
         INVALID_SNAPSHOT, message="malformed"),
    case("reference-of-another-component",
         lambda t: post(VAULT, _open(reference(1, component="other"))), 400, INVALID_SNAPSHOT,
         message="foreign"),
    case("state-snapshot-to-server-held",
         lambda t: post(VAULT, _open(sign("vault", {"opened": 9}))), 400, INVALID_SNAPSHOT,
         message="keeps its state on the server"),
    case("raw-state-to-server-held", lambda t: post(VAULT, js({"state": {"opened": 9}})), 400,
         INVALID_SNAPSHOT),
]
# fmt: on


@pytest.mark.parametrize("bad", [*HTTP_CASES, *NESTING_CASES, *SERVER_STATE_CASES])
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
#: In process (a fifth of a second each), also the JSON-only paths' own body reader.
SLOW_PATHS_IN_PROCESS: Final = [
    *SLOW_PATHS,
    pytest.param("/components/_page/", id="page-connection"),
    pytest.param("/components/_emit/", id="emit"),
]


def _half_sent(path: str) -> Request:
    """Headers announcing the whole body, then half of it, then nothing more."""
    body = js({"params": {"start": 1}} if path == TARGET else {"steps": 1})
    headers = (("content-type", JSON), ("content-length", str(len(body))))
    return Request("POST", path, headers=headers, chunks=(body[: len(body) // 2],), stall=True)


SLOW: Final = HttpCase("slow-loris", lambda t: Request("POST", TARGET), 408, "request_timeout")


@pytest.mark.parametrize("path", SLOW_PATHS_IN_PROCESS)
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


async def close_code(ws: WSClient) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes; its close code and the messages before it."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while True:
            try:
                seen.append(await ws.receive_json())
            except Closed as closed:
                return closed.code, seen


async def send_ignoring_close(ws: WSClient, frames: Sequence[str | bytes]) -> None:
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

        await send_ignoring_close(ws, frames)
        code, seen = await close_code(ws)

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
        await send_ignoring_close(ws, pings)
        code, seen = await close_code(ws)

        assert code == 1008, (code, seen[-3:])
        assert {message["type"] for message in seen} <= {"pong", "error"}, seen
        assert {m["code"] for m in seen if m["type"] == "error"} <= {"rate_limited"}, seen
        assert await ws_host.calls() == before
    await ws_host.check_healthy()


async def test_websocket_flood_of_binary_frames_is_closed_with_1008(ws_host: Host) -> None:
    async with _open_target(ws_host) as ws:
        await ws.receive_json()
        before = await ws_host.calls()

        await send_ignoring_close(ws, [b"\x00"] * 400)
        code, seen = await close_code(ws)

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
        code, seen = await close_code(ws)

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
    case("emit-json-latin1",
         lambda t: post(EMIT, _batch(ADDED, [_listener()]), f"{JSON}; charset=latin-1"), 415,
         "unsupported_media_type"),
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


# -- resumable uploads (/_uploads/): ids, offsets, headers --------------------------------------
# Each test makes its own upload holding SENT of its 100 bytes, then sends one bad request: the
# documented error (``offset`` in a 409, ``limit`` in a 413, ``Allow`` in a 405), no handler
# run, and the upload still holds exactly SENT bytes (nothing half-written).

UPLOADS: Final = "/components/_uploads/"
AVATAR: Final = "/components/avatar/"
CHUNK: Final = "application/offset+octet-stream"
PNG: Final = b"\x89PNG\r\n\x1a\n" + bytes(range(92))
SENT: Final = 10
#: The test process's view of the uploads folder the hosts share, with the apps' keys.
UPLOADS_HERE: Final = ResumableUploads(registry, settings())


def describe(**changes: Any) -> dict[str, Any]:
    """An upload's description: the avatar's PNG, unless ``changes`` say otherwise."""
    described = {"component": "avatar", "event": "upload", "field": "avatar"}
    return {**described, "filename": "me.png", "size": len(PNG), "content_type": "image/png",
            **changes}  # fmt: skip


def chunk(
    upload_id: str,
    data: bytes,
    offset: str | None = "0",
    content_type: str | None = CHUNK,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    **options: Any,
) -> Request:
    """A ``PATCH`` of ``data`` at ``offset`` (``None``: no ``Upload-Offset`` header)."""
    sent = (() if offset is None else (("upload-offset", offset),)) + headers
    options.setdefault("method", "PATCH")
    return post(UPLOADS + upload_id, data, content_type, headers=sent, **options)


def at(upload_id: str, method: str, *headers: tuple[str, str]) -> Request:
    return Request(method, UPLOADS + upload_id, headers=headers)


@dataclass(frozen=True)
class Uploads:
    """One test's uploads: ``partial`` holds :data:`SENT` bytes; ``expired`` timed out;
    ``others`` belongs to a signed-in user (the requests here have none); ``snapshot`` is the
    avatar's snapshot (no upload id, though signed by the same app)."""

    partial: str
    expired: str
    others: str
    snapshot: str

    @property
    def tampered(self) -> str:
        head, key, payload, signature = self.partial.split(".")
        swapped = "AAAA" if signature[-4:] != "AAAA" else "BBBB"
        return f"{head}.{key}.{payload}.{signature[:-4]}{swapped}"

    @property
    def rewritten(self) -> str:
        """The payload's size rewritten, the signature kept."""
        head, key, _, signature = self.partial.split(".")
        document = _payload(self.partial)
        document["s"] = {**document["s"], "z": 10**9}
        return f"{head}.{key}.{_b64(json.dumps(document).encode())}.{signature}"


def _made_here(owner: str = "") -> str:
    """An upload of the avatar's PNG made by this process in the folder the hosts share (as
    another worker of the app would make it)."""
    return UPLOADS_HERE.create(
        "avatar", "upload", "avatar", filename="me.png", size=len(PNG),
        content_type="image/png", owner=owner,
    ).id  # fmt: skip


async def uploads_for(host: Host) -> Uploads:
    created = await host.send(post(UPLOADS, js(describe())))
    assert created.status == 201, created.body[:300]
    partial = created.json()["upload"]
    appended = await host.send(chunk(partial, PNG[:SENT]))
    assert appended.status == 200, appended.body[:300]
    expired, aged = _made_here(), time.time() - 2 * UPLOADS_HERE.ttl
    os.utime(UPLOADS_HERE.path_of(UPLOADS_HERE.open(expired, "")), (aged, aged))
    others = _made_here(owner="0123456789abcdef0123456789abcdef")  # a signed-in user's
    return Uploads(partial, expired, others, sign("avatar", {"size": 0}))


@dataclass(frozen=True)
class UploadCase:
    """One bad request of the upload protocol and its documented answer (``offset``: the
    confirmed offset a 409 reports; ``limit``: the setting a 413 names)."""

    id: str
    build: Callable[[Uploads], Request]
    status: int
    code: str
    offset: int | None = None
    limit: str | None = None
    allow: str | None = None


def up(id: str, build: Callable[[Uploads], Request], status: int, code: str, **kw: Any) -> Any:
    return pytest.param(UploadCase(id, build, status, code, **kw), id=id)


def _claim(u: Uploads, value: Any, field: str = "avatar", event: str = "upload") -> Request:
    return post(AVATAR, js({"event": event, "payload": {field: value}, "snapshot": u.snapshot}))


NOT_FOUND_UPLOAD: Final = "upload_not_found"
TOO_LARGE_UPLOAD: Final = "upload_too_large"
MISMATCH: Final = "upload_offset_mismatch"
REST: Final = PNG[SENT:]
# fmt: off
UPLOAD_CASES: Final = [
    # ids: forged, tampered, expired, another user's, another kind of token
    up("id-forged", lambda u: chunk("v2.AAAAAAAA.e30.AAAA", REST, str(SENT)), 404,
       NOT_FOUND_UPLOAD),
    up("id-garbage", lambda u: at("not-an-id", "HEAD"), 404, NOT_FOUND_UPLOAD),
    up("id-tampered-signature", lambda u: chunk(u.tampered, REST, str(SENT)), 404,
       NOT_FOUND_UPLOAD),
    up("id-rewritten-size", lambda u: chunk(u.rewritten, REST, str(SENT)), 404, NOT_FOUND_UPLOAD),
    up("id-is-a-snapshot", lambda u: at(u.snapshot, "HEAD"), 404, NOT_FOUND_UPLOAD),
    up("id-expired-patch", lambda u: chunk(u.expired, PNG[:5]), 410, "upload_expired"),
    up("id-expired-head", lambda u: at(u.expired, "HEAD"), 410, "upload_expired"),
    up("id-of-another-user-patch", lambda u: chunk(u.others, PNG[:5]), 403, "forbidden"),
    up("id-of-another-user-head", lambda u: at(u.others, "HEAD"), 403, "forbidden"),
    up("id-of-another-user-delete", lambda u: at(u.others, "DELETE"), 403, "forbidden"),
    up("head-unknown", lambda u: at("v2.AAAAAAAA.e30.AAAA", "HEAD"), 404, NOT_FOUND_UPLOAD),
    up("delete-unknown", lambda u: at("v2.AAAAAAAA.e30.AAAA", "DELETE"), 404, NOT_FOUND_UPLOAD),
    up("delete-tampered", lambda u: at(u.tampered, "DELETE"), 404, NOT_FOUND_UPLOAD),
    # offsets
    up("offset-behind", lambda u: chunk(u.partial, PNG[:5], "0"), 409, MISMATCH, offset=SENT),
    up("offset-ahead", lambda u: chunk(u.partial, PNG[:5], str(SENT + 1)), 409, MISMATCH,
       offset=SENT),
    up("offset-negative", lambda u: chunk(u.partial, REST, "-10"), 400, MALFORMED),
    up("offset-huge", lambda u: chunk(u.partial, REST, "9" * 40), 400, MALFORMED),
    up("offset-not-a-number", lambda u: chunk(u.partial, REST, "ten"), 400, MALFORMED),
    up("offset-fraction", lambda u: chunk(u.partial, REST, "10.0"), 400, MALFORMED),
    up("offset-plus-sign", lambda u: chunk(u.partial, REST, "+10"), 400, MALFORMED),
    up("offset-empty", lambda u: chunk(u.partial, REST, ""), 400, MALFORMED),
    up("offset-missing", lambda u: chunk(u.partial, REST, None), 400, MALFORMED),
    up("offset-twice", lambda u: chunk(u.partial, REST, str(SENT),
                                       headers=(("upload-offset", str(SENT)),)), 400, MALFORMED),
    up("offset-twice-disagreeing", lambda u: chunk(u.partial, REST, str(SENT),
                                                   headers=(("upload-offset", "0"),)), 400,
       MALFORMED),
    # Upload-Length: optional, a whole number, the upload's own size
    up("length-negative", lambda u: chunk(u.partial, REST, str(SENT),
                                          headers=(("upload-length", "-1"),)), 400, MALFORMED),
    up("length-not-a-number", lambda u: chunk(u.partial, REST, str(SENT),
                                              headers=(("upload-length", "lots"),)), 400,
       MALFORMED),
    up("length-huge", lambda u: chunk(u.partial, REST, str(SENT),
                                      headers=(("upload-length", "9" * 40),)), 400, MALFORMED),
    up("length-not-the-uploads", lambda u: chunk(u.partial, REST, str(SENT),
                                                 headers=(("upload-length", "1000"),)), 400,
       MALFORMED),
    up("length-twice", lambda u: chunk(u.partial, REST, str(SENT),
                                       headers=(("upload-length", "100"),) * 2), 400, MALFORMED),
    up("create-length-disagrees",
       lambda u: post(UPLOADS, js(describe()), headers=(("upload-length", "7"),)), 400,
       MALFORMED),
    up("create-length-negative",
       lambda u: post(UPLOADS, js(describe()), headers=(("upload-length", "-7"),)), 400,
       MALFORMED),
    # content types
    up("chunk-no-type", lambda u: chunk(u.partial, REST, str(SENT), None), 415,
       "unsupported_media_type"),
    up("chunk-octet-stream", lambda u: chunk(u.partial, REST, str(SENT),
                                             "application/octet-stream"), 415,
       "unsupported_media_type"),
    up("chunk-as-form", lambda u: chunk(u.partial, REST, str(SENT), FORM), 415,
       "unsupported_media_type"),
    up("chunk-type-twice", lambda u: chunk(u.partial, REST, str(SENT),
                                           headers=(("content-type", "text/plain"),)), 400,
       MALFORMED),
    up("create-as-form", lambda u: post(UPLOADS, b"component=avatar", FORM), 415,
       "unsupported_media_type"),
    up("create-no-type", lambda u: post(UPLOADS, js(describe()), None), 415,
       "unsupported_media_type"),
    up("create-type-twice",
       lambda u: post(UPLOADS, js(describe()), headers=(("content-type", JSON),)), 400,
       MALFORMED),
    # past the declared length, or the chunk limit
    up("chunk-past-the-size", lambda u: chunk(u.partial, REST + b"!", str(SENT)), 413,
       TOO_LARGE_UPLOAD, limit="upload_length"),
    up("chunk-past-the-size-undeclared",
       lambda u: chunk(u.partial, REST + b"!", str(SENT), content_length=None, chunked=True),
       413, TOO_LARGE_UPLOAD, limit="upload_length"),
    up("chunk-content-length-past-the-size",
       lambda u: chunk(u.partial, PNG[SENT:20], str(SENT), content_length="91", raw=True), 413,
       TOO_LARGE_UPLOAD, limit="upload_length"),
    # descriptions
    up("create-repeated-key",
       lambda u: post(UPLOADS, b'{"component": "avatar", "event": "upload", "field": "avatar",'
                      b' "size": 1, "size": 100000}'), 400, MALFORMED),
    up("create-unknown-field", lambda u: post(UPLOADS, js(describe(admin=True))), 400,
       MALFORMED),
    up("create-too-deep", lambda u: post(UPLOADS, b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
       400, MALFORMED),
    up("create-nan-size", lambda u: post(UPLOADS, js(describe())[:-1] + b', "size": NaN}'), 400,
       MALFORMED),
    up("create-size-negative", lambda u: post(UPLOADS, js(describe(size=-1))), 400, MALFORMED),
    up("create-size-text", lambda u: post(UPLOADS, js(describe(size="100"))), 400, MALFORMED),
    up("create-size-fraction", lambda u: post(UPLOADS, js(describe(size=1.5))), 400, MALFORMED),
    up("create-size-missing",
       lambda u: post(UPLOADS, js({k: v for k, v in describe().items() if k != "size"})), 400,
       MALFORMED),
    up("create-size-over-the-limit", lambda u: post(UPLOADS, js(describe(size=10**30))), 413,
       TOO_LARGE_UPLOAD, limit="max_bytes"),
    up("create-lone-surrogate-filename", lambda u: post(UPLOADS, js(describe(filename="\ud800"))),
       400, MALFORMED),
    up("create-content-type-too-long",
       lambda u: post(UPLOADS, js(describe(event="attach", field="file",
                                          content_type="x/" + "y" * 5000))), 400, MALFORMED),
    up("create-type-not-accepted", lambda u: post(UPLOADS, js(describe(content_type="text/html"))),
       415, "upload_type_not_allowed"),
    up("create-unknown-component", lambda u: post(UPLOADS, js(describe(component="nope"))), 404,
       "component_not_found"),
    up("create-reserved-component", lambda u: post(UPLOADS, js(describe(component="_uploads"))),
       404, "component_not_found"),
    up("create-unknown-event", lambda u: post(UPLOADS, js(describe(event="hydrate"))), 404,
       EVENT_NOT_FOUND),
    up("create-field-takes-no-file", lambda u: post(UPLOADS, js(describe(event="upload",
                                                                           field="caption"))),
       422, VALIDATION),
    up("create-event-takes-no-file", lambda u: post(UPLOADS, js(describe(component="target",
                                                                           event="add",
                                                                           field="amount"))),
       415, "unsupported_media_type"),
    # methods and cross-site requests
    up("get-the-collection", lambda u: at("", "GET"), 405, "method_not_allowed", allow="POST"),
    up("put-an-upload", lambda u: chunk(u.partial, REST, str(SENT), method="PUT"), 405,
       "method_not_allowed", allow="HEAD, PATCH, DELETE"),
    up("patch-cross-site",
       lambda u: chunk(u.partial, REST, str(SENT),
                       headers=(("origin", "https://evil.example"),
                                ("sec-fetch-site", "cross-site"))), 403, "forbidden"),
    up("create-cross-site",
       lambda u: post(UPLOADS, js(describe()), headers=(("origin", "https://evil.example"),
                                                        ("sec-fetch-site", "cross-site"))),
       403, "forbidden"),
    # an event naming an upload where the file would be
    up("claim-incomplete", lambda u: _claim(u, u.partial), 409, "upload_incomplete",
       offset=SENT),
    up("claim-forged", lambda u: _claim(u, "v2.AAAAAAAA.e30.AAAA"), 404, NOT_FOUND_UPLOAD),
    up("claim-tampered", lambda u: _claim(u, u.tampered), 404, NOT_FOUND_UPLOAD),
    up("claim-expired", lambda u: _claim(u, u.expired), 410, "upload_expired"),
    up("claim-of-another-user", lambda u: _claim(u, u.others), 403, "forbidden"),
    up("claim-for-another-field", lambda u: _claim(u, u.partial, "file", "attach"), 404,
       NOT_FOUND_UPLOAD),
]
# fmt: on


def assert_upload_error(response: Any, expected: UploadCase, head: bool, protocol: bool) -> None:
    """``response`` is the documented answer of ``expected`` (a ``HEAD`` answer: no body)."""
    assert_no_leak(response.body)
    assert response.status == expected.status, (response.status, response.body[:300])
    assert (response.header("content-type") or "").startswith(JSON), response.headers
    if expected.allow is not None:
        assert response.header("allow") == expected.allow
    if expected.offset is not None and protocol:  # an event's answer has it in the body only
        assert response.header("upload-offset") == str(expected.offset), response.headers
    if head:
        assert response.body == b""
        return
    document = response.json()
    assert set(document) == {"error"}, document
    error = document["error"]
    assert set(error) <= {"code", "message", "field", "offset", "limit"}, error
    assert error["code"] == expected.code, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    if expected.offset is not None:
        assert error["offset"] == expected.offset, error
    if expected.limit is not None:
        assert error["limit"] == expected.limit, error


async def assert_upload_holds(host: Host, upload_id: str, offset: int) -> None:
    """``HEAD`` says ``upload_id`` holds ``offset`` bytes (on every host, in every process)."""
    where = await host.send(at(upload_id, "HEAD"))
    assert where.status == 200, (where.status, where.headers)
    assert (where.header("upload-offset"), where.header("upload-length")) == (str(offset), "100")


@pytest.mark.parametrize("bad", UPLOAD_CASES)
async def test_uploads_a_bad_request_gets_its_documented_error_and_changes_nothing(
    host: Host, bad: UploadCase
) -> None:
    uploads = await uploads_for(host)
    request = bad.build(uploads)
    before = await host.calls()

    response = await host.send(request)

    protocol = request.path.startswith(UPLOADS)
    assert_upload_error(response, bad, head=request.method == "HEAD", protocol=protocol)
    assert await host.calls() == before, "user code ran on a refused upload request"
    await assert_upload_holds(host, uploads.partial, SENT)
    await host.check_healthy()


async def test_uploads_the_matrix_upload_completes_and_its_event_runs_once(host: Host) -> None:
    """The control case for the rows above: the same upload, sent right, is taken once."""
    uploads = await uploads_for(host)
    done = await host.send(chunk(uploads.partial, REST, str(SENT)))
    assert (done.status, done.json()["complete"]) == (200, True), done.body[:300]

    taken = await host.send(_claim(uploads, uploads.partial))
    again = await host.send(_claim(uploads, uploads.partial))

    assert (taken.status, taken.json()["state"]["size"]) == (200, len(PNG)), taken.body[:300]
    assert (again.status, again.json()["error"]["code"]) == (410, "upload_expired")
    await host.check_healthy()


#: Events that name a complete upload and are refused after its claim (the handler never runs).
REFUSED_CLAIMS: Final = [
    pytest.param(lambda i, s: {"event": "upload", "payload": {"avatar": i, "x": 1}, "snapshot": s},
                 422, id="unknown-field-beside-it"),
    pytest.param(lambda i, s: {"event": "upload", "payload": {"avatar": [i]}, "snapshot": s}, 422,
                 id="a-list-for-one-file"),
    pytest.param(lambda i, s: {"event": "upload", "payload": {"avatar": [i, i]}, "snapshot": s},
                 410, id="named-twice"),
    pytest.param(lambda i, s: {"event": "upload", "payload": {"avatar": i},
                               "snapshot": s[:-6] + "AAAAAA"}, 400, id="forged-snapshot"),
]  # fmt: skip


@pytest.mark.parametrize(("event", "status"), REFUSED_CLAIMS)
async def test_uploads_an_event_refused_after_its_claim_leaves_the_upload_to_claim_again(
    host: Host, event: Callable[[str, str], dict[str, Any]], status: int
) -> None:
    uploads = await uploads_for(host)
    done = await host.send(chunk(uploads.partial, REST, str(SENT)))
    assert done.status == 200, done.body[:300]
    before = await host.calls()

    refused = await host.send(post(AVATAR, js(event(uploads.partial, uploads.snapshot))))

    assert_no_leak(refused.body)
    assert refused.status == status, refused.body[:300]
    assert await host.calls() == before
    await assert_upload_holds(host, uploads.partial, len(PNG))
    taken = await host.send(_claim(uploads, uploads.partial))
    assert (taken.status, taken.json()["state"]["size"]) == (200, len(PNG)), taken.body[:300]
    await host.check_healthy()


# -- on_presence, named by a client like any event ------------------------------------------------
# docs/presence.md: the framework calls ``on_presence`` when others come or go, and "like every
# public on_<name> a client can send presence itself, with arguments of its choosing". So a
# client's call is bound and refused like any event's, and a fitting one changes that
# component's own state only: never the presence others see, nor anyone else's render.

ROSTER: Final = "/components/roster/"
ROSTER_SOCKET: Final = "/components/roster/ws/"


def _roster(payload: Any) -> dict[str, Any]:
    snapshot = sign("roster", {"room": "lobby", "news": []})
    return {"event": "presence", "payload": payload, "snapshot": snapshot}


def _presence(payload: Any) -> Callable[[Tokens], Request]:
    return lambda t: post(ROSTER, js(_roster(payload)))


# fmt: off
PRESENCE_CALLS: Final = [
    # (id, payload, code, field)
    ("joined-not-a-list", {"joined": 5, "left": []}, VALIDATION, "joined"),
    ("joined-of-numbers", {"joined": [1, 2], "left": []}, VALIDATION, "joined[0]"),
    ("left-missing", {"joined": []}, VALIDATION, "left"),
    ("topic-not-taken", {"joined": [], "left": [], "topic": "room:elsewhere"}, VALIDATION,
     "topic"),
    ("unknown-argument", {"joined": [], "left": [], "key": "k"}, VALIDATION, "key"),
    ("too-deep", {"joined": [deep(40)], "left": []}, MALFORMED, None),
]
PRESENCE_CASES: Final = [
    *(case(f"presence-{id}", _presence(payload), 400 if code == MALFORMED else 422, code,
           field=field) for id, payload, code, field in PRESENCE_CALLS),
    case("presence-payload-not-an-object", _presence([1]), 400, MALFORMED),
    case("presence-over-a-get-stream", lambda t: get(ROSTER + "stream/", q(event="presence")),
         405, "method_not_allowed"),
    case("presence-body-too-large",
         _presence({"joined": [{"name": "x" * BODY_LIMIT}], "left": []}), 413,
         "payload_too_large"),
    case("presence-joined-repeated",
         lambda t: post(ROSTER, js(_roster({"left": []}))[:-2]
                        + b', "payload": {"joined": [], "joined": [], "left": []}}'), 400,
         MALFORMED),
]
# fmt: on


@pytest.mark.parametrize("bad", PRESENCE_CASES)
async def test_presence_a_clients_bad_call_gets_its_documented_error(
    host: Host, bad: HttpCase
) -> None:
    before = await host.calls()

    response = await host.send(bad.build(Tokens(foreign="")))

    assert_error_answer(response, bad)
    assert await host.calls() == before, "on_presence ran on a refused call"
    await host.check_healthy()


async def test_presence_a_clients_fitting_call_changes_its_own_state_only(host: Host) -> None:
    before = await host.calls()
    call = {"joined": [{"name": "Mallory", "key": "forged"}], "left": [{"name": "Ada"}]}

    response = await host.send(post(ROSTER, js(_roster(call))))

    assert response.status == 200, response.body[:300]
    assert response.json()["state"]["news"] == ["Mallory", "-Ada"]
    assert response.json()["html"] == "<p>0|Mallory, -Ada</p>"  # nobody became present
    assert (await host.calls())["roster.on_presence"] == before["roster.on_presence"] + 1
    await host.check_healthy()


async def _own_join_told(host: Host, wait: float = 1.0) -> None:
    """Let the framework's own ``on_presence`` call for the member's own join land (up to
    ``wait`` seconds), so that the count taken next holds only what a client's call adds."""
    told = (await host.calls())["roster.on_presence"]
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        if (await host.calls())["roster.on_presence"] != told:
            return


async def _answer_past_presence_pushes(ws: Any, ref: str) -> dict[str, Any]:
    """The answer to ``ref`` (an error too malformed to carry it has none); before it may come
    a push render of the room's presence (the member's own join): a render nobody asked for,
    with no ref."""
    for _ in range(5):
        message: dict[str, Any] = await ws.receive_json()
        if message.get("ref") == ref or message["type"] != "render":
            return message
        assert message.get("ref") is None, message
    raise AssertionError(f"no answer to {ref!r} within 5 messages")


@pytest.mark.parametrize(
    ("payload", "code", "field"), [pytest.param(*row[1:], id=row[0]) for row in PRESENCE_CALLS]
)
async def test_websocket_presence_a_clients_bad_call_gets_an_error_and_the_socket_stays_open(
    ws_host: Host, payload: Any, code: str, field: str | None
) -> None:
    room = {"room": f"solo-{os.urandom(6).hex()}"}  # nobody else comes or goes
    async with ws_host.websocket(ROSTER_SOCKET, room) as ws:
        first = await ws.receive_json()
        assert (first["type"], first["html"]) == ("render", "<p>1|</p>"), first
        await _own_join_told(ws_host)
        before = await ws_host.calls()

        await ws.send_json(ev("presence", payload, ref="bad"))
        answer = await _answer_past_presence_pushes(ws, "bad")

        assert_no_leak(json.dumps(answer).encode())
        assert (answer["type"], answer["code"], answer.get("field")) == ("error", code, field)
        assert answer["message"]
        assert await ws_host.calls() == before, "on_presence ran on a refused call"
        await ws.send_json({"type": "ping", "ref": "after"})
        pong = await _answer_past_presence_pushes(ws, "after")
        assert (pong["type"], pong["ref"]) == ("pong", "after")
    await ws_host.check_healthy()


async def test_websocket_presence_a_clients_call_reaches_no_other_member(ws_host: Host) -> None:
    """Two members of one room; the first calls ``presence`` claiming Mallory joined: its own
    render says so, the count stays two, and the second hears nothing of it."""
    room = {"room": f"room-{ws_host.name}"}
    async with (
        ws_host.websocket(ROSTER_SOCKET, room) as ada,
        ws_host.websocket(ROSTER_SOCKET, room) as bob,
    ):
        assert (await ada.receive_json())["html"] == "<p>1|</p>"
        assert (await bob.receive_json())["html"] == "<p>2|</p>"
        told = await ada.receive_json()  # Bob came: the framework's own on_presence call
        assert told["html"].startswith("<p>2|Guest "), told

        call = {"joined": [{"name": "Mallory", "key": "forged"}], "left": []}
        answer = await ada.request(ev("presence", call, ref="forged"))

        assert (answer["type"], answer["ref"]) == ("render", "forged"), answer
        assert answer["html"] == "<p>2|Mallory</p>"
        pong = await bob.request({"type": "ping", "ref": "quiet"})
        assert (pong["type"], pong["ref"]) == ("pong", "quiet"), "bob heard of the forged call"
    await ws_host.check_healthy()
