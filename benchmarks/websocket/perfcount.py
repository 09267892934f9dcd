"""What a broadcast's member costs the whole server worker, counted:
``python -m benchmarks.websocket.perfcount``.

Starts one real uvicorn (``--ws wsproto`` by default, httptools, uvloop, one worker, its
keep-alive pings off, the hub's slices as much longer as valgrind is slower, as
:mod:`benchmarks.websocket.cachesim` makes them) serving
:func:`benchmarks.websocket.app.build_ws_components` under valgrind's callgrind with the
instrumentation off, opens ``--connections`` idle ticker connections with the benchmark's own
client (:class:`benchmarks.websocket.client.ConnectionPool`), broadcasts once to warm up,
turns the instrumentation on (``callgrind_control``) and ``--repeats`` times counts the worker's
user-space instructions (uvicorn, wsproto, uvloop, CPython and the library; the kernel
excluded) over two windows of the same shape:

- ``--broadcasts`` rounds of ``POST /_bench/broadcast``, each awaited until every connection
  has its render (checked as the benchmark checks it);
- as many ``GET /_bench/gc`` requests, each followed by an idle pause as long as the broadcast
  round it stands for took.

The first window less the second, divided by connections times broadcasts, is what one member
of a broadcast costs the worker: the library's render, snapshot and message, and what the
message makes uvicorn, wsproto and uvloop do. ``--keep DIR`` keeps each window's callgrind
dump there (``callgrind_annotate`` splits it by function and by shared object).

Why callgrind and not ``perf stat -e instructions:u``: the virtual machines the benchmarks run
on may expose no hardware counters (perf answers ``<not supported>``); callgrind counts the
same instructions in software, the same on a busy machine as on a quiet one. Diagnostic only:
slow (about 3 ms of wall time per member under valgrind); never fails on the figures (status 2
when valgrind is missing or a run fails, 1 when a render was wrong or missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

import uvloop

from benchmarks.common.control import control_request
from benchmarks.common.probes import raise_open_files
from benchmarks.common.processes import ServerProcess, free_port, start_process, wait_ready
from benchmarks.common.wsclient import Arrivals, WrongAnswer, WsProtocol
from benchmarks.websocket.app import BROADCAST_PATH, GC_PATH, SLICE_ENV, TICKER_PATH
from benchmarks.websocket.cachesim import VALGRIND_PACE
from benchmarks.websocket.client import ConnectionPool, check_ticker
from benchmarks.websocket.server import server_command
from component_framework.core.turns import SLICE_SECONDS

__all__ = ["main", "parse_totals", "per_member"]

VALGRIND: Final = "valgrind"
CONTROL: Final = "callgrind_control"
#: uvicorn's start under valgrind (imports run on its JIT, instrumentation off).
START_TIMEOUT: Final = 300.0


def parse_totals(text: str) -> int:
    """The instructions (``Ir``) of one callgrind dump: its ``totals:`` line. Raises
    ``ValueError`` when the dump has none."""
    for line in text.splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError("no totals line in the callgrind dump")


def per_member(busy: int, idle: int, connections: int, broadcasts: int) -> float:
    """Instructions per member: the broadcast window less the idle one, per member reached."""
    return (busy - idle) / (connections * broadcasts)


class _Callgrind:
    """Controls the callgrind run of process ``pid``, whose dumps go to ``directory``."""

    def __init__(self, pid: int, directory: Path) -> None:
        self.pid = pid
        self.directory = directory
        self.dumps = 0

    def command(self, *options: str) -> None:
        subprocess.run([CONTROL, *options, str(self.pid)], check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def dump(self) -> tuple[int, Path]:
        """Dump what was counted since the last dump (or zeroing); its instructions and file."""
        self.command("--dump")
        self.dumps += 1
        path = self.directory / f"callgrind.out.{self.dumps}"
        return parse_totals(path.read_text()), path


@contextmanager
def _server(ws: str, directory: Path) -> Iterator[ServerProcess]:
    prefix = [VALGRIND, "--tool=callgrind", "--instr-atstart=no",
              f"--callgrind-out-file={directory / 'callgrind.out'}"]  # fmt: skip
    port = free_port()
    with ExitStack() as stack:
        # Keep-alive pings off: a window under valgrind outlasts uvicorn's 20 s interval, and
        # a round of pings to every connection in one window and not in its twin would count.
        command = [*prefix, *server_command("build_ws_components", port, ws),
                   "--ws-ping-interval", "0"]  # fmt: skip
        slices = {SLICE_ENV: str(SLICE_SECONDS * VALGRIND_PACE)}
        server = start_process(command, port, stack, env=slices)
        wait_ready([server], START_TIMEOUT)
        yield server


async def _broadcast(pool: ConnectionPool, arrivals: Arrivals, port: int, price: float) -> None:
    target = arrivals.total + len(pool.connections)
    await control_request(port, "POST", BROADCAST_PATH, json.dumps({"price": price}).encode(),
                          within=600)  # fmt: skip
    if not await arrivals.wait(target, 600):
        raise WrongAnswer(f"{arrivals.total - target + len(pool.connections)} of "
                          f"{len(pool.connections)} renders arrived")  # fmt: skip
    for connection in pool.connections:
        check_ticker(connection.messages[-1][1], price)


async def _windows(
    control: _Callgrind, port: int, pool: ConnectionPool, arrivals: Arrivals, prices: list[float]
) -> tuple[tuple[int, Path], tuple[int, Path]]:
    """One broadcast window and its idle twin: each one's instructions and dump."""
    paces: list[float] = []
    control.command("--zero")
    for price in prices:
        started = time.perf_counter()
        await _broadcast(pool, arrivals, port, price)
        paces.append(time.perf_counter() - started)
    busy = control.dump()
    for pace in paces:
        await control_request(port, "GET", GC_PATH, within=600)
        await asyncio.sleep(pace)
    return busy, control.dump()


async def _count(control: _Callgrind, port: int, arguments: argparse.Namespace) -> list[float]:
    pool, arrivals = ConnectionPool(), Arrivals()
    count, broadcasts = arguments.connections, arguments.broadcasts
    await asyncio.gather(*(pool.open(lambda: WsProtocol(TICKER_PATH, port, clock=time.time,
                                                        on_message=arrivals.on_message), port)
                           for _ in range(count)))  # fmt: skip
    try:
        if pool.failed or not await arrivals.wait(count, 600):
            raise WrongAnswer(f"{len(pool.failed)} of {count} connections failed")
        await _broadcast(pool, arrivals, port, 99.25)  # warm-up: every ticker's first update
        control.command("--instr=on")
        figures = []
        for round_ in range(arguments.repeats):
            prices = [100.25 + round_ * broadcasts + index for index in range(broadcasts)]
            (busy, busy_dump), (idle, idle_dump) = await _windows(
                control, port, pool, arrivals, prices
            )
            figure = per_member(busy, idle, count, broadcasts)
            print(f"round {round_ + 1}: broadcast window {busy:,} instructions ({busy_dump.name})"
                  f", idle window {idle:,} ({idle_dump.name}): {figure:,.0f} per member",
                  flush=True)  # fmt: skip
            figures.append(figure)
        return figures
    finally:
        await pool.close_all()


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket.perfcount",
                                     description=(__doc__ or "").split("\n\n")[0])  # fmt: skip
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--broadcasts", type=int, default=3, help="broadcasts per window")
    parser.add_argument("--repeats", type=int, default=3, help="window pairs")
    parser.add_argument("--ws", default="wsproto", help="uvicorn's WebSocket implementation")
    parser.add_argument("--keep", type=Path, default=None,
                        help="a directory to copy the callgrind dumps to")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Count; print each round and the median."""
    arguments = _arguments(argv)
    if shutil.which(VALGRIND) is None or shutil.which(CONTROL) is None:
        print("valgrind (with callgrind_control) is not installed", file=sys.stderr)
        return 2
    raise_open_files(65536)
    try:
        with tempfile.TemporaryDirectory() as name, _server(arguments.ws, Path(name)) as server:
            control = _Callgrind(server.worker_pid, Path(name))
            figures = uvloop.run(_count(control, server.port, arguments))
            if arguments.keep is not None:
                arguments.keep.mkdir(parents=True, exist_ok=True)
                for dump in Path(name).glob("callgrind.out.*"):
                    shutil.copy(dump, arguments.keep)
    except WrongAnswer as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    median = statistics.median(figures)
    print(f"{arguments.connections:,} connections, {arguments.broadcasts} broadcasts a window, "
          f"uvicorn --ws {arguments.ws} under callgrind: median {median:,.0f} instructions "
          f"per member (min {min(figures):,.0f}, max {max(figures):,.0f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
