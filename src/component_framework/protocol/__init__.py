"""Sans-IO wire formats: request fields, fragment annotation, signed snapshots and SSE frames.

Nothing here does I/O or imports another part of component-framework; every function is pure and
raises its own small error types, which the transports translate into ``errors``.
"""

from component_framework.protocol.fragment import annotate_root, wire_attributes
from component_framework.protocol.request import (
    MOUNT_EVENT,
    RequestError,
    RequestFields,
    parse_body,
    parse_query,
)
from component_framework.protocol.snapshot import Snapshot, SnapshotError, SnapshotSigner
from component_framework.protocol.sse import SSEDecoder, SSEEvent, encode_comment, encode_event

__all__ = [
    "MOUNT_EVENT",
    "RequestError",
    "RequestFields",
    "SSEDecoder",
    "SSEEvent",
    "Snapshot",
    "SnapshotError",
    "SnapshotSigner",
    "annotate_root",
    "encode_comment",
    "encode_event",
    "parse_body",
    "parse_query",
    "wire_attributes",
]
