"""Markdown tables and the JSON document of one benchmark run.

Ratios are throughputs relative to the floor (a): above 1 is faster than the floor. In process,
throughput is ``1 / (µs per request)``; over loopback it is requests/s. Each is given for the
median round or run and for the best one (the least disturbed by the rest of the machine). The
targets of the performance issue are checked on all four and reported, never enforced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from benchmarks.http.inprocess import InProcessResult
from benchmarks.http.loopback import LoopbackResult

__all__ = ["TARGETS", "Target", "markdown", "to_json"]

#: Throughputs per contender key, by statistic ("median", "best").
Rates = dict[str, dict[str, float]]


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
        "throughput vs (a), median | vs (a), best |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.label} | {result.us_per_request:.1f} | {result.best_us:.1f} | "
            f"{max(result.rounds):.1f} | {first.us_per_request / result.us_per_request:.2f}x | "
            f"{first.best_us / result.best_us:.2f}x |"
        )
    return lines


def _loopback_table(results: Sequence[LoopbackResult], setup: str) -> list[str]:
    first = results[0]
    lines = [
        f"Over loopback: uvicorn + wrk, {setup}; {len(first.runs)} interleaved runs per "
        "contender; latencies (ms) are those of the median run",
        "",
        "| contender | requests/s (median) | best run | worst run | p50 | p90 | p99 | "
        "throughput vs (a), median | vs (a), best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        run = result.median
        worst = min(r.requests_per_second for r in result.runs)
        lines.append(
            f"| {result.label} | {result.requests_per_second:,.0f} | {result.best:,.0f} | "
            f"{worst:,.0f} | {run.p50_us / 1000:.2f} | {run.p90_us / 1000:.2f} | "
            f"{run.p99_us / 1000:.2f} | "
            f"{result.requests_per_second / first.requests_per_second:.2f}x | "
            f"{result.best / first.best:.2f}x |"
        )
    return lines


def _target_rows(inprocess: Rates | None, loopback: Rates | None) -> list[dict[str, Any]]:
    rows = []
    for target in TARGETS:
        row: dict[str, Any] = {"target": target.text, "factor": target.factor}
        for place, rates in (("inprocess", inprocess), ("loopback", loopback)):
            if rates is None:
                continue
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


def _targets_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns = [f"{place}_{statistic}" for place in ("inprocess", "loopback")
               for statistic in _STATISTICS]  # fmt: skip
    lines = [
        "| target | in process, median | in process, best | loopback, median | loopback, best |",
        "|---|---:|---:|---:|---:|",
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


def markdown(
    machine: Mapping[str, str],
    inprocess: Sequence[InProcessResult] | None,
    loopback: Sequence[LoopbackResult] | None,
    loopback_setup: str,
) -> str:
    """The report: machine line, result tables and the targets."""
    lines = [
        f"Machine: {machine['cpu']}, {machine['cpus']} CPUs; {machine['python']}; "
        f"uvicorn {machine['uvicorn']}, litestar {machine['litestar']}, "
        f"jinja2 {machine['jinja2']}, {machine['wrk']}",
        "",
    ]
    if inprocess:
        lines += [*_inprocess_table(inprocess), ""]
    if loopback:
        lines += [*_loopback_table(loopback, loopback_setup), ""]
    rows = _target_rows(
        _rates_inprocess(inprocess) if inprocess else None,
        _rates_loopback(loopback) if loopback else None,
    )
    lines += ["Targets (throughput ratios; reported, never enforced)", "", *_targets_table(rows)]
    return "\n".join(lines) + "\n"


def to_json(
    mode: str,
    machine: Mapping[str, str],
    settings: Mapping[str, Any],
    inprocess: Sequence[InProcessResult] | None,
    loopback: Sequence[LoopbackResult] | None,
) -> dict[str, Any]:
    """Everything measured, for later comparison."""
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
            }
            for result in inprocess
        ]
    if loopback:
        document["loopback"] = [
            {
                "key": result.key,
                "label": result.label,
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
    document["targets"] = _target_rows(
        _rates_inprocess(inprocess) if inprocess else None,
        _rates_loopback(loopback) if loopback else None,
    )
    return document
