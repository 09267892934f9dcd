"""What one event round trip costs a real server worker in instructions, counted through the
server: ``python -m benchmarks.websocket.workercount [--contenders ...] [--extra N]``.

Runs each contender's uvicorn as the benchmark's ``--parts rtt`` does (one worker, ``--ws`` as
asked, httptools, uvloop; the command of :func:`~benchmarks.websocket.server.server_command`)
under valgrind's cachegrind (no cache simulation, ``PYTHONHASHSEED`` fixed), and drives it from
this process with one connection in a closed loop: the benchmark's own client
(:class:`~benchmarks.common.wsclient.WsProtocol`, every answer checked as the benchmark checks
it), ``--warmup`` round trips, then ``--round-trips``, then the connection closes and the server
is stopped (SIGTERM: cachegrind writes its counts when the worker exits). Two runs per contender,
the second with ``--extra`` more round trips: the difference over ``--extra`` is what one round
trip costs the worker in user space (uvicorn, its WebSocket stack, uvloop, CPython and the app;
the kernel excluded), without the start-up, the handshake and the shutdown both runs share.
``--repeats`` pairs show the spread (the loop's turns depend a little on timing).

Counts the same on a busy machine as on a quiet one. ``perf stat -e instructions:u`` would
count the native worker instead, but only where the machine exposes hardware counters (a
virtual machine often does not: ``<not supported>``). Diagnostic only: slow (a minute or two
per run, ``--jobs`` runs at a time), never fails on the figures (status 2 when valgrind is
missing or a run fails, 1 when an answer was wrong).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from statistics import median
from typing import Final

import uvloop

from benchmarks.common.processes import HOST, free_port, start_process, wait_ready
from benchmarks.common.wsclient import WrongAnswer, WsProtocol
from benchmarks.websocket.app import COUNTER_PATH
from benchmarks.websocket.cachesim import FIGURES, find_valgrind, parse_counts
from benchmarks.websocket.client import check_render
from benchmarks.websocket.report import CONTENDERS
from benchmarks.websocket.server import server_command

__all__ = ["main", "round_trips"]

#: How long a server under valgrind may take to start, and to stop and write its counts.
VALGRIND_START: Final = 300.0
VALGRIND_STOP: Final = 300.0
WS_IMPLEMENTATIONS: Final = ("websockets", "websockets-sansio", "wsproto")


def _contenders(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in CONTENDERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown contenders {unknown}; of {list(CONTENDERS)}")
    return names


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket.workercount",
                                     description=__doc__)  # fmt: skip
    parser.add_argument("--contenders", type=_contenders, default="components,floor,litestar",
                        help="comma-separated, of " + ", ".join(CONTENDERS))  # fmt: skip
    parser.add_argument("--ws", default="websockets", choices=WS_IMPLEMENTATIONS)
    parser.add_argument("--warmup", type=int, default=200, help="round trips first")
    parser.add_argument("--round-trips", type=int, default=200, help="of the short run")
    parser.add_argument("--extra", type=int, default=1000, help="the long run's more")
    parser.add_argument("--repeats", type=int, default=1, help="pairs of runs per contender")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--cache-sim", action="store_true",
                        help="simulate the caches too (L1 32 KiB each, last level 2 MiB): "
                        "the misses per round trip besides the instructions")  # fmt: skip
    arguments = parser.parse_args(argv)
    if min(arguments.warmup, arguments.round_trips) < 0 or min(arguments.extra,
                                                               arguments.repeats) < 1:  # fmt: skip
        parser.error("expected --warmup, --round-trips >= 0 and --extra, --repeats >= 1")
    return arguments


async def round_trips(port: int, count: int) -> None:
    """One connection to the counter on ``port``: ``count`` checked increments, closed loop,
    then closed (``WrongAnswer`` when an answer is wrong)."""
    connection = WsProtocol(COUNTER_PATH, port)
    await asyncio.get_running_loop().create_connection(lambda: connection, HOST, port)
    await connection.opened
    _, first = await connection.receive()
    check_render(first, None, 0)
    for ref in range(1, count + 1):
        connection.send_text(f'{{"type":"event","event":"increment","payload":{{}},"ref":{ref}}}')
        _, data = await connection.receive()
        check_render(data, ref, ref)
    connection.close()
    await asyncio.wait_for(connection.closed, 60)


def _run(
    valgrind: str, contender: str, ws: str, count: int, out: Path, cache_sim: bool
) -> dict[str, int]:
    """One server under cachegrind driven through ``count`` round trips; its counts."""
    port = free_port()
    caches = (["--cache-sim=yes", "--LL=2097152,16,64", "--D1=32768,8,64", "--I1=32768,8,64"]
              if cache_sim else ["--cache-sim=no"])  # fmt: skip
    command = [valgrind, "--tool=cachegrind", *caches, f"--cachegrind-out-file={out}",
               *server_command(CONTENDERS[contender][0], port, ws)]  # fmt: skip
    with ExitStack() as stack:
        server = start_process(command, port, stack, env={"PYTHONHASHSEED": "0"})
        wait_ready([server], VALGRIND_START)
        uvloop.run(round_trips(port, count))
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(VALGRIND_STOP)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{contender}: the server did not stop") from None
    return parse_counts(out.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    """Count every contender's short and long runs; print the instructions per round trip."""
    arguments = _arguments(argv)
    valgrind = find_valgrind()
    if valgrind is None:
        return 2
    short = arguments.warmup + arguments.round_trips
    lengths = (short, short + arguments.extra)
    with tempfile.TemporaryDirectory() as directory, ThreadPoolExecutor(arguments.jobs) as pool:
        runs = {
            (name, repeat, count): pool.submit(
                _run,
                valgrind,
                name,
                arguments.ws,
                count,
                Path(directory) / f"{name}-{repeat}-{count}.out",
                arguments.cache_sim,
            )
            for repeat in range(arguments.repeats)
            for name in arguments.contenders
            for count in lengths
        }
        try:
            counts = {key: run.result() for key, run in runs.items()}
        except WrongAnswer as exc:
            print(f"ERROR: wrong answer: {exc}", file=sys.stderr)
            return 1
        except (RuntimeError, ValueError, OSError, TimeoutError) as exc:
            print(f"ERROR: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    print(f"per round trip, in the server worker (uvicorn --ws {arguments.ws} under "
          f"cachegrind, 1 client, {arguments.extra:,} round trips measured per pair; median, "
          "then each pair)\n")  # fmt: skip
    figures = FIGURES if arguments.cache_sim else {"instructions": FIGURES["instructions"]}
    print("| contender | " + " | ".join(figures) + " |")
    print("|---|" + "---|" * len(figures))
    for name in arguments.contenders:
        pairs = [
            {
                figure: sum(counts[name, repeat, lengths[1]][event]
                            - counts[name, repeat, lengths[0]][event] for event in events)
                / arguments.extra
                for figure, events in figures.items()
            }
            for repeat in range(arguments.repeats)
        ]  # fmt: skip
        cells = []
        for figure in figures:
            values = [pair[figure] for pair in pairs]
            each = ", ".join(f"{value:,.1f}" for value in values)
            cells.append(f"{median(values):,.1f} ({each})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
