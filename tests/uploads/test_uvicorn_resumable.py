"""A large resumable upload through a real uvicorn on loopback: the file (generated on the
fly, never stored by the test) goes in chunks, the connection drops in the middle of one, the
client asks the server where it stands and goes on from there; the handler gets exactly the
bytes sent (hash), and the server's resident memory stays flat whatever the file's size.
500 MiB take a few seconds on loopback, so the full size runs in CI."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import uvicorn_server

APP = "tests.uploads.upload_app:app"
MIB = 1024 * 1024
CHUNK = 8 * MIB  # the server's default upload_chunk_bytes
#: The base block of the generated file; block k starts with k (so no two blocks are equal).
BLOCK = os.urandom(MIB)
#: How much the server's peak resident memory may grow during the whole upload.
RSS_GROWTH_LIMIT = 40 * MIB

pytestmark = pytest.mark.uvicorn


def generated(start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` of the generated file, in pieces of at most 1 MiB."""
    while start < end:
        index, within = divmod(start, MIB)
        block = index.to_bytes(8, "big") + BLOCK[8:]
        piece = block[within : min(MIB, within + end - start)]
        yield piece
        start += len(piece)


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """Samples a process's resident memory every 10 ms in a thread; ``peak`` is the highest."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._done = pid, rss_of(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss_of(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()


def drop_mid_chunk(base_url: str, upload_id: str, offset: int, size: int) -> None:
    """Start a chunk of ``size`` bytes at ``offset``, send half of it, and drop the
    connection (a socket closed with the request unfinished)."""
    host, port = base_url.removeprefix("http://").split(":")
    head = (
        f"PATCH /components/_uploads/{upload_id} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(head)
        for piece in generated(offset, offset + size // 2):
            raw.sendall(piece)
        raw.shutdown(socket.SHUT_RDWR)


def send_chunk(client: httpx.Client, upload_id: str, offset: int, size: int) -> int:
    answer = client.patch(
        f"/components/_uploads/{upload_id}",
        content=generated(offset, offset + size),
        headers={
            "content-type": "application/offset+octet-stream",
            "upload-offset": str(offset),
            "content-length": str(size),
        },
    )
    if answer.status_code == 409:  # the server is still busy with the dropped chunk
        time.sleep(0.05)
        confirmed: int = answer.json()["error"]["offset"]
        return confirmed
    assert answer.status_code == 200, answer.text
    new_offset: int = answer.json()["offset"]
    return new_offset


def server_offset(client: httpx.Client, upload_id: str) -> int:
    answer = client.head(f"/components/_uploads/{upload_id}")
    assert answer.status_code == 200
    return int(answer.headers["upload-offset"])


def test_a_500_mib_upload_resumes_after_a_dropped_connection_with_flat_memory(
    tmp_path: Path,
) -> None:
    total = 500 * MIB
    folder = tmp_path / "resumable"
    env = {"UPLOAD_RESUMABLE_DIR": str(folder), "UPLOAD_TEST_DIR": str(tmp_path)}
    with (
        uvicorn_server(APP, tmp_path, env=env) as running,
        httpx.Client(base_url=running.base_url, timeout=60) as client,
    ):
        snapshot = client.post("/components/profile/", json={}).json()["snapshot"]
        created = client.post(
            "/components/_uploads/",
            json={
                "component": "profile",
                "event": "attach",
                "field": "files",
                "filename": "big.bin",
                "size": total,
            },
        )
        assert created.status_code == 201, created.text
        upload_id = created.json()["upload"]
        started = time.monotonic()
        pid = running.process.pid
        baseline = rss_of(pid)
        with PeakRss(pid) as memory:
            offset, dropped, resumed_at = 0, False, (0, 0)
            while offset < total:
                size = min(CHUNK, total - offset)
                if not dropped and offset >= total // 2:
                    drop_mid_chunk(running.base_url, upload_id, offset, size)
                    dropped = True
                    time.sleep(0.2)  # the server notices the drop
                    resumed_at = (offset, server_offset(client, upload_id))  # where to go on
                    offset = resumed_at[1]
                    continue
                offset = send_chunk(client, upload_id, offset, size)
            answer = client.post(
                "/components/profile/",
                json={"event": "attach", "payload": {"files": upload_id}, "snapshot": snapshot},
            )
        seconds = time.monotonic() - started

    assert answer.status_code == 200, answer.text
    dropped_at, resumed = resumed_at
    assert dropped_at < resumed <= dropped_at + CHUNK // 2  # the half that arrived was kept
    expected = hashlib.sha256()
    for piece in generated(0, total):
        expected.update(piece)
    assert answer.json()["state"]["attachments"] == [["big.bin", total, expected.hexdigest()]]
    growth = memory.peak - baseline
    print(
        f"\n{total // MIB} MiB resumable upload through uvicorn: {seconds:.1f} s "
        f"({total / MIB / seconds:.0f} MiB/s), server RSS {baseline / MIB:.1f} MiB -> peak "
        f"{memory.peak / MIB:.1f} MiB (+{growth / MIB:.1f} MiB)"
    )
    assert growth < RSS_GROWTH_LIMIT
    assert list(folder.iterdir()) == []  # claimed: nothing left behind
