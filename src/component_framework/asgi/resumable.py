"""The resumable upload exchange: ``/_uploads/`` and ``/_uploads/{id}`` over HTTP.

Owns the wire side of ``core.resumable`` (``docs/uploads.md``, "Resumable uploads"), a small
protocol in the manner of tus:

* ``POST /_uploads/`` with JSON ``{"component", "event", "field", "filename", "size",
  "content_type"}`` creates an upload: ``201`` with ``Location`` and
  ``{"upload": id, "offset": 0, "size", "chunk_bytes"}``;
* ``PATCH /_uploads/{id}`` with ``Upload-Offset: n`` and an
  ``application/offset+octet-stream`` body appends a chunk, written as it streams in:
  ``200`` ``{"offset", "size", "complete"}``; a wrong offset is ``409`` with the confirmed one
  (``Upload-Offset`` header and ``offset`` in the error document);
* ``HEAD /_uploads/{id}`` answers the confirmed offset (``Upload-Offset``, ``Upload-Length``);
* ``DELETE /_uploads/{id}`` gives the upload up.

The description is read like every JSON body (``decode_json_object``: depth, field count,
repeated keys, lone surrogates), and a field it does not know is refused. ``Upload-Offset``
and ``Upload-Length`` are whole numbers (``1*DIGIT``, as ``Content-Length``:
``incoming.header_number``); ``Upload-Length`` is optional and, when sent, must
agree with the upload's size. Any of ``Content-Type``, ``Content-Length``, ``Upload-Offset``
and ``Upload-Length`` sent twice is ``400``.

Each request passes the app's host check, its per-client rate and, for the methods that
change something, its cross-site check. A client that goes away mid-chunk keeps every byte
that reached the disk: ``HEAD`` says where to go on. Knows nothing of other transports.
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Final

from component_framework.asgi.incoming import (
    Disconnected,
    RequestHeaders,
    header_number,
    read_body,
    request_error,
)
from component_framework.asgi.responses import (
    JSON_HEADERS,
    Response,
    error_response,
    json_body,
    send_response,
)
from component_framework.core.access import AccessContext
from component_framework.core.resumable import ResumableUpload, upload_owner
from component_framework.errors import (
    MalformedRequest,
    MethodNotAllowed,
    RequestTimeout,
    UnsupportedMediaType,
    UploadOffsetMismatch,
    UploadTooLarge,
    report_failure,
    shown,
)
from component_framework.protocol.request import RequestError, decode_json_object, quoted

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

    from component_framework.asgi.services import AppServices

__all__ = ["CHUNK_MEDIA_TYPE", "handle_resumable"]

#: The content type of a chunk (tus's): no HTML form can send it, so no other site can
#: append to an upload through a visitor's browser without a CORS preflight.
CHUNK_MEDIA_TYPE: Final = "application/offset+octet-stream"
_CHANGES: Final = frozenset({"POST", "PATCH", "DELETE"})
#: The fields of an upload's JSON description (``size`` is a number, the rest are texts).
_DESCRIPTION: Final = frozenset({"component", "event", "field", "filename", "size", "content_type"})
#: Headers of this protocol a request may carry at most once: a second one (which one would
#: count?) is refused rather than one of them silently chosen.
_SINGLE: Final = (b"content-type", b"content-length", b"upload-offset", b"upload-length")


async def handle_resumable(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    upload_id: str,
    services: AppServices,
) -> None:
    """Serve one request of the resumable upload protocol (``upload_id`` empty: create)."""
    headers = RequestHeaders.of(scope)
    method, guard = scope["method"], services.guard
    settings = services.dispatcher.settings
    try:
        now = monotonic()
        client = guard.admit(scope, headers, now, "upload" if method in _CHANGES else None)
        _refuse_repeated_headers(scope)
        owner = upload_owner(AccessContext("http", scope, client))
        if not upload_id:
            if method != "POST":
                raise MethodNotAllowed(method, ["POST"])
            body = await read_body(
                receive, settings.max_body_bytes, headers.content_length, guard.body_deadlines, now
            )
            response = _create(services, headers, body, owner, scope)
        elif method == "HEAD":
            response = _where(services.uploads.open(upload_id, owner), services)
        elif method == "PATCH":
            response = await _append(scope, receive, services, headers, upload_id, owner, now)
        elif method == "DELETE":
            upload = services.uploads.open(upload_id, owner)
            services.uploads.discard(upload)
            response = Response(200, JSON_HEADERS, json_body({"upload": upload_id, "gone": True}))
        else:
            raise MethodNotAllowed(method, ["HEAD", "PATCH", "DELETE"])
    except Disconnected:
        return
    except Exception as exc:
        failure = request_error(exc) if isinstance(exc, RequestError) else exc
        error = report_failure(failure, "serving a resumable upload")
        response = error_response(error, debug=settings.debug)
        if isinstance(error, UploadOffsetMismatch):
            extra = (b"upload-offset", b"%d" % error.offset)
            response = Response(response.status, (*response.headers, extra), response.body)
    await send_response(send, response, head=method == "HEAD")


def _create(
    services: AppServices, headers: RequestHeaders, body: bytes, owner: str, scope: HTTPScope
) -> Response:
    """``POST /_uploads/``: a new upload, as the JSON body describes it."""
    media = (headers.content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(f"expected an application/json body, got {shown(media)}")
    settings = services.dispatcher.settings
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the body is not valid UTF-8") from None
    document = decode_json_object(
        text, settings.max_json_depth, "the upload's description", max_fields=settings.max_fields
    )
    unknown = set(document) - _DESCRIPTION
    if unknown:
        raise MalformedRequest(f"unexpected field {quoted(sorted(unknown)[0])} in the description")
    texts = {}
    for name in ("component", "event", "field", "filename", "content_type"):
        value = document.get(name, "")
        if not isinstance(value, str) or (not value and name in ("component", "event", "field")):
            raise MalformedRequest(f"{name!r} must be a non-empty string")
        texts[name] = value
    if "size" not in document:
        raise MalformedRequest("'size' is missing: the upload's size in bytes, a whole number")
    size = document["size"]  # checked by ``create``: a whole number
    declared = _number_header(scope, b"upload-length", "Upload-Length")
    if declared is not None and declared != size:
        raise MalformedRequest(f"Upload-Length says {declared} bytes, the description {size!r:.40}")
    upload = services.uploads.create(
        texts["component"],
        texts["event"],
        texts["field"],
        filename=texts["filename"],
        content_type=texts["content_type"],
        size=size,
        owner=owner,
    )
    location = (scope.get("root_path", "") + scope["path"]).rstrip("/") + "/" + upload.id
    answer = {
        "upload": upload.id,
        "offset": 0,
        "size": upload.size,
        "chunk_bytes": services.uploads.chunk_bytes,
    }
    extra = ((b"location", location.encode("latin-1")), (b"upload-offset", b"0"))
    return Response(201, (*JSON_HEADERS, *extra), json_body(answer))


def _where(upload: ResumableUpload, services: AppServices) -> Response:
    """Where ``upload`` stands: its confirmed offset (headers and JSON alike)."""
    offset = services.uploads.offset(upload)
    extra = ((b"upload-offset", b"%d" % offset), (b"upload-length", b"%d" % upload.size))
    answer = {"upload": upload.id, "offset": offset, "size": upload.size}
    answer["complete"] = offset == upload.size
    return Response(200, (*JSON_HEADERS, *extra), json_body(answer))


def _refuse_repeated_headers(scope: HTTPScope) -> None:
    """A header of :data:`_SINGLE` sent twice is ``400``: which one would count is unclear."""
    seen: set[bytes] = set()
    for key, _ in scope["headers"]:
        name = key.lower()
        if name in _SINGLE:
            if name in seen:
                raise MalformedRequest(f"the {name.decode()} header is sent more than once")
            seen.add(name)


def _number_header(scope: HTTPScope, header: bytes, label: str) -> int | None:
    """The whole number in ``header`` (``None`` when absent); anything that is not
    ``1*DIGIT`` is ``400`` (``incoming.header_number``)."""
    for name, value in scope["headers"]:
        if name.lower() == header:
            return header_number(value, label)
    return None


def _offset_header(scope: HTTPScope) -> int:
    offset = _number_header(scope, b"upload-offset", "Upload-Offset")
    if offset is None:
        raise MalformedRequest("a chunk needs an Upload-Offset header (where it starts)")
    return offset


async def _append(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    services: AppServices,
    headers: RequestHeaders,
    upload_id: str,
    owner: str,
    now: float,
) -> Response:
    """``PATCH /_uploads/{id}``: append the body at ``Upload-Offset``, written as it arrives
    (every byte written stays, whatever happens next)."""
    uploads, settings = services.uploads, services.dispatcher.settings
    upload = uploads.open(upload_id, owner)
    media = (headers.content_type or "").split(";", 1)[0].strip().lower()
    if media != CHUNK_MEDIA_TYPE:
        raise UnsupportedMediaType(f"expected a {CHUNK_MEDIA_TYPE} body, got {shown(media)}")
    offset, length = _offset_header(scope), _number_header(scope, b"upload-length", "Upload-Length")
    if length is not None and length != upload.size:
        raise MalformedRequest(f"Upload-Length says {length} bytes, the upload has {upload.size}")
    writer = uploads.append(upload, offset)
    deadlines, task = services.guard.body_deadlines, None
    try:
        if headers.content_length is not None:
            declared = header_number(headers.content_length, "Content-Length")
            if writer.offset + declared > upload.size or declared > uploads.chunk_bytes:
                _refuse_declared(writer.offset, declared, upload.size, uploads.chunk_bytes)
        if settings.upload_timeout is not None:
            task = deadlines.start(now, settings.upload_timeout)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Disconnected()
            if message["type"] != "http.request":
                raise MalformedRequest(f"expected 'http.request', got {message['type']!r}")
            writer.write(message.get("body", b""))
            if not message.get("more_body", False):
                break
    except BaseException as exc:
        if task is not None and deadlines.stop(task):
            task = None
            raise RequestTimeout(
                f"the chunk did not arrive within {settings.upload_timeout:g} s"
            ) from exc
        raise
    finally:
        if task is not None:
            deadlines.stop(task)
        writer.close()
    answer = {"upload": upload.id, "offset": writer.offset, "size": upload.size}
    answer["complete"] = writer.offset == upload.size
    extra = ((b"upload-offset", b"%d" % writer.offset),)
    return Response(200, (*JSON_HEADERS, *extra), json_body(answer))


def _refuse_declared(offset: int, declared: int, size: int, chunk_bytes: int) -> None:
    """A chunk whose ``Content-Length`` already breaks a limit, refused before any byte."""
    if declared > chunk_bytes:
        raise UploadTooLarge(
            f"a chunk may hold at most {chunk_bytes} bytes, this one declares {declared}",
            limit="upload_chunk_bytes",
        )
    raise UploadTooLarge(
        f"the chunk of {declared} bytes from byte {offset} goes past the upload's declared "
        f"size of {size} bytes",
        limit="upload_length",
    )
