"""Components that take files, and an app serving them (in process, or under a real uvicorn:
``uvicorn tests.uploads.upload_app:app``, whose temporary files go to ``$UPLOAD_TEST_DIR``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.uploads import Accept, UploadFile

SECRET = "upload-test-secret-0123456789abcdef"
#: Files bigger than this go to a temporary file: the tests see them among the open files.
SPOOL_BYTES = 4096
AVATAR_MAX_BYTES = 64 * 1024

renderer = Jinja2Renderer.from_strings({"upload.html": "<div>{{ state | tojson }}</div>"})
registry = ComponentRegistry()
#: Every handler run in this process, and the files handlers were given (tests check that a
#: refused upload ran nothing, and that every file given was closed afterwards).
CALLS: list[str] = []
GIVEN: list[UploadFile] = []


async def _digest(upload: UploadFile) -> str:
    digest = hashlib.sha256()
    async for chunk in upload:
        digest.update(chunk)
    return digest.hexdigest()


@registry.register("profile")
class Profile(Component):
    """An avatar (PNG or JPEG, at most 64 KiB), attachments of any kind, a plain rename."""

    template_name = "upload.html"

    def mount(self) -> None:
        self.state.update(caption="", avatar=None, attachments=[])

    async def on_avatar(
        self,
        avatar: Annotated[
            UploadFile, Accept("image/png", "image/jpeg", max_bytes=AVATAR_MAX_BYTES)
        ],
        caption: str = "",
    ) -> None:
        CALLS.append("avatar")
        GIVEN.append(avatar)
        self.state["caption"] = caption
        self.state["avatar"] = {
            "name": avatar.filename,
            "type": avatar.content_type,
            "size": avatar.size,
            "sha256": await _digest(avatar),
        }

    async def on_attach(self, files: list[UploadFile]) -> None:
        CALLS.append("attach")
        GIVEN.extend(files)
        self.state["attachments"] = [[f.filename, f.size, await _digest(f)] for f in files]

    def on_broken(self, avatar: UploadFile) -> None:
        CALLS.append("broken")
        GIVEN.append(avatar)
        raise RuntimeError("the storage is offline")

    def on_rename(self, caption: str) -> None:
        CALLS.append("rename")
        self.state["caption"] = caption


class Plain(Component):
    """Takes no files (registered by the test that needs it)."""

    template_name = "upload.html"

    def on_rename(self, caption: str) -> None:
        self.state["caption"] = caption


def build_app(directory: Path | None = None, **settings: object) -> ComponentASGI:
    """The app, spooling past :data:`SPOOL_BYTES` into ``directory``."""
    options: dict[str, object] = {
        "secret_keys": (SECRET,),
        "upload_spool_bytes": SPOOL_BYTES,
        "upload_directory": directory,
        **settings,
    }
    return ComponentASGI(
        registry=registry, renderer=renderer, settings=Settings(**options), hub=Hub()
    )


_folder = os.environ.get("UPLOAD_TEST_DIR")
_LARGE = 600 * 1024 * 1024
app = build_app(
    Path(_folder) if _folder else None,
    upload_max_bytes=_LARGE,
    upload_max_file_bytes=_LARGE,
    upload_resumable_directory=os.environ.get("UPLOAD_RESUMABLE_DIR") or None,
)
