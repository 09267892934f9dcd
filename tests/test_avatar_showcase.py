"""The showcase's avatar upload on every host: the page has it, an image is taken and shown as
a preview, another type or an oversized file is refused. (Its progress bar is the runtime's:
tests/browser/test_uploads.py.)"""

from __future__ import annotations

import base64
from typing import Any

from component_framework.testing import asgi_request
from tests.core.test_multipart import CONTENT_TYPE, body, part
from tests.test_examples import example_app, examples

__all__ = ["example_app", "examples"]  # the fixtures: the examples, imported for this module

PATH = "/components/avatar/"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


async def post_avatar(app: Any, data: bytes, name: str, media_type: str) -> Any:
    mounted = await asgi_request(app, "POST", PATH, json={})
    snapshot = mounted.json()["snapshot"]
    return await asgi_request(
        app,
        "POST",
        PATH,
        query={"event": "upload"},
        body=body(part("snapshot", snapshot.encode()), part("avatar", data, name, media_type)),
        headers={"content-type": CONTENT_TYPE, "hx-request": "true"},
    )


async def test_every_host_shows_the_avatar_upload_with_its_progress_bar(example_app: Any) -> None:
    page = (await asgi_request(example_app, "GET", "/")).text

    assert 'data-component="avatar"' in page
    assert 'hx-encoding="multipart/form-data"' in page
    assert "<progress data-upload-progress" in page


async def test_an_uploaded_image_is_shown_as_a_preview(example_app: Any) -> None:
    answer = await post_avatar(example_app, PNG, "me.png", "image/png")

    assert answer.status == 200, answer.body
    html = answer.text
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in html
    assert f"me.png ({len(PNG)} bytes)" in html


async def test_another_type_or_a_large_file_is_refused(example_app: Any) -> None:
    wrong = await post_avatar(example_app, b"<svg/>", "me.svg", "image/svg+xml")
    large = await post_avatar(example_app, PNG * 300, "big.png", "image/png")

    assert wrong.status == 415
    assert "image/png" in wrong.json()["error"]["message"]
    assert (large.status, large.json()["error"]["limit"]) == (413, "max_bytes")
