"""What the benchmarks' clients read about a server process and its CPU, and how they sum up.

From ``/proc``: a process's RSS (``VmRSS``) and CPU time, a CPU's busy and softirq ticks;
:class:`CpuMeter` and :class:`RssSampler` turn them into what one scenario used. Also the
nearest-rank :func:`percentile` and :func:`summary_ms` the reports use, and
:func:`raise_open_files` for processes holding thousands of sockets. Linux only, like the rest
of the harness.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Sequence
from typing import Final

__all__ = [
    "CpuMeter",
    "RssSampler",
    "percentile",
    "raise_open_files",
    "read_core_jiffies",
    "read_cpu_seconds",
    "read_rss_kib",
    "summary_ms",
]

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
_SAMPLE_EVERY: Final = 0.5


def read_rss_kib(pid: int) -> int:
    """``VmRSS`` of process ``pid`` in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def read_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def read_core_jiffies(cpu: int) -> tuple[int, int, int]:
    """``(busy, softirq, total)`` clock ticks of CPU ``cpu`` from ``/proc/stat``. Busy counts
    every process on that CPU; softirq is mostly the kernel's loopback networking, which no
    process's own CPU time shows."""
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith(f"cpu{cpu} "):
                values = [int(value) for value in line.split()[1:]]
                idle = values[3] + values[4]  # idle, iowait
                total = sum(values[:8])  # without guest time, already counted in user
                return total - idle, values[6], total
    raise RuntimeError(f"no cpu{cpu} line in /proc/stat")


class CpuMeter:
    """CPU used between :meth:`start` and :meth:`stop`: the server process, its core, us."""

    def __init__(self, pid: int, core: int | None) -> None:
        self.pid = pid
        self.core = core
        self.result: dict[str, float | None] = {}

    def start(self) -> None:
        self._wall = time.time()
        self._process = read_cpu_seconds(self.pid)
        self._client = time.process_time()
        self._core = read_core_jiffies(self.core) if self.core is not None else (0, 0, 0)

    def stop(self) -> dict[str, float | None]:
        wall = time.time() - self._wall
        process = read_cpu_seconds(self.pid) - self._process
        busy: float | None = None
        softirq: float | None = None
        if self.core is not None:
            now = read_core_jiffies(self.core)
            total = max(1, now[2] - self._core[2])
            busy = round((now[0] - self._core[0]) / total, 3)
            softirq = round((now[1] - self._core[1]) / total, 3)
        self.result = {
            "server_cpu_s": round(process, 3),
            "server_cpu_share": round(process / wall, 3),
            "server_core_busy": busy,
            "server_core_softirq": softirq,
            "client_cpu_share": round((time.process_time() - self._client) / wall, 3),
        }
        return self.result


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max of durations in seconds, in ms."""
    ordered = sorted(values)
    return {
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
        "p90_ms": round(percentile(ordered, 0.90) * 1000, 3),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3) if ordered else float("nan"),
    }


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft open-file limit towards ``wanted`` (at most the hard limit);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class RssSampler:
    """The largest ``VmRSS`` of a process, read every :data:`_SAMPLE_EVERY` seconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start_kib = self.peak_kib = read_rss_kib(pid)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, read_rss_kib(self.pid))
            await asyncio.sleep(_SAMPLE_EVERY)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.peak_kib = max(self.peak_kib, read_rss_kib(self.pid))
        return self.peak_kib
