"""The WebSocket benchmark's summaries and Markdown report.

Round trips: per load and contender the run with the median round trips/s (of an even count
the lower middle one) is reported, with the best run; ratios are against the floor (a) in the
same run (throughput: above 1 is faster; p50 latency: above 1 is slower). Fan-out: per
connection count the broadcast round with the median time until the last client had its
render, with the best and worst rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = [
    "CONTENDERS",
    "FANOUT_TARGET_CONNECTIONS",
    "FANOUT_TARGET_MS",
    "MEMORY_TARGET_BYTES",
    "fanout_summary",
    "markdown",
    "rtt_summary",
    "targets",
]

#: key -> (uvicorn factory in benchmarks.websocket.app, label), the floor first.
CONTENDERS: Final = {
    "floor": ("build_ws_floor", "(a) floor: bare ASGI"),
    "components": ("build_ws_components", "(b) ComponentASGI"),
    "litestar": ("build_ws_litestar", "(c) Litestar @websocket"),
    "starlette": ("build_ws_starlette", "(d) Starlette WebSocketEndpoint"),
}
FANOUT_TARGET_CONNECTIONS: Final = 10_000
FANOUT_TARGET_MS: Final = 400.0  # issue 16 (the first target was 1 s)
MEMORY_TARGET_BYTES: Final = 20_000  # issue 16 (the first target was 30 KB)
RttResults = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


def rtt_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The median run (by round trips/s), the best and the worst of one load and contender."""
    ordered = sorted(runs, key=lambda run: run["round_trips_per_second"])
    return {
        "rounds": len(runs),
        "median_run": ordered[(len(ordered) - 1) // 2],
        "median": statistics.median(run["round_trips_per_second"] for run in runs),
        "best": ordered[-1]["round_trips_per_second"],
        "worst": ordered[0]["round_trips_per_second"],
    }


def fanout_summary(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The broadcast round with the median time to the last render, the best and the worst."""
    rounds = result.get("rounds") or []
    if not rounds:
        return None
    ordered = sorted(rounds, key=lambda run: run["last_ms"])
    return {
        "rounds": len(rounds),
        "median_round": ordered[(len(ordered) - 1) // 2],
        "best_ms": ordered[0]["last_ms"],
        "worst_ms": ordered[-1]["last_ms"],
        "all_complete": all(run["complete"] for run in rounds),
    }


def targets(
    fanout: Mapping[int, Mapping[str, Any]],
    workers: Mapping[str, Any] | None,
    counts: Sequence[int],
) -> dict[str, Any]:
    """Issue 16's targets: a broadcast reaching 10,000 connections of one worker in under
    400 ms, under 20 KB of server RSS per idle connection."""
    count = FANOUT_TARGET_CONNECTIONS if FANOUT_TARGET_CONNECTIONS in fanout else max(counts)
    document: dict[str, Any] = {"connections": count, "fanout_target_ms": FANOUT_TARGET_MS,
                                "memory_target_bytes": MEMORY_TARGET_BYTES}  # fmt: skip
    result = fanout.get(count, {})
    summary = fanout_summary(result)
    if summary is not None:
        last = summary["median_round"]["last_ms"]
        document.update(last_ms=last, best_ms=summary["best_ms"],
                        fanout_met=last < FANOUT_TARGET_MS and summary["all_complete"])  # fmt: skip
    if "bytes_per_connection" in result:
        per = result["bytes_per_connection"]
        document.update(bytes_per_connection=per, memory_met=per < MEMORY_TARGET_BYTES)
    if workers is not None:
        summary = fanout_summary(workers)
        if summary is not None:
            document["workers_last_ms"] = summary["median_round"]["last_ms"]
    return document


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor else "n/a"


def _cpu_per_trip(run: Mapping[str, Any]) -> float:
    trips = run["round_trips_per_second"]
    return float(run["server_cpu_share"] * 1e6 / trips) if trips else float("nan")


def _rtt_tables(rtt: RttResults) -> list[str]:
    lines: list[str] = []
    for load, by_contender in rtt.items():
        clients, _, rate = load.partition("@")
        kind = f"each pacing {rate}" if rate else "closed loop"
        lines += [
            f"{clients} client(s), {kind}: round trips/s over the measured window; latencies "
            "(ms) of the median run",
            "",
            "| contender | round trips/s (median) | best | worst | p50 | p90 | p99 | max | "
            "server CPU | server CPU µs per round trip | client CPU | throughput vs (a) | "
            "p50 latency vs (a) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        floor = rtt_summary(by_contender["floor"]) if "floor" in by_contender else None
        for key, (_, label) in CONTENDERS.items():
            if key not in by_contender:
                continue
            summary = rtt_summary(by_contender[key])
            run, latency = summary["median_run"], summary["median_run"]["latency"]
            floor_p50 = floor["median_run"]["latency"]["p50_ms"] if floor else 0.0
            lines.append(
                f"| {label} | {summary['median']:,.0f} | {summary['best']:,.0f} | "
                f"{summary['worst']:,.0f} | {latency['p50_ms']:.3f} | {latency['p90_ms']:.3f} | "
                f"{latency['p99_ms']:.3f} | {latency['max_ms']:.1f} | "
                f"{run['server_cpu_share']:.0%} | {_cpu_per_trip(run):.0f} | "
                f"{run['client_cpu_share']:.0%} | "
                f"{_ratio(summary['median'], floor['median'] if floor else 0.0)} | "
                f"{_ratio(latency['p50_ms'], floor_p50)} |"
            )
        lines.append("")
    return lines


def _fanout_row(label: str, result: Mapping[str, Any]) -> str:
    summary = fanout_summary(result)
    if summary is None:
        return f"| {label} | no complete round | | | | | | | | |"
    run = summary["median_round"]
    latency = run["latency"]
    cpu = sum(run["server_cpu_s"])
    runs = result["rounds"]
    collections = sum(r.get("full_collections", 0) for r in runs)
    collection_ms = sum(r.get("full_collection_ms", 0.0) for r in runs)
    return (
        f"| {label} | {summary['rounds']} | {run['last_ms']:,.1f} | {summary['best_ms']:,.1f} | "
        f"{summary['worst_ms']:,.1f} | {latency['p50_ms']:,.1f} | {latency['p99_ms']:,.1f} | "
        f"{run['broadcast_returned_ms']:,.1f} | {cpu:.2f} | "
        f"{collections} ({collection_ms:,.0f} ms) |"
    )


def _fanout_table(
    fanout: Mapping[int, Mapping[str, Any]], workers: Mapping[str, Any] | None
) -> list[str]:
    lines = [
        'Broadcast fan-out: one `WebSocketManager().broadcast(component_name="ticker", '
        'event="price_update", ...)` in the server; ms from the server\'s stamp (read just '
        "before the call) until a client had the new render; the round with the median time to "
        "the last client",
        "",
        "| setup | rounds | last client (median round) | best round | worst round | "
        "p50 over clients | p99 over clients | broadcast() returned | server CPU s | "
        "full collections, all rounds (their ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, result in sorted(fanout.items()):
        lines.append(_fanout_row(f"{count:,} connections, one worker", result))
    if workers is not None:
        spread = ", ".join(f"{m:,}" for m in workers.get("members_per_worker", []))
        label = (f"{workers['connections']:,} connections, {workers['workers']} workers via "
                 f"Redis ({spread})")  # fmt: skip
        lines.append(_fanout_row(label, workers))
    return lines


def _memory_table(
    fanout: Mapping[int, Mapping[str, Any]], workers: Mapping[str, Any] | None
) -> list[str]:
    lines = [
        "Memory: server `VmRSS` before and after opening the idle connections (initial render "
        "received, 1 s settle)",
        "",
        "| setup | open in s | VmRSS before MiB | after MiB | bytes per connection | "
        "client RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [(f"{count:,} connections, one worker", result)
            for count, result in sorted(fanout.items())]  # fmt: skip
    if workers is not None:
        rows.append((f"{workers['connections']:,} connections, {workers['workers']} workers",
                     workers))  # fmt: skip
    for label, result in rows:
        if "bytes_per_connection" not in result:
            continue
        lines.append(
            f"| {label} | {result['open_s']:.1f} | {sum(result['rss_before_kib']) / 1024:.1f} | "
            f"{sum(result['rss_after_kib']) / 1024:.1f} | {result['bytes_per_connection']:,} | "
            f"{result['client_rss_kib'] / 1024:.0f} |"
        )
    return lines


def _traced_lines(detail: Mapping[str, Any]) -> list[str]:
    traced = detail.get("traced")
    if not traced:
        return []
    count = detail["connections"]
    diff: dict[str, int] = traced["after"][0].get("traced_diff_bytes", {})
    lines = [
        f"Python allocations alive per connection (tracemalloc in the server, {count:,} "
        "connections, by the file that allocated)",
        "",
        "| package | bytes per connection |",
        "|---|---:|",
    ]
    for name, size in sorted(diff.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {size / count:,.0f} |")
    lines.append(f"| all | {sum(diff.values()) / count:,.0f} |")
    return lines


def _targets_table(document: Mapping[str, Any]) -> list[str]:
    count = document["connections"]
    lines = ["| target | measured | |", "|---|---:|---|"]
    if "last_ms" in document:
        lines.append(
            f"| broadcast to {count:,} connections of one worker, all delivered in "
            f"< {FANOUT_TARGET_MS:,.0f} ms | "
            f"{document['last_ms']:,.1f} ms (best round {document['best_ms']:,.1f} ms) | "
            f"{'met' if document['fanout_met'] else 'missed'} |"
        )
    if "bytes_per_connection" in document:
        lines.append(
            f"| server RSS per idle connection < {MEMORY_TARGET_BYTES // 1000} KB | "
            f"{document['bytes_per_connection']:,} bytes | "
            f"{'met' if document['memory_met'] else 'missed'} |"
        )
    if "workers_last_ms" in document:
        lines.append(
            f"| (through Redis to several workers, last client) | "
            f"{document['workers_last_ms']:,.1f} ms | |"
        )
    return lines


def markdown(
    machine: Mapping[str, str],
    setup: str,
    rtt: RttResults,
    fanout: Mapping[int, Mapping[str, Any]],
    workers: Mapping[str, Any] | None,
    detail: Mapping[str, Any] | None,
    target_document: Mapping[str, Any],
    errors: Sequence[str],
) -> str:
    """The report of one run."""
    lines = [
        f"Machine: {machine['cpu']}, {machine['cpus']} CPUs; {machine['python']}; "
        f"uvicorn {machine['uvicorn']}, uvloop {machine['uvloop']}; {setup}",
        "",
        *_rtt_tables(rtt),
        *_fanout_table(fanout, workers),
        "",
        *_memory_table(fanout, workers),
        "",
    ]
    if detail is not None:
        lines += [*_traced_lines(detail), ""]
    lines += ["Targets (reported, never enforced)", "", *_targets_table(target_document)]
    if errors:
        lines += ["", "ERRORS (wrong or missing answers):", *(f"- {error}" for error in errors)]
    return "\n".join(lines) + "\n"
