"""The HTTP transport: one request/response exchange for ``/{name}/``.

Owns reading the body under its size limit, turning it into a ``ComponentCall``, choosing the
answer's form (JSON, or the annotated HTML fragment for htmx and for GET) and converting every
error into its status and JSON body. ``GET`` mounts (or re-renders a snapshot) and never runs an
event handler; ``HEAD`` is ``GET`` without the body; ``POST`` does both. Knows nothing of
other transports.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
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
from component_framework.protocol.request import (
    RequestError,
    RequestFields,
    parse_body,
    parse_query,
)

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

__all__ = ["ALLOWED_METHODS", "handle_http"]

logger = logging.getLogger("component_framework")
ALLOWED_METHODS: Final = ("GET", "HEAD", "POST")
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
_VARY: Final = ((b"vary", b"HX-Request, Accept"),)


class _Disconnected(Exception):
    """The client went away before its body arrived."""


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: ASGIReceiveCallable, limit: int, declared: str | None) -> bytes:
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
        if message["type"] == "http.disconnect":
            raise _Disconnected
        if message["type"] != "http.request":
            raise MalformedRequest(f"expected ASGI message 'http.request', got {message['type']!r}")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _problem_error(exc: RequestError) -> ComponentError:
    if exc.problem == "unsupported_media_type":
        return UnsupportedMediaType(str(exc))
    return MalformedRequest(str(exc))


async def _fields(
    scope: HTTPScope, receive: ASGIReceiveCallable, dispatcher: Dispatcher
) -> RequestFields:
    settings = dispatcher.settings
    method = scope["method"]
    try:
        if method in _SAFE_METHODS:
            fields = parse_query(scope["query_string"], max_depth=settings.max_json_depth)
            if not fields.is_mount:
                raise MethodNotAllowed(method, ["POST"])
            return fields
        headers = scope["headers"]
        body = await _read_body(
            receive, settings.max_body_bytes, _header(headers, b"content-length")
        )
        return parse_body(
            _header(headers, b"content-type"), body, max_depth=settings.max_json_depth
        )
    except RequestError as exc:
        raise _problem_error(exc) from None


def _wants_html(scope: HTTPScope, htmx: bool) -> bool:
    if htmx:
        return True
    if scope["method"] in _SAFE_METHODS:
        accept = _header(scope["headers"], b"accept") or ""
        return "application/json" not in accept
    return False


async def handle_http(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    component_name: str,
    dispatcher: Dispatcher,
) -> None:
    """Serve one request for ``component_name`` and send the complete answer."""
    htmx = _header(scope["headers"], b"hx-request") is not None
    try:
        if scope["method"] not in ALLOWED_METHODS:
            raise MethodNotAllowed(scope["method"], ALLOWED_METHODS)
        fields = await _fields(scope, receive, dispatcher)
        result = await dispatcher.async_dispatch(ComponentCall.from_fields(component_name, fields))
        if _wants_html(scope, htmx):
            response = HTMLResponse(result.fragment())
        else:
            response = Response(200, JSON_HEADERS, json_body(result.to_json()))
    except _Disconnected:
        return
    except ComponentError as error:
        if isinstance(error, ServerError) and error.__cause__ is None:
            logger.error("%s serving component %r: %s", error.code, component_name, error)
        response = error_response(
            error, debug=dispatcher.settings.debug, htmx=htmx, component=component_name
        )
    except Exception as exc:  # a framework bug must still answer, never crash the worker
        logger.exception("unexpected failure serving component %r", component_name)
        unexpected = ServerError("internal server error")
        unexpected.__cause__ = exc
        response = error_response(unexpected, debug=dispatcher.settings.debug, htmx=htmx)
    await send_response(send, response, _VARY, head=scope["method"] == "HEAD")
