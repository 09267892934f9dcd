"""The HTTP transport: one request/response exchange for ``/{name}/``.

Owns reading the body under its size limit, turning it into a ``ComponentCall``, choosing the
answer's form (JSON, or the annotated HTML fragment for htmx and for GET) and converting every
error into its status and JSON body. ``GET`` mounts (or re-renders a snapshot) and never runs an
event handler; ``HEAD`` is ``GET`` without the body; ``POST`` does both. Knows nothing of
other transports.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from component_framework.asgi.responses import (
    JSON_HEADERS,
    HTMLResponse,
    Response,
    error_response,
    json_body,
    send_response,
)
from component_framework.core.dispatch import ComponentCall, Dispatcher
from component_framework.errors import (
    ComponentError,
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    ServerError,
    UnsupportedMediaType,
)
from component_framework.protocol.request import RequestError, parse_body, parse_query

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

__all__ = ["ALLOWED_METHODS", "handle_http"]

logger = logging.getLogger("component_framework")
ALLOWED_METHODS: Final = ("GET", "HEAD", "POST")
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


class _Disconnected(Exception):
    """The client went away before its body arrived."""


async def _read_body(receive: ASGIReceiveCallable, limit: int, declared: bytes | None) -> bytes:
    if declared is not None:
        try:
            declared_length = int(declared)
        except ValueError:
            raise MalformedRequest(f"invalid Content-Length {declared!r}") from None
        if declared_length > limit:
            raise PayloadTooLarge(f"body of {declared_length} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            if message["type"] == "http.disconnect":
                raise _Disconnected
            raise MalformedRequest(f"expected ASGI message 'http.request', got {message['type']!r}")
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


def _problem_error(exc: RequestError) -> ComponentError:
    if exc.problem == "unsupported_media_type":
        return UnsupportedMediaType(str(exc))
    return MalformedRequest(str(exc))


async def handle_http(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    component_name: str,
    dispatcher: Dispatcher,
) -> None:
    """Serve one request for ``component_name`` and send the complete answer."""
    content_type = content_length = accept = None
    htmx = False
    for key, value in scope["headers"]:  # one pass; names should be lower case already
        name = key.lower()
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            content_length = value
        elif name == b"hx-request":
            htmx = True
        elif name == b"accept":
            accept = value
    method = scope["method"]
    settings = dispatcher.settings
    try:
        if method == "POST":
            body = await _read_body(receive, settings.max_body_bytes, content_length)
            media = content_type.decode("latin-1") if content_type is not None else None
            fields = parse_body(media, body, max_depth=settings.max_json_depth)
            wants_html = htmx
        elif method in _SAFE_METHODS:
            fields = parse_query(scope["query_string"], max_depth=settings.max_json_depth)
            if not fields.is_mount:
                raise MethodNotAllowed(method, ["POST"])
            wants_html = htmx or accept is None or b"application/json" not in accept
        else:
            raise MethodNotAllowed(method, ALLOWED_METHODS)
        prepared = dispatcher.prepare(ComponentCall.from_fields(component_name, fields))
        if prepared.runs_async:
            result = await dispatcher.async_run(prepared)
        else:  # no coroutine to create for a sync handler
            result = dispatcher.run(prepared)
        if wants_html:
            response = HTMLResponse(result.fragment())
        else:
            response = Response(200, JSON_HEADERS, json_body(result.to_json()))
    except _Disconnected:
        return
    except RequestError as exc:
        response = error_response(_problem_error(exc), htmx=htmx, component=component_name)
    except ComponentError as error:
        if isinstance(error, ServerError) and error.__cause__ is None:
            logger.error("%s serving component %r: %s", error.code, component_name, error)
        response = error_response(error, debug=settings.debug, htmx=htmx, component=component_name)
    except Exception as exc:  # a framework bug must still answer, never crash the worker
        logger.exception("unexpected failure serving component %r", component_name)
        unexpected = ServerError("internal server error")
        unexpected.__cause__ = exc
        response = error_response(unexpected, debug=settings.debug, htmx=htmx)
    await send_response(send, response, head=method == "HEAD")
