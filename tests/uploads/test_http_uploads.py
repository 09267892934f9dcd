"""Files posted as multipart/form-data through the HTTP transport, at the ASGI message level:
they reach UploadFile parameters, every limit is checked while the body streams in, the
handler never runs on a refusal, and no file is left open afterwards, whatever happened."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.testing import ASGIResponse, asgi_request, http_scope
from tests.core.test_multipart import CONTENT_TYPE, body, part
from tests.core.test_uploads import open_temporary_files
from tests.uploads import upload_app
from tests.uploads.upload_app import AVATAR_MAX_BYTES, CALLS, GIVEN, build_app

PATH = "/components/profile/"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64  # 16 KiB: spooled to a temporary file


@pytest.fixture(autouse=True)
def _fresh_records() -> None:
    CALLS.clear()
    GIVEN.clear()


@pytest.fixture
def app(tmp_path: Path) -> ComponentASGI:
    return build_app(tmp_path)


async def snapshot_of(app: ComponentASGI) -> str:
    mounted = await asgi_request(app, "POST", PATH, json={})
    assert mounted.status == 200, mounted.body
    snapshot: str = mounted.json()["snapshot"]
    return snapshot


async def upload(
    app: ComponentASGI,
    *parts: bytes,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    chunk_size: int | None = 1000,
) -> ASGIResponse:
    return await asgi_request(
        app,
        "POST",
        PATH,
        body=body(*parts),
        headers={"content-type": CONTENT_TYPE, **(headers or {})},
        query=query,
        chunk_size=chunk_size,
    )


def error_of(response: ASGIResponse) -> dict[str, Any]:
    document: dict[str, Any] = response.json()["error"]
    return document


def assert_nothing_left(folder: Path) -> None:
    assert open_temporary_files(folder) == []
    assert list(folder.iterdir()) == []
    assert all(given.closed for given in GIVEN)


async def test_a_posted_file_reaches_the_handler_with_the_form_fields(
    app: ComponentASGI, tmp_path: Path
) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("caption", "Me at the lake ☀".encode()),
        part("avatar", PNG, "C:\\photos\\me.png", "image/png"),
        part("event", b"avatar"),
    )

    assert answer.status == 200, answer.body
    state = answer.json()["state"]
    assert state["caption"] == "Me at the lake ☀"
    assert state["avatar"]["name"] == "me.png"
    assert state["avatar"]["type"] == "image/png"
    assert state["avatar"]["size"] == len(PNG)
    assert state["avatar"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert CALLS == ["avatar"]
    assert_nothing_left(tmp_path)


async def test_several_files_of_one_field_bind_to_a_list(
    app: ComponentASGI, tmp_path: Path
) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("event", b"attach"),
        part("snapshot", snapshot.encode()),
        part("files", b"%PDF-1.7", "a.pdf", "application/pdf"),
        part("files", PNG, "b.png", "image/png"),
    )

    assert answer.status == 200, answer.body
    assert [row[:2] for row in answer.json()["state"]["attachments"]] == [
        ["a.pdf", 8],
        ["b.png", len(PNG)],
    ]
    assert_nothing_left(tmp_path)


async def test_an_htmx_upload_gets_the_fragment(app: ComponentASGI) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("event", b"avatar"),
        part("avatar", PNG, "me.png", "image/png"),
        headers={"hx-request": "true"},
    )

    assert answer.status == 200
    assert answer.header("content-type").startswith("text/html")
    assert "me.png" in answer.body.decode()


async def test_a_photo_larger_than_the_ordinary_body_limit_passes(
    tmp_path: Path,
) -> None:
    app = build_app(tmp_path, max_body_bytes=1024)
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("event", b"attach"),
        part("files", b"x" * 3_000_000, "photo.jpg", "image/jpeg"),
        chunk_size=65536,
    )

    assert answer.status == 200, answer.body
    assert answer.json()["state"]["attachments"][0][1] == 3_000_000
    assert_nothing_left(tmp_path)


async def test_the_event_may_be_given_in_the_url(app: ComponentASGI) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("avatar", PNG, "me.png", "image/png"),
        query={"event": "avatar"},
    )

    assert answer.status == 200, answer.body
    assert CALLS == ["avatar"]


async def test_the_event_in_the_url_and_the_body_is_refused(app: ComponentASGI) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("event", b"avatar"),
        part("avatar", PNG, "me.png", "image/png"),
        query={"event": "avatar"},
    )

    assert answer.status == 400
    assert "'event' appears more than once" in error_of(answer)["message"]
    assert CALLS == []


# -- calls that take no file --------------------------------------------------------------


async def test_an_event_without_file_parameters_refuses_multipart_clearly(
    app: ComponentASGI, tmp_path: Path
) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("avatar", PNG, "me.png", "image/png"),
        part("event", b"rename"),
        part("caption", b"late"),
    )

    assert answer.status == 415
    error = error_of(answer)
    assert error["code"] == "unsupported_media_type"
    assert "event 'rename' of 'profile' takes no files" in error["message"]
    assert "application/x-www-form-urlencoded" in error["message"]
    assert CALLS == []
    assert_nothing_left(tmp_path)


async def test_a_multipart_mount_is_refused(app: ComponentASGI, tmp_path: Path) -> None:
    answer = await upload(app, part("avatar", PNG, "me.png", "image/png"))

    assert answer.status == 415
    assert "mounts take no files" in error_of(answer)["message"]
    assert_nothing_left(tmp_path)


async def test_an_unknown_event_is_404_as_soon_as_it_is_read(app: ComponentASGI) -> None:
    answer = await upload(app, part("event", b"nope"), part("avatar", PNG, "me.png", "image/png"))

    assert answer.status == 404
    assert error_of(answer)["code"] == "event_not_found"


async def test_multipart_to_a_stream_says_where_uploads_go(app: ComponentASGI) -> None:
    answer = await asgi_request(
        app,
        "POST",
        "/components/profile/stream/",
        body=body(part("event", b"avatar")),
        headers={"content-type": CONTENT_TYPE},
    )

    assert answer.status == 415
    assert "accepted only by POST /{name}/" in error_of(answer)["message"]


# -- limits, checked while the body streams in --------------------------------------------


async def test_a_declared_length_over_the_upload_limit_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    app = build_app(tmp_path, upload_max_bytes=10_000)
    scope = http_scope(
        "POST", PATH, headers={"content-type": CONTENT_TYPE, "content-length": "10001"}
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 5)

    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["limit"] == "upload_max_bytes"


async def test_a_type_the_field_refuses_is_415_and_the_handler_never_runs(
    app: ComponentASGI, tmp_path: Path
) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("avatar", PNG, "me.gif", "image/gif"),
        part("event", b"avatar"),
    )

    assert answer.status == 415
    error = error_of(answer)
    assert (error["code"], error["field"], error["limit"]) == (
        "upload_type_not_allowed",
        "avatar",
        "accept",
    )
    assert CALLS == []
    assert_nothing_left(tmp_path)


async def stream_until_answered(
    app: ComponentASGI, data: bytes, query: dict[str, str] | None = None, chunk: int = 4096
) -> tuple[int, dict[str, Any], int]:
    """Send ``data`` (no Content-Length) chunk by chunk until the app answers; the status,
    the error document and how many bytes were sent by then."""
    scope = http_scope("POST", PATH, headers={"content-type": CONTENT_TYPE}, query=query)
    sent: list[dict[str, Any]] = []
    offered = 0
    answered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal offered
        if answered.is_set():
            return {"type": "http.disconnect"}
        piece = data[offered : offered + chunk]
        offered += len(piece)
        return {"type": "http.request", "body": piece, "more_body": offered < len(data)}

    async def send(message: Any) -> None:
        sent.append(message)
        answered.set()

    await asyncio.wait_for(app(scope, receive, send), 10)
    return sent[0]["status"], json.loads(sent[1]["body"])["error"], offered


async def test_a_file_over_its_fields_limit_is_refused_midway(
    app: ComponentASGI, tmp_path: Path
) -> None:
    snapshot = await snapshot_of(app)
    huge = body(
        part("snapshot", snapshot.encode()),
        part("avatar", b"\x89PNG" + b"0" * 10_000_000, "me.png", "image/png"),
        part("event", b"avatar"),
    )

    status, error, sent = await stream_until_answered(app, huge, query={"event": "avatar"})

    assert status == 413
    assert (error["code"], error["limit"], error["field"]) == (
        "upload_too_large",
        "max_bytes",
        "avatar",
    )
    assert sent < AVATAR_MAX_BYTES + 3 * 4096  # refused at the limit, not after the body
    assert CALLS == []
    assert_nothing_left(tmp_path)


async def test_the_whole_upload_limit_is_checked_without_a_length(tmp_path: Path) -> None:
    app = build_app(tmp_path, upload_max_bytes=100_000)
    data = body(part("files", b"1" * 1_000_000, "big.bin"), part("event", b"attach"))

    status, error, sent = await stream_until_answered(app, data)

    assert (status, error["limit"]) == (413, "upload_max_bytes")
    assert sent <= 100_000 + 4096
    assert_nothing_left(tmp_path)


async def test_too_many_files_are_refused(tmp_path: Path) -> None:
    app = build_app(tmp_path, upload_max_files=2)
    files = [part("files", PNG, f"{n}.png", "image/png") for n in range(3)]

    answer = await upload(app, part("event", b"attach"), *files)

    assert (answer.status, error_of(answer)["limit"]) == (413, "upload_max_files")
    assert_nothing_left(tmp_path)


async def test_a_bad_snapshot_after_the_upload_closes_the_files(
    app: ComponentASGI, tmp_path: Path
) -> None:
    answer = await upload(
        app,
        part("snapshot", b"v2.forged"),
        part("event", b"avatar"),
        part("avatar", PNG, "me.png", "image/png"),
    )

    assert answer.status == 400
    assert CALLS == []
    assert_nothing_left(tmp_path)


async def test_a_failing_handler_answers_500_and_its_files_are_closed(
    app: ComponentASGI, tmp_path: Path
) -> None:
    snapshot = await snapshot_of(app)

    answer = await upload(
        app,
        part("snapshot", snapshot.encode()),
        part("event", b"broken"),
        part("avatar", PNG, "me.png", "image/png"),
    )

    assert answer.status == 500
    assert CALLS == ["broken"]
    assert len(GIVEN) == 1
    assert GIVEN[0].closed
    assert_nothing_left(tmp_path)


async def test_a_slow_upload_times_out_with_408_and_leaves_nothing(tmp_path: Path) -> None:
    app = build_app(tmp_path, upload_timeout=0.3)
    scope = http_scope("POST", PATH, headers={"content-type": CONTENT_TYPE})
    first = body(part("event", b"attach"), part("files", PNG, "a.png"))[:-200]
    messages = [{"type": "http.request", "body": first, "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(30)  # the rest never comes
        raise AssertionError("not cancelled")

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 5)

    assert sent[0]["status"] == 408
    assert_nothing_left(tmp_path)


# -- a client that goes away ----------------------------------------------------------------


def _cut_points(size: int) -> list[int]:
    return sorted({*range(0, size, 977), size - 1})


async def disconnect_after(app: ComponentASGI, data: bytes, cut: int) -> list[Any]:
    """Send ``data[:cut]``, then a little more, then ``http.disconnect``: what the app sent."""
    scope = http_scope("POST", PATH, headers={"content-type": CONTENT_TYPE})
    messages = [
        {"type": "http.disconnect"},
        {"type": "http.request", "body": data[cut : cut + 500], "more_body": True},
        {"type": "http.request", "body": data[:cut], "more_body": True},
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop()

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 5)
    return sent


async def test_a_disconnect_at_any_point_runs_nothing_and_leaves_no_file(
    app: ComponentASGI, tmp_path: Path
) -> None:
    snapshot = await snapshot_of(app)
    data = body(
        part("snapshot", snapshot.encode()),
        part("caption", b"hello"),
        part("files", PNG, "one.png", "image/png"),
        part("files", PNG * 3, "two.png", "image/png"),
        part("event", b"attach"),
    )
    for cut in _cut_points(len(data)):
        assert await disconnect_after(app, data, cut) == [], f"cut at byte {cut}"
        assert open_temporary_files(tmp_path) == [], f"cut at byte {cut}"
    assert CALLS == []
    assert_nothing_left(tmp_path)


async def test_a_request_cancelled_mid_upload_leaves_no_file(
    app: ComponentASGI, tmp_path: Path
) -> None:
    scope = http_scope("POST", PATH, headers={"content-type": CONTENT_TYPE})
    data = body(part("event", b"attach"), part("files", PNG * 4, "a.png"))
    fed = asyncio.Event()
    messages = [{"type": "http.request", "body": data[:-300], "more_body": True}]

    async def receive() -> Any:
        if messages:
            return messages.pop()
        fed.set()
        await asyncio.sleep(30)
        raise AssertionError("not cancelled")

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent")

    task = asyncio.create_task(app(scope, receive, send))
    await asyncio.wait_for(fed.wait(), 5)
    assert len(open_temporary_files(tmp_path)) == 1  # the file being written
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert open_temporary_files(tmp_path) == []
    assert CALLS == []


async def test_a_component_that_takes_no_files_refuses_before_reading(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    scope = http_scope("POST", "/components/plain/", headers={"content-type": CONTENT_TYPE})
    upload_app.registry.register("plain")(upload_app.Plain)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: Any) -> None:
        sent.append(message)

    try:
        await asyncio.wait_for(app(scope, receive, send), 5)
    finally:
        upload_app.registry.unregister("plain")

    assert sent[0]["status"] == 415
    message = json.loads(sent[1]["body"])["error"]["message"]
    assert "component 'plain' takes no files" in message
