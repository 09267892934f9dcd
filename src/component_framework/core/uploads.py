"""Uploaded files as a handler receives them, and the rules a field puts on them.

Owns :class:`UploadFile` (one file of a ``multipart/form-data`` request: its ``filename``,
``content_type`` and ``size``, async reading, chunk iteration and saving, closing), the
spooling behind it (memory up to a threshold, then an anonymous temporary file that the
operating system removes when it is closed, even if the process is killed), :class:`Accept`
(the content types and size one handler parameter takes, written in its annotation) and
:class:`UploadLimits` (the app's limits, from ``Settings``). Parsing a body is
``core.multipart``'s job; binding a file to a parameter is ``core.binding``'s.

A handler takes files by annotation::

    async def on_avatar(self, avatar: Annotated[UploadFile, Accept("image/png", "image/*")]):
        await avatar.save(media / f"{self.id}.png")

A file is closed (and its temporary file gone) once the request is answered; ``save()`` it to
keep it. ``filename`` is what the client claims: never use it as a path.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from component_framework.core import aio

if TYPE_CHECKING:
    from component_framework.core.config import Settings

__all__ = ["CHUNK_BYTES", "Accept", "UploadFile", "UploadLimits"]

#: Size of the pieces ``UploadFile.chunks()`` and ``save()`` read at a time.
CHUNK_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Accept:
    """What one ``UploadFile`` parameter takes, in ``Annotated[UploadFile, Accept(...)]``.

    ``patterns`` are those of an HTML ``accept`` attribute: a media type (``image/png``), a
    family (``image/*``) or a file name ending (``.pdf``); a file passes when one of them
    matches its declared content type or its name (none given: any file). The type is the one
    the client declares; sniffing the bytes is the application's business. ``max_bytes``
    lowers the app's ``upload_max_file_bytes`` for this field.
    """

    patterns: tuple[str, ...] = ()
    max_bytes: int | None = None

    def __init__(self, *patterns: str, max_bytes: int | None = None) -> None:
        cleaned = tuple(pattern.strip().lower() for pattern in patterns if pattern.strip())
        if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 1):
            raise ValueError(f"Accept(max_bytes=...) must be a positive int, got {max_bytes!r}")
        object.__setattr__(self, "patterns", cleaned)
        object.__setattr__(self, "max_bytes", max_bytes)

    def allows(self, content_type: str, filename: str) -> bool:
        """Whether a file named ``filename`` declared as ``content_type`` passes."""
        if not self.patterns:
            return True
        media = content_type.split(";", 1)[0].strip().lower()
        family = media.split("/", 1)[0] + "/*"
        name = filename.lower()
        for pattern in self.patterns:
            if pattern in (media, family, "*/*") or (
                pattern.startswith(".") and name.endswith(pattern)
            ):
                return True
        return False

    def describe(self) -> str:
        """The accepted patterns for a message (``image/png, .pdf``)."""
        return ", ".join(self.patterns) or "any file"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The limits a multipart body is read under (see ``Settings``): bytes per file, files
    and text fields per request, text field bytes together, the whole body's bytes, and the
    spooling threshold and folder."""

    max_file_bytes: int = 16 * 1024 * 1024
    max_files: int = 10
    max_bytes: int = 64 * 1024 * 1024
    max_fields: int = 1000
    max_field_bytes: int = 1024 * 1024
    spool_bytes: int = 1024 * 1024
    directory: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        """The limits ``settings`` gives (text fields keep ``max_fields``/``max_body_bytes``)."""
        directory = settings.upload_directory
        return cls(
            max_file_bytes=settings.upload_max_file_bytes,
            max_files=settings.upload_max_files,
            max_bytes=settings.upload_max_bytes,
            max_fields=settings.max_fields,
            max_field_bytes=settings.max_body_bytes,
            spool_bytes=settings.upload_spool_bytes,
            directory=None if directory is None else Path(directory),
        )


class UploadFile:
    """One uploaded file: ``filename`` (as the client sent it, without any folder part),
    ``content_type`` (as declared; ``application/octet-stream`` when none), ``size`` in bytes
    and ``field``, the form field it came in. Read it with ``await read()``, ``async for chunk
    in file`` or ``await save(path)``; it lives in memory up to the spooling threshold, past
    it in an anonymous temporary file. ``close()`` frees it (the framework does so once the
    request is answered)."""

    def __init__(
        self,
        filename: str,
        content_type: str = "application/octet-stream",
        *,
        field: str = "",
        spool_bytes: int = 1024 * 1024,
        directory: Path | None = None,
    ) -> None:
        self.filename = filename
        self.content_type = content_type
        self.field = field
        self.size = 0
        self._spool_bytes = spool_bytes
        self._directory = directory
        self._file: IO[bytes] = io.BytesIO()
        self._on_disk = False
        self._closed = False

    @classmethod
    def from_bytes(
        cls, data: bytes, filename: str = "file", content_type: str = "application/octet-stream"
    ) -> UploadFile:
        """An in-memory file holding ``data`` (for tests and for calling handlers directly)."""
        upload = cls(filename, content_type, spool_bytes=max(len(data), 1))
        upload.write(data)
        upload.rewind()
        return upload

    @classmethod
    def from_disk(
        cls, file: IO[bytes], filename: str, content_type: str, *, field: str = ""
    ) -> UploadFile:
        """The file open as ``file`` (binary, readable, nameless or about to be: a resumable
        upload's data, ``core.resumable``), taken over: closing the upload closes it."""
        upload = cls(filename, content_type, field=field)
        upload._file, upload._on_disk = file, True
        upload.size = os.fstat(file.fileno()).st_size
        upload.rewind()
        return upload

    # -- writing (the multipart reader) -----------------------------------------------------

    def write(self, data: bytes) -> None:
        """Append ``data``, moving to a temporary file once past the spooling threshold."""
        if not self._on_disk and self.size + len(data) > self._spool_bytes:
            spilled = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 - kept open
            try:
                spilled.write(memoryview(self._buffer()))
            except BaseException:
                spilled.close()
                raise
            self._file, self._on_disk = spilled, True
        self._file.write(data)
        self.size += len(data)

    def rewind(self) -> None:
        """Go back to the first byte (done once the file is complete)."""
        self._file.seek(0)

    def _buffer(self) -> bytes:
        assert isinstance(self._file, io.BytesIO)
        return self._file.getvalue()

    # -- reading (the handler) --------------------------------------------------------------

    @property
    def in_memory(self) -> bool:
        """Whether the file is still held in memory (not spooled to disk)."""
        return not self._on_disk

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (the data is gone)."""
        return self._closed

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current position (all the rest by default); a file
        on disk is read in a worker thread, so the event loop never waits for the disk."""
        if self._on_disk:
            return await aio.to_thread(self._file.read, size)
        return self._file.read(size)

    async def seek(self, offset: int) -> None:
        """Move to ``offset`` bytes from the start."""
        self._file.seek(offset)

    async def chunks(self, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        """The whole file, from its first byte, in pieces of at most ``size`` bytes."""
        await self.seek(0)
        while chunk := await self.read(size):
            yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def save(self, path: str | os.PathLike[str]) -> Path:
        """Copy the whole file to ``path`` (replacing what is there) and return it."""
        target = Path(path)
        await self.seek(0)
        await aio.to_thread(self._copy_to, target)
        return target

    def _copy_to(self, target: Path) -> None:
        with target.open("wb") as out:
            shutil.copyfileobj(self._file, out, CHUNK_BYTES)

    def close(self) -> None:
        """Free the file: its memory, or its temporary file (which the system then removes)."""
        self._closed = True
        self._file.close()

    async def aclose(self) -> None:
        """:meth:`close`, for ``async with``."""
        self.close()

    async def __aenter__(self) -> UploadFile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<UploadFile field={self.field!r} filename={self.filename!r} "
            f"content_type={self.content_type!r} size={self.size}>"
        )
