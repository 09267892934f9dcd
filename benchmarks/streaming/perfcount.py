"""Instructions per paced token through uvicorn: ``python -m benchmarks.streaming.perfcount``.

Each run starts a fresh uvicorn worker (the streaming benchmark's command, pinned to the first
CPU; ``$STREAM_BENCH_GC`` set to ``--gc``), warms it up with one short stream, starts the paced
load (``--streams`` stamped streams at 100 tokens/s for ``--seconds``, opened over 1 s, the
benchmark's client on the second CPU), and counts the worker's user-space instructions with
``perf stat -e instructions:u -p PID`` over the window ``--window START:END`` (seconds after the
load started: a window inside the steady state, after the ramp and before the last streams end).
Just after the window it reads the worker's tracked objects (``GET /_bench/objects``); the
client reports p99 token latency and the collections of the whole run as the benchmark does.

Instructions per token divide the window's count by the tokens the server stamped in the
window (the client counts them: ``--count-window``; the token loop alone sends none, so for it
``streams x rate x window``, the tokens of the window when every token is on time, which they
are at its low CPU share). perf attaches a few milliseconds after the window opens.
Instruction counts barely move with the host's load, which timing does; the kernel's share is
not counted. Where the machine has no hardware counters (a virtual machine without a PMU:
perf answers ``<not supported>``), ``--event task-clock`` counts the worker's CPU time instead:
rough, as any timing on a shared host. The contenders: ``ours`` (the plain
stream), ``page`` (the same stream over a page connection, compact frames), ``sse-starlette`` and
``loop`` (the paced token loop alone, :class:`benchmarks.streaming.app.TokenLoopApp`, no
framework: its client finds no tokens, which is expected, so it has no latency). Needs ``perf``
with ``kernel.perf_event_paranoid`` at most 2. Prints one JSON document and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any, Final, TypeVar

from benchmarks.common.processes import cpu_plan
from benchmarks.streaming.app import GC_ENV, GC_SETTINGS, OBJECTS_PATH
from benchmarks.streaming.client import load_timeout
from benchmarks.streaming.server import (
    OURS,
    OURS_PAGE,
    SSE_STARLETTE,
    Contender,
    StreamServer,
    run_client,
    stream_server,
)

__all__ = ["CONTENDERS", "INSTRUCTIONS", "Window", "main", "perf_count"]

_T = TypeVar("_T")
RATE: Final = 100.0
INSTRUCTIONS: Final = "instructions:u"
RAMP: Final = 1.0
LOOP: Final = Contender("token loop alone", "benchmarks.streaming.app:build_served_token_loop_app")
#: ``--contenders`` names.
CONTENDERS: Final = {"ours": OURS, "page": OURS_PAGE, "sse-starlette": SSE_STARLETTE, "loop": LOOP}


@dataclass(frozen=True, slots=True)
class Window:
    """Seconds after the load started: where the count begins and ends."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def perf_count(pid: int, seconds: float, event: str = INSTRUCTIONS) -> float:
    """What ``perf stat`` counts of ``event`` in ``pid`` over the next ``seconds``
    (instructions; ``task-clock``: CPU milliseconds). Raises ``RuntimeError`` when perf cannot
    count it (no hardware counters: a virtual machine without a PMU)."""
    command = ["perf", "stat", "-x", ",", "-e", event, "-p", str(pid),
               "--", "sleep", f"{seconds:g}"]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in completed.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith(event):
            try:
                return float(fields[0])
            except ValueError:
                raise RuntimeError(f"perf cannot count {event} here: {line}") from None
    raise RuntimeError(f"perf stat failed ({completed.returncode}): {completed.stderr[-2000:]}")


def _objects(port: int) -> dict[str, int] | None:
    """The worker's tracked objects; ``None`` when it does not answer within 10 s (a worker
    seconds behind its streams)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{OBJECTS_PATH}", timeout=10) as answer:
            found: dict[str, int] = json.loads(answer.read())
    except OSError:
        return None
    return found


def _one_run(
    contender: Contender, streams: int, seconds: float, window: Window, gc_setting: str, event: str
) -> dict[str, Any]:
    plan = cpu_plan()
    tokens = round(RATE * seconds)
    options = ["--streams", str(streams), "--rate", f"{RATE:g}", "--tokens", str(tokens),
               "--ramp", f"{RAMP:g}", *contender.client_options]  # fmt: skip
    if contender is LOOP:
        options.append("--plain")
    timeout = load_timeout(streams, RATE, tokens, RAMP) + 120
    result: dict[str, Any] = {}
    with stream_server(plan, contender.factory, env={GC_ENV: gc_setting}) as server:
        warm = ["--tokens", "100", *contender.client_options]
        if contender is LOOP:
            warm.append("--plain")
        run_client(plan, "burst", server, warm, 60)
        before = _objects(server.port)
        counted_from = time.time() + window.start
        counted_to = counted_from + window.seconds
        options += ["--count-window", f"{counted_from:.6f}:{counted_to:.6f}"]

        def load(server: StreamServer = server) -> None:
            result.update(run_client(plan, "load", server, options, timeout))

        client = threading.Thread(target=load)
        client.start()
        time.sleep(max(0.0, counted_from - time.time()))
        count = perf_count(server.worker_pid, window.seconds, event)
        late_s = time.time() - counted_to
        during = _objects(server.port)
        client.join()
    on_schedule = streams * RATE * window.seconds
    carried = result.get("tokens_in_window") if contender is not LOOP else None
    window_tokens = carried or on_schedule
    latency = result.get("schedule_latency") or {}
    p99 = latency.get("p99_ms") if contender is not LOOP else None
    return {
        "contender": contender.name,
        "gc": gc_setting,
        "streams": streams,
        "window_s": [window.start, window.end],
        "count_ended_late_s": round(late_s, 3),
        "tokens_in_window": window_tokens,
        "tokens_on_schedule": on_schedule,
        "event": event,
        "count": count,
        "per_token": round(count / window_tokens, 1 if event == INSTRUCTIONS else 6),
        "on_time": p99 is not None and p99 < 100,
        "p99_ms": p99,
        "server_gc": result.get("server_gc"),
        "server_cpu_share": result.get("server_cpu_share"),
        "objects_before": before,
        "objects_during": during,
        "error": result.get("error") if contender is not LOOP else None,
    }


def _table(runs: Sequence[dict[str, Any]]) -> str:
    lines = [
        f"| contender | gc | streams | {runs[0]['event']}/token (runs) | median | p99 ms (runs) "
        "| full GCs (runs) | gen2 max ms | tracked objects during (generations + frozen) |",
        "|---|---|---:|---|---:|---|---|---:|---:|",
    ]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["contender"], run["gc"], run["streams"]), []).append(run)
    for (name, setting, streams), group in groups.items():
        counts = [run["per_token"] for run in group]
        p99 = ", ".join("-" if run["p99_ms"] is None else f"{run['p99_ms']:.1f}" for run in group)
        full = ", ".join(str((run["server_gc"] or {}).get("gen2", {}).get("collections", "-"))
                         for run in group)  # fmt: skip
        longest = max(((run["server_gc"] or {}).get("gen2", {}).get("max_ms", 0.0)
                       for run in group), default=0.0)  # fmt: skip
        during = group[-1]["objects_during"] or dict.fromkeys(("gen0", "gen1", "gen2", "frozen"), 0)
        lines.append(
            f"| {name} | {setting} | {streams} | {', '.join(_figure(c) for c in counts)} "
            f"| {_figure(median(counts))} | {p99} | {full} | {longest:.1f} "
            f"| {during['gen0'] + during['gen1'] + during['gen2']:,} + {during['frozen']:,} |"
        )
    return "\n".join(lines)


def _figure(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value * 1000:.1f} µs"


def _window(text: str) -> Window:
    start, _, end = text.partition(":")
    try:
        window = Window(float(start), float(end))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not START:END: {text!r}") from None
    if not 0 <= window.start < window.end:
        raise argparse.ArgumentTypeError(f"not 0 <= START < END: {text!r}")
    return window


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.streaming.perfcount",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--contenders",
        default="ours,sse-starlette",
        help=f"comma-separated, of {', '.join(CONTENDERS)} (default: ours,sse-starlette)",
    )
    parser.add_argument("--streams", default="300,600", help="stream counts (default: 300,600)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default: 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each stream's length")
    parser.add_argument(
        "--window", type=_window, default=Window(3, 8), help="START:END (default: 3:8)"
    )
    parser.add_argument(
        "--gc",
        default="default",
        help=f"comma-separated collector settings, of {', '.join(GC_SETTINGS)} "
        "(default: default), applied to every contender alike",
    )
    parser.add_argument(
        "--event",
        default=INSTRUCTIONS,
        help=f"the perf event (default: {INSTRUCTIONS}; task-clock: CPU ms, rough, "
        "where the machine has no hardware counters)",
    )
    parser.add_argument("--json", action="store_true", help="print the runs' JSON as well")
    arguments = parser.parse_args(argv)
    arguments.contenders = [_choice(name, CONTENDERS, parser) for name in
                            arguments.contenders.split(",")]  # fmt: skip
    arguments.gc = [_choice(name, dict.fromkeys(GC_SETTINGS, name), parser)
                    for name in arguments.gc.split(",")]  # fmt: skip
    if not all(part.isdigit() and int(part) for part in arguments.streams.split(",")):
        parser.error(f"--streams: not counts: {arguments.streams!r}")
    arguments.streams = [int(part) for part in arguments.streams.split(",")]
    if arguments.window.end > arguments.seconds:
        parser.error("--window ends after the streams do")
    return arguments


def _choice(name: str, choices: dict[str, _T], parser: argparse.ArgumentParser) -> _T:
    if name not in choices:
        parser.error(f"{name!r} is not one of {', '.join(choices)}")
    return choices[name]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the counts; print the table (and ``--json``); exit 2 without ``perf``."""
    arguments = _arguments(argv)
    if shutil.which("perf") is None:
        print("perf is not installed", file=sys.stderr)
        return 2
    runs = []
    for _ in range(arguments.rounds):
        for streams in arguments.streams:
            for setting in arguments.gc:
                for contender in arguments.contenders:
                    run = _one_run(contender, streams, arguments.seconds, arguments.window,
                                   setting, arguments.event)  # fmt: skip
                    runs.append(run)
                    print(json.dumps(run), file=sys.stderr, flush=True)
    if arguments.json:
        print(json.dumps(runs))
    print(_table(runs))
    return 1 if any(run["error"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
