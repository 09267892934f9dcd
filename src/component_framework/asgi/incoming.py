"""What every transport reads from a request: its headers (one pass), the numbers they hold
(:func:`header_number`: RFC 9110's ``1*DIGIT``, strictly) and its body (bounded).

Owns reading, not answering: the HTTP and SSE transports both use these, and neither imports
the other. A ``multipart/form-data`` body is not collected but fed, chunk by chunk as it
arrives, to a ``core.multipart.MultipartReader`` (:func:`read_multipart`), which enforces the
upload limits while it streams. Header names are compared lower-cased (ASGI says servers
should lower-case them but need not).
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Any, Final

from component_framework.core.aio import (
    Loop,
    Task,
    Timer,
    cancellable,
    cancellation,
    current_task,
    result_now,
    running_loop,
)
from component_framework.core.events import checked_page_id
from component_framework.errors import (
    ComponentError,
    MalformedRequest,
    PayloadTooLarge,
    PayloadValidationError,
    RequestTimeout,
    UnsupportedMediaType,
    UploadTooLarge,
    shown,
)
from component_framework.protocol.request import (
    JSON_TYPES,
    MAX_NUMBER_DIGITS,
    UTF8_CHARSETS,
    RequestError,
    media_type,
)

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable

    from component_framework.core.multipart import MultipartForm, MultipartReader

__all__ = [
    "PAGE_HEADER",
    "BodyDeadlines",
    "Disconnected",
    "RequestHeaders",
    "header_number",
    "invalid_number",
    "page_of",
    "read_body",
    "read_multipart",
    "request_error",
]


class Disconnected(Exception):
    """The client went away before its request was complete."""


#: The header the client runtime names its page load with (``core.events``): the live
#: components of that page hear the events a request's handler emits.
PAGE_HEADER: Final = b"x-component-page"


def page_of(scope: Any) -> str | None:
    """The page id of a request (``PAGE_HEADER``), when valid; read only when a handler
    emitted events or a live stream starts, so it costs other requests nothing (a socket,
    and an EventSource, which sends no header, name it as ``_page`` in their URL)."""
    for key, value in scope["headers"]:
        if key.lower() == PAGE_HEADER:
            return checked_page_id(value.decode("latin-1"))
    return None


class RequestHeaders:
    """The request headers the transports care about, read in one pass."""

    __slots__ = (
        "accept",
        "content_length",
        "content_type",
        "fetch_site",
        "host",
        "htmx",
        "last_event_id",
        "origin",
    )

    def __init__(
        self,
        content_type: str | None = None,
        content_length: bytes | None = None,
        accept: bytes | None = None,
        htmx: bool = False,
        last_event_id: str | None = None,
        origin: str | None = None,
        fetch_site: str | None = None,
        host: str | None = None,
    ) -> None:
        self.content_type = content_type
        self.content_length = content_length
        self.accept = accept
        self.htmx = htmx
        self.last_event_id = last_event_id
        self.origin = origin
        self.fetch_site = fetch_site
        self.host = host

    @classmethod
    def of(cls, scope: Any) -> RequestHeaders:
        """Read ``scope["headers"]`` once: one dict lookup per header, and no lower-casing of
        names that are lower-case already (servers lower-case them), so a browser's dozen
        headers, most of them of no interest here, cost about what three do. The instance is
        filled in place (no ``__init__`` call: a request's first object, built on every
        request, in one function)."""
        self = cls.__new__(cls)
        self.content_type = self.content_length = self.accept = self.last_event_id = None
        self.origin = self.fetch_site = self.host = None
        self.htmx = False
        wanted = _WANTED
        try:
            for key, value in scope["headers"]:
                index = wanted.get(key)
                if index is None and (key.islower() or (index := wanted.get(key.lower())) is None):
                    continue
                if index == 0:
                    self.content_type = value.decode("latin-1")
                elif index == 1:
                    self.content_length = value
                elif index == 2:
                    self.host = value.decode("latin-1")
                elif index == 3:
                    self.htmx = True
                elif index == 4:
                    self.accept = value
                elif index == 5:
                    self.origin = value.decode("latin-1")
                elif index == 6:
                    self.fetch_site = value.decode("latin-1")
                else:
                    self.last_event_id = value.decode("latin-1")
        except TypeError:  # names that are not bytes (a bytearray is unhashable): as bytes
            headers = [(bytes(key), bytes(value)) for key, value in scope["headers"]]
            return cls.of({"headers": headers})
        return self


#: The header names :class:`RequestHeaders` reads, lower-case, by their branch in ``of``.
_WANTED: Final = {
    name: index
    for index, name in enumerate(
        (
            b"content-type",
            b"content-length",
            b"host",
            b"hx-request",
            b"accept",
            b"origin",
            b"sec-fetch-site",
            b"last-event-id",
        )
    )
}


def request_error(exc: RequestError) -> ComponentError:
    """The wire error for a body or query string that could not be parsed, or a refused
    field (422, naming it)."""
    if exc.problem == "invalid_field" and exc.field is not None:
        return PayloadValidationError(exc.field, str(exc))
    if exc.problem == "unsupported_media_type":
        return UnsupportedMediaType(str(exc))
    if exc.problem == "too_many_fields":
        return PayloadTooLarge(str(exc))
    return MalformedRequest(str(exc))


class BodyDeadlines:
    """Ends body reads that take too long (slow-loris bodies) with ``RequestTimeout`` (408).

    One timer per app rather than one per request (a timer per request costs more than the
    rest of a small request): :func:`read_body` registers its task with a deadline, and a
    check every ``interval`` seconds, scheduled only while reads are registered, cancels the
    overdue ones."""

    def __init__(self, timeout: float | None, interval: float = 0.5) -> None:
        self.timeout = timeout
        self.interval = min(interval, timeout) if timeout else interval
        self.reading: dict[Task, float] = {}
        self.expired: set[Task] = set()
        self._timer: Timer | None = None

    def start(self, now: float, timeout: float | None = None) -> Task | None:
        """Watch the current task's body read from ``now`` (``time.monotonic()``) for
        ``timeout`` seconds (``None``: the app's); returns the task for :meth:`stop`
        (``None``: off)."""
        timeout = self.timeout if timeout is None else timeout
        if timeout is None:
            return None
        task: Task | None = current_task()
        if task is None:
            return None
        self.reading[task] = now + timeout
        if self._timer is None:
            loop = running_loop()
            self._timer = loop.call_later(self.interval, self._check, loop)
        return task

    def stop(self, task: Task) -> bool:
        """End the watch; True when the read was cancelled for being too slow."""
        if self.reading.pop(task, None) is None and task in self.expired:
            self.expired.discard(task)
            task.uncancel()
            return True
        return False

    def _check(self, loop: Loop) -> None:
        self._timer = None
        now = monotonic()
        for task, deadline in list(self.reading.items()):
            if deadline <= now:
                del self.reading[task]
                self.expired.add(task)
                task.cancel()
        if self.reading:
            self._timer = loop.call_later(self.interval, self._check, loop)


def header_number(value: bytes, name: str) -> int:
    """The whole number a numeric request header holds: RFC 9110's ``1*DIGIT`` only, ASCII
    ``0-9`` (leading zeros allowed), at most ``protocol.request.MAX_NUMBER_DIGITS`` of them.
    Anything else is ``MalformedRequest`` (400, ``malformed_request``) naming the header:
    ``int()`` would take a sign (``-5`` passes every limit), spaces, ``1_000`` and non-ASCII
    digits."""
    if len(value) <= MAX_NUMBER_DIGITS and value.isdigit():  # bytes: ASCII digits only
        return int(value)
    raise invalid_number(value, name)


def invalid_number(value: bytes, name: str) -> MalformedRequest:
    """The 400 for a numeric header that is not ``1*DIGIT`` (its value quoted, cut short)."""
    return MalformedRequest(
        f"invalid {name} {bytes(value)!r:.40}: 1 to {MAX_NUMBER_DIGITS} ASCII digits"
    )


def _not_a_body_message(message: Any) -> Exception:
    if message["type"] == "http.disconnect":
        return Disconnected()
    return MalformedRequest(f"expected ASGI message 'http.request', got {message['type']!r}")


async def read_body(
    receive: ASGIReceiveCallable,
    limit: int,
    declared: bytes | None,
    deadlines: BodyDeadlines | None = None,
    now: float | None = None,
) -> bytes:
    """The request body, at most ``limit`` bytes (413 beyond), within ``deadlines``' timeout
    (408) counted from ``now`` (default: this call); ``Disconnected`` when the client left.

    The deadline bounds every wait for the body. A body that is all there at the first
    ``receive`` (a small request: the server has read it with the headers) involves no
    wait, so it is taken without arming the deadline (``aio.result_now``); as soon as a
    ``receive`` would wait, or more of the body is to come, the deadline is armed, counted
    from ``now`` as always."""
    if declared is not None:
        # ``header_number`` written out (one call less on every request; a test ties them).
        if len(declared) > MAX_NUMBER_DIGITS or not declared.isdigit():
            raise invalid_number(declared, "Content-Length")
        declared_length = int(declared)
        if declared_length > limit:
            raise PayloadTooLarge(f"body of {declared_length} bytes exceeds the limit of {limit}")
    received, message = result_now(receive())
    if received and message["type"] == "http.request" and not message.get("more_body", False):
        chunk: bytes = message.get("body", b"")
        if len(chunk) > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        return chunk
    task = None if deadlines is None else deadlines.start(monotonic() if now is None else now)
    chunks: list[bytes] = []
    size = 0
    try:
        with cancellable(task):  # trio: the deadline's cancel ends this block quietly
            while True:
                if not received:
                    message = await message
                if message["type"] != "http.request":
                    raise _not_a_body_message(message)
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
                if not message.get("more_body", False):
                    if not chunks:  # the whole body in one message: no copy
                        return chunk
                    chunks.append(chunk)
                    return b"".join(chunks)
                chunks.append(chunk)
                received, message = False, receive()
    except cancellation():
        if task is not None and deadlines is not None and deadlines.stop(task):
            task = None
            raise _body_too_slow(deadlines.timeout) from None
        raise
    finally:
        if task is not None and deadlines is not None:
            deadlines.stop(task)
    raise _body_too_slow(None if deadlines is None else deadlines.timeout)


async def read_json_text(
    receive: ASGIReceiveCallable,
    headers: RequestHeaders,
    limit: int,
    deadlines: BodyDeadlines | None,
    now: float,
    what: str,
) -> str:
    """The text of a request whose body must be JSON (``what`` names it in the 415): the
    media type and its charset checked before a byte is read (as ``parse_body`` checks them),
    then :func:`read_body`, then UTF-8 (400)."""
    media, charset = media_type(headers.content_type or "")
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(f"{what} is sent as application/json")
    if charset not in UTF8_CHARSETS:
        raise UnsupportedMediaType(f"{what} is UTF-8 JSON, not charset {shown(charset)}")
    body = await read_body(receive, limit, headers.content_length, deadlines, now)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("malformed", "the body is not valid UTF-8") from None


def _body_too_slow(seconds: float | None) -> RequestTimeout:
    return RequestTimeout(f"the request body did not arrive within {seconds or 0:g} s")


async def read_multipart(
    receive: ASGIReceiveCallable,
    reader: MultipartReader,
    declared: bytes | None,
    deadlines: BodyDeadlines | None = None,
    now: float | None = None,
    seconds: float | None = None,
) -> MultipartForm:
    """Feed a ``multipart/form-data`` body to ``reader`` chunk by chunk as it arrives and
    return the complete form. A declared length past the reader's ``upload_max_bytes`` is
    refused before any byte is read; the reader refuses the rest while the bytes stream in.
    The body must arrive within ``seconds`` from ``now`` (408; ``None``: no limit; the app
    gives ``Settings.upload_timeout``). A disconnect (``Disconnected``), a refusal, a timeout
    or any other failure aborts the reader first, so no file of the request stays open."""
    try:
        declared_length = None if declared is None else header_number(declared, "Content-Length")
        if declared_length is not None and declared_length > reader.limits.max_bytes:
            raise UploadTooLarge(
                f"the upload of {declared_length} bytes is larger than the limit "
                f"of {reader.limits.max_bytes}",
                limit="upload_max_bytes",
            )
        started = monotonic() if now is None else now
        task = None
        if deadlines is not None and seconds is not None:
            task = deadlines.start(started, seconds)
        try:
            with cancellable(task):  # trio: the deadline's cancel ends this block quietly
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        raise _not_a_body_message(message)
                    reader.feed(message.get("body", b""))
                    if not message.get("more_body", False):
                        return reader.finish()
        except cancellation():
            if task is not None and deadlines is not None and deadlines.stop(task):
                task = None
                raise RequestTimeout(f"the upload did not arrive within {seconds} s") from None
            raise
        finally:
            if task is not None and deadlines is not None:
                deadlines.stop(task)
        raise RequestTimeout(f"the upload did not arrive within {seconds} s")
    except BaseException:
        reader.abort()
        raise
