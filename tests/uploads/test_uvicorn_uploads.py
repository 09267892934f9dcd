"""Uploads through a real uvicorn on loopback: a file arrives whole, and a client that goes
away mid-upload leaves no temporary file open in the server process."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.core.test_multipart import CONTENT_TYPE, body, part
from tests.servers import LOOPBACK, UvicornServer, uvicorn_server

APP = "tests.uploads.upload_app:app"
PATH = "/components/profile/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[UvicornServer, Path]]:
    folder = tmp_path / "spool"
    folder.mkdir()
    with uvicorn_server(APP, tmp_path, env={"UPLOAD_TEST_DIR": str(folder)}) as running:
        yield running, folder


def files_open_in(pid: int, folder: Path) -> list[str]:
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def wait_for_open_files(pid: int, folder: Path, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(files_open_in(pid, folder)) != count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} open files, got {files_open_in(pid, folder)}")
        time.sleep(0.02)


def snapshot_of(base_url: str) -> str:
    answer = httpx.post(base_url + PATH, json={}, timeout=10)
    answer.raise_for_status()
    snapshot: str = answer.json()["snapshot"]
    return snapshot


def test_a_large_file_streams_through_uvicorn(server: tuple[UvicornServer, Path]) -> None:
    running, folder = server
    data = os.urandom(1024 * 1024) * 24  # 24 MiB
    payload = body(
        part("snapshot", snapshot_of(running.base_url).encode()),
        part("event", b"attach"),
        part("files", data, "big.bin", "application/octet-stream"),
    )

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    answer = httpx.post(
        running.base_url + PATH,
        content=pieces(),
        headers={"content-type": CONTENT_TYPE},
        timeout=30,
    )

    assert answer.status_code == 200, answer.text
    name, size, digest = answer.json()["state"]["attachments"][0]
    assert (name, size, digest) == ("big.bin", len(data), hashlib.sha256(data).hexdigest())
    assert files_open_in(running.process.pid, folder) == []


def test_a_client_gone_mid_upload_leaves_no_temporary_file(
    server: tuple[UvicornServer, Path],
) -> None:
    running, folder = server
    payload = body(
        part("event", b"attach"),
        part("files", b"x" * 2_000_000, "big.bin"),
    )
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {LOOPBACK}:{running.port}\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    for cut in (600_000, 1_500_000):
        with socket.create_connection((LOOPBACK, running.port), timeout=10) as raw:
            raw.sendall(head + payload[:cut])
            wait_for_open_files(running.process.pid, folder, 1)  # spooled, being written
        wait_for_open_files(running.process.pid, folder, 0)  # the close freed it
    assert list(folder.iterdir()) == []
    assert "Traceback" not in running.log()
