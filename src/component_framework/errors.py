"""The one error tree of component-framework.

Every error the framework raises on purpose is a :class:`ComponentError`. Each class carries the
HTTP status, the WebSocket close code and the stable machine-readable ``code`` that transports put
on the wire, so no transport keeps its own mapping table. Client faults (the request was wrong) and
server faults (our side or the user's handler failed) are separate branches, as in h11::

    ComponentError                      500  1011  internal_error
    ├── ClientError                     400  1008  bad_request
    │   ├── MalformedRequest            400  1007  malformed_request
    │   ├── InvalidSnapshot             400  1008  invalid_snapshot
    │   │   └── InvalidChild            400  1008  invalid_child
    │   ├── HostNotAllowed              400  1008  host_not_allowed
    │   ├── URLNotAllowed               400  1008  url_not_allowed
    │   ├── InvalidTrigger              400  1008  invalid_trigger
    │   ├── InvalidEmit                 400  1008  invalid_emit
    │   ├── Unauthorized                401  1008  unauthorized
    │   ├── Forbidden                   403  1008  forbidden
    │   ├── NotFound                    404  1008  not_found
    │   │   ├── ComponentNotFound       404  1008  component_not_found
    │   │   ├── EventNotFound           404  1008  event_not_found
    │   │   ├── UploadNotFound          404  1008  upload_not_found
    │   │   └── NotListening            404  1008  not_listening
    │   ├── MethodNotAllowed            405  1008  method_not_allowed
    │   ├── NotJoined                   409  1008  not_joined
    │   ├── UploadOffsetMismatch        409  1008  upload_offset_mismatch
    │   │   └── UploadIncomplete        409  1008  upload_incomplete
    │   ├── UploadExpired               410  1008  upload_expired
    │   ├── PayloadTooLarge             413  1009  payload_too_large
    │   │   ├── SnapshotTooLarge        413  1009  snapshot_too_large
    │   │   └── UploadTooLarge          413  1009  upload_too_large
    │   ├── UnsupportedMediaType        415  1003  unsupported_media_type
    │   │   └── UploadTypeNotAllowed    415  1003  upload_type_not_allowed
    │   ├── PayloadValidationError      422  1007  validation_error
    │   │   └── FormInvalid             422  1007  invalid_form
    │   ├── RateLimited                 429  1008  rate_limited
    │   └── SlowConsumer                429  1013  slow_consumer
    └── ServerError                     500  1011  internal_error
        ├── HandlerError                500  1011  handler_error
        ├── TransportUnavailable        501  1011  transport_unavailable
        ├── ServiceUnavailable          503  1012  service_unavailable
        └── ConfigurationError          500  1011  configuration_error

A user handler may raise any :class:`ClientError` on purpose (for example
``PayloadValidationError("text", "Write something.")``); it reaches the client as is. Any other
exception from user code becomes a :class:`HandlerError`. A client sees the ``message`` of client
errors only; a server error shows its class's fixed ``public_message`` (the real message goes to
the log, and into the body only in debug mode).

Every transport sends a failure the same way: :func:`report_failure` applies the one logging rule
and turns any exception into a :class:`ComponentError`, and :func:`error_document` turns that into
the error document (``code``, ``message``, and ``field``, ``errors``, ``limit``, ``reason``,
``retry_after`` and ``debug`` when they apply); a transport only frames the document (an HTTP
JSON body and htmx headers, an SSE ``error`` frame, a WebSocket ``error`` message or close).

Client text is never echoed whole: where a message quotes it, :func:`shown` cuts it, and every
error's message (:data:`MAX_MESSAGE_CHARS`) and ``field`` (:data:`MAX_FIELD_CHARS`) is cut
again when the error is built, so an answer, a header or a log line stays small whatever a
client sent.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

__all__ = [
    "MAX_FIELD_CHARS",
    "MAX_MESSAGE_CHARS",
    "ClientError",
    "ComponentError",
    "ComponentNotFound",
    "ConfigurationError",
    "EventNotFound",
    "Forbidden",
    "FormInvalid",
    "HandlerError",
    "HandlerTimeout",
    "HostNotAllowed",
    "InvalidChild",
    "InvalidEmit",
    "InvalidSnapshot",
    "InvalidTrigger",
    "MalformedRequest",
    "MethodNotAllowed",
    "NotFound",
    "NotJoined",
    "NotListening",
    "PayloadTooLarge",
    "PayloadValidationError",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "ServiceUnavailable",
    "SlowConsumer",
    "SnapshotTooLarge",
    "StreamTimeout",
    "TransportUnavailable",
    "URLNotAllowed",
    "Unauthorized",
    "UnsupportedMediaType",
    "UploadExpired",
    "UploadIncomplete",
    "UploadNotFound",
    "UploadOffsetMismatch",
    "UploadTooLarge",
    "UploadTypeNotAllowed",
    "as_component_error",
    "cut_short",
    "error_document",
    "report_failure",
    "shown",
]

logger = logging.getLogger("component_framework")

#: Longest message an error carries (to a client, in a header, in a log line).
MAX_MESSAGE_CHARS: Final = 512
#: Longest ``field`` name a validation error carries.
MAX_FIELD_CHARS: Final = 128


def cut_short(text: str, limit: int) -> str:
    """``text`` when it has at most ``limit`` characters, else its first ``limit`` and ``...``."""
    return text if len(text) <= limit else text[:limit] + "..."


def shown(value: object, limit: int = 64) -> str:
    """How a message quotes a client-supplied value: the ``repr`` of a string cut to ``limit``
    characters, of a number or ``None`` cut likewise, and only the type of anything else (a
    list or object may be huge)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."
    if value is None or isinstance(value, int | float):
        return cut_short(repr(value), limit)
    return type(value).__name__


class ComponentError(Exception):
    """Base of every error the framework raises deliberately."""

    status_code: ClassVar[int] = 500
    close_code: ClassVar[int] = 1011
    code: ClassVar[str] = "internal_error"
    #: What a client is told; ``None`` means the message itself is safe to show.
    public_message: ClassVar[str | None] = "internal server error"

    def __init__(self, message: str) -> None:
        message = cut_short(message, MAX_MESSAGE_CHARS)  # whatever a caller quoted
        super().__init__(message)
        self.message = message

    @property
    def client_message(self) -> str:
        """The message a client may see."""
        return self.message if self.public_message is None else self.public_message

    def to_dict(self) -> dict[str, object]:
        """The JSON error body: ``{"error": {"code": ..., "message": ...}}``."""
        return {"error": {"code": self.code, "message": self.client_message}}


class ClientError(ComponentError):
    """The request was at fault; the message is safe to show to the client."""

    status_code = 400
    close_code = 1008
    code = "bad_request"
    public_message = None


class MalformedRequest(ClientError):
    """The body could not be parsed or does not have the protocol's shape."""

    close_code = 1007
    code = "malformed_request"


class InvalidSnapshot(ClientError):
    """A snapshot is missing, tampered with, signed by an unknown key, expired, foreign or
    oversized. ``reason`` (in the body when set) is the verifier's one word for it:
    ``malformed``, ``tampered``, ``unknown_key``, ``foreign``, ``expired`` or ``oversized``."""

    code = "invalid_snapshot"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason

    @classmethod
    def refused(cls, reason: str, detail: str) -> InvalidSnapshot:
        """The error for a token the verifier refused with ``reason`` and ``detail``."""
        if reason == "unknown_key":
            return cls(
                "invalid snapshot (unknown key): this page's state was signed with a key the "
                "server does not have, so the server's key changed (a restart without a "
                "configured key, or another worker without the shared key). Reload the page; "
                "set COMPONENT_FRAMEWORK_SECRET_KEY, the same on every worker, to keep pages "
                "working across restarts",
                reason,
            )
        return cls(f"invalid snapshot ({reason}): {detail}", reason)

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        if self.reason is not None:
            error = body["error"]
            assert isinstance(error, dict)
            error["reason"] = self.reason
        return body


class InvalidChild(InvalidSnapshot):
    """The snapshot of a nested component (a ``children`` entry, or a held child an event
    names) is not one this component may take: tampered, signed for another parent or key,
    given twice, sent without the parent's own snapshot, or no such child is held. ``reason``
    as for :class:`InvalidSnapshot`, or ``foreign_parent`` / ``repeated`` / ``orphan`` /
    ``unknown_child``."""

    code = "invalid_child"


class HostNotAllowed(ClientError):
    """The request's ``Host`` is not one of ``Settings.allowed_hosts`` (or it has none)."""

    code = "host_not_allowed"


class URLNotAllowed(ClientError):
    """A handler asked to send the browser to a URL it may not (``redirect``, ``push_url``,
    ``replace_url``: no open redirect). ``reason`` says why: ``foreign_origin``,
    ``scheme_relative``, ``backslash``, ``control_character``, ``scheme``, ``relative``,
    ``userinfo``, ``too_long``, ``empty`` or ``malformed``."""

    code = "url_not_allowed"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        error = body["error"]
        assert isinstance(error, dict)
        error["reason"] = self.reason
        return body


class InvalidTrigger(ClientError):
    """A handler's ``trigger`` named an event it may not fire (an invalid name, or one of
    htmx or the client runtime) or gave a detail that is not small JSON data."""

    code = "invalid_trigger"


class InvalidEmit(ClientError):
    """A handler's ``emit`` named an invalid event, gave a payload that is not small JSON
    data, or emitted more events than one answer carries (``core.events``)."""

    code = "invalid_emit"


class Unauthorized(ClientError):
    """The client must authenticate first."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ClientError):
    """The client is not allowed to do this."""

    status_code = 403
    code = "forbidden"


class NotFound(ClientError):
    """Nothing is served at this path."""

    status_code = 404
    code = "not_found"


class ComponentNotFound(NotFound):
    """No component is registered under the requested name."""

    code = "component_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown component {shown(name)}")
        self.name = name


class EventNotFound(NotFound):
    """The component has no public ``on_<event>`` handler of that name."""

    code = "event_not_found"

    def __init__(self, component: str, event: str) -> None:
        super().__init__(f"component {component!r} has no event {shown(event)}")
        self.component = component
        self.event = event


class NotListening(NotFound):
    """An emitted event was sent to a component whose class does not list it in ``listens``
    (or to a listener whose class lists none of the events of the batch)."""

    code = "not_listening"

    def __init__(self, component: str, events: Sequence[str]) -> None:
        names = ", ".join(shown(event, 64) for event in events[:4])
        super().__init__(f"component {component!r} does not listen to {names}")
        self.component = component


class MethodNotAllowed(ClientError):
    """The HTTP method is not served at this path; ``allowed`` goes into ``Allow``."""

    status_code = 405
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: Sequence[str], message: str | None = None) -> None:
        super().__init__(
            message or f"method {method} is not allowed here; expected one of {', '.join(allowed)}"
        )
        self.allowed = tuple(allowed)


class NotJoined(ClientError):
    """A WebSocket event arrived while the connection holds no component (its mount failed):
    send a ``join`` first."""

    status_code = 409
    code = "not_joined"


class StreamLost(ClientError):
    """A resume named a stream this server does not have (its frames expired, or it ran on
    another worker): unlike a finished stream (``204``), the client missed frames it will never
    get, so it is told, as the ``lost`` frame of a resume answer (see ``docs/streaming.md``)."""

    status_code = 410
    code = "stream_lost"

    def __init__(self) -> None:
        super().__init__(
            "this stream cannot be resumed here (it expired, or it ran on another server): "
            "what it sent while you were away is lost; load the component again"
        )


class RequestTimeout(ClientError):
    """The request body did not arrive in time (a stalled or deliberately slow client)."""

    status_code = 408
    code = "request_timeout"


class PayloadTooLarge(ClientError):
    """A body, message or token is larger than its configured limit."""

    status_code = 413
    close_code = 1009
    code = "payload_too_large"


class SnapshotTooLarge(PayloadTooLarge):
    """The state a request would leave is larger, as a signed snapshot, than
    ``Settings.max_snapshot_bytes``: the change is not applied (the previous snapshot, or the
    state a WebSocket connection holds, stays what it was)."""

    code = "snapshot_too_large"


class UnsupportedMediaType(ClientError):
    """The request body has a content type the protocol does not accept."""

    status_code = 415
    close_code = 1003
    code = "unsupported_media_type"


def _with_details(body: dict[str, object], **details: object) -> dict[str, object]:
    """``body`` (a ``to_dict`` answer) with ``details`` added to its error document."""
    error = body["error"]
    assert isinstance(error, dict)
    error.update(details)
    return body


class UploadTooLarge(PayloadTooLarge):
    """A ``multipart/form-data`` body went past one of its limits while it streamed in: a file's
    bytes, the files or fields of one request, or its total bytes. ``limit`` names the setting
    (``upload_max_file_bytes``, ``upload_max_files``, ``upload_max_bytes``,
    ``upload_max_fields``, or ``max_bytes`` of the field's ``Accept``), ``field`` the form field
    it happened in (``None`` for the request as a whole)."""

    code = "upload_too_large"

    def __init__(self, message: str, *, limit: str, field: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.field = None if field is None else cut_short(field, MAX_FIELD_CHARS)

    def to_dict(self) -> dict[str, object]:
        body = _with_details(super().to_dict(), limit=self.limit)
        return body if self.field is None else _with_details(body, field=self.field)


class UploadTypeNotAllowed(UnsupportedMediaType):
    """A file's declared content type is not one its field accepts (``Accept``); ``field``
    names the field and ``limit`` is ``accept``."""

    code = "upload_type_not_allowed"
    limit: Final = "accept"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = cut_short(field, MAX_FIELD_CHARS)

    def to_dict(self) -> dict[str, object]:
        return _with_details(super().to_dict(), field=self.field, limit=self.limit)


# -- resumable uploads (core.resumable) -----------------------------------------------------


class UploadNotFound(NotFound):
    """A resumable upload id that names no upload: forged or edited, made for another
    component, event or field, or already claimed by its event."""

    code = "upload_not_found"


class UploadOffsetMismatch(ClientError):
    """A chunk of a resumable upload did not start where the server's data ends; ``offset``
    (also the ``Upload-Offset`` header) is where the next chunk must start."""

    status_code = 409
    code = "upload_offset_mismatch"

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(message)
        self.offset = offset

    def to_dict(self) -> dict[str, object]:
        return _with_details(super().to_dict(), offset=self.offset)


class UploadIncomplete(UploadOffsetMismatch):
    """An event claimed a resumable upload before all of its bytes arrived (``offset``: how
    many did)."""

    code = "upload_incomplete"


class UploadExpired(ClientError):
    """A resumable upload the server made, left alone longer than its time to live (its data
    is gone: start again)."""

    status_code = 410
    code = "upload_expired"


class PayloadValidationError(ClientError):
    """A payload or mount parameter does not fit the handler's signature.

    ``problem`` is the message, written for the person who filled in the form ("Enter a whole
    number."); ``field`` names the field for programs (in the body and the ``component-error``
    detail), so the message does not repeat it. ``str()`` of the error (logs) has both."""

    status_code = 422
    close_code = 1007
    code = "validation_error"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = cut_short(field, MAX_FIELD_CHARS)
        self.problem = self.message

    def __str__(self) -> str:
        return f"field {shown(self.field, MAX_FIELD_CHARS)}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        error = body["error"]
        assert isinstance(error, dict)
        error["field"] = self.field
        return body


class FormInvalid(PayloadValidationError):
    """A submitted form has invalid fields, every one of them reported at once.

    ``errors`` maps each dotted field name (``address.city``, ``items[0].name``; ``""`` for
    the form as a whole) to its messages, written for people; ``form`` holds the submitted
    values exactly as they were typed, by the same dotted names, so that a page can show them
    again. The error document carries ``errors`` (never ``form``: the client has its own
    values, and they are not echoed); ``field`` is the first invalid field."""

    code = "invalid_form"

    def __init__(
        self, errors: Mapping[str, Sequence[str]], form: Mapping[str, Any] | None = None
    ) -> None:
        kept = {
            cut_short(name, MAX_FIELD_CHARS): [cut_short(m, MAX_MESSAGE_CHARS) for m in messages]
            for name, messages in errors.items()
            if messages
        }
        if not kept:
            raise ValueError("FormInvalid needs at least one field error")
        first, problems = next(iter(kept.items()))
        count = len(kept)
        summary = problems[0] if count == 1 else f"{count} fields need correcting."
        super().__init__(first, summary)
        self.errors: dict[str, list[str]] = kept
        self.form: dict[str, Any] = dict(form or {})

    def to_dict(self) -> dict[str, object]:
        return _with_details(super().to_dict(), errors={k: list(v) for k, v in self.errors.items()})


class RateLimited(ClientError):
    """Too many requests; ``retry_after`` seconds is a hint for the client."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlowConsumer(ClientError):
    """A WebSocket client does not take its messages fast enough and its bounded outbox is
    full; the connection is closed with 1013 (try again later)."""

    status_code = 429
    close_code = 1013
    code = "slow_consumer"


class ServerError(ComponentError):
    """Our side failed; the public message never carries internal detail."""


class HandlerError(ServerError):
    """User code (mount, hydrate, a handler, a template) raised an exception."""

    code = "handler_error"
    public_message = "the component failed to handle the request"

    def __init__(self, component: str, stage: str) -> None:
        super().__init__("the component failed to handle the request")
        self.component = component
        self.stage = stage


class HandlerTimeout(ServerError):
    """An ``async`` mount or handler ran longer than ``Settings.handler_timeout`` and was
    cancelled."""

    status_code = 504
    code = "handler_timeout"
    public_message = None


class StreamTimeout(HandlerTimeout):
    """A stream handler ran longer than ``Settings.stream_max_seconds`` and was cancelled."""

    code = "stream_timeout"


class TransportUnavailable(ServerError):
    """The requested transport is not served by this build of the framework."""

    status_code = 501
    code = "transport_unavailable"
    public_message = None


class ServiceUnavailable(ServerError):
    """The server is shutting down (or otherwise cannot serve now); try again later."""

    status_code = 503
    close_code = 1012
    code = "service_unavailable"
    public_message = None


class ConfigurationError(ServerError):
    """The application is configured wrongly (missing renderer, bad key, ...)."""

    code = "configuration_error"


def as_component_error(exc: BaseException) -> ComponentError:
    """``exc`` itself when it is a :class:`ComponentError`; anything else is a framework bug,
    answered as a :class:`ServerError` (``internal_error``) caused by it."""
    if isinstance(exc, ComponentError):
        return exc
    error = ServerError("internal server error")
    error.__cause__ = exc
    return error


def report_failure(exc: BaseException, where: str) -> ComponentError:
    """Log ``exc`` by the one rule, once, where a transport (or a stream, or a live session)
    turns it into an answer; returns the error to send. ``where`` completes the log line
    ("serving component 'counter'").

    - not a :class:`ComponentError`: a framework bug, logged at ERROR with its traceback;
    - a :class:`ClientError`: not logged (the answer says everything);
    - an error with a ``__cause__``: not logged again (whoever wrapped the cause logged it
      with its traceback, as ``Dispatcher.handler_error`` does);
    - :class:`ServiceUnavailable`: not logged (a refusal while shutting down is no failure);
    - any other server error: one ERROR line with its code and real message.
    """
    if not isinstance(exc, ComponentError):
        logger.error("unexpected failure %s", where, exc_info=exc)
        return as_component_error(exc)
    if not (isinstance(exc, ClientError | ServiceUnavailable) or exc.__cause__ is not None):
        logger.error("%s %s: %s", exc.code, where, exc)
    return exc


def error_document(exc: BaseException, *, debug: bool = False) -> dict[str, Any]:
    """The error document every transport frames: ``code`` and ``message`` (what a client may
    see), ``field`` (validation), ``errors`` (an invalid form: dotted field name -> its
    messages), ``limit`` (an upload refusal: the setting it went past), ``offset`` (a resumable
    upload's confirmed bytes), ``reason`` (snapshot refusals), ``retry_after`` (rate limits,
    seconds). With ``debug``, a server-side error shows its real ``message`` and, when it wraps
    another exception, that exception's traceback as ``debug``."""
    error = as_component_error(exc)
    details = error.to_dict()["error"]
    assert isinstance(details, dict)
    if isinstance(error, RateLimited):
        details["retry_after"] = round(error.retry_after, 3)
    if debug and not isinstance(error, ClientError):
        details["message"] = error.message
        if error.__cause__ is not None:
            details["debug"] = "".join(traceback.format_exception(error.__cause__))
    return details
