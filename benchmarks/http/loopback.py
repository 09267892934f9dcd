"""Loopback measurement: each contender under a real server, loaded with ``wrk``.

Every contender runs in its own ``uvicorn --factory`` process (httptools, uvloop, one worker,
no access log, log level warning), or ``granian --interface asgi --factory`` (one worker,
uvloop, HTTP/1, no access log: ``benchmarks.common.processes.granian_command``), on 127.0.0.1
and a free port. With two or more CPUs and
``taskset`` available, the servers are pinned to the first CPU and ``wrk`` to the second, so
the load generator never competes with the server it measures. All servers start first (an idle
uvicorn costs nothing), each answer is checked over HTTP before and after the load, then the
``wrk`` runs interleave the contenders round by round; per contender the reported run is the one
with the median requests/s. Around each run the CPU time of the process that runs the app
(uvicorn, or granian's worker, all its threads) is read from ``/proc``: server CPU µs per
request, which a busy shared machine distorts far less than requests/s. A run with non-2xx
answers fails; timing never does.
"""

from __future__ import annotations

import http.client
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from benchmarks.common.counter import CONTENT_TYPE, PATH, WrongAnswer, check_answer, request_body
from benchmarks.common.probes import read_cpu_seconds
from benchmarks.common.processes import (
    CpuPlan,
    ServerName,
    ServerProcess,
    cpu_plan,
    free_port,
    server_command,
    start_process,
)
from benchmarks.http.contenders import Contender

__all__ = ["LoopbackResult", "WrkRun", "run_loopback", "wrk_command"]

WRK: Final = "wrk"
_MARKER: Final = "WRK_JSON "
_START_TIMEOUT: Final = 30.0

_LUA_DONE: Final = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"connect\":%d,\"read\":%d,\"write\":%d," ..
    "\"status\":%d,\"timeout\":%d,\"mean_us\":%.1f,\"stdev_us\":%.1f,\"p50_us\":%d," ..
    "\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One ``wrk`` run's summary (latencies in µs)."""

    requests: int
    duration_us: int
    connect: int
    read: int
    write: int
    status: int
    timeout: int
    mean_us: float
    stdev_us: float
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second."""
        return self.requests / (self.duration_us / 1e6)


@dataclass(frozen=True, slots=True)
class LoopbackResult:
    """Every run of one contender under one server; :attr:`median` is the run reported."""

    key: str
    label: str
    runs: list[WrkRun]
    server: ServerName = "uvicorn"
    #: Server CPU µs per request of each run, in the order of :attr:`runs`.
    cpu_us: list[float] = field(default_factory=list)

    @property
    def cpu_us_per_request(self) -> float:
        """Median server CPU µs per request over the runs."""
        return statistics.median(self.cpu_us)

    @property
    def median(self) -> WrkRun:
        """The run with the median requests/s (the lower middle one for an even count)."""
        ordered = sorted(self.runs, key=lambda run: run.requests_per_second)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def requests_per_second(self) -> float:
        """Median requests/s over the runs."""
        return statistics.median(run.requests_per_second for run in self.runs)

    @property
    def best(self) -> float:
        """The highest requests/s of any run (least disturbed by the rest of the machine)."""
        return max(run.requests_per_second for run in self.runs)


def _post(port: int, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", PATH, body, {"Content-Type": CONTENT_TYPE})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class _Server:
    contender: Contender
    running: ServerProcess

    @property
    def port(self) -> int:
        return self.running.port

    def failure(self, why: str) -> RuntimeError:
        return RuntimeError(f"{self.contender.label}: {why}\n{self.running.output()}")


def _start(contender: Contender, plan: CpuPlan, stack: ExitStack, server: ServerName) -> _Server:
    port = free_port()
    command = [*plan.server, *server_command(server, contender.factory, port)]
    return _Server(contender, start_process(command, port, stack, server=server))


def _check_over_http(server: _Server, body: bytes, deadline: float) -> None:
    """Wait until ``server`` answers, then check its answer."""
    while True:
        if server.running.process.poll() is not None:
            code = server.running.process.returncode
            raise server.failure(f"the server exited with code {code}")
        try:
            status, answer = _post(server.port, body)
        except OSError:
            if time.monotonic() > deadline:
                raise server.failure("the server did not answer in time") from None
            time.sleep(0.05)
            continue
        check_answer(status, answer, server.contender.label)
        return


@contextmanager
def _servers(
    contenders: Sequence[Contender], plan: CpuPlan, server: ServerName
) -> Iterator[list[_Server]]:
    body = request_body()
    with ExitStack() as stack:
        servers = [_start(contender, plan, stack, server) for contender in contenders]
        deadline = time.monotonic() + _START_TIMEOUT
        for one in servers:
            _check_over_http(one, body, deadline)
        yield servers
        for one in servers:
            _check_over_http(one, body, time.monotonic() + 5)


def _lua_script(directory: Path) -> Path:
    body = request_body().decode("ascii")
    script = directory / "counter.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{body}]==]\n"
        f'wrk.headers["Content-Type"] = "{CONTENT_TYPE}"\n' + _LUA_DONE,
        encoding="utf-8",
    )
    return script


def wrk_command(
    plan: CpuPlan, script: Path, port: int, *, connections: int, duration: int
) -> list[str]:
    """The wrk command line for one run."""
    return [
        *plan.wrk, WRK, "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script),
        f"http://127.0.0.1:{port}{PATH}",
    ]  # fmt: skip


def _wrk(command: list[str], duration: int, label: str) -> WrkRun:
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{label}: wrk failed ({completed.returncode}): {completed.stderr}")
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            run = WrkRun(**json.loads(line[len(_MARKER) :]))
            break
    else:
        raise RuntimeError(f"{label}: no summary in wrk output: {completed.stdout}")
    if run.status:
        raise WrongAnswer(f"{label}: {run.status} non-2xx answers under load")
    if run.requests == 0:
        raise WrongAnswer(f"{label}: no request completed under load")
    return run


def run_loopback(
    contenders: Sequence[Contender],
    *,
    connections: int,
    duration: int,
    rounds: int,
    warmup: int,
    plan: CpuPlan | None = None,
    server: ServerName = "uvicorn",
) -> list[LoopbackResult]:
    """Load every contender, each under its own ``server`` process, with wrk; raises if one
    answers wrongly or a tool fails."""
    if shutil.which(WRK) is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    plan = cpu_plan() if plan is None else plan
    runs: dict[str, list[WrkRun]] = {contender.key: [] for contender in contenders}
    cpu: dict[str, list[float]] = {contender.key: [] for contender in contenders}
    with (
        tempfile.TemporaryDirectory() as directory,
        _servers(contenders, plan, server) as running,
    ):
        script = _lua_script(Path(directory))
        if warmup > 0:
            for one in running:
                command = wrk_command(
                    plan, script, one.port, connections=connections, duration=warmup
                )
                _wrk(command, warmup, one.contender.label)
        for index in range(rounds):
            shift = index % len(running)
            for one in [*running[shift:], *running[:shift]]:
                command = wrk_command(
                    plan, script, one.port, connections=connections, duration=duration
                )
                worker = one.running.worker_pid
                used = read_cpu_seconds(worker)
                run = _wrk(command, duration, one.contender.label)
                used = read_cpu_seconds(worker) - used
                runs[one.contender.key].append(run)
                cpu[one.contender.key].append(used * 1e6 / run.requests)
    return [
        LoopbackResult(
            contender.key, contender.label, runs[contender.key], server, cpu[contender.key]
        )
        for contender in contenders
    ]
