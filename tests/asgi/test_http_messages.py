"""The HTTP transport at the ASGI message level: body framing, limits, disconnects, faults."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from component_framework import ComponentASGI, Settings, testing
from component_framework.asgi.incoming import RequestHeaders, read_body, read_multipart
from component_framework.core.multipart import MultipartReader
from component_framework.core.uploads import UploadLimits
from component_framework.errors import (
    ComponentError,
    PayloadTooLarge,
    ServerError,
    UploadTooLarge,
)
from tests import sample_components


def http_scope(
    method: str = "POST",
    path: str = "/components/counter/",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    scope = testing.http_scope(method, path)
    scope["headers"] = headers if headers is not None else [(b"content-type", b"application/json")]
    return scope


async def response_of(
    communicator: ApplicationCommunicator,
) -> tuple[int, dict[bytes, bytes], bytes]:
    start = await communicator.receive_output(2)
    assert start["type"] == "http.response.start"
    body = await communicator.receive_output(2)
    assert body["type"] == "http.response.body"
    assert body["more_body"] is False
    await communicator.wait(2)
    return start["status"], dict(start["headers"]), body["body"]


async def test_body_split_across_messages_is_reassembled(components_app: ComponentASGI) -> None:
    body = json.dumps({"params": {"name": "Ada", "excited": True}}).encode()
    communicator = ApplicationCommunicator(components_app, http_scope(path="/components/greeter/"))
    for index in range(0, len(body), 7):
        chunk = body[index : index + 7]
        await communicator.send_input(
            {"type": "http.request", "body": chunk, "more_body": index + 7 < len(body)}
        )
    status, headers, payload = await response_of(communicator)
    assert status == 200
    assert json.loads(payload)["state"] == {"name": "Ada", "excited": True}
    assert headers[b"content-length"] == str(len(payload)).encode()


@pytest.mark.parametrize("name_type", [bytes, bytearray])
async def test_header_names_are_read_whatever_their_case_and_byte_type(
    components_app: ComponentASGI, name_type: type
) -> None:
    # ASGI servers should lower-case header names but need not; a mixed-case HX-Request
    # still asks for the htmx fragment, and a bytearray name is read like bytes.
    body = json.dumps({"params": {"name": "Ada"}}).encode()
    names = [b"Content-Type", b"HX-Request", b"Content-Length"]
    values = [b"application/json", b"true", str(len(body)).encode()]
    headers = [(name_type(name), value) for name, value in zip(names, values, strict=True)]
    scope = http_scope(path="/components/greeter/", headers=headers)
    communicator = ApplicationCommunicator(components_app, scope)
    await communicator.send_input({"type": "http.request", "body": body})
    status, answer_headers, payload = await response_of(communicator)
    assert status == 200
    assert answer_headers[b"content-type"].startswith(b"text/html")
    assert b"Ada" in payload


async def test_declared_oversized_body_is_refused_before_it_is_read() -> None:
    app = ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=Settings(secret_keys=sample_components.SECRET, max_body_bytes=100),
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"101")]
    communicator = ApplicationCommunicator(app, http_scope(headers=headers))
    # No http.request message is sent: the answer must not wait for the body.
    status, _, payload = await response_of(communicator)
    assert status == 413
    assert json.loads(payload)["error"]["code"] == "payload_too_large"


async def test_streamed_body_over_the_limit_is_refused_midway() -> None:
    app = ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=Settings(secret_keys=sample_components.SECRET, max_body_bytes=100),
    )
    communicator = ApplicationCommunicator(app, http_scope())
    await communicator.send_input(
        {"type": "http.request", "body": b"{" + b" " * 60, "more_body": True}
    )
    await communicator.send_input({"type": "http.request", "body": b" " * 60, "more_body": True})
    status, _, _ = await response_of(communicator)
    assert status == 413


async def test_undeclared_body_over_the_limit_in_one_message_is_refused() -> None:
    app = ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=Settings(secret_keys=sample_components.SECRET, max_body_bytes=100),
    )
    communicator = ApplicationCommunicator(app, http_scope())  # no content-length
    await communicator.send_input({"type": "http.request", "body": b"{" + b" " * 120 + b"}"})
    status, _, payload = await response_of(communicator)
    assert status == 413
    assert json.loads(payload)["error"]["code"] == "payload_too_large"


async def test_disconnect_before_the_body_ends_sends_nothing(components_app: ComponentASGI) -> None:
    communicator = ApplicationCommunicator(components_app, http_scope())
    await communicator.send_input({"type": "http.request", "body": b'{"par', "more_body": True})
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(2)
    assert await communicator.receive_nothing()


async def test_invalid_content_length_is_a_bad_request(components_app: ComponentASGI) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"ten")]
    communicator = ApplicationCommunicator(components_app, http_scope(headers=headers))
    status, _, payload = await response_of(communicator)
    assert status == 400
    assert "Content-Length" in json.loads(payload)["error"]["message"]


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (KeyError("internal-key-name"), "internal_error"),
        (ServerError("storage offline"), "internal_error"),
    ],
    ids=["framework-bug", "server-error"],
)
async def test_server_side_failure_answers_500_and_logs_the_detail(
    components_app: ComponentASGI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    code: str,
) -> None:
    def explode(call: object) -> None:
        raise failure

    monkeypatch.setattr(components_app.dispatcher, "prepare", explode)
    communicator = ApplicationCommunicator(components_app, http_scope())
    await communicator.send_input({"type": "http.request", "body": b"{}", "more_body": False})
    with caplog.at_level(logging.ERROR, logger="component_framework"):
        status, _, payload = await response_of(communicator)
    assert status == 500
    detail = str(failure).strip("'")
    assert detail.encode() not in payload
    assert json.loads(payload)["error"] == {"code": code, "message": "internal server error"}
    assert detail in caplog.text


async def mounted_broken_snapshot(app: ComponentASGI) -> str:
    communicator = ApplicationCommunicator(app, http_scope(path="/components/broken/"))
    await communicator.send_input({"type": "http.request", "body": b"{}", "more_body": False})
    _, _, payload = await response_of(communicator)
    snapshot: str = json.loads(payload)["snapshot"]
    return snapshot


async def boom(
    app: ComponentASGI, extra_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> tuple[int, dict[bytes, bytes], bytes]:
    snapshot = await mounted_broken_snapshot(app)
    headers = [(b"content-type", b"application/json"), *extra_headers]
    communicator = ApplicationCommunicator(
        app, http_scope(path="/components/broken/", headers=headers)
    )
    body = json.dumps({"event": "boom", "snapshot": snapshot}).encode()
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    return await response_of(communicator)


async def test_handler_failure_hides_detail_and_logs_traceback(
    components_app: ComponentASGI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="component_framework"):
        status, _, payload = await boom(components_app)
    assert status == 500
    error = json.loads(payload)["error"]
    assert error == {
        "code": "handler_error",
        "message": "the component failed to handle the request",
    }
    assert any("secret internal detail" in (record.exc_text or "") for record in caplog.records)


async def test_debug_mode_puts_the_traceback_in_the_500_body() -> None:
    app = ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=Settings(secret_keys=sample_components.SECRET, debug=True),
    )
    status, _, payload = await boom(app)
    assert status == 500
    assert "RuntimeError: secret internal detail" in json.loads(payload)["error"]["debug"]


async def test_htmx_error_keeps_the_component_and_fires_an_event(
    components_app: ComponentASGI,
) -> None:
    status, headers, _ = await boom(components_app, ((b"hx-request", b"true"),))
    assert status == 500
    assert headers[b"hx-reswap"] == b"none"
    trigger = json.loads(headers[b"hx-trigger"])
    assert trigger["component-error"]["code"] == "handler_error"
    assert trigger["component-error"]["component"] == "broken"


async def test_standalone_app_completes_its_own_lifespan(components_app: ComponentASGI) -> None:
    communicator = ApplicationCommunicator(
        components_app, {"type": "lifespan", "asgi": {"version": "3.0"}}
    )
    await communicator.send_input({"type": "lifespan.startup"})
    assert await communicator.receive_output(2) == {"type": "lifespan.startup.complete"}
    await communicator.send_input({"type": "lifespan.shutdown"})
    assert await communicator.receive_output(2) == {"type": "lifespan.shutdown.complete"}
    await communicator.wait(2)


def websocket_scope(path: str) -> dict[str, Any]:
    scope = http_scope(path=path, headers=[])
    scope.update(type="websocket", scheme="ws", subprotocols=[])
    del scope["method"]
    return scope


@pytest.mark.parametrize(
    ("path", "code"),
    [("/components/nothing/ws/", 1008), ("/components/counter/", 1008), ("/elsewhere", 1008)],
    ids=["unknown-component", "not-a-websocket-route", "outside-prefix"],
)
async def test_websocket_handshake_is_closed_before_accept(
    components_app: ComponentASGI, path: str, code: int
) -> None:
    communicator = ApplicationCommunicator(components_app, websocket_scope(path))
    await communicator.send_input({"type": "websocket.connect"})
    message = await communicator.receive_output(2)
    assert message["type"] == "websocket.close"
    assert message["code"] == code
    await communicator.wait(2)


async def test_head_answers_like_get_without_a_body(components_app: ComponentASGI) -> None:
    communicator = ApplicationCommunicator(components_app, http_scope(method="HEAD", headers=[]))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    status, headers, payload = await response_of(communicator)
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/html")
    assert int(headers[b"content-length"]) > 0
    assert payload == b""


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
async def test_configuration_errors_are_shown_only_in_debug_mode(debug: bool) -> None:
    app = ComponentASGI(
        registry=sample_components.registry,
        settings=Settings(secret_keys=sample_components.SECRET, debug=debug),
    )  # no renderer anywhere: a configuration error
    communicator = ApplicationCommunicator(app, http_scope())
    await communicator.send_input({"type": "http.request", "body": b"{}", "more_body": False})
    status, _, payload = await response_of(communicator)
    assert status == 500
    error = json.loads(payload)["error"]
    assert error["code"] == "configuration_error"
    assert ("no renderer configured" in error["message"]) is debug


async def test_error_messages_do_not_echo_huge_client_input(components_app: ComponentASGI) -> None:
    communicator = ApplicationCommunicator(components_app, http_scope())
    body = json.dumps({"event": "x" * 10_000, "snapshot": "v1.a.b"}).encode()
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    status, _, payload = await response_of(communicator)
    assert status == 404
    message = json.loads(payload)["error"]["message"]
    assert len(message) < 200
    assert message.startswith("component 'counter' has no event 'xxxx")


# -- Content-Length: the JSON body's reader and the upload reader parse it alike ------------------

#: Header values as a client may send them (a list: the header repeated), from the plain to
#: the malformed; only ``1*DIGIT`` of at most 18 digits is a length (``int`` would also take
#: signs, spaces, underscores and non-ASCII digits).
CONTENT_LENGTHS: list[list[bytes]] = [
    [b"12"],
    [b"0"],
    [b"007"],
    [b"+12"],
    [b"-12"],
    [b" 12 "],
    [b"\t12"],
    [b"1_000"],
    [b"9" * 18],  # the longest length read
    [b"9" * 19],  # one digit more: refused, not converted
    [b"9" * 10_000],  # past int()'s own limit on digits
    [b""],
    [b" "],
    [b"12a"],
    [b"0x10"],
    [b"1e3"],
    [b"1.0"],
    [b"12, 12"],
    ["١٢".encode()],  # Arabic-Indic digits, not ASCII
    [b"\xff"],
    [b"12", b"13"],  # repeated: the last one counts
    [b"nope", b"12"],
    [b"12", b"nope"],
]
#: Below every number either reader can parse: each declared length is "too large", and the
#: refusal names it.
NEVER = -(10**100)


def declared_by(values: list[bytes]) -> bytes | None:
    return RequestHeaders.of(
        {"headers": [(b"content-length", value) for value in values]}
    ).content_length


async def outcome_of(read: Any) -> tuple[str, str]:
    """What a reader made of the declared length: the number it refused, or the error."""
    try:
        await read
    except (PayloadTooLarge, UploadTooLarge) as exc:
        numbers = re.findall(r"-?\d+", str(exc))
        return "number", numbers[0]
    except ComponentError as exc:
        return exc.code, exc.message
    raise AssertionError("a length below NEVER was accepted")


@pytest.mark.parametrize("values", CONTENT_LENGTHS, ids=repr)
async def test_the_body_reader_and_the_upload_reader_read_content_length_alike(
    values: list[bytes],
) -> None:
    # ``read_body`` parses the header in place (one call less per request) rather than through
    # the helper the upload path uses: the two must stay the same rule.
    declared = declared_by(values)
    reader = MultipartReader("multipart/form-data; boundary=x", UploadLimits(max_bytes=NEVER))

    async def receive() -> dict[str, Any]:
        raise AssertionError("the declared length decides before a byte is read")

    body = await outcome_of(read_body(receive, NEVER, declared))  # type: ignore[arg-type]
    upload = await outcome_of(read_multipart(receive, reader, declared))  # type: ignore[arg-type]

    assert body == upload
    if re.fullmatch(rb"[0-9]{1,18}", values[-1]):
        assert body == ("number", str(int(values[-1])))
    else:
        code, message = body
        assert code == "malformed_request"
        assert message.startswith("invalid Content-Length b")
        assert len(message) < 100  # the value is quoted cut short
