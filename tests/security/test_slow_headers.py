"""Slow request headers (slow-loris) against the documented deployment: Debian's nginx with the
configuration of ``docs/deployment.md`` (read from the page, so the page cannot drift) in front
of a real uvicorn serving the security components, everything on loopback.

uvicorn bounds neither the time a client takes to send its headers nor how many connections it
holds; ``docs/security.md`` says so and points to this deployment. These tests prove what the
page promises of it: half-sent requests are held by nginx, never reach uvicorn, are reset after
``client_header_timeout``, and a mount, an SSE stream and a WebSocket through nginx work
meanwhile. The configuration changes only in what a test must change (see :func:`config_for_test`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from tests.security.uvicorn_app import BODY_TIMEOUT
from tests.servers import (
    LOOPBACK,
    REPO_ROOT,
    UvicornServer,
    free_port,
    port_answers,
    post_stalled_body,
    uvicorn_server,
)

pytestmark = pytest.mark.uvicorn

DEPLOYMENT_PAGE = REPO_ROOT / "docs" / "deployment.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
APP = "tests.security.uvicorn_app:app"
#: The header timeout of the test's nginx (the page says 10 s); short to keep the suite fast.
HEADER_TIMEOUT = 5.0
#: Half-sent requests held at once; every other one sends a byte every ``TRICKLE`` seconds.
SLOW_CLIENTS = 200
TRICKLE = 0.5
WAIT = 5.0
START_ATTEMPTS = 3
HALF_SENT = b"GET /components/public/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def documented_config() -> str:
    """The one ```nginx block of ``docs/deployment.md``."""
    blocks = re.findall(r"^```nginx\n(.*?)^```$", DEPLOYMENT_PAGE.read_text(), re.M | re.S)
    assert len(blocks) == 1, f"{DEPLOYMENT_PAGE} must hold exactly one nginx block"
    return str(blocks[0])


def _replace(config: str, pattern: str, replacement: str) -> str:
    """``config`` with the one line matching ``pattern`` replaced (it must exist exactly once,
    so a change of the page that the test would silently miss fails here instead)."""
    changed, count = re.subn(pattern, replacement, config, flags=re.M)
    assert count == 1, f"the documented nginx configuration has {count} lines like {pattern!r}"
    return changed


def config_for_test(documented: str, directory: Path, port: int, upstream: int) -> str:
    """The documented configuration with the test's ports, header timeout, one worker, its own
    user, pid file, logs and temporary directories; every other line as on the page."""
    user = "user root;" if os.geteuid() == 0 else ""  # workers as the user running the test
    temporary = "".join(
        f"\n    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = _replace(documented, r"^user \S+;$", user)
    config = _replace(config, r"^worker_processes \S+;$", "worker_processes 1;")
    config = _replace(config, r"^pid \S+;$", f"pid {directory / 'nginx.pid'};")
    config = _replace(config, r"^error_log \S+ \w+;$", f"error_log {directory / 'error.log'} info;")
    config = _replace(config, r"^    access_log \S+;$", "    access_log off;")
    config = _replace(config, r"^http \{$", "http {" + temporary)
    config = _replace(
        config,
        r"^(\s+client_header_timeout) \w+;",
        rf"\1 {HEADER_TIMEOUT:g}s;",
    )
    config = _replace(config, r"^(\s+)listen 80;", rf"\1listen {LOOPBACK}:{port};")
    return _replace(config, r"^(\s+server) 127\.0\.0\.1:8000;", rf"\1 {LOOPBACK}:{upstream};")


@dataclass
class Nginx:
    """A non-daemon nginx master (its own process group) on a loopback port."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown (SIGTERM to the master), then SIGKILL to its process group (the
        master and its workers, nothing else) for whatever is left after a bounded wait."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=WAIT)
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT)


def start_nginx(directory: Path, upstream: int) -> Nginx:
    """nginx with :func:`config_for_test` on a free port; retries when another process took it."""
    assert Path(NGINX).exists(), "Debian's nginx is required (installed by .ci/run)"
    documented = documented_config()
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        conf = directory / "nginx.conf"
        conf.write_text(config_for_test(documented, directory, port, upstream))
        with (directory / f"stderr-{attempt}.log").open("wb") as output:
            process = subprocess.Popen(
                [NGINX, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log"),
                 "-g", "daemon off;"],
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        server = Nginx(process, port, directory)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and process.poll() is None:
            if port_answers(port):
                return server
            time.sleep(0.05)
        server.stop()
    raise RuntimeError(f"nginx did not start; its log:\n{server.error_log()}")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    """uvicorn as the page runs it: loopback, proxy headers trusted from 127.0.0.1."""
    log_dir = tmp_path_factory.mktemp("slow-headers-uvicorn")
    arguments = ["--lifespan", "on", "--no-access-log", "--forwarded-allow-ips", LOOPBACK]
    with uvicorn_server(APP, log_dir, arguments) as running:
        yield running
    assert "Traceback" not in running.log(), running.log()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, upstream: UvicornServer) -> Iterator[Nginx]:
    server = start_nginx(tmp_path_factory.mktemp("slow-headers-nginx"), upstream.port)
    try:
        yield server
    finally:
        server.stop()
    assert "[emerg]" not in server.error_log(), server.error_log()


def _established(port: int) -> int | None:
    """Established TCP connections whose local port is ``port`` (Linux), else None."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        return None
    rows = [line.split() for line in table.read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "01")


async def _hold_half_sent_request(port: int, trickle: bool) -> float:
    """Open a connection, send part of a request header (then, if ``trickle``, one more byte
    every ``TRICKLE`` s) and wait for the server to close it; returns how long it stayed open,
    counted from before the connection was asked for, so never less than nginx held it (a
    loaded machine's loop may note the connection long after nginx accepted it)."""
    asked = time.monotonic()
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(HALF_SENT)
        await writer.drain()
        while True:
            try:
                if not await asyncio.wait_for(reader.read(1024), TRICKLE if trickle else None):
                    break  # closed
            except TimeoutError:
                writer.write(b"a")
                await writer.drain()
    except OSError:  # reset: nginx's reset_timedout_connection
        pass
    finally:
        writer.close()
    return time.monotonic() - asked


async def _mount_through(nginx: Nginx) -> None:
    """A component mount over POST, as a same-site page would send it, with a forged
    ``X-Forwarded-For`` that nginx must replace."""
    headers = {"origin": nginx.base_url, "x-forwarded-for": "6.6.6.6"}
    async with httpx.AsyncClient(base_url=nginx.base_url, timeout=WAIT) as client:
        answer = await client.post("/components/whoami/", json={}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"]["client"] == LOOPBACK  # nginx's $remote_addr, not the forgery


async def _stream_through(nginx: Nginx) -> None:
    async with (
        httpx.AsyncClient(base_url=nginx.base_url, timeout=WAIT) as client,
        client.stream("GET", "/components/ticker/stream/", params={"event": "run"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join([text async for text in response.aiter_text()])
    assert body.count('{"step": ') == 3, body
    assert "event: done" in body, body


async def _socket_through(nginx: Nginx) -> None:
    url = f"ws://{LOOPBACK}:{nginx.port}/components/public/ws/"
    async with connect(url, origin=Origin(nginx.base_url), open_timeout=WAIT) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "render"
        await ws.send(json.dumps({"type": "event", "event": "click", "payload": {}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert answer["state"]["clicks"] == 1, answer


async def test_half_sent_headers_are_held_by_nginx_and_reset_after_its_timeout(
    nginx: Nginx, upstream: UvicornServer
) -> None:
    slow = [
        asyncio.create_task(_hold_half_sent_request(nginx.port, trickle=index % 2 == 1))
        for index in range(SLOW_CLIENTS)
    ]
    try:
        await asyncio.sleep(0.3)  # every slow connection opened and sent its first bytes
        started = time.monotonic()
        await _mount_through(nginx)
        await _stream_through(nginx)
        await _socket_through(nginx)
        assert not [task for task in slow if task.done()], "a slow connection ended too early"
        assert time.monotonic() - started < HEADER_TIMEOUT  # "meanwhile", really
        reaching_uvicorn = _established(upstream.port)
        assert reaching_uvicorn is None or reaching_uvicorn < 10, reaching_uvicorn

        lifetimes = await asyncio.wait_for(asyncio.gather(*slow), HEADER_TIMEOUT + WAIT)
    finally:
        for task in slow:
            task.cancel()
        await asyncio.gather(*slow, return_exceptions=True)
    # The connections ended by the timeout, not by a refusal (nginx's timer may round down a
    # little), and not long after it (a loaded machine notes the close late).
    assert min(lifetimes) >= HEADER_TIMEOUT * 0.9, min(lifetimes)
    assert max(lifetimes) <= HEADER_TIMEOUT + WAIT, max(lifetimes)
    timed_out = nginx.error_log().count("client timed out (110: Connection timed out) while "
                                        "reading client request headers")  # fmt: skip
    assert timed_out >= SLOW_CLIENTS, nginx.error_log()[-2000:]


def test_a_slow_component_body_still_gets_the_apps_408(nginx: Nginx) -> None:
    started = time.monotonic()  # nginx passes the body on as it comes (proxy_request_buffering off)
    answer = post_stalled_body(nginx.port, "/components/public/", WAIT * 2)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"request_timeout"' in answer, answer  # the app's JSON, not nginx's page
    assert time.monotonic() - started >= BODY_TIMEOUT * 0.9


def test_an_oversized_header_is_refused_by_nginx(nginx: Nginx) -> None:
    with httpx.Client(base_url=nginx.base_url, timeout=WAIT) as client:
        answer = client.post("/components/public/", headers={"x-big": "a" * 9000})
    assert answer.status_code == 400
    assert "nginx" in answer.headers.get("server", "")
