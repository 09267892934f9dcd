"""UploadFile: spooling past its threshold, reading, chunks, saving, closing; Accept's rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from component_framework.core.uploads import Accept, UploadFile


def spooled(folder: Path, data: bytes, threshold: int = 16) -> UploadFile:
    upload = UploadFile(
        "a.bin", "application/octet-stream", spool_bytes=threshold, directory=folder
    )
    for start in range(0, len(data), 5):
        upload.write(data[start : start + 5])
    upload.rewind()
    return upload


def open_temporary_files(folder: Path) -> list[str]:
    """The files of this process that are open in ``folder`` (anonymous ones included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def open_in(folder: Path) -> int:
    return len(open_temporary_files(folder))


def test_a_small_file_stays_in_memory(tmp_path: Path) -> None:
    upload = spooled(tmp_path, b"0123456789")

    assert (upload.in_memory, upload.size, open_in(tmp_path)) == (True, 10, 0)


async def test_a_file_past_the_threshold_moves_to_an_anonymous_temporary_file(
    tmp_path: Path,
) -> None:
    data = bytes(range(100))
    upload = spooled(tmp_path, data)

    assert (upload.in_memory, upload.size) == (False, 100)
    assert open_in(tmp_path) == 1
    assert os.listdir(tmp_path) == []  # no name in the folder, even while open
    assert await upload.read(10) == data[:10]
    assert await upload.read() == data[10:]
    upload.close()
    assert (upload.closed, open_in(tmp_path)) == (True, 0)


@pytest.mark.parametrize("size", [10, 100_000])
async def test_chunks_and_save_give_the_whole_file_from_its_start(
    tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    upload = spooled(tmp_path, data, threshold=1000)
    await upload.read(3)

    chunks = [chunk async for chunk in upload.chunks(4096)]
    saved = await upload.save(tmp_path / "copy.bin")

    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= 4096
    assert saved.read_bytes() == data
    upload.close()


async def test_async_with_closes_the_file(tmp_path: Path) -> None:
    async with spooled(tmp_path, b"x" * 50) as upload:
        assert open_in(tmp_path) == 1

    assert upload.closed
    assert open_in(tmp_path) == 0


async def test_from_bytes_makes_a_file_for_calling_handlers_directly() -> None:
    upload = UploadFile.from_bytes(b"hello", "hi.txt", "text/plain")

    assert (upload.filename, upload.content_type, upload.size) == ("hi.txt", "text/plain", 5)
    assert await upload.read() == b"hello"
    assert "hi.txt" in repr(upload)


@pytest.mark.parametrize(
    ("patterns", "content_type", "filename", "allowed"),
    [
        ((), "anything/at-all", "x", True),
        (("image/png",), "image/png", "x", True),
        (("image/png",), "IMAGE/PNG; charset=binary", "x", True),
        (("image/png",), "image/jpeg", "x.png", False),
        (("image/*",), "image/webp", "x", True),
        (("image/*",), "text/plain", "x", False),
        ((".pdf",), "application/octet-stream", "CV.PDF", True),
        ((".pdf",), "application/pdf", "cv.doc", False),
        (("*/*",), "text/plain", "x", True),
    ],
)
def test_accept_matches_types_families_and_name_endings(
    patterns: tuple[str, ...], content_type: str, filename: str, allowed: bool
) -> None:
    assert Accept(*patterns).allows(content_type, filename) is allowed


def test_accept_refuses_a_size_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive int"):
        Accept(max_bytes=0)
