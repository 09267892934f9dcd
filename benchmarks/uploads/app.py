"""The two upload servers, doing the same work: read the posted file to its end in 64 KiB
pieces and answer how many bytes it held.

- :func:`component_app`: a ``ComponentASGI`` whose ``sink`` component takes the file in an
  ``UploadFile`` parameter (``POST /components/sink/?event=upload``, after a mount for the
  snapshot), with limits raised for the largest file;
- :func:`starlette_app`: a Starlette route reading ``await request.form()`` and its
  ``UploadFile`` (``POST /upload``), Starlette's own limits and spooling (1 MiB, as ours).

Both are uvicorn factories (``benchmarks.uploads.app:component_app``).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.applications import Starlette
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from component_framework import ComponentASGI, Settings
from component_framework.core.component import Component
from component_framework.core.registry import ComponentRegistry
from component_framework.core.uploads import UploadFile
from component_framework.testing import StateRenderer

__all__ = ["LARGEST", "PIECE", "SECRET", "component_app", "starlette_app"]

#: The largest upload either server takes.
LARGEST: Final = 512 * 1024 * 1024
#: How much each server reads at a time.
PIECE: Final = 64 * 1024
SECRET: Final = "upload-benchmark-key-0123456789abcdef"


class Sink(Component):
    """Counts the bytes of the file it is given."""

    template_name = "sink.html"

    def mount(self) -> None:
        self.state["received"] = 0

    async def on_upload(self, file: UploadFile) -> None:
        received = 0
        while piece := await file.read(PIECE):
            received += len(piece)
        self.state["received"] = received


def component_app() -> ComponentASGI:
    """The ComponentASGI contender."""
    registry = ComponentRegistry()
    registry.register("sink")(Sink)
    settings = Settings(
        secret_keys=(SECRET,), upload_max_file_bytes=LARGEST, upload_max_bytes=LARGEST
    )
    return ComponentASGI(registry=registry, renderer=StateRenderer(), settings=settings)


async def _upload(request: Request) -> JSONResponse:
    async with request.form() as form:
        file: Any = form["file"]
        assert isinstance(file, StarletteUploadFile)
        received = 0
        while piece := await file.read(PIECE):
            received += len(piece)
    return JSONResponse({"received": received})


def starlette_app() -> Starlette:
    """The Starlette contender."""
    return Starlette(routes=[Route("/upload", _upload, methods=["POST"])])
