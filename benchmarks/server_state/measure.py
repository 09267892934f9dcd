"""One measured run: a chain of events on one component, in process, through ``ComponentASGI``.

Each kind (:data:`KINDS`) serves the same component with its state in a different place: the
signed snapshot the client echoes (``client``), the memory store of the process (``memory``)
or a real Redis (``redis``). The client sends an event with the token of the previous answer,
as a browser does, ``events`` times in a row; every answer is checked (status, the count it
shows, no ``state`` in the document of server-held state, the version advancing). Measured:
wall time per event (median and p99 of the chain), this process's CPU time per event, the
Redis server's CPU per event, and the bytes of a request and of an answer.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Final

from benchmarks.common.probes import percentile, read_cpu_seconds
from component_framework import ComponentASGI, Settings
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.component import Component
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from component_framework.core.state_store import MemoryStateStore, StateStore

__all__ = ["KINDS", "SIZES", "Plan", "measure"]

#: kind -> (label, whether the state stays on the server, the server it needs).
KINDS: Final[dict[str, tuple[str, bool, str | None]]] = {
    "client": ("signed snapshot (client-held)", False, None),
    "memory": ("server-held, memory store", True, None),
    "redis": ("server-held, Redis store", True, "redis"),
}
#: state size -> how many items of 40 characters the state carries beside its count.
SIZES: Final[dict[str, int]] = {"small": 0, "4 KB": 100, "32 KB": 800}
SECRET: Final = "server-state-benchmark-0123456789abcdef"
_TEMPLATE: Final = '<div class="cart"><b>{{ count }}</b> {{ items | length }} items</div>'


@dataclass(frozen=True)
class Plan:
    """How long a run is: ``events`` in a chain after ``warmup`` untimed ones."""

    events: int = 2000
    warmup: int = 100


def _component(items: int) -> tuple[ComponentRegistry, Jinja2Renderer]:
    registry = ComponentRegistry()

    @registry.register("cart")
    class Cart(Component):
        template_name = "cart.html"

        def mount(self) -> None:
            self.state["count"] = 0
            self.state["items"] = [f"item-{index:04d}-" + "x" * 30 for index in range(items)]

        def on_add(self) -> None:
            self.state["count"] += 1

    return registry, Jinja2Renderer.from_strings({"cart.html": _TEMPLATE})


def _app(kind: str, items: int, store: StateStore | None) -> ComponentASGI:
    registry, renderer = _component(items)
    settings = Settings(
        secret_keys=(SECRET,),
        state_on_server=KINDS[kind][1],
        max_snapshot_bytes=1 << 20,
        http_rate=None,
        event_rate_limits=False,
    )
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=settings,
        hub=Hub(),
        state_store=store,
        shutdown_on_signals=False,
    )


async def _exchange(app: ComponentASGI, body: bytes) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/components/cart/",
        "raw_path": b"/components/cart/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    return status, b"".join(message.get("body", b"") for message in sent[1:])


def _check(status: int, body: bytes, count: int, held: bool, errors: list[str]) -> str:
    """The next token; a wrong answer is recorded in ``errors``."""
    document = json.loads(body)
    if status != 200:
        errors.append(f"status {status}: {body[:200]!r}")
        return ""
    if f"<b>{count}</b>" not in document["html"]:
        errors.append(f"expected count {count} in {document['html'][:80]!r}")
    if held == ("state" in document):
        errors.append("server-held state in the document" if held else "no state")
    token: str = document["snapshot"]
    return token


async def measure(
    kind: str, items: int, plan: Plan, redis: tuple[str, int] | None
) -> dict[str, Any]:
    """One run of ``kind`` with ``items`` in the state; ``redis``: (URL, server pid)."""
    store: StateStore | None = None
    if kind == "redis":
        from component_framework.adapters.redis_state_store import RedisStateStore

        assert redis is not None
        store = RedisStateStore(redis[0])
    elif kind == "memory":
        store = MemoryStateStore()
    held = KINDS[kind][1]
    app = _app(kind, items, store)
    errors: list[str] = []
    status, body = await _exchange(app, b"{}")
    token = _check(status, body, 0, held, errors)
    count = 0
    for _ in range(plan.warmup):
        count += 1
        status, body = await _exchange(app, _event(token))
        token = _check(status, body, count, held, errors)
    durations: list[float] = []
    request_bytes = answer_bytes = 0
    server_before = None if redis is None or kind != "redis" else read_cpu_seconds(redis[1])
    cpu_before = time.process_time()
    for _ in range(plan.events):
        count += 1
        request = _event(token)
        started = time.perf_counter()
        status, body = await _exchange(app, request)
        durations.append(time.perf_counter() - started)
        request_bytes, answer_bytes = len(request), len(body)
        token = _check(status, body, count, held, errors)
        if errors:
            break
    cpu = time.process_time() - cpu_before
    server_cpu = None
    if server_before is not None and redis is not None:
        server_cpu = (read_cpu_seconds(redis[1]) - server_before) / max(1, len(durations)) * 1e6
    if store is not None:
        await store.close()
    ordered = sorted(durations)
    return {
        "kind": kind,
        "items": items,
        "events": len(durations),
        "p50_us": percentile(ordered, 0.5) * 1e6 if ordered else 0.0,
        "p99_us": percentile(ordered, 0.99) * 1e6 if ordered else 0.0,
        "cpu_us_per_event": cpu / max(1, len(durations)) * 1e6,
        "server_cpu_us_per_event": server_cpu,
        "request_bytes": request_bytes,
        "answer_bytes": answer_bytes,
        "pid": os.getpid(),
        "errors": errors[:5],
    }


def _event(token: str) -> bytes:
    return json.dumps({"event": "add", "snapshot": token}).encode()
