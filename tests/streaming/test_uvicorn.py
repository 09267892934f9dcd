"""SSE over a real uvicorn on loopback (``--http h11`` and ``--http httptools``), read
incrementally with ``httpx``: delivery as frames are produced, resume after a dropped
connection, 204 after done, cancellation after the grace, and shutdown on SIGTERM.

The server runs :mod:`tests.streaming.uvicorn_app`; the ``ticker`` component sleeps between
renders and has a 1 s resume grace. Timing checks have wide margins: they tell buffering from
streaming and "cancelled after the grace" from "cancelled at once" or "never", nothing finer.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from component_framework.protocol.sse import SSEDecoder, SSEEvent
from tests.servers import UvicornServer, uvicorn_server
from tests.streaming.exchange import eventually
from tests.streaming.stream_components import JOURNAL_FILE_VARIABLE

pytestmark = pytest.mark.uvicorn

APP = "tests.streaming.uvicorn_app:app"
STREAM = "/components/ticker/stream/"
PATIENT_STREAM = "/components/patient-ticker/stream/"
TICKER_GRACE = 1.0
HTTP_IMPLEMENTATIONS = ["h11", "httptools"]
CLIENT_TIMEOUT = httpx.Timeout(5.0)


def uvicorn_arguments(http: str) -> list[str]:
    return ["--http", http, "--lifespan", "on", "--no-access-log"]


@pytest.fixture(scope="module", params=HTTP_IMPLEMENTATIONS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UvicornServer]:
    """One uvicorn per HTTP implementation for the tests of this module."""
    http: str = request.param
    log_dir = tmp_path_factory.mktemp(f"stream-uvicorn-{http}")
    with uvicorn_server(APP, log_dir, uvicorn_arguments(http)) as running:
        yield running


@dataclass
class Read:
    """What one streaming GET received: status, events with their arrival times, whether the
    server ended the body."""

    status: int
    events: list[SSEEvent] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    ended: bool = False
    body: bytes = b""

    @property
    def last_id(self) -> str:
        ids = [event.id for event in self.events if event.id]
        assert ids, self.events
        return ids[-1]


async def read_stream(
    base_url: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    stop_after: int | None = None,
    path: str = STREAM,
) -> Read:
    """GET the ticker stream (or another at ``path``) on a connection of its own; with
    ``stop_after`` the client drops the connection once that many events arrived."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as client,
        client.stream("GET", path, params=params, headers=headers) as response,
    ):
        read = Read(response.status_code)
        decoder = SSEDecoder()
        async for chunk in response.aiter_raw():
            read.body += chunk
            for event in decoder.feed(chunk):
                read.events.append(event)
                read.arrivals.append(time.monotonic())
            if stop_after is not None and len(read.events) >= stop_after:
                return read  # leaving both blocks closes the connection mid-stream
        read.ended = True
        return read


async def journal_of(server: UvicornServer) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as client:
        response = await client.get("/probe")
    response.raise_for_status()
    return [(kind, tag) for kind, tag in response.json()]


async def until(
    server: UvicornServer, condition: Callable[[list[tuple[str, str]]], bool], within: float = 20
) -> list[tuple[str, str]]:
    """The journal once ``condition`` holds of it (polled; fails after ``within`` s)."""
    deadline = time.monotonic() + within
    while not condition(journal := await journal_of(server)):
        assert time.monotonic() < deadline, f"condition still false after {within} s: {journal}"
        await asyncio.sleep(0.05)
    return journal


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def seqs(events: list[SSEEvent]) -> list[int]:
    return [int(event.id.rpartition(".")[2]) for event in events if event.id]


async def test_frames_arrive_as_they_are_produced(server: UvicornServer) -> None:
    read = await read_stream(
        server.base_url, params={"tag": "incremental", "count": 5, "interval": 0.3}
    )

    assert read.status == 200
    assert read.ended
    assert [e.event for e in read.events] == ["message"] * 5 + ["done"]
    # Produced over about 1.2 s: buffering would deliver everything at once at the end.
    assert read.arrivals[0] < read.arrivals[-1] - 0.5


async def test_resume_after_a_dropped_connection(server: UvicornServer) -> None:
    # The patient ticker's 30 s grace: with the ticker's 1 s, a loaded machine (load average
    # 25) took longer than the grace to reconnect and the resume got ``lost``.
    tag = f"resume-{server.port}"
    params = {"tag": tag, "count": 6, "interval": 0.3}
    first = await read_stream(server.base_url, params=params, stop_after=2, path=PATIENT_STREAM)
    missed = ("tick", f"{tag} 4")  # frames 3 and 4 are kept while the client is away
    await until(server, lambda journal: missed in journal)

    second = await read_stream(
        server.base_url, headers={"Last-Event-ID": first.last_id}, path=PATIENT_STREAM
    )

    assert second.status == 200
    assert second.ended
    received = first.events + second.events
    assert seqs(received) == list(range(1, 8)), "nothing lost, nothing twice"
    run_ids = {event.id.rpartition(".")[0] for event in received if event.id}
    assert len(run_ids) == 1
    for tick, event in enumerate(received[:6], start=1):
        assert event.event == "message"
        assert f"{tag} tick {tick}<" in event.data
    assert received[-1].event == "done"
    journal = await journal_of(server)
    assert journal.count(("start", tag)) == 1, "the work ran once"
    assert ("complete", tag) in journal


async def test_reconnect_after_done_is_204(server: UvicornServer) -> None:
    tag = f"finished-{server.port}"
    read = await read_stream(server.base_url, params={"tag": tag, "count": 2, "interval": 0.01})
    assert read.ended
    assert read.events[-1].event == "done"

    again = await read_stream(server.base_url, headers={"Last-Event-ID": read.last_id})

    assert again.status == 204
    assert again.body == b""
    assert (await journal_of(server)).count(("start", tag)) == 1


async def test_run_is_cancelled_after_the_grace_when_the_client_drops(
    server: UvicornServer,
) -> None:
    tag = f"dropped-{server.port}"
    await read_stream(
        server.base_url, params={"tag": tag, "count": 100, "interval": 0.1}, stop_after=2
    )
    dropped_at = time.monotonic()

    journal: list[tuple[str, str]] = []
    while time.monotonic() - dropped_at < TICKER_GRACE + 4:
        journal = await journal_of(server)
        if ("finally", tag) in journal:
            break
        await asyncio.sleep(0.05)
    waited = time.monotonic() - dropped_at

    assert ("finally", tag) in journal, f"not cancelled within {TICKER_GRACE + 4} s"
    assert ("cancelled", tag) in journal
    assert ("complete", tag) not in journal
    assert waited >= TICKER_GRACE * 0.9, "cancelled before the grace was over"


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
async def test_sigterm_ends_open_streams_and_the_server_exits(http: str, tmp_path: Path) -> None:
    journal_file = tmp_path / "journal.txt"
    env = {JOURNAL_FILE_VARIABLE: str(journal_file)}
    with uvicorn_server(APP, tmp_path, uvicorn_arguments(http), env=env) as server:
        reader = asyncio.create_task(
            read_stream(server.base_url, params={"tag": "sigterm", "count": 1000, "interval": 0.2})
        )
        try:
            await eventually(lambda: "start sigterm" in lines_of(journal_file), within=5)
            await asyncio.sleep(0.3)  # a frame or two on the wire
            signalled_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)

            read = await asyncio.wait_for(reader, 5)
            ended_after = time.monotonic() - signalled_at
            await asyncio.to_thread(server.process.wait, 5)
            exited_after = time.monotonic() - signalled_at
        finally:
            reader.cancel()
        log = server.log()

    assert read.status == 200
    assert read.ended, "the server ended the stream"
    assert read.events[0].event == "message"
    assert read.events[-1].event == "shutdown", read.events
    assert ended_after < 3.0
    assert exited_after < 5.0
    lines = lines_of(journal_file)
    assert "cancelled sigterm" in lines
    assert "finally sigterm" in lines
    assert "Traceback" not in log, log
