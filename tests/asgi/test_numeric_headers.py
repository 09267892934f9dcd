"""Numeric request headers (``Content-Length``, ``Upload-Offset``, ``Upload-Length``) are
RFC 9110's ``1*DIGIT`` and nothing else, on every route that reads one.

Driven with ASGI scopes directly: a real server refuses most of these forms before the app
sees them (h11 and httptools refuse a sign, a space inside, ``0x10``; every server refuses a
repeated or comma-listed length it cannot agree on), but an ASGI server need not, and the
app must not trust one that lets them through. ``int()`` took every one of them but the
empty and non-numeric ones, and ``-5`` then passed the body limit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from component_framework import ComponentASGI, Settings
from component_framework.core.hub import Hub
from component_framework.testing import ASGIResponse, asgi_request
from tests import sample_components
from tests.core.test_multipart import CONTENT_TYPE, body, part
from tests.uploads.upload_app import CALLS, build_app

#: What ``int()`` takes but a Content-Length may not be, and what neither takes.
BAD_LENGTHS: list[bytes] = [
    b"+12",
    b"-5",
    b"-0",
    b"1_000",
    b" 12",
    b"12 ",
    b" 12 ",
    b"\t12",
    "\u0661\u0662".encode(),  # Arabic-Indic digits: int() reads them as 12
    "\uff11\uff12".encode(),  # fullwidth digits
    b"0x10",
    b"1e3",
    b"1.0",
    b"12, 12",
    b"",
    b"\xff",
    b"9" * 19,  # more digits than a length is read with
    b"9" * 10_000,  # past int()'s own limit (4,300 digits): was a ValueError inside int()
]
IDS = [repr(value[:12]) + ("..." if len(value) > 12 else "") for value in BAD_LENGTHS]
STREAM_PATH = "/components/report/stream/"
UPLOADS = "/components/_uploads/"


def sample_app(**settings: Any) -> ComponentASGI:
    options: dict[str, Any] = {"secret_keys": sample_components.SECRET, **settings}
    return ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=Settings(**options),
        hub=Hub(),
    )


def assert_malformed(answer: ASGIResponse, header: str) -> None:
    assert answer.status == 400, answer.body[:200]
    error = answer.json()["error"]
    assert error["code"] == "malformed_request"
    assert error["message"].startswith(f"invalid {header} b")
    assert len(error["message"]) < 100  # the value is quoted cut short, never whole


async def post_counter(app: ComponentASGI, body: bytes, length: bytes) -> ASGIResponse:
    """A JSON POST to the counter that declares ``length`` whatever the body's size."""
    headers = {"content-type": "application/json", "content-length": length.decode("latin-1")}
    return await asgi_request(app, "POST", "/components/counter/", body=body, headers=headers)


@pytest.mark.parametrize("length", BAD_LENGTHS, ids=IDS)
async def test_an_event_post_with_a_length_that_is_not_digits_is_400(length: bytes) -> None:
    answer = await post_counter(sample_app(), b'{"params": {"start": 2}}', length)

    assert_malformed(answer, "Content-Length")


@pytest.mark.parametrize("length", BAD_LENGTHS, ids=IDS)
async def test_a_stream_post_with_a_length_that_is_not_digits_is_400(length: bytes) -> None:
    app = sample_app()
    answer = await asgi_request(
        app,
        "POST",
        STREAM_PATH,
        body=b'{"event": "generate", "payload": {"report_id": 1}}',
        headers={"content-type": "application/json", "content-length": length.decode("latin-1")},
    )

    assert_malformed(answer, "Content-Length")
    assert len(app.streams) == 0  # no run started


@pytest.mark.parametrize("length", BAD_LENGTHS, ids=IDS)
async def test_an_upload_post_with_a_length_that_is_not_digits_is_400(
    length: bytes, tmp_path: Path
) -> None:
    CALLS.clear()
    app = build_app(tmp_path)
    answer = await asgi_request(
        app,
        "POST",
        "/components/profile/",
        body=body(part("bio", b"hello")),
        headers={"content-type": CONTENT_TYPE, "content-length": length.decode("latin-1")},
    )

    assert_malformed(answer, "Content-Length")
    assert CALLS == []  # no handler ran
    assert files_in(tmp_path) == []


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def resumable_upload(tmp_path: Path) -> tuple[ComponentASGI, str]:
    app = build_app(upload_resumable_directory=tmp_path / "resumable")
    document = {"component": "profile", "event": "attach", "field": "files"}
    document.update(filename="a.bin", size=100, content_type="application/x-data")
    created = await asgi_request(app, "POST", UPLOADS, json=document)
    assert created.status == 201, created.body
    upload_id: str = created.json()["upload"]
    return app, upload_id


async def offset_of(app: ComponentASGI, upload_id: str) -> str | None:
    answer = await asgi_request(app, "HEAD", UPLOADS + upload_id)
    return answer.header("upload-offset")


@pytest.mark.parametrize("header", ["content-length", "upload-offset", "upload-length"])
@pytest.mark.parametrize("value", BAD_LENGTHS, ids=IDS)
async def test_a_resumable_chunk_with_a_number_header_that_is_not_digits_is_400(
    header: str, value: bytes, tmp_path: Path
) -> None:
    app, upload_id = await resumable_upload(tmp_path)
    headers = {"content-type": "application/offset+octet-stream", "upload-offset": "0"}
    headers[header] = value.decode("latin-1")

    answer = await asgi_request(app, "PATCH", UPLOADS + upload_id, body=b"x" * 10, headers=headers)

    label = {"content-length": "Content-Length", "upload-offset": "Upload-Offset"}
    assert_malformed(answer, label.get(header, "Upload-Length"))
    assert await offset_of(app, upload_id) == "0"  # not a byte kept


@pytest.mark.parametrize("length", [b"2", b"02", b"000000000000000002"])
async def test_leading_zeros_are_digits_and_the_length_is_read(length: bytes) -> None:
    answer = await post_counter(sample_app(), b"{}", length)

    assert answer.status == 200, answer.body[:200]


LIMIT = 100
#: Bytes a Content-Length may be made of, the near misses weighted in.
NEAR_DIGITS = st.sampled_from([*b"0123456789", *b"+-_ \t.,eExX"]).map(lambda b: bytes([b]))


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(
        st.from_regex(rb"\A[0-9]{1,20}\Z"),
        st.lists(NEAR_DIGITS, min_size=0, max_size=8).map(b"".join),
        st.integers(-(10**20), 10**20).map(lambda n: str(n).encode()),
        st.text(alphabet=st.characters(categories=["Nd", "Zs"]), max_size=4).map(str.encode),
        st.binary(max_size=6),
    )
)
@example(value=b"-5")
@example(value=b"9" * 18)
@example(value=b"9" * 19)
async def test_exactly_the_digit_forms_are_read_as_a_length(value: bytes) -> None:
    # 1*DIGIT of at most 18 digits is a length (413 past the limit, else the request is
    # served); anything else is 400 before a byte of the body is read.
    answer = await post_counter(sample_app(max_body_bytes=LIMIT), b"{}", value)

    code = json.loads(answer.body)["error"]["code"] if answer.status != 200 else None
    if re.fullmatch(rb"[0-9]{1,18}", value):
        expected = (413, "payload_too_large") if int(value) > LIMIT else (200, None)
    else:
        expected = (400, "malformed_request")
    assert (answer.status, code) == expected
