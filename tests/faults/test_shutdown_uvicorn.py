"""SIGTERM to a real uvicorn with streams and sockets open (two HTTP/WebSocket implementation
pairs): every stream ends with its ``shutdown`` frame, every socket is closed with 1012, every
handler that started ran its ``finally`` block (read from the journal file the server process
wrote), the process exits promptly and logs no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.faults.components import JOURNAL_FILE_VARIABLE, SECRET
from tests.faults.harness import WAIT
from tests.servers import UvicornServer, uvicorn_server
from tests.websocket_uvicorn.wsclient import close_code_of

pytestmark = pytest.mark.uvicorn

APP = "tests.faults.uvicorn_app:app"
EXIT_WITHIN = 10.0
EXPECTED_EXIT = (0, -signal.SIGTERM)
STACKS = [("h11", "websockets"), ("httptools", "wsproto")]


def read_journal(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [(kind, tag) for kind, _, tag in (line.partition(" ") for line in lines)]


async def journal_has(path: Path, *starts: str) -> None:
    """Poll the journal file (written by another process: there is nothing to wait on)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not all(("start", tag) in read_journal(path) for tag in starts):
        assert loop.time() < deadline, f"handlers never started: {read_journal(path)}"
        await asyncio.sleep(0.05)


async def read_stream(
    server: UvicornServer, params: dict[str, Any], opened: asyncio.Event
) -> list[SSEEvent]:
    """Every event of one stream until the server ends it."""
    events: list[SSEEvent] = []
    decoder = SSEDecoder()
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client,
        client.stream("GET", params.pop("path"), params=params) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            events.extend(decoder.feed(chunk))
            if any(event.event == "message" for event in events):
                opened.set()
    return events


def wait_for_exit(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize(("http", "ws"), STACKS)
async def test_sigterm_ends_every_stream_and_socket_and_runs_every_finally(
    http: str, ws: str, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    env = {"COMPONENT_FRAMEWORK_SECRET_KEY": SECRET, JOURNAL_FILE_VARIABLE: str(journal)}
    arguments = ["--http", http, "--ws", ws, "--lifespan", "on", "--no-access-log"]
    with uvicorn_server(APP, tmp_path, arguments, env) as server:
        streams = {
            "story": {"path": "/components/story/stream/", "tag": "story", "steps": 3,
                      "gated": "true"},
            "live": {"path": "/components/chat/stream/", "room": "r1"},
        }  # fmt: skip
        opened = {name: asyncio.Event() for name in streams}
        readers = {
            name: asyncio.create_task(read_stream(server, params, opened[name]))
            for name, params in streams.items()
        }
        base = f"ws://127.0.0.1:{server.port}/components"
        async with contextlib.AsyncExitStack() as stack:
            sockets: dict[str, ClientConnection] = {}
            for name, url in (
                ("idle", f"{base}/counter/ws/"),
                ("holding", f"{base}/chat/ws/?room=r1"),
                ("endless", f"{base}/chat/ws/?room=r2"),
            ):
                sockets[name] = await stack.enter_async_context(
                    connect(url, open_timeout=WAIT, close_timeout=WAIT)
                )
                first = json.loads(await asyncio.wait_for(sockets[name].recv(), WAIT))
                assert first["type"] == "render"
            hold = {"type": "event", "event": "hold", "payload": {"tag": "hold"}, "ref": 1}
            endless = {"type": "event", "event": "endless", "payload": {"tag": "gen"}, "ref": 2}
            await sockets["holding"].send(json.dumps(hold))
            await sockets["endless"].send(json.dumps(endless))
            for event in opened.values():
                await asyncio.wait_for(event.wait(), WAIT)
            await journal_has(journal, "story", "hold", "gen")

            server.process.send_signal(signal.SIGTERM)

            closes = {name: await close_code_of(socket) for name, socket in sockets.items()}
            events = {name: await asyncio.wait_for(task, WAIT) for name, task in readers.items()}
        status = await asyncio.to_thread(wait_for_exit, server.process)
        log = server.log()

    assert closes == dict.fromkeys(sockets, (1012, "the server is restarting"))
    for name, received in events.items():
        assert received[-1].event == "shutdown", (name, received)
        assert json.loads(received[-1].data)["code"] == "server_shutdown"
    assert status in EXPECTED_EXIT, f"exit status {status} (None: still running)"
    entries = read_journal(journal)
    starts = Counter(tag for kind, tag in entries if kind == "start")
    finallies = Counter(tag for kind, tag in entries if kind == "finally")
    assert starts == Counter({"story": 1, "hold": 1, "gen": 1}), entries
    assert finallies == starts, f"a handler's finally did not run: {entries}"
    assert "Traceback" not in log, log
