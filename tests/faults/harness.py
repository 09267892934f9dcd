"""The fault-injection harness: a scripted client around an app, and the "nothing leaks" check.

:class:`ScriptedClient` plays the server's side of one ASGI exchange. It numbers every call
the app makes (``receive`` and ``send`` alike, in call order) and can make the client vanish at
call number ``gone_at``: from that call on ``receive`` returns ``http.disconnect`` /
``websocket.disconnect`` (a call already waiting wakes up with it), and ``send`` either raises
``OSError`` (``mode="raise"``, a server that reports the dead connection) or returns without
delivering (``mode="noop"``, uvicorn: a send after the disconnect is a silent no-op). A driver
coroutine plays the client (pushes messages, waits for answers, triggers broadcasts); its waits
raise :class:`ClientGone` once the client vanished, which ends it.

:func:`assert_nothing_leaks` is the suite's common invariant: no stream run, hub member,
socket, open-connection count, stream wakeup or body-read watch left; every handler that
started ran its ``finally``; every live session closed with an empty inbox; the runs, sessions
and connections seen during the exchange are garbage once collected; no task started since the
baseline still runs. :func:`assert_still_serves` then proves the app answers HTTP, SSE and
WebSocket requests normally. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from component_framework import ComponentASGI, Settings
from component_framework.core.hub import Hub
from component_framework.core.live import LiveSession
from component_framework.protocol.sse import SSEDecoder, SSEEvent
from component_framework.testing import asgi_request, sse_request, websocket_connect
from tests.faults import components
from tests.faults.components import journal

__all__ = [
    "WAIT",
    "AppReturned",
    "ClientGone",
    "Driver",
    "GoneMode",
    "Outcome",
    "ScriptedClient",
    "Tracker",
    "assert_nothing_leaks",
    "assert_still_serves",
    "make_app",
    "run_exchange",
    "settle",
    "task_baseline",
]

#: Upper bound of every wait (seconds); generous for a shared 2-core machine.
WAIT = 5.0
GoneMode = Literal["raise", "noop"]
Driver = Callable[["ScriptedClient"], Awaitable[None]]


def make_app(inner: Any = None, *, hub: Hub | None = None, **settings: Any) -> ComponentASGI:
    """A standalone (or, with ``inner``, middleware) app over the fault components, with a hub
    of its own and signals never hooked (this is the test process)."""
    values: dict[str, Any] = {"secret_keys": (components.SECRET,), **settings}
    return ComponentASGI(
        inner,
        registry=components.registry,
        renderer=components.renderer,
        settings=Settings(**values),
        hub=Hub() if hub is None else hub,
        shutdown_on_signals=False,
    )


def task_baseline() -> weakref.WeakSet[asyncio.Task[Any]]:
    """The tasks running now, held weakly (a strong set would keep a task of the exchange,
    and everything its frames hold, alive for the garbage check)."""
    return weakref.WeakSet(asyncio.all_tasks())


async def settle(condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"still not true after {within:g} s: {what}")
        await asyncio.sleep(0.005)


class ClientGone(Exception):
    """The client vanished: the driver stops."""


class AppReturned(Exception):
    """The app returned before what the driver waited for happened."""


@dataclass
class Call:
    """One call the app made: ``recv`` (with what it returned) or ``send`` (with its type)."""

    direction: Literal["recv", "send"]
    type: str | None = None

    @property
    def key(self) -> str:
        """What must be the same at the same index of two runs of one script."""
        return "recv" if self.direction == "recv" else f"send {self.type}"


class Tracker:
    """Weak references to every stream run, hub member and socket the app held at any call."""

    def __init__(self, app: ComponentASGI) -> None:
        self.app = app
        self.seen: weakref.WeakSet[Any] = weakref.WeakSet()
        self.sessions: weakref.WeakSet[LiveSession] = weakref.WeakSet()

    def observe(self) -> None:
        app = self.app
        self.seen.update(app.streams.runs.values())
        self.seen.update(app.sockets.connections)
        for member in app.hub.members():
            self.seen.add(member)
            if isinstance(member, LiveSession):
                self.sessions.add(member)
        for connection in app.sockets.connections:
            if connection.session is not None:
                self.sessions.add(connection.session)

    async def survivors(self) -> list[str]:
        """What is still alive after a full garbage collection.

        CPython 3.11 keeps the ``CancelledError`` of the most recently cancelled task reachable
        from somewhere the collector does not see (one at a time, never more), and its
        traceback holds that task's frames: a throwaway task is cancelled first so that the
        last run the app cancelled is not mistaken for a leak."""
        throwaway = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        throwaway.cancel()
        await asyncio.gather(throwaway, return_exceptions=True)
        del throwaway
        gc.collect()
        return sorted(repr(obj) for obj in self.seen)


class ScriptedClient:
    """The server side of one exchange, with the client vanishing at call ``gone_at``."""

    def __init__(
        self,
        kind: Literal["http", "websocket"],
        *,
        gone_at: int | None = None,
        mode: GoneMode = "noop",
        tracker: Tracker | None = None,
    ) -> None:
        self.kind = kind
        self.gone_at = gone_at
        self.mode = mode
        self.tracker = tracker
        self.calls: list[Call] = []
        self.inbox: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.raised: list[OSError] = []
        self.gone = False
        self.ended = False  # an HTTP response that is complete (the exchange's natural end)
        self.app_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._decoder = SSEDecoder()
        self.events: list[SSEEvent] = []

    # -- what the app calls --------------------------------------------------------------------

    def _call(self, direction: Literal["recv", "send"], kind: str | None) -> Call:
        call = Call(direction, kind)
        index = len(self.calls)
        self.calls.append(call)
        if self.tracker is not None:
            self.tracker.observe()
        if self.gone_at is not None and index >= self.gone_at:
            self.leave()
        return call

    def _disconnect(self) -> dict[str, Any]:
        if self.kind == "http":
            return {"type": "http.disconnect"}
        return {"type": "websocket.disconnect", "code": 1006}

    async def receive(self) -> dict[str, Any]:
        call = self._call("recv", None)
        while True:
            if self.gone or self.ended:
                message = self._disconnect()
                break
            if self.inbox:
                message = self.inbox.pop(0)
                break
            self._wake.clear()
            await self._wake.wait()
        call.type = message["type"]
        self._notify()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        self._call("send", message["type"])
        if self.gone:
            if self.mode == "raise":
                error = OSError("the client went away (broken pipe)")
                self.raised.append(error)
                raise error
            return
        self.delivered.append(message)
        if message["type"] == "http.response.body":
            self.events.extend(self._decoder.feed(message.get("body", b"")))
            if not message.get("more_body", False):
                self.ended = True
                self._wake.set()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()

    # -- what the driver (the client) does -----------------------------------------------------

    def leave(self) -> None:
        """The client vanishes (also how a driver hangs up at the natural end)."""
        if not self.gone:
            self.gone = True
            self._wake.set()
            self._notify()

    def push(self, message: Mapping[str, Any]) -> None:
        if self.gone:
            raise ClientGone
        self.inbox.append(dict(message))
        self._wake.set()

    def push_json(self, value: Any) -> None:
        self.push({"type": "websocket.receive", "text": json.dumps(value)})

    async def until(self, condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
        """Wait for ``condition`` (checked after every call the app makes)."""
        try:
            async with asyncio.timeout(within):
                while True:
                    if self.gone:
                        raise ClientGone
                    if condition():
                        return
                    if self.app_task is not None and self.app_task.done():
                        raise AppReturned(what)
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"waited {within:g} s for {what}; calls: {self.keys()}") from None

    async def sends(self, count: int) -> None:
        """Wait until ``count`` messages reached the client."""
        await self.until(lambda: len(self.delivered) >= count, f"{count} messages delivered")

    @property
    def ws_messages(self) -> list[dict[str, Any]]:
        """The JSON messages of a WebSocket that reached the client."""
        return [json.loads(m["text"]) for m in self.delivered if m["type"] == "websocket.send"]

    @property
    def close(self) -> dict[str, Any] | None:
        return next((m for m in self.delivered if m["type"] == "websocket.close"), None)

    def keys(self) -> list[str]:
        return [call.key for call in self.calls]


@dataclass
class Outcome:
    client: ScriptedClient
    error: BaseException | None
    driver_error: BaseException | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> list[Call]:
        return self.client.calls

    def release(self) -> None:
        """Drop the exceptions of the exchange: their tracebacks hold the app's frames (and so
        its runs and sessions), which would defeat the garbage check of the leak invariant."""
        self.error = self.driver_error = None
        self.client.raised.clear()
        self.client.app_task = None


async def run_exchange(
    app: Any,
    scope: Mapping[str, Any],
    driver: Driver,
    *,
    gone_at: int | None = None,
    mode: GoneMode = "noop",
    tracker: Tracker | None = None,
    within: float = WAIT,
) -> Outcome:
    """Run ``app`` on ``scope`` with ``driver`` as the client; returns once the app returned.

    The app must return within ``within`` seconds of the driver's end (or of the client
    vanishing); a driver that fails for any reason but the client vanishing or the app
    returning early is re-raised."""
    kind: Literal["http", "websocket"] = "websocket" if scope["type"] == "websocket" else "http"
    client = ScriptedClient(kind, gone_at=gone_at, mode=mode, tracker=tracker)
    loop = asyncio.get_running_loop()
    task = loop.create_task(app(dict(scope), client.receive, client.send))
    client.app_task = task
    task.add_done_callback(lambda _: client._notify())
    driver_error: BaseException | None = None
    try:
        await asyncio.wait_for(driver(client), within)
    except (ClientGone, AppReturned) as exc:
        driver_error = exc
    except BaseException:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError(
            f"the app did not return within {within:g} s after the client "
            f"{'vanished' if client.gone else 'finished'}; calls: {client.keys()}"
        )
    return Outcome(client, task.exception(), driver_error)


# -- the invariants ----------------------------------------------------------------------------


async def assert_nothing_leaks(
    app: ComponentASGI,
    before: weakref.WeakSet[asyncio.Task[Any]],
    tracker: Tracker | None = None,
    within: float = WAIT,
) -> None:
    """The "nothing leaks" invariant (see the module docstring); waits out resume graces."""
    await settle(lambda: not app.streams.runs, f"no stream run left ({app.streams.runs})", within)
    await settle(lambda: not app.sockets.connections, "no open socket left", within)
    await settle(lambda: len(app.hub) == 0 and not app.hub.members(), "no hub member", within)
    guard = app.guard
    await settle(lambda: guard.open_count("stream") == 0, "open stream count back to 0", within)
    await settle(lambda: guard.open_count("socket") == 0, "open socket count back to 0", within)
    assert app.stream_gate.wakeups == set(), "a stream wakeup is left behind"
    assert guard.body_deadlines.reading == {}, "a body read is still watched"
    await settle(
        lambda: Counter(journal.tags("finally")) == Counter(journal.tags("start")),
        f"every started handler ran its finally: {journal.entries}",
        within,
    )
    current = asyncio.current_task()
    await settle(
        lambda: not {t for t in asyncio.all_tasks() if t not in before and t is not current},
        "no task left behind",
        within,
    )
    if tracker is not None:
        _assert_sessions_closed(tracker)
        survivors = await tracker.survivors()
        assert survivors == [], f"still referenced after the exchange: {survivors}"


def _assert_sessions_closed(tracker: Tracker) -> None:
    """Every live session ended: closed, idle, its inbox drained (a function of its own, so
    that no local variable keeps a session alive for the garbage check that follows)."""
    for session in list(tracker.sessions):
        assert session.closed, f"{session!r} was never closed"
        task = session._task  # cancelled before it ever ran, it never clears itself: fine
        assert task is None or task.done(), f"{session!r} still runs work"
        assert len(session._inbox) == 0, f"{session!r} holds {len(session._inbox)} messages"


async def assert_still_serves(app: ComponentASGI) -> None:
    """A normal HTTP event, SSE stream and WebSocket exchange all work."""
    mounted = await asgi_request(app, "POST", "/components/counter/", json={})
    assert mounted.status == 200, mounted.text
    answer = await asgi_request(
        app,
        "POST",
        "/components/counter/",
        json={"event": "increment", "snapshot": mounted.json()["snapshot"]},
    )
    assert answer.status == 200, answer.text
    assert answer.json()["state"]["count"] == 1
    stream = await sse_request(
        app, "/components/story/stream/", query={"tag": "health"}, give_up_after=WAIT
    )
    assert stream.status == 200, stream.body
    assert [event.event for event in stream.events][-1] == "done", stream.events
    async with websocket_connect(app, "/components/counter/ws/", timeout=WAIT) as ws:
        assert (await ws.receive_json())["type"] == "render"
        assert (await ws.event("increment", ref=1))["state"]["count"] == 1
