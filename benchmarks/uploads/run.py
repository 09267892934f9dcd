"""Upload benchmark: ``python -m benchmarks.uploads [--smoke]``.

Posts one file as ``multipart/form-data`` over loopback to each contender of
:mod:`benchmarks.uploads.app` (ComponentASGI's ``UploadFile`` handler, Starlette's
``UploadFile`` endpoint; the same work: read the file to its end, count its bytes), each under
its own real uvicorn (one worker, httptools, uvloop, pinned to the first CPU when possible),
a fresh server per contender and file size. The client (this process) streams the body from a
generator in 256 KiB pieces with its ``Content-Length`` and checks that the answer counts
every byte. Reported per contender and size: throughput in MB/s (the best and the median of
the rounds, 1 MB = 10^6 bytes, from the first byte sent to the answer read) and the server's
peak RSS (``VmHWM``) after the rounds, and its RSS before the first upload.

Full mode: 1 MB, 20 MB and 200 MB, 5 / 3 / 3 rounds. ``--smoke``: 256 KB and 3 MB, one
round each (a few seconds; ``.ci/run`` and the test suite run it). Results go to
``benchmarks/results/uploads-*.json`` and ``.md``. Exit status 1 when an answer was wrong, 2
when a server fails; timing never fails a run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from benchmarks.common.machine import machine_info
from benchmarks.common.processes import HOST, cpu_plan, free_port, serve, uvicorn_command
from benchmarks.common.report import FAILURES, RESULTS, log, write_results

__all__ = ["CONTENDERS", "FULL", "SMOKE", "UploadProfile", "main", "markdown", "multipart_body"]

BOUNDARY: Final = "benchmark-boundary-7MA4YWxkTrZu0gW"
PIECE: Final = 256 * 1024
#: contender -> (uvicorn factory, upload path)
CONTENDERS: Final = {
    "ComponentASGI UploadFile": ("benchmarks.uploads.app:component_app", "/components/sink/"),
    "Starlette UploadFile": ("benchmarks.uploads.app:starlette_app", "/upload"),
}


@dataclass(frozen=True, slots=True)
class UploadProfile:
    """The file sizes (bytes) and rounds of a run."""

    name: str
    sizes: tuple[int, ...]
    rounds: tuple[int, ...]


FULL: Final = UploadProfile("full", (1_000_000, 20_000_000, 200_000_000), (5, 3, 3))
SMOKE: Final = UploadProfile("smoke", (256_000, 3_000_000), (1, 1))


class WrongAnswer(Exception):
    """A server answered something other than the byte count of the file."""


def multipart_body(
    size: int, fields: Sequence[tuple[str, str]] = ()
) -> tuple[int, Iterator[bytes]]:
    """The length and the pieces of a multipart body holding ``fields`` and a ``size``-byte
    file named ``file``, generated as it is sent (never whole in memory)."""
    head = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    )
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    piece = bytes(range(256)) * (PIECE // 256)

    def pieces() -> Iterator[bytes]:
        yield head
        left = size
        while left > 0:
            yield piece[: min(left, PIECE)]
            left -= min(left, PIECE)
        yield tail

    return len(head) + size + len(tail), pieces()


def _received(contender: str, answer: httpx.Response) -> int:
    if answer.status_code != 200:
        raise WrongAnswer(f"{contender}: status {answer.status_code}: {answer.text[:300]}")
    document = answer.json()
    received = document["state"]["received"] if "state" in document else document["received"]
    return int(received)


def _upload(client: httpx.Client, contender: str, path: str, size: int) -> float:
    """Post one file of ``size`` bytes; the seconds it took. Raises ``WrongAnswer``."""
    fields: list[tuple[str, str]] = []
    if path.startswith("/components/"):
        mounted = client.post(path, json={})
        fields.append(("snapshot", mounted.json()["snapshot"]))
        path += "?event=upload"
    length, pieces = multipart_body(size, fields)
    headers = {
        "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        "content-length": str(length),
    }
    started = time.perf_counter()
    answer = client.post(path, content=pieces, headers=headers)
    elapsed = time.perf_counter() - started
    received = _received(contender, answer)
    if received != size:
        raise WrongAnswer(f"{contender}: counted {received} bytes of {size}")
    return elapsed


def _vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def _measure(contender: str, size: int, rounds: int) -> dict[str, Any]:
    target, path = CONTENDERS[contender]
    port = free_port()
    command = [*cpu_plan().server, *uvicorn_command(target, port)]
    with (
        serve(command, port) as server,
        httpx.Client(base_url=f"http://{HOST}:{port}", timeout=600) as client,
    ):
        start_kib = _vm(server.pid, "VmRSS")
        seconds = [_upload(client, contender, path, size) for _ in range(rounds)]
        server.check_alive()
        peak_kib = _vm(server.pid, "VmHWM")
    rates = sorted(size / elapsed / 1e6 for elapsed in seconds)
    return {
        "size": size,
        "rounds": rounds,
        "best_mb_s": rates[-1],
        "median_mb_s": statistics.median(rates),
        "start_rss_mib": start_kib / 1024,
        "peak_rss_mib": peak_kib / 1024,
    }


def markdown(machine: dict[str, str], profile: UploadProfile, results: dict[str, Any]) -> str:
    """The report: one row per file size and contender."""
    lines = [
        f"# Upload benchmark ({profile.name})",
        "",
        f"One multipart file per request over loopback, a fresh uvicorn per contender and size. "
        f"Machine: {machine.get('cpu', '?')}.",
        "",
        "| file | contender | MB/s best | MB/s median | server RSS before / peak |",
        "| --- | --- | --- | --- | --- |",
    ]
    for contender, rows in results.items():
        for row in rows:
            lines.append(
                f"| {row['size'] / 1e6:g} MB | {contender} | {row['best_mb_s']:,.0f} "
                f"| {row['median_mb_s']:,.0f} | {row['start_rss_mib']:.0f} / "
                f"{row['peak_rss_mib']:.0f} MiB |"
            )
    return "\n".join(lines) + "\n"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.uploads",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--smoke", action="store_true", help="short correctness run")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    arguments = _arguments(argv)
    profile = SMOKE if arguments.smoke else FULL
    started = time.monotonic()
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    errors: list[str] = []
    try:
        for size, rounds in zip(profile.sizes, profile.rounds, strict=True):
            for contender in CONTENDERS:
                try:
                    row = _measure(contender, size, rounds)
                except WrongAnswer as exc:
                    errors.append(str(exc))
                    log(f"  ERROR: {exc}")
                    continue
                results[contender].append(row)
                log(
                    f"  {size / 1e6:g} MB {contender}: {row['best_mb_s']:,.0f} MB/s best, "
                    f"peak RSS {row['peak_rss_mib']:.0f} MiB"
                )
    except FAILURES as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 2
    machine = machine_info()
    report = markdown(machine, profile, results)
    print(report)
    document = {
        "mode": profile.name,
        "machine": machine,
        "settings": asdict(profile),
        "results": results,
        "errors": errors,
    }
    target = write_results(arguments.results, f"uploads-{profile.name}", document, report)
    log(f"[uploads {profile.name}] wrote {target} in {time.monotonic() - started:.0f} s")
    return 1 if errors else 0
