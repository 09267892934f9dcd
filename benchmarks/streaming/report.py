"""Markdown tables and the targets of one streaming benchmark run (from the clients' JSON).

Token latency is judged against the schedule: token ``i`` of a stream is due ``i / rate``
seconds after that stream's first token was stamped, and its latency is its arrival time minus
that. This includes the server falling behind its own schedule when it is saturated (what a user
waiting for an upstream token would see). The framework's part alone, from the send stamp read
just before ``stream_text`` to the arrival, is reported beside it.

Every table is per contender (``ComponentASGI``, sse-starlette, and ``ComponentASGI`` through
the page connection, see :mod:`benchmarks.streaming.server`); :func:`comparison` puts each of
ours beside sse-starlette with the ratios
issue 16 sets as targets (server CPU per token at most 0.5x the contender's, wire bytes per token
at most its, median latency at most 17 ms above its, at least 2x the streams it carries with
every token on time, at least 3x its tokens/s flat out).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = [
    "LATENCY_TARGET_MS",
    "Loads",
    "burst_summary",
    "comparison",
    "floor_summary",
    "kept_pace",
    "load_summary",
    "markdown",
    "server_matrix",
    "targets",
    "token_text_bytes",
]

LATENCY_TARGET_MS: Final = 100.0
#: How much later than its nominal end a load run may deliver its last token and still count as
#: carrying its streams (a server that falls behind the opening ramp runs fewer streams at once
#: than asked, each on its own schedule from its own late first token, and can look on time).
PACE_SLACK_S: Final = 1.0
#: Issue 16's targets against the contender.
CPU_RATIO_TARGET: Final = 0.5
WIRE_RATIO_TARGET: Final = 1.0
P50_EXTRA_TARGET_MS: Final = 17.0
STREAMS_RATIO_TARGET: Final = 2.0
FLAT_OUT_RATIO_TARGET: Final = 3.0
#: Load results by stream count, one per round.
Loads = Mapping[int, Sequence[Mapping[str, Any]]]


def token_text_bytes(tokens: int, *, stamped: bool) -> float:
    """Average bytes of token text: ``t<i> `` or ``<i>@<seconds>.<µs> `` (17-character stamp)."""
    digits = sum(len(str(index)) for index in range(tokens))
    fixed = 1 + 17 + 1 if stamped else 2
    return digits / tokens + fixed


def burst_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Median and best of the single-stream runs, and the per-token costs of the median run."""
    ordered = sorted(runs, key=lambda run: run["tokens_per_second"])
    median = ordered[(len(ordered) - 1) // 2]
    tokens = median["tokens"]
    return {
        "rounds": len(runs),
        "tokens": tokens,
        "tokens_per_second_median": statistics.median(r["tokens_per_second"] for r in runs),
        "tokens_per_second_best": ordered[-1]["tokens_per_second"],
        "tokens_per_second_worst": ordered[0]["tokens_per_second"],
        "frames_per_token": median["frames"] / tokens,
        "stream_frames": median["stream_frames"],
        "wire_bytes_per_token": median["wire_bytes"] / tokens,
        "sse_bytes_per_token": median["body_bytes"] / tokens,
        "text_bytes_per_token": token_text_bytes(tokens, stamped=False),
        "server_cpu_us_per_token": statistics.median(
            r["server_cpu_s"] * 1e6 / r["tokens"] for r in runs
        ),
        "first_token_ms": median["first_token_ms"],
    }


def floor_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The pacing floor's median run (by CPU share) and the range over its runs."""
    ordered = sorted(runs, key=lambda run: run["cpu_share"])
    return {
        **ordered[(len(ordered) - 1) // 2],
        "rounds": len(runs),
        "cpu_share_min": ordered[0]["cpu_share"],
        "cpu_share_max": ordered[-1]["cpu_share"],
    }


def kept_pace(run: Mapping[str, Any]) -> bool:
    """Whether a load run delivered its last token within :data:`PACE_SLACK_S` of its nominal
    end (the ramp plus one stream's tokens at the rate): it carried all its streams at once."""
    nominal = run["ramp_s"] + run["tokens_per_stream"] / run["rate"]
    last = run["last_token_after_s"]
    return last is not None and last <= nominal + PACE_SLACK_S


def _works(run: Mapping[str, Any]) -> bool:
    """Every token delivered, p99 against each stream's schedule under the target, and the run
    kept its pace (:func:`kept_pace`)."""
    return (
        bool(run["complete"])
        and run["schedule_latency"]["p99_ms"] < LATENCY_TARGET_MS
        and kept_pace(run)
    )


def load_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The median run (by p99 token latency; of an even count the worse middle one) and the
    best p99 of one stream count."""
    ordered = sorted(runs, key=lambda run: run["schedule_latency"]["p99_ms"])
    median = ordered[len(ordered) // 2]
    return {
        "rounds": len(runs),
        "median_run": median,
        "best_p99_ms": ordered[0]["schedule_latency"]["p99_ms"],
        "all_complete": all(run["complete"] for run in runs),
        "works": _works(median),
    }


def targets(loads: Loads, target_streams: int) -> dict[str, Any]:
    """The issue's target (every token delivered, p99 < 100 ms, at ``target_streams``) and the
    largest measured stream count whose median run meets it."""
    working = [count for count, runs in loads.items() if load_summary(runs)["works"]]
    document: dict[str, Any] = {
        "target_streams": target_streams,
        "latency_target_ms": LATENCY_TARGET_MS,
        "largest_working_streams": max(working) if working else None,
    }
    if target_streams in loads:
        summary = load_summary(loads[target_streams])
        run = summary["median_run"]
        document.update(
            delivered=run["delivered"],
            sent=run["sent"],
            all_delivered=summary["all_complete"],
            p99_ms=run["schedule_latency"]["p99_ms"],
            p99_framework_ms=run["delivery_latency"]["p99_ms"],
            latency_met=run["schedule_latency"]["p99_ms"] < LATENCY_TARGET_MS,
        )
    return document


def _per_token(run: Mapping[str, Any]) -> tuple[float, float, float]:
    """Server CPU µs, wire bytes and frames per delivered token of one load run."""
    delivered = max(1, run["delivered"])
    return (
        run["server_cpu_s"] * 1e6 / delivered,
        run["wire_bytes"] / delivered,
        run["frames"] / delivered,
    )


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 3) if theirs else None


def comparison(
    bursts: Mapping[str, Mapping[str, Any]],
    loads: Mapping[str, Loads],
    target_documents: Mapping[str, Mapping[str, Any]],
    ours: str,
    theirs: str,
) -> dict[str, Any]:
    """``ours`` against ``theirs``: per stream count both ran (median runs), the largest
    working stream counts and flat-out tokens/s, each with its ratio and issue 16's target."""
    document: dict[str, Any] = {"ours": ours, "theirs": theirs, "loads": []}
    our_loads, their_loads = loads.get(ours, {}), loads.get(theirs, {})
    for count in sorted(set(our_loads) & set(their_loads)):
        a = load_summary(our_loads[count])["median_run"]
        b = load_summary(their_loads[count])["median_run"]
        (cpu_a, wire_a, frames_a), (cpu_b, wire_b, frames_b) = _per_token(a), _per_token(b)
        p50_a, p50_b = a["schedule_latency"]["p50_ms"], b["schedule_latency"]["p50_ms"]
        document["loads"].append({
            "streams": count,
            "cpu_us_per_token": [round(cpu_a, 2), round(cpu_b, 2)],
            "cpu_ratio": _ratio(cpu_a, cpu_b),
            "wire_bytes_per_token": [round(wire_a, 1), round(wire_b, 1)],
            "wire_ratio": _ratio(wire_a, wire_b),
            "frames_per_token": [round(frames_a, 3), round(frames_b, 3)],
            "p50_ms": [p50_a, p50_b],
            "p50_extra_ms": round(p50_a - p50_b, 2),
            "p99_ms": [a["schedule_latency"]["p99_ms"], b["schedule_latency"]["p99_ms"]],
            "delivered": [a["delivered"], b["delivered"]],
            "sent": [a["sent"], b["sent"]],
        })  # fmt: skip
    mine, other = (
        target_documents.get(name, {}).get("largest_working_streams") for name in (ours, theirs)
    )
    document["largest_working_streams"] = [mine, other]
    document["streams_ratio"] = _ratio(mine, other) if mine and other else None
    if ours in bursts and theirs in bursts:
        flat = [bursts[name]["tokens_per_second_median"] for name in (ours, theirs)]
        document["flat_out_tokens_per_second"] = flat
        document["flat_out_ratio"] = _ratio(*flat)
    return document


def _verdict(value: float | None, target: float, *, at_most: bool) -> str:
    if value is None:
        return "n/a"
    return "met" if (value <= target if at_most else value >= target) else "missed"


def _comparison_table(versus: Mapping[str, Any]) -> list[str]:
    ours, theirs = versus["ours"], versus["theirs"]
    lines = [
        f"{ours} against {theirs} (median runs; each pair: {ours}, {theirs}; "
        f"targets: CPU ratio <= {CPU_RATIO_TARGET:g}, wire ratio <= {WIRE_RATIO_TARGET:g}, "
        f"p50 at most {P50_EXTRA_TARGET_MS:g} ms above)",
        "",
        "| streams | server CPU µs/token | ratio | wire bytes/token | ratio | frames/token | "
        "p50 ms | p50 extra ms | p99 ms | delivered |",
        "|---:|---|---:|---|---:|---|---|---:|---|---|",
    ]
    for row in versus["loads"]:
        cpu, wire, frames = (
            row["cpu_us_per_token"],
            row["wire_bytes_per_token"],
            row["frames_per_token"],
        )
        p50, p99 = row["p50_ms"], row["p99_ms"]
        lines.append(
            f"| {row['streams']:,} | {cpu[0]:.1f}, {cpu[1]:.1f} | {row['cpu_ratio']} "
            f"({_verdict(row['cpu_ratio'], CPU_RATIO_TARGET, at_most=True)}) | "
            f"{wire[0]:.1f}, {wire[1]:.1f} | {row['wire_ratio']} "
            f"({_verdict(row['wire_ratio'], WIRE_RATIO_TARGET, at_most=True)}) | "
            f"{frames[0]:.3f}, {frames[1]:.3f} | {p50[0]:,.1f}, {p50[1]:,.1f} | "
            f"{row['p50_extra_ms']:,.1f} "
            f"({_verdict(row['p50_extra_ms'], P50_EXTRA_TARGET_MS, at_most=True)}) | "
            f"{p99[0]:,.1f}, {p99[1]:,.1f} | "
            f"{row['delivered'][0]:,}/{row['sent'][0]:,}, "
            f"{row['delivered'][1]:,}/{row['sent'][1]:,} |"
        )
    largest = versus["largest_working_streams"]
    shown = ", ".join("none" if value is None else f"{value:,}" for value in largest)
    lines += [
        "",
        "| target | measured | ratio | |",
        "|---|---|---:|---|",
        f"| largest measured stream count with every token on time (p99 < "
        f"{LATENCY_TARGET_MS:g} ms, last token at most {PACE_SLACK_S:g} s late): "
        f"at least {STREAMS_RATIO_TARGET:g}x | {shown} | "
        f"{versus['streams_ratio'] or 'n/a'} | "
        f"{_verdict(versus['streams_ratio'], STREAMS_RATIO_TARGET, at_most=False)} |",
    ]
    if "flat_out_ratio" in versus:
        flat = versus["flat_out_tokens_per_second"]
        lines.append(
            f"| one stream flat out, tokens/s: at least {FLAT_OUT_RATIO_TARGET:g}x | "
            f"{flat[0]:,.0f}, {flat[1]:,.0f} | {versus['flat_out_ratio']} | "
            f"{_verdict(versus['flat_out_ratio'], FLAT_OUT_RATIO_TARGET, at_most=False)} |"
        )
    return lines


def _burst_table(name: str, summary: Mapping[str, Any]) -> list[str]:
    return [
        f"{name}, one stream, no pacing: {summary['tokens']:,} tokens, {summary['rounds']} rounds",
        "",
        "| tokens/s (median) | best | worst | stream frames | frames/token | wire bytes/token | "
        "SSE bytes/token | token text bytes | server CPU µs/token | first token ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary['tokens_per_second_median']:,.0f} | {summary['tokens_per_second_best']:,.0f} "
        f"| {summary['tokens_per_second_worst']:,.0f} | {summary['stream_frames']} | "
        f"{summary['frames_per_token']:.5f} | {summary['wire_bytes_per_token']:.2f} | "
        f"{summary['sse_bytes_per_token']:.2f} | {summary['text_bytes_per_token']:.2f} | "
        f"{summary['server_cpu_us_per_token']:.2f} | {summary['first_token_ms']:.1f} |",
    ]


def _load_tables(name: str, loads: Loads) -> list[str]:
    lines = [
        f"{name}: concurrent streams at the given rate (stamped tokens); per count the run "
        "with the median p99 token latency; latencies in ms; works: every token delivered, "
        f"p99 < {LATENCY_TARGET_MS:g} ms and the last token at most {PACE_SLACK_S:g} s after "
        "the run's nominal end",
        "",
        "| streams | tok/s each | rounds | delivered / sent | p50 | p99 | best p99 | max | "
        "stream_text→arrival p50 | p99 | works |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for count in sorted(loads):
        summary = load_summary(loads[count])
        run = summary["median_run"]
        sched, framework = run["schedule_latency"], run["delivery_latency"]
        lines.append(
            f"| {count:,} | {run['rate']:g} | {summary['rounds']} | "
            f"{run['delivered']:,} / {run['sent']:,} | {sched['p50_ms']:,.1f} | "
            f"{sched['p99_ms']:,.1f} | {summary['best_p99_ms']:,.1f} | {sched['max_ms']:,.1f} | "
            f"{framework['p50_ms']:,.1f} | {framework['p99_ms']:,.1f} | "
            f"{'yes' if summary['works'] else 'no'} |"
        )
    lines += [
        "",
        f"{name}: throughput and cost of the same runs (rates over the whole run, from the first "
        "connection to the last close)",
        "",
        "| streams | nominal s | last token at s | tokens/s | frames/s | wire MB/s | "
        "frames/token | wire bytes/token | server CPU µs/token | server process CPU | "
        "softirq on its CPU | client CPU | server RSS MiB: start, peak | "
        "full GCs: count, longest ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in sorted(loads):
        run = load_summary(loads[count])["median_run"]
        cpu_per_token = _per_token(run)[0]
        nominal = run["ramp_s"] + run["tokens_per_stream"] / run["rate"]
        delivered = max(1, run["delivered"])
        softirq = run.get("server_core_softirq")
        full_gc = run["server_gc"]["gen2"]
        lines.append(
            f"| {count:,} | {nominal:g} | {run['last_token_after_s'] or 0:.1f} | "
            f"{run['tokens_per_second']:,.0f} | {run['frames_per_second']:,.0f} | "
            f"{run['wire_bytes_per_second'] / 1e6:.2f} | {run['frames'] / delivered:.3f} | "
            f"{run['wire_bytes'] / delivered:.1f} | {cpu_per_token:.1f} | "
            f"{run['server_cpu_share']:.0%} | "
            f"{'n/a' if softirq is None else f'{softirq:.0%}'} | {run['client_cpu_share']:.0%} | "
            f"{run['server_rss_start_kib'] / 1024:.0f}, {run['server_rss_peak_kib'] / 1024:.0f} | "
            f"{full_gc['collections']}, {full_gc['max_ms']:.0f} |"
        )
    return lines


def _floor_line(floor: Mapping[str, Any]) -> str:
    return (
        f"Pacing floor (the token loops alone on the server's CPU, no framework, no I/O): "
        f"{floor['tasks']:,} loops x {floor['rate']:g} tokens/s, {floor['rounds']} runs of "
        f"{floor['seconds']:g} s: {floor['cpu_share']:.0%} of the CPU (median; "
        f"{floor['cpu_share_min']:.0%} to {floor['cpu_share_max']:.0%}), "
        f"{floor['cpu_us_per_token']:.1f} µs per token; wake-up lateness "
        f"p50 {floor['late_p50_ms']:.0f} ms, p99 {floor['late_p99_ms']:.0f} ms"
    )


def _memory_table(idle: Mapping[str, Any]) -> list[str]:
    lines = [
        "Memory: the server's VmRSS with open idle streams (started, handler awaiting a sleep)",
        "",
        "| open streams | VmRSS MiB | KiB per stream over 0 |",
        "|---:|---:|---:|",
    ]
    base = idle["points"][0]["rss_kib"]
    for point in idle["points"]:
        count, rss = point["open_streams"], point["rss_kib"]
        per = f"{(rss - base) / count:.1f}" if count else ""
        lines.append(f"| {count:,} | {rss / 1024:.1f} | {per} |")
    lines.append(f"| after closing all | {idle['rss_after_close_kib'] / 1024:.1f} | |")
    return lines


def _targets_table(document: Mapping[str, Any]) -> list[str]:
    count = document["target_streams"]
    lines = ["| target | measured | |", "|---|---:|---|"]
    if "sent" in document:
        lines += [
            f"| every token delivered, {count:,} streams x 100 tokens/s | "
            f"{document['delivered']:,} of {document['sent']:,} | "
            f"{'met' if document['all_delivered'] else 'missed'} |",
            f"| p99 token latency < {LATENCY_TARGET_MS:g} ms at {count:,} streams | "
            f"{document['p99_ms']:,.1f} ms | {'met' if document['latency_met'] else 'missed'} |",
            f"| (framework part: stream_text → arrival, p99) | "
            f"{document['p99_framework_ms']:,.1f} ms | |",
        ]
    largest = document["largest_working_streams"]
    lines.append(
        f"| largest measured count with every token delivered, p99 < {LATENCY_TARGET_MS:g} ms "
        f"and the last token at most {PACE_SLACK_S:g} s late | "
        f"{'none' if largest is None else f'{largest:,}'} | |"
    )
    return lines


def markdown(
    machine: Mapping[str, str],
    setup: str,
    bursts: Mapping[str, Mapping[str, Any]],
    loads: Mapping[str, Loads],
    idle: Mapping[str, Any] | None,
    floor: Mapping[str, Any] | None,
    target_documents: Mapping[str, Mapping[str, Any]],
    versus: Sequence[Mapping[str, Any]],
    errors: Sequence[str],
) -> str:
    """The report of one run."""
    lines = [
        f"Machine: {machine['cpu']}, {machine['cpus']} CPUs; {machine['python']}; "
        f"uvicorn {machine['uvicorn']}, httptools {machine['httptools']}, "
        f"uvloop {machine['uvloop']}; {setup}",
        "",
    ]
    for one in versus:
        lines += [*_comparison_table(one), ""]
    for name, burst in bursts.items():
        lines += [*_burst_table(name, burst), ""]
    for name, contender_loads in loads.items():
        if contender_loads:
            lines += [*_load_tables(name, contender_loads), ""]
    if idle is not None:
        per_stream = idle["bytes_per_stream"] / 1024
        lines += [*_memory_table(idle), "", f"Memory per open stream: {per_stream:.1f} KiB", ""]
    if floor is not None:
        lines += [_floor_line(floor), ""]
    for name, document in target_documents.items():
        lines += [f"{name}: targets (reported, never enforced)", "", *_targets_table(document), ""]
    if errors:
        lines += ["", "ERRORS (lost or wrong tokens):", *(f"- {error}" for error in errors)]
    return "\n".join(lines) + "\n"


def server_matrix(by_server: Mapping[str, tuple[dict[str, Any] | None, Loads]]) -> str:
    """The same streams under each server, side by side: one stream's tokens/s and server CPU
    per token (medians), and the p99 token latency (ms, median run) at each stream count."""
    counts = sorted({count for _, loads in by_server.values() for count in loads})
    lines = [
        "Server matrix: the same app and client under each server (one stream: median "
        "tokens/s and server CPU µs per token; concurrent streams: p99 token latency in ms of "
        "the median run)",
        "",
        "| server | tokens/s, one stream | server CPU µs/token | "
        + " | ".join(f"p99 at {count:,} streams" for count in counts)
        + " |",
        "|---|---:|---:|" + "---:|" * len(counts),
    ]
    for server, (burst, loads) in by_server.items():
        cells = ["n/a", "n/a"]
        if burst is not None:
            cells = [
                f"{burst['tokens_per_second_median']:,.0f}",
                f"{burst['server_cpu_us_per_token']:.2f}",
            ]
        for count in counts:
            if count in loads:
                p99 = load_summary(loads[count])["median_run"]["schedule_latency"]["p99_ms"]
                cells.append(f"{p99:,.1f}")
            else:
                cells.append("n/a")
        lines.append(f"| {server} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
