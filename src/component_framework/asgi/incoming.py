"""What every transport reads from a request: its headers (one pass) and its body (bounded).

Owns reading, not answering: the HTTP and SSE transports both use these, and neither imports
the other. Header names are compared lower-cased (ASGI says servers should lower-case them but
need not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from component_framework.errors import (
    ComponentError,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from component_framework.protocol.request import RequestError

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable

__all__ = ["Disconnected", "RequestHeaders", "read_body", "request_error"]


class Disconnected(Exception):
    """The client went away before its request was complete."""


class RequestHeaders:
    """The request headers the transports care about, read in one pass."""

    __slots__ = (
        "accept", "content_length", "content_type", "fetch_site", "host", "htmx",
        "last_event_id", "origin",
    )  # fmt: skip

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
        """Read ``scope["headers"]`` once (locals, then one constructor call: a hot path)."""
        content_type = last_event_id = origin = fetch_site = host = None
        content_length = accept = None
        htmx = False
        for key, value in scope["headers"]:
            name = key.lower()
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                content_length = value
            elif name == b"hx-request":
                htmx = True
            elif name == b"accept":
                accept = value
            elif name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"sec-fetch-site":
                fetch_site = value.decode("latin-1")
            elif name == b"last-event-id":
                last_event_id = value.decode("latin-1")
        return cls(
            content_type, content_length, accept, htmx, last_event_id, origin, fetch_site, host
        )


def request_error(exc: RequestError) -> ComponentError:
    """The wire error for a body or query string that could not be parsed."""
    if exc.problem == "unsupported_media_type":
        return UnsupportedMediaType(str(exc))
    return MalformedRequest(str(exc))


async def read_body(receive: ASGIReceiveCallable, limit: int, declared: bytes | None) -> bytes:
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
                raise Disconnected
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
