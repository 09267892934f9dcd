"""Sending complete HTTP responses and error answers over ASGI.

Owns the bytes of a finished response: status line headers, the JSON error body of
DESIGN.md section 4, htmx error headers, and the safe handling of server faults (generic message,
detail only in debug mode), all framed from the one error document of
:func:`~component_framework.errors.error_document`. Shared by the HTTP transport and by routing
answers in the app; a streaming transport uses :func:`error_response` only before its response
has started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from math import ceil
from typing import TYPE_CHECKING, Final

from component_framework.errors import (
    MAX_FIELD_CHARS,
    ComponentError,
    FormInvalid,
    MethodNotAllowed,
    RateLimited,
    RequestTimeout,
    cut_short,
    error_document,
)
from component_framework.protocol.answer import Rendered, effect_headers, render_fragment
from component_framework.protocol.compact import compact_json

if TYPE_CHECKING:
    from asgiref.typing import ASGISendCallable

__all__ = [
    "JSON_HEADERS",
    "HTMLResponse",
    "Response",
    "error_response",
    "fragment_response",
    "json_body",
    "refused_form_response",
    "send_response",
]

Headers = list[tuple[bytes, bytes]]
# Answers carry signed state for one client: never stored by caches (which also makes a
# ``Vary`` header moot), never sniffed into another type.
_COMMON_HEADERS: Final = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)
JSON_HEADERS: Final = ((b"content-type", b"application/json"), *_COMMON_HEADERS)
HTML_HEADERS: Final = ((b"content-type", b"text/html; charset=utf-8"), *_COMMON_HEADERS)


def json_body(document: object) -> bytes:
    """Compact UTF-8 JSON."""
    return compact_json(document).encode("utf-8")


@dataclass(slots=True)
class Response:
    """A complete HTTP response, ready to send."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


def HTMLResponse(html: str, status: int = 200) -> Response:
    """A ``text/html`` response."""
    return Response(status, HTML_HEADERS, html.encode("utf-8"))


def fragment_response(rendered: Rendered) -> Response:
    """The htmx answer of a render: its annotated fragment, and the htmx headers of its
    effects (``protocol.answer.effect_headers``) when the handler asked for any."""
    headers: tuple[tuple[bytes, bytes], ...] = HTML_HEADERS
    effects = rendered.effects
    if effects:
        headers = (*HTML_HEADERS, *effect_headers(effects, rendered.component_id))
    return Response(200, headers, render_fragment(rendered).encode("utf-8"))


async def send_response(send: ASGISendCallable, response: Response, *, head: bool = False) -> None:
    """Send ``response`` as one start and one body message (an empty body for ``head``, with
    the ``content-length`` the full body would have)."""
    headers: Headers = [*response.headers, (b"content-length", b"%d" % len(response.body))]
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": headers,
            "trailers": False,
        }
    )
    body = b"" if head else response.body
    await send({"type": "http.response.body", "body": body, "more_body": False})


def error_response(
    error: ComponentError, *, debug: bool = False, htmx: bool = False, component: str = ""
) -> Response:
    """The HTTP framing of ``error``'s document (``errors.error_document``): its status,
    ``{"error": document}`` as JSON, and ``Allow``, ``Retry-After`` and ``Connection: close``
    where they apply. For htmx requests, ``HX-Reswap: none`` keeps the component on the page
    and ``HX-Trigger`` fires a ``component-error`` event (the document without ``debug``)."""
    document = error_document(error, debug=debug)
    headers: list[tuple[bytes, bytes]] = list(JSON_HEADERS)
    if isinstance(error, MethodNotAllowed):
        headers.append((b"allow", ", ".join(error.allowed).encode("ascii")))
    if isinstance(error, RequestTimeout):  # the rest of that body must not be read as a request
        headers.append((b"connection", b"close"))
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", str(max(1, ceil(error.retry_after))).encode("ascii")))
    if htmx:  # the message is cut short by the error itself; the name comes from the path
        detail = {"code": error.code, "message": document["message"]}
        detail["component"] = cut_short(component, MAX_FIELD_CHARS)
        for extra in ("field", "reason", "retry_after"):  # a traceback is too big for a header
            if extra in document:
                detail[extra] = document[extra]
        trigger = {"component-error": detail}
        headers.append((b"hx-reswap", b"none"))
        headers.append((b"hx-trigger", json.dumps(trigger, ensure_ascii=True).encode("ascii")))
    return Response(error.status_code, tuple(headers), json_body({"error": document}))


def refused_form_response(error: FormInvalid, render: dict[str, object]) -> Response:
    """The JSON answer to a form that did not go through (it did not bind, or its handler
    added errors): ``422`` with ``{"error": document}`` as for any refused request, and the
    render document beside it (``html``, ``state``, ``snapshot``, ``component_id``,
    ``errors``), so a client can show the component again with the messages."""
    return Response(422, JSON_HEADERS, json_body({"error": error_document(error), **render}))
