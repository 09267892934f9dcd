"""Markdown tables and the JSON document of one benchmark run.

Ratios are throughputs relative to the floor (a): above 1 is faster than the floor. In process,
throughput is ``1 / (µs per request)``; over loopback it is requests/s. Each is given for the
median round or run and for the best one (the least disturbed by the rest of the machine). The
targets of the performance issue are checked on all four and reported, never enforced. A run
under several servers (``--server both``) gets a loopback table per server, the server matrix
(requests/s and ratio to the floor of every contender under each server, side by side) and the
targets under each server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from benchmarks.http.inprocess import InProcessResult
from benchmarks.http.loopback import LoopbackResult

__all__ = ["TARGETS", "Loopbacks", "Target", "markdown", "to_json"]

#: Throughputs per contender key, by statistic ("median", "best").
Rates = dict[str, dict[str, float]]
#: Loopback results by server name, in the order the servers ran.
Loopbacks = Mapping[str, Sequence[LoopbackResult]]


@dataclass(frozen=True, slots=True)
class Target:
    """``subject``'s throughput must be at least ``factor`` times ``baseline``'s."""

    subject: str
    baseline: str
    factor: float
    text: str


TARGETS: Final = (
    Target("components", "floor", 0.85, "(b) ComponentASGI standalone >= 0.85x (a) floor"),
    Target("components", "litestar_handler", 1.8, "(b) ComponentASGI standalone >= 1.8x (c)"),
)
_STATISTICS: Final = ("median", "best")


def _rates_inprocess(results: Sequence[InProcessResult]) -> Rates:
    return {
        "median": {result.key: 1e6 / result.us_per_request for result in results},
        "best": {result.key: 1e6 / result.best_us for result in results},
    }


def _rates_cpu(results: Sequence[InProcessResult]) -> Rates:
    return {
        "median": {result.key: 1e6 / result.cpu_us for result in results},
        "best": {result.key: 1e6 / result.cpu_best_us for result in results},
    }


def _rates_loopback(results: Sequence[LoopbackResult]) -> Rates:
    return {
        "median": {result.key: result.requests_per_second for result in results},
        "best": {result.key: result.best for result in results},
    }


def _inprocess_table(results: Sequence[InProcessResult]) -> list[str]:
    first = results[0]
    lines = [
        f"In process: µs per request over {len(first.rounds)} interleaved rounds of "
        f"{first.iterations} requests (uvloop, synthetic scope/receive/send)",
        "",
        "| contender | µs/request (median) | best round | worst round | "
        "throughput vs (a), median | vs (a), best | CPU µs/request (median) | best round | "
        "vs (a) by CPU, median | vs (a) by CPU, best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.label} | {result.us_per_request:.1f} | {result.best_us:.1f} | "
            f"{max(result.rounds):.1f} | {first.us_per_request / result.us_per_request:.2f}x | "
            f"{first.best_us / result.best_us:.2f}x | {result.cpu_us:.1f} | "
            f"{result.cpu_best_us:.1f} | {first.cpu_us / result.cpu_us:.2f}x | "
            f"{first.cpu_best_us / result.cpu_best_us:.2f}x |"
        )
    return lines


def _loopback_table(results: Sequence[LoopbackResult], setup: str) -> list[str]:
    first = results[0]
    lines = [
        f"Over loopback: {first.server} + wrk, {setup}; {len(first.runs)} interleaved runs per "
        "contender; latencies (ms) are those of the median run",
        "",
        "| contender | requests/s (median) | best run | worst run | p50 | p90 | p99 | "
        "throughput vs (a), median | vs (a), best | server CPU µs/request (median) | "
        "vs (a) by CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        run = result.median
        worst = min(r.requests_per_second for r in result.runs)
        lines.append(
            f"| {result.label} | {result.requests_per_second:,.0f} | {result.best:,.0f} | "
            f"{worst:,.0f} | {run.p50_us / 1000:.2f} | {run.p90_us / 1000:.2f} | "
            f"{run.p99_us / 1000:.2f} | "
            f"{result.requests_per_second / first.requests_per_second:.2f}x | "
            f"{result.best / first.best:.2f}x | {result.cpu_us_per_request:.1f} | "
            f"{first.cpu_us_per_request / result.cpu_us_per_request:.2f}x |"
        )
    return lines


def _matrix_table(loopback: Loopbacks) -> list[str]:
    """Every contender under every server: median requests/s and the ratio to that server's
    floor."""
    servers = list(loopback)
    lines = [
        "Server matrix: median requests/s over loopback and throughput vs (a) under the same "
        "server; server CPU µs per request (median; the process running the app, all threads)",
        "",
        "| contender | "
        + " | ".join(f"{name} req/s | {name} vs (a) | {name} CPU µs/req" for name in servers)
        + " |",
        "|---|" + "---:|---:|---:|" * len(servers),
    ]
    floors = {name: results[0].requests_per_second for name, results in loopback.items()}
    for index, first in enumerate(loopback[servers[0]]):
        cells = []
        for name in servers:
            result = loopback[name][index]
            cells.append(f"{result.requests_per_second:,.0f}")
            cells.append(f"{result.requests_per_second / floors[name]:.2f}x")
            cells.append(f"{result.cpu_us_per_request:.1f}")
        lines.append(f"| {first.label} | {' | '.join(cells)} |")
    return lines


def _places(
    inprocess: tuple[Rates, Rates] | None, loopback: Mapping[str, Rates]
) -> list[tuple[str, Rates]]:
    """Where targets are checked: in process (wall clock, then CPU time), then over loopback
    under each server (the first server's column is plain ``loopback``, the others
    ``loopback_<server>``)."""
    places = []
    if inprocess is not None:
        places = [("inprocess", inprocess[0]), ("inprocess_cpu", inprocess[1])]
    for index, (server, rates) in enumerate(loopback.items()):
        places.append(("loopback" if index == 0 else f"loopback_{server}", rates))
    return places


def _target_rows(
    inprocess: tuple[Rates, Rates] | None, loopback: Mapping[str, Rates]
) -> list[dict[str, Any]]:
    rows = []
    for target in TARGETS:
        row: dict[str, Any] = {"target": target.text, "factor": target.factor}
        for place, rates in _places(inprocess, loopback):
            for statistic in _STATISTICS:
                values = rates[statistic]
                if target.subject in values and target.baseline in values:
                    ratio = values[target.subject] / values[target.baseline]
                    row[f"{place}_{statistic}"] = {
                        "ratio": round(ratio, 3),
                        "met": ratio >= target.factor,
                    }
        rows.append(row)
    return rows


def _targets_table(rows: Sequence[Mapping[str, Any]], servers: Sequence[str]) -> list[str]:
    places = [("inprocess", "in process"), ("inprocess_cpu", "in process by CPU")] + [
        ("loopback" if index == 0 else f"loopback_{server}", f"loopback ({server})")
        for index, server in enumerate(servers or ["uvicorn"])
    ]
    columns = [f"{place}_{statistic}" for place, _ in places for statistic in _STATISTICS]
    headers = [f"{label}, {statistic}" for _, label in places for statistic in _STATISTICS]
    lines = [
        "| target | " + " | ".join(headers) + " |",
        "|---|" + "---:|" * len(headers),
    ]
    for row in rows:
        cells = []
        for column in columns:
            cell = row.get(column)
            if cell is None:
                cells.append("n/a")
            else:
                cells.append(f"{cell['ratio']:.2f}x {'met' if cell['met'] else 'missed'}")
        lines.append(f"| {row['target']} | {' | '.join(cells)} |")
    return lines


def _all_rows(inprocess: Sequence[InProcessResult] | None, loopback: Loopbacks) -> list[Any]:
    return _target_rows(
        (_rates_inprocess(inprocess), _rates_cpu(inprocess)) if inprocess else None,
        {server: _rates_loopback(results) for server, results in loopback.items() if results},
    )


def markdown(
    machine: Mapping[str, str],
    inprocess: Sequence[InProcessResult] | None,
    loopback: Loopbacks,
    loopback_setup: str,
) -> str:
    """The report: machine line, result tables, the server matrix and the targets."""
    lines = [
        f"Machine: {machine['cpu']}, {machine['cpus']} CPUs; {machine['python']}; "
        f"uvicorn {machine['uvicorn']}, granian {machine.get('granian', '?')}, "
        f"litestar {machine['litestar']}, jinja2 {machine['jinja2']}, {machine['wrk']}",
        "",
    ]
    if inprocess:
        lines += [*_inprocess_table(inprocess), ""]
    for results in loopback.values():
        if results:
            lines += [*_loopback_table(results, loopback_setup), ""]
    if len(loopback) > 1:
        lines += [*_matrix_table(loopback), ""]
    rows = _all_rows(inprocess, loopback)
    lines += [
        "Targets (throughput ratios; reported, never enforced)",
        "",
        *_targets_table(rows, list(loopback)),
    ]
    return "\n".join(lines) + "\n"


def to_json(
    mode: str,
    machine: Mapping[str, str],
    settings: Mapping[str, Any],
    inprocess: Sequence[InProcessResult] | None,
    loopback: Loopbacks,
) -> dict[str, Any]:
    """Everything measured, for later comparison (``loopback``: the first server's results,
    ``loopback_by_server``: every server's)."""
    document: dict[str, Any] = {"mode": mode, "machine": dict(machine), "settings": dict(settings)}
    if inprocess:
        document["inprocess"] = [
            {
                "key": result.key,
                "label": result.label,
                "us_per_request_median": round(result.us_per_request, 3),
                "us_per_request_best": round(result.best_us, 3),
                "iterations": result.iterations,
                "rounds_us": [round(value, 3) for value in result.rounds],
                "cpu_us_per_request_median": round(result.cpu_us, 3),
                "cpu_us_per_request_best": round(result.cpu_best_us, 3),
                "cpu_rounds_us": [round(value, 3) for value in result.cpu_rounds],
            }
            for result in inprocess
        ]
    by_server = {server: _loopback_json(results) for server, results in loopback.items()}
    if by_server:
        document["loopback"] = next(iter(by_server.values()))
        document["loopback_by_server"] = by_server
    document["targets"] = _all_rows(inprocess, loopback)
    return document


def _loopback_json(loopback: Sequence[LoopbackResult]) -> list[dict[str, Any]]:
    return [
        {
            "key": result.key,
            "label": result.label,
            "server": result.server,
            "requests_per_second_median": round(result.requests_per_second, 1),
            "requests_per_second_best": round(result.best, 1),
            "median_run": asdict(result.median),
            "runs": [
                {"requests_per_second": round(run.requests_per_second, 1), **asdict(run)}
                for run in result.runs
            ],
        }
        for result in loopback
    ]
