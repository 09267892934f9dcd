"""Where ComponentASGI's time goes: ``python -m benchmarks.http.hotspots [--pyinstrument]``.

Three views of the in-process counter event (same synthetic exchange as
``benchmarks.http.inprocess``):

1. A stage table without any profiler: cumulative prefixes of the request path (parse, then
   + dispatch, + JSON answer, + send, the whole ``handle_http``, the whole app), each timed as
   the fastest of many interleaved rounds, so the increments add up to the app's cost. Pieces
   the floor shares (verify, sign, render) are timed on their own beside them.
2. A piece table: each step of one request alone (routing, header scan, guard, body read,
   JSON parse, the call objects, prepare with the snapshot's verification, create and
   handler, the render with its signature, the answer's JSON, the response messages), by
   CPU time (best round). Pieces timed alone run warm, so they add up to less than the
   whole; read them for where the time goes, the stage table for the total.
3. A cold-cache table: the floor and ``ComponentASGI`` in process, CPU µs per request with
   ``--evict`` bytes of memory written between requests (outside the timing), and with none.
   Under a real server the kernel's loopback work and the server itself evict the caches
   between requests, so the code and objects a request touches cost far more than a tight
   loop shows; this reproduces the loopback ratio (by server CPU) in process, without the
   noise of ``wrk`` on a shared machine (1 MiB: about the ratio measured over loopback).
4. A profile: cProfile's functions of ``component_framework`` by own time (cProfile inflates
   small calls, so read it for ranking, not for absolute cost), or with ``--pyinstrument`` (if
   installed) pyinstrument's call tree.

Diagnostic only: it never fails on timing and is not part of ``benchmarks.http``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import uvloop

from benchmarks.common.counter import COMPONENT_ID, COMPONENT_NAME, CONTENT_TYPE, EXPECTED_COUNT
from benchmarks.http.contenders import build_components, build_floor
from benchmarks.http.inprocess import Exchange, lifespan
from component_framework.asgi.http import handle_http
from component_framework.asgi.incoming import RequestHeaders, read_body
from component_framework.asgi.responses import JSON_HEADERS, Response, json_body, send_response
from component_framework.core.access import AccessContext
from component_framework.core.dispatch import ComponentCall
from component_framework.protocol.answer import render_document
from component_framework.protocol.request import parse_body

__all__ = ["main"]

Loop = Callable[[int], Awaitable[None]]


def _stages(exchange: Exchange, app: Any, floor: Any) -> dict[str, Loop]:
    dispatcher = app.dispatcher
    body = exchange.body
    scope, receive, send = exchange.scope, exchange.receive, exchange.send
    depth = dispatcher.settings.max_json_depth
    context = {"count": EXPECTED_COUNT, "state": {"count": EXPECTED_COUNT},
               "component_id": COMPONENT_ID, "component_name": COMPONENT_NAME}  # fmt: skip
    token = parse_body(CONTENT_TYPE, body, max_depth=depth).snapshot or ""

    async def parse(n: int) -> None:
        for _ in range(n):
            parse_body(CONTENT_TYPE, body, max_depth=depth)

    async def dispatch(n: int) -> None:
        for _ in range(n):
            fields = parse_body(CONTENT_TYPE, body, max_depth=depth)
            await dispatcher.async_dispatch(ComponentCall.from_fields(COMPONENT_NAME, fields))

    async def answer(n: int) -> None:
        for _ in range(n):
            fields = parse_body(CONTENT_TYPE, body, max_depth=depth)
            result = await dispatcher.async_dispatch(
                ComponentCall.from_fields(COMPONENT_NAME, fields)
            )
            Response(200, JSON_HEADERS, json_body(result.to_json()))

    async def sent(n: int) -> None:
        for _ in range(n):
            fields = parse_body(CONTENT_TYPE, body, max_depth=depth)
            result = await dispatcher.async_dispatch(
                ComponentCall.from_fields(COMPONENT_NAME, fields)
            )
            await send_response(send, Response(200, JSON_HEADERS, json_body(result.to_json())))

    async def transport(n: int) -> None:
        for _ in range(n):
            request: Any = {**scope, "state": {}}
            await handle_http(request, receive, send, COMPONENT_NAME, app.services)

    async def whole(n: int) -> None:
        for _ in range(n):
            await app({**scope, "state": {}}, receive, send)

    async def floor_app(n: int) -> None:
        for _ in range(n):
            await floor({**scope, "state": {}}, receive, send)

    def sync(function: Callable[[], object]) -> Loop:
        async def loop(n: int) -> None:
            for _ in range(n):
                function()

        return loop

    template = dispatcher.renderer
    return {
        "1. parse_body": parse,
        "2. + ComponentCall + async_dispatch": dispatch,
        "3. + to_json, json_body, Response": answer,
        "4. + send_response": sent,
        "5. handle_http (adds body read, headers)": transport,
        "6. ComponentASGI.__call__ (adds routing)": whole,
        "shared: SnapshotSigner.verify": sync(lambda: dispatcher.signer.verify(token, "counter")),
        "shared: SnapshotSigner.sign": sync(
            lambda: dispatcher.signer.sign(COMPONENT_NAME, COMPONENT_ID, {"count": 42})
        ),
        "shared-ish: Jinja2Renderer.render": sync(lambda: template.render("counter.html", context)),
        "floor: CounterWork.handle": sync(lambda: floor.work.handle(CONTENT_TYPE, body)),
        "floor: FloorApp.__call__": floor_app,
    }


async def _stage_table(iterations: int, rounds: int) -> list[str]:
    exchange = Exchange()
    app, floor = build_components(), build_floor()
    stages = _stages(exchange, app, floor)
    best = dict.fromkeys(stages, float("inf"))
    for loop in stages.values():
        await loop(iterations // 4)
    for _ in range(rounds):
        for name, loop in stages.items():
            started = time.perf_counter_ns()
            await loop(iterations)
            elapsed = (time.perf_counter_ns() - started) / iterations / 1000
            best[name] = min(best[name], elapsed)
    exchange.check("hotspots")
    lines = ["| stage (cumulative 1-6) | µs (best round) | increment |", "|---|---:|---:|"]
    previous = 0.0
    for name, value in best.items():
        cumulative = name[0].isdigit()
        increment = f"{value - previous:+.1f}" if cumulative else ""
        previous = value if cumulative else previous
        lines.append(f"| {name} | {value:.1f} | {increment} |")
    return lines


def _pieces(exchange: Exchange, app: Any) -> dict[str, Loop]:
    """Each step of one counter event alone, on the objects a request builds."""
    services = app.services
    dispatcher, guard, settings = services.dispatcher, services.guard, services.dispatcher.settings
    scope: Any = {**exchange.scope, "state": {}}
    body, receive, send = exchange.body, exchange.receive, exchange.send
    headers = RequestHeaders.of(scope)
    depth, most = settings.max_json_depth, settings.max_fields
    fields = parse_body(CONTENT_TYPE, body, max_depth=depth, max_fields=most)
    context = AccessContext("http", scope, "127.0.0.1")
    call = ComponentCall.from_fields(COMPONENT_NAME, fields, context)
    plan = dispatcher.prepare(call)
    result = dispatcher.run(plan)
    component, token = result.component, fields.snapshot or ""
    template_context = component.get_context()
    response = Response(200, JSON_HEADERS, json_body(render_document(result)))

    def sync(function: Callable[[], object]) -> Loop:
        async def loop(n: int) -> None:
            for _ in range(n):
                function()

        return loop

    async def body_read(n: int) -> None:
        for _ in range(n):
            now = time.monotonic()
            await read_body(receive, settings.max_body_bytes, headers.content_length,
                            guard.body_deadlines, now)  # fmt: skip

    async def sent(n: int) -> None:
        for _ in range(n):
            await send_response(send, response)

    def created() -> None:
        component, _ = dispatcher.create(dispatcher.prepare(call))
        dispatcher.call_handler(plan, component)

    return {
        "routing (RouteCache.resolve)": sync(lambda: app._routes.resolve(scope)),
        "header scan (RequestHeaders.of)": sync(lambda: RequestHeaders.of(scope)),
        "guard (host, address, rate, cross-site)": sync(
            lambda: guard.admit(scope, headers, time.monotonic(), "request")
        ),
        "body read (read_body)": body_read,
        "JSON parse (parse_body)": sync(
            lambda: parse_body(CONTENT_TYPE, body, max_depth=depth, max_fields=most)
        ),
        "call objects (AccessContext, ComponentCall)": sync(
            lambda: ComponentCall.from_fields(
                COMPONENT_NAME, fields, AccessContext("http", scope, "127.0.0.1")
            )
        ),
        "prepare (with the snapshot's verify)": sync(lambda: dispatcher.prepare(call)),
        "  of which SnapshotSigner.verify": sync(
            lambda: dispatcher.signer.verify(token, COMPONENT_NAME)
        ),
        "prepare + create + handler": sync(created),
        "render (before_render .. sign)": sync(lambda: dispatcher.render(component)),
        "  of which the template": sync(
            lambda: dispatcher.renderer.render("counter.html", template_context)
        ),
        "  of which SnapshotSigner.sign": sync(
            lambda: dispatcher.signer.sign(COMPONENT_NAME, COMPONENT_ID, {"count": 42})
        ),
        "answer (render_document, JSON, Response)": sync(
            lambda: Response(200, JSON_HEADERS, json_body(render_document(result)))
        ),
        "response messages (send_response)": sent,
    }


async def _piece_table(iterations: int, rounds: int) -> list[str]:
    exchange = Exchange()
    app = build_components()
    pieces = _pieces(exchange, app)
    best = dict.fromkeys(pieces, float("inf"))
    for loop in pieces.values():
        await loop(iterations // 4)
    for _ in range(rounds):
        for name, loop in pieces.items():
            started = time.process_time_ns()
            await loop(iterations)
            elapsed = (time.process_time_ns() - started) / iterations / 1000
            best[name] = min(best[name], elapsed)
    lines = ["| piece (each alone) | CPU µs (best round) |", "|---|---:|"]
    lines.extend(f"| {name} | {value:.2f} |" for name, value in best.items())
    return lines


async def _cold_round(exchange: Exchange, app: Any, requests: int, evict: bytearray) -> float:
    """CPU µs per request of ``requests`` requests, writing one byte of each 64-byte cache
    line of ``evict`` (empty: none) before each, outside the timing."""
    zeros = bytes(len(evict[::64]))
    spent = 0
    for _ in range(requests):
        if evict:
            evict[::64] = zeros
        started = time.process_time_ns()
        await app({**exchange.scope, "state": {}}, exchange.receive, exchange.send)
        spent += time.process_time_ns() - started
    return spent / requests / 1000


async def _cold_table(requests: int, rounds: int, evict: int) -> list[str]:
    """Median CPU µs per request of the floor and of ``ComponentASGI`` (interleaved rounds),
    warm and with ``evict`` bytes written between requests."""
    exchange = Exchange()
    apps = {"(a) floor": build_floor(), "(b) ComponentASGI": build_components()}
    sizes = {"warm": bytearray(), f"{evict / 1024:g} KiB evicted": bytearray(evict)}
    cpu: dict[tuple[str, str], list[float]] = {}
    async with AsyncExitStack() as stack:
        for label, app in apps.items():
            await stack.enter_async_context(lifespan(app, label))
            await exchange.run(app, requests)
        for _ in range(rounds):
            for kept, scratch in sizes.items():
                for label, app in apps.items():
                    used = await _cold_round(exchange, app, requests, scratch)
                    cpu.setdefault((label, kept), []).append(used)
                    exchange.check(label)
    lines = ["| caches between requests | (a) floor CPU µs | (b) CPU µs | (b) vs (a) by CPU |"]
    lines.append("|---|---:|---:|---:|")
    for kept in sizes:
        floor, ours = (statistics.median(cpu[(label, kept)]) for label in apps)
        lines.append(f"| {kept} | {floor:.1f} | {ours:.1f} | {floor / ours:.2f}x |")
    return lines


async def _profile(requests: int, top: int, use_pyinstrument: bool) -> list[str]:
    exchange = Exchange()
    app = build_components()
    async with lifespan(app, "components"):
        await exchange.run(app, 1000)
        if use_pyinstrument:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0001, async_mode="disabled")
            profiler.start()
            await exchange.run(app, requests)
            profiler.stop()
            exchange.check("profile")
            return [profiler.output_text(unicode=False, color=False)]
        profile = cProfile.Profile()
        profile.enable()
        await exchange.run(app, requests)
        profile.disable()
        exchange.check("profile")
    stats: dict[Any, Any] = getattr(pstats.Stats(profile), "stats")  # noqa: B009 - untyped
    rows = [
        (tottime, cumtime, calls, f"{path.split('component_framework/')[-1]}:{line} {name}")
        for (path, line, name), (_, calls, tottime, cumtime, _) in stats.items()
        if "component_framework" in path
    ]
    rows.sort(reverse=True)
    lines = [
        f"cProfile, {requests} requests; µs per request (inflated by the profiler)",
        "",
        "| function | calls/request | own µs | cumulative µs |",
        "|---|---:|---:|---:|",
    ]
    for tottime, cumtime, calls, where in rows[:top]:
        lines.append(
            f"| {where} | {calls / requests:g} | {tottime / requests * 1e6:.2f} | "
            f"{cumtime / requests * 1e6:.2f} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the stage, piece and cold-cache tables and the profile."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http.hotspots", description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000, help="requests per stage round")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per stage")
    parser.add_argument("--requests", type=int, default=20000, help="requests profiled")
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    parser.add_argument("--pyinstrument", action="store_true", help="pyinstrument call tree")
    parser.add_argument(
        "--evict", type=int, default=1 << 20, help="bytes evicted between cold requests"
    )
    parser.add_argument("--cold-requests", type=int, default=400, help="requests per cold round")
    arguments = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        table = runner.run(_stage_table(arguments.iterations, arguments.rounds))
        pieces = runner.run(_piece_table(arguments.iterations, arguments.rounds))
        cold = runner.run(_cold_table(arguments.cold_requests, arguments.rounds, arguments.evict))
        profile = runner.run(_profile(arguments.requests, arguments.top, arguments.pyinstrument))
    print("\n".join([*table, "", *pieces, "", *cold, "", *profile]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
