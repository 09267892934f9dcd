"""What an event round trip, or a broadcast's member, costs in instructions and cache misses,
counted rather than timed: ``python -m benchmarks.websocket.cachesim [--part rtt|fanout]``.

Runs the in-process round trip of :mod:`benchmarks.websocket.inprocess` (``--parts rtt``: no
server, ``--clients`` connections in closed loops) for each contender under valgrind's cache
simulator (cachegrind), twice: with ``--events`` and with ``--events`` plus ``--extra``. The
difference divided by ``--extra`` is what one event costs, without the start-up (imports,
connections, warm-up) both runs share. ``--part fanout`` counts the in-process fan-out
instead (``--parts fanout``: ``--connections`` idle ticker connections, the library alone):
``--events`` and ``--extra`` are then broadcasts, and the figures are per member of a
broadcast (the extra broadcasts times the connections), with the hub's slices made as much
longer as valgrind is slower (:data:`VALGRIND_PACE`). Per event: instructions, L1 data
misses (reads and writes), last-level misses (a last level of ``--ll`` bytes, 2 MiB by
default: the cache one worker gets on a shared machine) and L1 instruction misses.

A simulation counts the same on a busy machine as on a quiet one: it tells apart changes of a
few hundred misses per event that the timings of a shared machine cannot. One tree and one
command always count the same (``PYTHONHASHSEED`` is fixed), but any code change moves the heap
and the code around, so differences of a few tens of L1 misses per event are layout, not work.
The tree measured is the one on ``PYTHONPATH``, as for the other diagnostics.

Diagnostic only: slow (about a minute per run, ``--jobs`` runs at a time), needs valgrind,
never fails on the figures (status 2 when valgrind is missing or a run fails).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from benchmarks.common.processes import ROOT
from benchmarks.websocket.inprocess import CONTENDERS, WARMUP_BROADCASTS, contender_names
from component_framework.core.turns import SLICE_SECONDS

__all__ = ["cachegrind", "find_valgrind", "main", "parse_counts", "per_event"]

#: What each figure of the table adds up, from cachegrind's events.
#: How many times slower the fan-out runs under cachegrind than natively (about 1,500 against
#: 16 µs of CPU per member): its slices are made as much longer, so that a slice holds as
#: many members as a native one and the figures do not count a loop turn every few members.
VALGRIND_PACE: Final = 100
FIGURES: Final[dict[str, tuple[str, ...]]] = {
    "instructions": ("Ir",),
    "L1 data misses": ("D1mr", "D1mw"),
    "last-level misses": ("DLmr", "DLmw"),
    "L1 instruction misses": ("I1mr",),
}


def parse_counts(text: str) -> dict[str, int]:
    """The program totals of a cachegrind output file: event name -> count."""
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith("summary:"):
            values = [int(value) for value in line.split()[1:]]
            if len(values) != len(names):
                raise ValueError(f"summary of {len(values)} counts for {len(names)} events")
            return dict(zip(names, values, strict=True))
    raise ValueError("no summary line: not a cachegrind output file")


def per_event(short: Mapping[str, int], long: Mapping[str, int], extra: int) -> dict[str, float]:
    """Each figure of :data:`FIGURES` per event: the long run's counts over the short run's,
    divided by the ``extra`` events the long run had."""
    return {
        figure: sum(long[name] - short[name] for name in names) / extra
        for figure, names in FIGURES.items()
    }


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket.cachesim")
    parser.add_argument("--contenders", type=contender_names, default="components,floor,litestar",
                        help="comma-separated, of " + ", ".join(CONTENDERS))  # fmt: skip
    parser.add_argument("--part", choices=("rtt", "fanout"), default="rtt")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--connections", type=int, default=1000, help="fanout: members")
    parser.add_argument("--events", type=int, default=None,
                        help="events (fanout: broadcasts) of the short run; 500 (4)")  # fmt: skip
    parser.add_argument("--extra", type=int, default=None,
                        help="events (fanout: broadcasts) the long run adds; 4000 (8)")  # fmt: skip
    parser.add_argument("--ll", type=int, default=2 * 1024 * 1024, help="last level, bytes")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (5 clients)")
    arguments = parser.parse_args(argv)
    fanout = arguments.part == "fanout"
    if fanout:  # the library's own fan-out: no other contender has one
        arguments.contenders = ["components"]
    if arguments.events is None:
        arguments.events = 4 if fanout else 500
    if arguments.extra is None:
        arguments.extra = 8 if fanout else 4000
    if arguments.smoke:
        arguments.clients, arguments.connections = 5, 20
        arguments.events, arguments.extra = (WARMUP_BROADCASTS + 1, 2) if fanout else (50, 50)
    if fanout:
        if (
            arguments.connections < 1
            or arguments.events <= WARMUP_BROADCASTS
            or arguments.extra < 1
        ):
            parser.error(f"expected --connections >= 1, --events > {WARMUP_BROADCASTS} and "
                         "--extra >= 1")  # fmt: skip
    elif not 1 <= arguments.clients <= arguments.events or arguments.extra < arguments.clients:
        parser.error("expected 1 <= --clients <= --events and --extra >= --clients")
    return arguments


def _workload(arguments: argparse.Namespace, contender: str, events: int) -> list[str]:
    """The in-process run counted: ``events`` round trips of ``contender``, or (fanout)
    ``events`` broadcasts to the ticker connections."""
    if arguments.part == "fanout":
        slice_seconds = SLICE_SECONDS * VALGRIND_PACE
        return ["--parts", "fanout", "--connections", str(arguments.connections),
                "--broadcasts", str(events), "--slice", str(slice_seconds)]  # fmt: skip
    return ["--parts", "rtt", "--contenders", contender, "--clients", str(arguments.clients),
            "--events", str(events)]  # fmt: skip


def find_valgrind() -> str | None:
    """The valgrind binary, or ``None`` after saying on stderr that it is not installed."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
    return valgrind


def cachegrind(valgrind: str, module: Sequence[str], ll: int, out: Path, what: str) -> str:
    """``python -m`` ``module`` (its name and arguments) under cachegrind, with an L1 of 32 KiB
    each and a last level of ``ll`` bytes, ``PYTHONHASHSEED`` fixed; its output file's text
    (``RuntimeError`` naming ``what`` when the run fails)."""
    command = [
        valgrind, "--tool=cachegrind", "--cache-sim=yes", f"--LL={ll},16,64",
        "--D1=32768,8,64", "--I1=32768,8,64", f"--cachegrind-out-file={out}",
        sys.executable, "-m", *module,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=1800, check=False)  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{completed.stderr[-2000:]}")
    return out.read_text()


def _run(valgrind: str, workload: list[str], ll: int, out: Path) -> str:
    """One run of ``benchmarks.websocket.inprocess`` with ``workload`` under cachegrind; its
    output file's text."""
    module = ["benchmarks.websocket.inprocess", *workload]
    return cachegrind(valgrind, module, ll, out, " ".join(workload))


def _measured(arguments: argparse.Namespace) -> tuple[int, str]:
    """How many events (fanout: members) the long run adds, and what the table shows."""
    ll = f"last level {arguments.ll / 1048576:g} MiB"
    if arguments.part == "fanout":
        members = arguments.extra * arguments.connections
        connections = f"{arguments.connections:,} ticker connections in process"
        return members, f"per member of a broadcast, {connections}, {ll} ({members:,} measured)"
    clients = arguments.clients  # each connection runs events // clients of them
    long_events = arguments.events + arguments.extra
    extra = (long_events // clients - arguments.events // clients) * clients
    return extra, f"per event, {clients:,} clients in process, {ll} ({extra:,} events measured)"


def main(argv: Sequence[str] | None = None) -> int:
    """Count every contender's short and long run; print the figures per event."""
    arguments = _arguments(argv)
    valgrind = find_valgrind()
    if valgrind is None:
        return 2
    names = arguments.contenders
    long_events = arguments.events + arguments.extra
    with tempfile.TemporaryDirectory() as directory, ThreadPoolExecutor(arguments.jobs) as pool:
        folder = Path(directory)
        runs = {
            (name, events): pool.submit(
                _run,
                valgrind,
                _workload(arguments, name, events),
                arguments.ll,
                folder / f"{name}-{events}.out",
            )
            for name in names
            for events in (arguments.events, long_events)
        }
        try:
            counts = {key: parse_counts(run.result()) for key, run in runs.items()}
        except (RuntimeError, ValueError) as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 2
    extra, title = _measured(arguments)
    print(title + "\n")
    print("| contender | " + " | ".join(FIGURES) + " |")
    print("|---|" + "---:|" * len(FIGURES))
    for name in names:
        figures = per_event(counts[name, arguments.events], counts[name, long_events], extra)
        print(f"| {name} | " + " | ".join(f"{value:,.1f}" for value in figures.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
