"""The one seam between the library and the event loop it runs on: asyncio or trio.

Owns every concurrency primitive the rest of the code uses: the running loop
(:func:`running_loop`: tasks, timers, the clock), events, locks, timeouts, checkpoints,
threads and the cancellation exception. On asyncio each function hands back asyncio's own
object (``running_loop()`` *is* the running loop, ``new_event()`` an ``asyncio.Event``), so
the asyncio path costs one C-level "is a loop running?" check and nothing else (and the
per-request and per-frame paths, :func:`start_now` and :func:`result_now`, not even that while
trio has not been imported: see :data:`_MODULES`). Under trio
(``hypercorn -k trio``, or any server that runs the ASGI app in ``trio.run``) the same
methods are served by small trio-backed objects:

- tasks are trio *system tasks* (``trio.lowlevel.spawn_system_task``), each in its own cancel
  scope, so work that outlives the request that started it (stream runs kept for a resume,
  live sessions, timers) needs no nursery from the server and no lifespan; they end when the
  app's shutdown cancels them, and at the latest when ``trio.run`` ends. A task's failure is
  logged (as asyncio logs an unretrieved task exception), never raised into trio;
- timers are tasks that sleep; the clock is ``trio.current_time``;
- ``timeout()`` raises the builtin ``TimeoutError`` on both, and :func:`cancellation` names
  the exception a cancelled task sees (``asyncio.CancelledError``, plus ``trio.Cancelled``
  under trio); a task that must still send something after being cancelled does so inside
  :func:`shield` (a no-op on asyncio, where a caught cancellation is spent).

trio is imported only when a trio run is found (it is then already imported), so asyncio
users need not install it. Pure: no I/O.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import sys
from asyncio import _get_running_loop
from asyncio import current_task as _asyncio_current_task
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from contextlib import AbstractContextManager
from types import CoroutineType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

if TYPE_CHECKING:
    import trio

__all__ = [
    "Event",
    "Lock",
    "Loop",
    "Task",
    "Timeout",
    "Timer",
    "Unfinished",
    "after_turn",
    "asyncio_loop",
    "cancellable",
    "cancellation",
    "checkpoint",
    "current_task",
    "new_event",
    "new_lock",
    "result_now",
    "running_loop",
    "shield",
    "sleep_forever",
    "start_now",
    "timeout",
    "to_thread",
    "wait_all",
]

logger = logging.getLogger("component_framework")

T = TypeVar("T")


class Task(Protocol):
    """A running task as the library uses it (``asyncio.Task`` is one)."""

    def cancel(self, msg: Any | None = None) -> bool: ...

    def done(self) -> bool: ...

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...

    def uncancel(self) -> int: ...

    def get_loop(self) -> Any: ...


class Timer(Protocol):
    """A scheduled callback (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Loop(Protocol):
    """The running loop as the library uses it (``asyncio.AbstractEventLoop`` is one)."""

    def time(self) -> float: ...

    def create_task(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> Task: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer: ...

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer: ...

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Any: ...

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> Any: ...

    def is_closed(self) -> bool: ...

    def is_running(self) -> bool: ...


class Event(Protocol):
    """A resettable event (``asyncio.Event`` is one)."""

    def set(self) -> None: ...

    def clear(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


class Lock(Protocol):
    """A lock used with ``async with`` (``asyncio.Lock`` is one)."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: Any) -> Any: ...

    def locked(self) -> bool: ...


class Timeout(Protocol):
    """``async with timeout(s)``: ``TimeoutError`` past ``s`` seconds; ``expired()`` says
    whether it was this deadline that fired (``asyncio.Timeout`` is one)."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...

    def expired(self) -> bool: ...


# -- asyncio or trio -----------------------------------------------------------------------


def _trio() -> Any:
    """The trio module of the running trio run; ``RuntimeError`` when nothing runs."""
    trio_module = sys.modules.get("trio")
    if trio_module is not None:
        try:
            trio_module.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            return trio_module
    raise RuntimeError("no running event loop (neither asyncio nor trio)")


#: The running asyncio loop, or ``None`` (under trio, or outside a loop): asyncio's own C
#: function, for code run once per member of a fan-out, which falls back on
#: :func:`running_loop` when it says ``None`` (that is a Python call more per member).
asyncio_loop: Final[Callable[[], asyncio.AbstractEventLoop | None]] = _get_running_loop


def running_loop() -> Loop:
    """The running loop: asyncio's own, or the trio run's stand-in with the same methods."""
    loop = _get_running_loop()
    if loop is not None:
        return loop
    global _trio_loop
    trio_module = _trio()
    token = trio_module.lowlevel.current_trio_token()
    if _trio_loop is None or _trio_loop.token is not token:
        _trio_loop = _TrioLoop(trio_module, token)
    return _trio_loop


def current_task() -> Any:
    """The running task (compared with ``is``; a task of :func:`running_loop` is itself)."""
    loop = _get_running_loop()
    if loop is not None:  # asyncio's (given the loop: no second look-up of it)
        return _asyncio_current_task(loop)
    trio_module = _trio()
    handle = _CURRENT.get(None)
    if handle is None:
        handle = _TrioTask(trio_module)
        _CURRENT.set(handle)
    return handle


def new_event() -> Event:
    """A new event of the running loop."""
    if _get_running_loop() is not None:
        return asyncio.Event()
    return _TrioEvent(_trio())


def new_lock() -> Lock:
    """A new lock of the running loop."""
    if _get_running_loop() is not None:
        return asyncio.Lock()
    lock: Lock = _trio().Lock()
    return lock


def timeout(seconds: float | None) -> Timeout:
    """``TimeoutError`` when the block runs longer than ``seconds`` (``None``: never)."""
    if _get_running_loop() is not None:
        return asyncio.timeout(seconds)
    return _TrioTimeout(_trio(), seconds)


def checkpoint() -> Awaitable[None]:
    """Let every other ready task run once (``await checkpoint()``)."""
    if _get_running_loop() is not None:
        return asyncio.sleep(0)
    sleep: Awaitable[None] = _trio().sleep(0)
    return sleep


def after_turn(callback: Callable[..., object], *args: Any) -> None:
    """Call ``callback(*args)`` once the tasks that are ready now have run (the loop's next
    turn), as a callback rather than a task: asyncio's ``call_soon``, the trio run's
    ``run_sync_soon`` (which logs what the callback raises)."""
    loop = _get_running_loop()
    if loop is not None:
        loop.call_soon(callback, *args)
    else:
        running_loop().call_soon_threadsafe(callback, *args)


async def sleep_forever() -> None:
    """Wait until cancelled."""
    if _get_running_loop() is not None:
        await asyncio.Event().wait()
    else:
        await _trio().sleep_forever()


async def to_thread(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker thread."""
    if _get_running_loop() is not None:
        return await asyncio.to_thread(function, *args)
    result: T = await _trio().to_thread.run_sync(function, *args)
    return result


async def wait_all(tasks: Iterable[Any], within: float | None = None) -> None:
    """Wait until every task in ``tasks`` ended, whatever the outcome (``gather`` with
    ``return_exceptions``), or until ``within`` seconds passed (the tasks go on)."""
    if _get_running_loop() is not None:
        if within is None:
            await asyncio.gather(*tasks, return_exceptions=True)
        elif tasks := list(tasks):
            await asyncio.wait(tasks, timeout=within)
        return
    with _trio().move_on_after(math.inf if within is None else within):
        for task in tasks:
            await task.wait()


#: Where trio has never been imported the running code cannot run under trio, so the calls
#: made per request and per frame (:func:`start_now`, :func:`result_now`) test this table
#: first and look nothing up: before Python 3.12 asyncio's own look-up of the running loop
#: makes a ``getpid()`` system call every time (its check for a fork), which cost an HTTP
#: request about a microsecond of server time (and the floor's code makes none). The test is
#: written out in both (no call: each runs once per request or frame).
_MODULES: Final = sys.modules


class Unfinished(Protocol):
    """What :func:`start_now` hands back: await it to finish, or ``close()`` it."""

    def __await__(self) -> Generator[Any, Any, None]: ...

    def close(self) -> None: ...


def start_now(awaitable: Awaitable[None]) -> Unfinished | None:
    """Run ``awaitable`` in the caller up to its first real wait: ``None`` when it finished
    without waiting (an exception it raised is raised here), else an awaitable that finishes
    it, for a task to await. A send that the server completes at once (the common case) thus
    costs no task and no timer. Only a coroutine on asyncio starts at once (the loop's own
    suspension protocol); under trio, or for another awaitable, nothing runs before the
    awaiting."""
    if type(awaitable) is not CoroutineType and not isinstance(awaitable, Coroutine):
        return _awaiting(awaitable)
    coro = awaitable
    if "trio" in _MODULES and _get_running_loop() is None:  # under trio
        return coro
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return _Resumed(coro, waiting_on)


def result_now(awaitable: Awaitable[T]) -> tuple[bool, Any]:
    """``(True, result)`` when ``awaitable`` completes in the caller without waiting (what
    it raises is raised here), else ``(False, rest)``: an awaitable that waits for the
    result. A caller thus learns that nothing waited (a ``receive`` whose message was
    already there, the common case of a small request body) and can skip what only a wait
    needs, such as arming a deadline before awaiting ``rest``. Only a coroutine on asyncio
    starts at once (as for :func:`start_now`); anything else is ``(False, awaitable)``, with
    nothing run yet."""
    if type(awaitable) is not CoroutineType or (
        "trio" in _MODULES and _get_running_loop() is None  # under trio
    ):
        return False, awaitable
    try:
        waiting_on = awaitable.send(None)
    except StopIteration as finished:
        return True, finished.value
    return False, _Resumed(awaitable, waiting_on)


async def _awaiting(awaitable: Awaitable[None]) -> None:
    await awaitable


class _Resumed:
    """The rest of a coroutine that :func:`start_now` or :func:`result_now` started: awaiting
    it hands the future it waits on to the awaiting task, then drives it on (cancellation
    thrown into it) and gives its result."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                value = yield waiting_on
            except BaseException as exc:  # thrown into the awaiting task: the coroutine's
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration as finished:
                    return finished.value
                continue
            try:
                waiting_on = coro.send(value)
            except StopIteration as finished:
                return finished.value

    def close(self) -> None:
        """Stop the coroutine where it waits (when it is no longer awaited)."""
        self._coro.close()


def cancellation(*others: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The exceptions a cancelled task sees, and ``others`` (``except cancellation():``)."""
    trio_module = sys.modules.get("trio")
    if trio_module is None:
        return (*others, asyncio.CancelledError)
    return (*others, asyncio.CancelledError, trio_module.Cancelled)


class _NoScope(AbstractContextManager[None]):
    """A block with nothing to enter. Its methods are static: a ``with`` holds the looked-up
    ``__exit__`` for the block's whole life, and a bound method would be 64 bytes more on
    every idle WebSocket, whose reading sits in :func:`cancellable`'s block."""

    __slots__ = ()

    @staticmethod
    def __enter__() -> None:
        return None

    @staticmethod
    def __exit__(*exc_info: object) -> None:
        return None


_NO_SCOPE: AbstractContextManager[None] = _NoScope()


def shield() -> AbstractContextManager[Any]:
    """A block that an outer cancellation does not interrupt (trio); nothing on asyncio, where
    a cancellation once caught is spent. Bound what runs inside with :func:`timeout`."""
    if _get_running_loop() is not None:
        return _NO_SCOPE
    scope: AbstractContextManager[Any] = _trio().CancelScope(shield=True)
    return scope


def cancellable(task: Any) -> AbstractContextManager[Any]:
    """The block in which ``task`` (the :func:`current_task`) can be cancelled from elsewhere
    by ``task.cancel()``. On asyncio that is the whole task (nothing to enter: the caller
    catches ``CancelledError`` and calls ``uncancel()``); under trio the block is a cancel
    scope, and a cancel through it ends the block quietly, without an exception."""
    if isinstance(task, _TrioTask):
        return task.scope()
    return _NO_SCOPE


# -- trio's side -----------------------------------------------------------------------------

_CURRENT: contextvars.ContextVar[_TrioTask] = contextvars.ContextVar("component_framework_task")


class _TrioTask:
    """A task of a trio run, shaped like an ``asyncio.Task``: a system task (``coro``) or the
    handle of a task we did not start (``None``: cancellable inside :func:`cancellable`)."""

    __slots__ = ("_callbacks", "_cancelled", "_done", "_loop", "_scope", "_trio", "name")

    def __init__(self, trio_module: Any, name: str | None = None) -> None:
        self._trio = trio_module
        self._loop = running_loop()
        self.name = name
        self._scope: trio.CancelScope | None = None
        self._cancelled = False
        self._done: trio.Event | None = None
        self._callbacks: list[Callable[[Any], object]] = []

    def start(self, coro: Coroutine[Any, Any, Any]) -> None:
        trio_module = self._trio
        self._done = trio_module.Event()
        self._scope = trio_module.CancelScope()
        trio_module.lowlevel.spawn_system_task(
            self._run, coro, name=self.name, context=contextvars.copy_context()
        )

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        _CURRENT.set(self)
        assert self._scope is not None
        try:
            with self._scope:
                await coro
        except Exception:
            logger.exception("a background task failed: %s", self.name or coro)
        finally:
            coro.close()
            assert self._done is not None
            self._done.set()
            for callback in self._callbacks:
                try:
                    callback(self)
                except Exception:
                    logger.exception("a task's done callback failed: %r", callback)

    def scope(self) -> AbstractContextManager[Any]:
        scope: trio.CancelScope = self._trio.CancelScope()
        self._cancelled = False
        self._scope = scope
        return scope

    def cancel(self, msg: Any | None = None) -> bool:
        if self.done():
            return False
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()
        return True

    def uncancel(self) -> int:
        self._cancelled = False
        return 0

    def done(self) -> bool:
        return self._done is not None and self._done.is_set()

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None:
        if self.done():
            fn(self)
        else:
            self._callbacks.append(fn)

    def get_loop(self) -> Any:
        return self._loop

    async def wait(self) -> None:
        if self._done is not None:
            await self._done.wait()


class _TrioTimer:
    """A callback after a delay: a task that sleeps, cancelled with the timer."""

    __slots__ = ("_task",)

    def __init__(
        self, trio_module: Any, deadline: float, callback: Callable[..., object], args: Any
    ) -> None:
        async def fire() -> None:
            await trio_module.sleep_until(deadline)
            callback(*args)

        self._task = _TrioTask(trio_module, "component-framework-timer")
        self._task.start(fire())

    def cancel(self) -> None:
        self._task.cancel()


class _TrioLoop:
    """The methods of an asyncio loop the library calls, on the running trio run (one per
    run, as an asyncio loop is one object)."""

    __slots__ = ("_trio", "token")

    def __init__(self, trio_module: Any, token: Any) -> None:
        self._trio = trio_module
        self.token = token

    def time(self) -> float:
        now: float = self._trio.current_time()
        return now

    def create_task(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> Any:
        task = _TrioTask(self._trio, name)
        task.start(coro)
        return task

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        return _TrioTimer(self._trio, self.time() + delay, callback, args)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer:
        return _TrioTimer(self._trio, when, callback, args)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Timer:
        return _TrioTimer(self._trio, self.time(), callback, args)

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        def guarded() -> None:
            try:
                callback(*args)
            except Exception:
                logger.exception("a callback failed: %r", callback)

        try:
            self.token.run_sync_soon(guarded)
        except self._trio.RunFinishedError:
            logger.debug("the trio run ended before a callback could run: %r", callback)

    def is_closed(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True


_trio_loop: _TrioLoop | None = None


class _TrioEvent:
    """``asyncio.Event``'s surface on trio (whose events cannot be cleared: a new one is)."""

    __slots__ = ("_event", "_trio")

    def __init__(self, trio_module: Any) -> None:
        self._trio = trio_module
        self._event = trio_module.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        if self._event.is_set():
            self._event = self._trio.Event()

    def is_set(self) -> bool:
        is_set: bool = self._event.is_set()
        return is_set

    async def wait(self) -> bool:
        await self._event.wait()
        return True


class _TrioTimeout:
    """``asyncio.timeout`` on trio: a cancel scope with a deadline, ``TimeoutError`` when it
    fired."""

    __slots__ = ("_scope", "_seconds", "_trio")

    def __init__(self, trio_module: Any, seconds: float | None) -> None:
        self._trio = trio_module
        self._seconds = seconds
        self._scope: trio.CancelScope | None = None

    async def __aenter__(self) -> _TrioTimeout:
        seconds = self._seconds
        deadline = float("inf") if seconds is None else self._trio.current_time() + seconds
        self._scope = self._trio.CancelScope(deadline=deadline)
        self._scope.__enter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._scope is not None
        self._scope.__exit__(exc_type, exc, tb)
        if self._scope.cancelled_caught:
            raise TimeoutError from exc
        return None

    def expired(self) -> bool:
        return self._scope is not None and self._scope.cancelled_caught
