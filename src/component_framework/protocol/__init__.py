"""Sans-IO wire formats: request fields, fragment annotation and signed snapshots.

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

__all__ = [
    "MOUNT_EVENT",
    "RequestError",
    "RequestFields",
    "Snapshot",
    "SnapshotError",
    "SnapshotSigner",
    "annotate_root",
    "parse_body",
    "parse_query",
    "wire_attributes",
]
