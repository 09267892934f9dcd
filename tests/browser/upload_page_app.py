"""The app the upload browser tests drive (``tests/browser/test_uploads.py``).

``components = ComponentASGI(app=inner)`` serves the ``avatar`` component: forms sent with
``hx-encoding="multipart/form-data"``, an image (``upload``, sent whole), the same image as a
resumable upload in chunks when it is over :data:`CHUNKED_OVER`, a thumbnail of at most
:data:`THUMB_MAX_BYTES` (``thumbnail``), and a ``<progress data-upload-progress>``. ``app`` reads
upload bodies slowly (:data:`CHUNK_DELAY` per message), as a server on a slow link does, so
the browser reports progress along the way (past what the loopback socket buffers hold).
Page: ``/avatar`` (strict CSP, htmx from ``node_modules``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer, register_component_global
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.uploads import Accept, UploadFile

__all__ = ["CHUNKED_OVER", "CSP", "THUMB_MAX_BYTES", "app", "components"]

NODE_MODULES: Final = Path(__file__).resolve().parent.parent.parent / "node_modules"
CSP: Final = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'"
THUMB_MAX_BYTES: Final = 1024 * 1024
#: Files over this size go as resumable uploads from ``form.chunked``, in chunks of this size.
CHUNKED_OVER: Final = 1024 * 1024
#: Seconds the server waits after each body message of an upload (a slow link).
CHUNK_DELAY: Final = 0.02

TEMPLATES: Final = {
    "avatar.html": (
        '<div class="avatar">'
        '<form class="image" hx-post="/components/avatar/?event=upload" '
        'hx-encoding="multipart/form-data" data-upload-chunked="off">'
        '<input type="file" name="avatar" accept="image/*"><button>Upload</button></form>'
        '<form class="chunked" hx-post="/components/avatar/?event=upload" '
        f'hx-encoding="multipart/form-data" data-upload-chunked="{CHUNKED_OVER}">'
        '<input type="file" name="avatar" accept="image/*"><button>Resumable</button></form>'
        '<form class="thumb" hx-post="/components/avatar/?event=thumbnail" '
        'hx-encoding="multipart/form-data">'
        '<input type="file" name="thumb"><button>Thumbnail</button></form>'
        '<progress data-upload-progress max="100" value="0"></progress>'
        '<p class="result">{% if name %}{{ name }}: {{ size }} bytes{% else %}none{% endif %}</p>'
        "</div>"
    ),
    "page.html": (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8"><title>uploads</title>\n'
        '<meta name="htmx-config" '
        'content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>\n'
        "{{ scripts | safe }}\n"
        '</head><body hx-ext="component-framework">\n'
        "{{ body | safe }}\n"
        "</body></html>\n"
    ),
}
renderer = Jinja2Renderer.from_strings(TEMPLATES)
registry = ComponentRegistry()


@registry.register("avatar")
class Avatar(Component):
    """Takes one image and shows its name and size."""

    template_name = "avatar.html"

    def mount(self) -> None:
        self.state.update(name="", size=0)

    async def on_upload(self, avatar: Annotated[UploadFile, Accept("image/*")]) -> None:
        self.state.update(name=avatar.filename, size=avatar.size)

    async def on_thumbnail(
        self, thumb: Annotated[UploadFile, Accept(max_bytes=THUMB_MAX_BYTES)]
    ) -> None:
        self.state.update(name=thumb.filename, size=thumb.size)


async def avatar_page(request: Request) -> HTMLResponse:
    fragment = str(renderer.environment.globals["component"]("avatar"))
    html = renderer.environment.get_template("page.html").render(
        scripts=components.script_tags(), body=fragment
    )
    return HTMLResponse(html, headers={"content-security-policy": CSP})


async def favicon(request: Request) -> Response:
    return Response(status_code=204)


inner = Starlette(routes=[Route("/avatar", avatar_page), Route("/favicon.ico", favicon)])
components = ComponentASGI(
    app=inner,
    registry=registry,
    renderer=renderer,
    settings=Settings(
        secret_keys=("browser-upload-test-key-0123456789abcdef",),
        vendor_directory=NODE_MODULES,
        upload_max_file_bytes=64 * 1024 * 1024,
        upload_chunk_bytes=CHUNKED_OVER,
    ),
    hub=Hub(),
)
register_component_global(renderer.environment, components)


async def app(scope: Any, receive: Any, send: Any) -> None:
    """``components``, reading the body of every component POST slowly."""
    if scope["type"] != "http" or scope["method"] != "POST":
        await components(scope, receive, send)
        return

    async def slow_receive() -> Any:
        message = await receive()
        await asyncio.sleep(CHUNK_DELAY)
        return message

    await components(scope, slow_receive, send)
