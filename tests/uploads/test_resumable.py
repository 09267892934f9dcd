"""Resumable uploads at the ASGI message level: the ``/_uploads/`` protocol (create, append at
the confirmed offset, ask for it, give up), the event that takes the finished upload as an
ordinary ``UploadFile``, and every refusal: wrong offset, too large, wrong type, expired, forged
id, another user's upload, another component's, a claim before the last byte."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.testing import ASGIResponse, asgi_request, http_scope
from tests.uploads.upload_app import AVATAR_MAX_BYTES, CALLS, GIVEN, build_app

UPLOADS = "/components/_uploads/"
PATH = "/components/profile/"
CHUNK = {"content-type": "application/offset+octet-stream"}
DATA = bytes(range(256)) * 400  # 100 KiB
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


@pytest.fixture(autouse=True)
def _fresh_records() -> None:
    CALLS.clear()
    GIVEN.clear()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "resumable"


@pytest.fixture
def app(folder: Path) -> ComponentASGI:
    return build_app(
        upload_resumable_directory=folder,
        upload_max_file_bytes=len(DATA) * 2,
        upload_chunk_bytes=80 * 1024,
    )


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


def modes(folder: Path) -> tuple[int, list[int]]:
    return folder.stat().st_mode & 0o777, [f.stat().st_mode & 0o777 for f in files_in(folder)]


def user(identity: int) -> dict[str, Any]:
    return {"user": {"id": identity, "is_authenticated": True}}


async def create(
    app: ComponentASGI, *, scope: dict[str, Any] | None = None, **fields: Any
) -> ASGIResponse:
    document: dict[str, Any] = {"component": "profile", "event": "attach", "field": "files"}
    document.update(filename="big.bin", size=len(DATA), content_type="application/x-data")
    document.update(fields)
    return await asgi_request(app, "POST", UPLOADS, json=document, extra_scope=scope)


async def created(app: ComponentASGI, **fields: Any) -> str:
    answer = await create(app, **fields)
    assert answer.status == 201, answer.body
    upload_id: str = answer.json()["upload"]
    return upload_id


async def patch(
    app: ComponentASGI,
    upload_id: str,
    offset: int,
    data: bytes,
    *,
    scope: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> ASGIResponse:
    return await asgi_request(
        app,
        "PATCH",
        UPLOADS + upload_id,
        body=data,
        headers={**CHUNK, "upload-offset": str(offset), **(headers or {})},
        chunk_size=8192,
        extra_scope=scope,
    )


async def head(app: ComponentASGI, upload_id: str, scope: dict[str, Any] | None = None) -> int:
    answer = await asgi_request(app, "HEAD", UPLOADS + upload_id, extra_scope=scope)
    assert answer.status == 200, answer.status
    return int(answer.header("upload-offset") or -1)


async def send_all(app: ComponentASGI, upload_id: str, data: bytes = DATA) -> None:
    for start in range(0, len(data), 40_000):
        answer = await patch(app, upload_id, start, data[start : start + 40_000])
        assert answer.status == 200, answer.body


async def claim(
    app: ComponentASGI, event: str, payload: dict[str, Any], scope: dict[str, Any] | None = None
) -> ASGIResponse:
    mounted = await asgi_request(app, "POST", PATH, json={})
    body = {"event": event, "payload": payload, "snapshot": mounted.json()["snapshot"]}
    return await asgi_request(app, "POST", PATH, json=body, extra_scope=scope)


def error(answer: ASGIResponse) -> dict[str, Any]:
    document: dict[str, Any] = answer.json()["error"]
    return document


# -- the protocol ----------------------------------------------------------------------------


async def test_creating_an_upload_answers_its_id_location_and_offset_zero(
    app: ComponentASGI, folder: Path
) -> None:
    answer = await create(app)

    assert answer.status == 201
    document = answer.json()
    assert document["offset"] == 0
    assert document["size"] == len(DATA)
    assert document["chunk_bytes"] == 80 * 1024
    assert answer.header("location") == UPLOADS + document["upload"]
    assert await head(app, document["upload"]) == 0
    assert modes(folder) == (0o700, [0o600])


async def test_chunks_append_at_the_confirmed_offset_and_the_event_gets_the_whole_file(
    app: ComponentASGI, folder: Path
) -> None:
    upload_id = await created(app)
    first = await patch(app, upload_id, 0, DATA[:30_000])
    assert first.status == 200
    assert first.json() == {
        "upload": upload_id,
        "offset": 30_000,
        "size": len(DATA),
        "complete": False,
    }
    assert first.header("upload-offset") == "30000"
    last = await patch(app, upload_id, 30_000, DATA[30_000:])
    assert last.json()["complete"] is True

    answer = await claim(app, "attach", {"files": upload_id})

    assert answer.status == 200, answer.body
    name, size, digest = answer.json()["state"]["attachments"][0]
    assert (name, size, digest) == ("big.bin", len(DATA), hashlib.sha256(DATA).hexdigest())
    assert [file.closed for file in GIVEN] == [True]  # closed once the request was answered
    assert files_in(folder) == []  # claimed: gone from the folder


async def test_a_list_field_takes_several_uploads(app: ComponentASGI) -> None:
    ids = []
    for part in (DATA[:1000], DATA[1000:3000]):
        upload_id = await created(app, size=len(part))
        await send_all(app, upload_id, part)
        ids.append(upload_id)

    answer = await claim(app, "attach", {"files": ids})

    assert [entry[1] for entry in answer.json()["state"]["attachments"]] == [1000, 2000]


async def test_a_form_posted_by_htmx_carries_the_id_in_place_of_the_file(
    app: ComponentASGI,
) -> None:
    upload_id = await created(
        app, event="avatar", field="avatar", content_type="image/png", size=len(PNG)
    )
    await send_all(app, upload_id, PNG)
    mounted = await asgi_request(app, "POST", PATH, json={})
    form = {"event": "avatar", "avatar": upload_id, "caption": "lake"}
    form["snapshot"] = mounted.json()["snapshot"]

    answer = await asgi_request(app, "POST", PATH, form=form, headers={"hx-request": "true"})

    assert answer.status == 200, answer.body
    assert CALLS == ["avatar"]
    assert GIVEN[0].content_type == "image/png"
    assert GIVEN[0].size == len(PNG)
    assert GIVEN[0].filename == "big.bin"


async def test_a_dropped_connection_keeps_what_arrived_and_the_upload_resumes_there(
    app: ComponentASGI,
) -> None:
    upload_id = await created(app)
    scope = http_scope("PATCH", UPLOADS + upload_id, headers={**CHUNK, "upload-offset": "0"})
    pieces = [DATA[:10_000], DATA[10_000:25_000]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pieces:
            return {"type": "http.request", "body": pieces.pop(0), "more_body": True}
        return {"type": "http.disconnect"}  # the connection drops mid-chunk

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent == []  # nobody to answer
    offset = await head(app, upload_id)
    assert offset == 25_000
    rest = await patch(app, upload_id, offset, DATA[offset:])
    assert rest.json()["complete"] is True
    answer = await claim(app, "attach", {"files": upload_id})
    assert answer.json()["state"]["attachments"][0][2] == hashlib.sha256(DATA).hexdigest()


async def test_giving_an_upload_up_removes_its_data(app: ComponentASGI, folder: Path) -> None:
    upload_id = await created(app)
    await patch(app, upload_id, 0, DATA[:100])

    gone = await asgi_request(app, "DELETE", UPLOADS + upload_id)

    assert gone.status == 200
    assert files_in(folder) == []
    after = await asgi_request(app, "HEAD", UPLOADS + upload_id)
    assert after.status == 410


# -- refusals --------------------------------------------------------------------------------


async def test_a_chunk_at_the_wrong_offset_is_409_with_the_confirmed_offset(
    app: ComponentASGI,
) -> None:
    upload_id = await created(app)
    await patch(app, upload_id, 0, DATA[:5000])

    answer = await patch(app, upload_id, 4000, DATA[4000:9000])

    assert answer.status == 409
    assert error(answer)["code"] == "upload_offset_mismatch"
    assert error(answer)["offset"] == 5000
    assert answer.header("upload-offset") == "5000"
    assert await head(app, upload_id) == 5000  # nothing of the refused chunk was written


@pytest.mark.parametrize(
    ("fields", "status", "code", "limit"),
    [
        ({"size": len(DATA) * 2 + 1}, 413, "upload_too_large", "upload_max_file_bytes"),
        (
            {"event": "avatar", "field": "avatar", "content_type": "image/png", "size": 10**6},
            413,
            "upload_too_large",
            "max_bytes",
        ),
        ({"event": "avatar", "field": "avatar"}, 415, "upload_type_not_allowed", "accept"),
        ({"field": "caption"}, 422, "validation_error", None),
        ({"event": "rename", "field": "caption"}, 415, "unsupported_media_type", None),
        ({"event": "nope"}, 404, "event_not_found", None),
        ({"component": "nope"}, 404, "component_not_found", None),
        ({"size": -1}, 400, "malformed_request", None),
        ({"size": "12"}, 400, "malformed_request", None),
        ({"field": ""}, 400, "malformed_request", None),
    ],
)
async def test_creating_an_upload_the_handler_would_refuse_is_refused(
    app: ComponentASGI,
    folder: Path,
    fields: dict[str, Any],
    status: int,
    code: str,
    limit: str | None,
) -> None:
    answer = await create(app, **fields)

    assert answer.status == status, answer.body
    assert error(answer)["code"] == code
    assert error(answer).get("limit") == limit
    assert files_in(folder) == []


async def test_an_accepts_max_bytes_is_the_limit_of_its_field(app: ComponentASGI) -> None:
    answer = await create(
        app, event="avatar", field="avatar", content_type="image/png", size=AVATAR_MAX_BYTES
    )
    assert answer.status == 201


async def test_a_chunk_past_the_declared_size_is_413_and_keeps_nothing_past_it(
    app: ComponentASGI,
) -> None:
    upload_id = await created(app, size=1000)

    declared = await patch(app, upload_id, 0, DATA[:1001])
    assert declared.status == 413
    assert error(declared)["limit"] == "upload_length"

    scope = http_scope("PATCH", UPLOADS + upload_id, headers={**CHUNK, "upload-offset": "0"})
    pieces = [DATA[:600], DATA[600:1200]]  # no Content-Length: checked as it streams
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert await head(app, upload_id) == 600


async def test_a_chunk_larger_than_upload_chunk_bytes_is_413(app: ComponentASGI) -> None:
    upload_id = await created(app)

    answer = await patch(app, upload_id, 0, DATA[: 80 * 1024 + 1])

    assert answer.status == 413
    assert error(answer)["limit"] == "upload_chunk_bytes"


async def test_a_chunk_must_say_its_offset_and_type(app: ComponentASGI) -> None:
    upload_id = await created(app)

    untyped = await asgi_request(
        app, "PATCH", UPLOADS + upload_id, body=b"x", headers={"upload-offset": "0"}
    )
    no_offset = await asgi_request(app, "PATCH", UPLOADS + upload_id, body=b"x", headers=CHUNK)
    bad_offset = await patch(app, upload_id, 0, b"x", headers={"upload-offset": "-1"})

    assert untyped.status == 415
    assert no_offset.status == 400
    assert "Upload-Offset" in error(no_offset)["message"]
    assert bad_offset.status == 400


@pytest.mark.parametrize(
    ("forge", "claim_status"),
    [
        (lambda upload_id: upload_id[:-2] + ("BB" if upload_id.endswith("AA") else "AA"), 404),
        (lambda upload_id: "v2.abcdefgh.e30." + "A" * 43, 404),
        (lambda upload_id: "not-an-id", 422),  # no id at all: a text where a file belongs
    ],
    ids=["edited", "unsigned", "garbage"],
)
async def test_a_forged_id_is_refused_everywhere(
    app: ComponentASGI, forge: Any, claim_status: int
) -> None:
    upload_id = await created(app)
    await send_all(app, upload_id)
    forged = forge(upload_id)

    answers = [
        await asgi_request(app, "HEAD", UPLOADS + forged),
        await patch(app, forged, 0, b"x"),
        await claim(app, "attach", {"files": forged}),
    ]

    assert [answer.status for answer in answers] == [404, 404, claim_status]
    assert error(answers[1])["code"] == "upload_not_found"
    assert CALLS == []


async def test_a_snapshot_is_no_upload_id(app: ComponentASGI) -> None:
    mounted = await asgi_request(app, "POST", PATH, json={})

    answer = await asgi_request(app, "HEAD", UPLOADS + mounted.json()["snapshot"])

    assert answer.status == 404


async def test_an_upload_untouched_for_its_ttl_expires_and_is_removed(
    folder: Path,
) -> None:
    app = build_app(upload_resumable_directory=folder, upload_resumable_ttl=60.0)
    upload_id = await created(app, size=100)
    await patch(app, upload_id, 0, DATA[:50])
    (path,) = files_in(folder)
    old = time.time() - 61
    os.utime(path, (old, old))

    answer = await patch(app, upload_id, 50, DATA[50:100])

    assert answer.status == 410
    assert error(answer)["code"] == "upload_expired"
    assert files_in(folder) == []


async def test_a_finished_upload_nobody_claims_is_swept_by_a_later_request(
    folder: Path,
) -> None:
    app = build_app(upload_resumable_directory=folder, upload_resumable_ttl=60.0)
    forgotten = await created(app, size=10)
    await patch(app, forgotten, 0, DATA[:10])
    (path,) = files_in(folder)
    old = time.time() - 61
    os.utime(path, (old, old))
    app.services.uploads.sweep(force=True)

    assert files_in(folder) == []
    answer = await claim(app, "attach", {"files": forgotten})
    assert answer.status == 410
    assert CALLS == []


async def test_an_upload_is_bound_to_its_user(app: ComponentASGI) -> None:
    answer = await create(app, scope=user(1))
    upload_id = answer.json()["upload"]
    await asgi_request(
        app, "PATCH", UPLOADS + upload_id, body=DATA[:10], headers={**CHUNK, "upload-offset": "0"}
    )  # no user: refused
    assert await head(app, upload_id, user(1)) == 0

    other = await patch(app, upload_id, 0, DATA[:10], scope=user(2))
    anonymous = await patch(app, upload_id, 0, DATA[:10])
    assert (other.status, anonymous.status) == (403, 403)

    for start in range(0, len(DATA), 40_000):
        mine = await patch(app, upload_id, start, DATA[start : start + 40_000], scope=user(1))
        assert mine.status == 200
    stolen = await claim(app, "attach", {"files": upload_id}, user(2))
    assert stolen.status == 403
    assert CALLS == []
    taken = await claim(app, "attach", {"files": upload_id}, user(1))
    assert taken.status == 200
    assert CALLS == ["attach"]


async def test_an_upload_goes_only_to_the_component_event_and_field_it_was_made_for(
    app: ComponentASGI,
) -> None:
    upload_id = await created(
        app, event="avatar", field="avatar", content_type="image/png", size=len(PNG)
    )
    await send_all(app, upload_id, PNG)

    answer = await claim(app, "broken", {"avatar": upload_id})

    assert answer.status == 404
    assert error(answer)["code"] == "upload_not_found"
    assert CALLS == []


async def test_a_claim_before_the_last_byte_is_409_and_a_second_claim_410(
    app: ComponentASGI,
) -> None:
    upload_id = await created(app)
    await patch(app, upload_id, 0, DATA[:100])

    early = await claim(app, "attach", {"files": upload_id})
    assert early.status == 409
    assert error(early) == {
        "code": "upload_incomplete",
        "message": f"the upload has 100 of its {len(DATA)} bytes",
        "offset": 100,
    }
    await patch(app, upload_id, 100, DATA[100:50_000])
    await patch(app, upload_id, 50_000, DATA[50_000:])
    assert (await claim(app, "attach", {"files": upload_id})).status == 200
    again = await claim(app, "attach", {"files": upload_id})
    assert again.status == 410
    assert CALLS == ["attach"]


async def test_a_cross_site_chunk_is_refused(app: ComponentASGI) -> None:
    upload_id = await created(app)

    answer = await patch(app, upload_id, 0, b"x", headers={"origin": "https://evil.example"})

    assert answer.status == 403


async def test_two_chunks_at_once_one_waits_for_none_and_is_409(app: ComponentASGI) -> None:
    upload_id = await created(app)
    headers = {**CHUNK, "upload-offset": "0"}
    scope = http_scope("PATCH", UPLOADS + upload_id, headers=headers)
    release = asyncio.Event()
    first_sent: list[dict[str, Any]] = []

    async def slow_receive() -> dict[str, Any]:
        await release.wait()
        return {"type": "http.request", "body": DATA[:10], "more_body": False}

    async def record(message: dict[str, Any]) -> None:
        first_sent.append(message)

    first = asyncio.create_task(app(scope, slow_receive, record))
    await asyncio.sleep(0.01)
    second = await patch(app, upload_id, 0, DATA[:10])
    release.set()
    await first

    assert second.status == 409
    assert error(second)["code"] == "upload_offset_mismatch"
    assert first_sent[0]["status"] == 200
    assert await head(app, upload_id) == 10


async def test_other_methods_are_405(app: ComponentASGI) -> None:
    upload_id = await created(app)

    listing = await asgi_request(app, "GET", UPLOADS)
    reading = await asgi_request(app, "GET", UPLOADS + upload_id)

    assert (listing.status, reading.status) == (405, 405)
    assert reading.header("allow") == "HEAD, PATCH, DELETE"
