"""Resumable uploads: a large file sent in chunks that survives a dropped connection.

Owns the server side of the protocol that ``asgi.resumable`` speaks over HTTP
(``docs/uploads.md``, "Resumable uploads"): :class:`ResumableUploads` creates an upload for
one component, event and field (after the same checks a multipart body gets: the handler takes
a file there, its ``Accept`` takes the declared type, the declared size is within the limits),
appends chunks at the confirmed offset only (:class:`ChunkWriter`, checked as the bytes stream
in, written straight to disk, never held whole), answers the confirmed offset, and hands a
complete upload to its event once as an ordinary :class:`~component_framework.core.uploads.
UploadFile` (:meth:`ResumableUploads.claim_payload`): taken only when its handler completes
(:class:`Claims`); a refused or failed event puts it back.

Where the data lives: one file per upload, named by its random nonce, in
``Settings.upload_resumable_directory`` (default ``component-framework-uploads`` in the
system's temporary directory, created ``0700``; files ``0600``). Its size is the confirmed
offset, so any process that shares the folder can resume it. Everything else an upload knows
(component, event, field, file name, type, declared size, owner) travels in its id, a token
signed like a snapshot but with keys derived for this purpose only, so neither kind of token
passes for the other. An upload untouched for ``upload_resumable_ttl`` seconds (partial, or
complete but never claimed) expires; expired files are swept by the requests themselves (at
most once a minute), never by a task per upload. A claimed upload keeps its data under a
claimed name while its event runs, then leaves the folder (or, refused, gets its name back).

Owner: when the request has an authenticated user (``scope["user"]``), the upload is bound
to that user, and a request of another user (or of none) may neither append to it nor claim
it; without users the unguessable id is the only key. Knows nothing of ASGI.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from component_framework.core.access import AccessContext, is_authenticated
from component_framework.core.binding import binder_for
from component_framework.core.config import Settings
from component_framework.core.multipart import (
    call_upload_rules,
    check_file_size,
    check_file_type,
)
from component_framework.core.registry import ComponentRegistry
from component_framework.core.uploads import UploadFile, UploadLimits
from component_framework.errors import (
    Forbidden,
    MalformedRequest,
    UploadExpired,
    UploadIncomplete,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    shown,
)
from component_framework.protocol.snapshot import SnapshotError, SnapshotSigner

__all__ = [
    "DEFAULT_FOLDER",
    "ChunkWriter",
    "Claims",
    "ResumableUpload",
    "ResumableUploads",
    "upload_owner",
]

#: The folder under the system's temporary directory used when the settings name none.
DEFAULT_FOLDER: Final = "component-framework-uploads"
_KEY_LABEL: Final = b"component-framework resumable upload id"
_TOKEN_NAME: Final = "_upload"  # the "component" every upload id is signed for
_MAX_FILENAME: Final = 255
#: The longest declared content type (RFC 6838 names are at most 127 + 1 + 127 characters).
_MAX_CONTENT_TYPE: Final = 255
_SWEEP_EVERY: Final = 60.0
_NONCE_CHARS: Final = 32


@dataclass(frozen=True, slots=True)
class ResumableUpload:
    """One upload as its id describes it (the id is the signed form of all of this)."""

    id: str
    nonce: str
    component: str
    event: str
    field: str
    filename: str
    content_type: str
    size: int
    owner: str


def upload_owner(context: AccessContext | None) -> str:
    """Who an upload belongs to: a digest of the authenticated user's identity (its ``id``,
    ``pk``, ``identity``, ``username`` or ``email``, else its text), ``""`` without one."""
    user = None if context is None else context.user
    if not is_authenticated(user):
        return ""
    identity: Any = None
    for name in ("id", "pk", "identity", "username", "email"):
        try:
            identity = user.get(name) if isinstance(user, Mapping) else getattr(user, name, None)
        except Exception:  # e.g. Starlette's BaseUser.identity raises NotImplementedError
            identity = None
        if identity is not None and not callable(identity):
            break
    else:
        identity = user
    text = f"{type(user).__qualname__}:{identity}"
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def _is_id(value: object) -> bool:
    """Whether ``value`` has the shape of an upload id (other text, such as the file name a
    form sent without multipart encoding, is left to binding, which refuses it)."""
    return isinstance(value, str) and value.startswith("v2.") and value.count(".") == 3


class ChunkWriter:
    """Appends one request's chunk to an upload, from its confirmed offset: every piece is
    checked (the declared size, ``upload_chunk_bytes``) and written to disk as it arrives.
    What was written before a refusal or a dropped connection stays confirmed."""

    def __init__(self, uploads: ResumableUploads, upload: ResumableUpload, offset: int) -> None:
        self.upload = upload
        self.offset = offset
        self.written = 0
        self._uploads = uploads
        self._fd: int | None = os.open(uploads.path_of(upload), os.O_WRONLY | os.O_APPEND)

    def write(self, data: bytes) -> None:
        """Append ``data``; ``413`` when it would pass the declared size or the chunk limit."""
        if not data:
            return
        if self.offset + len(data) > self.upload.size:
            raise UploadTooLarge(
                f"the chunk goes past the upload's declared size of {self.upload.size} bytes",
                limit="upload_length",
                field=self.upload.field,
            )
        if self.written + len(data) > self._uploads.chunk_bytes:
            raise UploadTooLarge(
                f"a chunk may hold at most {self._uploads.chunk_bytes} bytes",
                limit="upload_chunk_bytes",
                field=self.upload.field,
            )
        assert self._fd is not None, "the chunk writer is closed"
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.offset += len(data)
        self.written += len(data)

    def close(self) -> None:
        """Stop appending (the data written is kept). Safe to call more than once."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._uploads._writing.discard(self.upload.nonce)


class Claims:
    """The uploads one event claimed (:meth:`ResumableUploads.claim_payload`): their files for
    the handler, each kept in the folder under a claimed name until :meth:`settle` says whether
    the handler took them (their data leaves the folder) or the event was refused or failed
    first (they are put back, to be claimed again: a refused event changes nothing)."""

    def __init__(self) -> None:
        self.files: list[UploadFile] = []
        self._held: list[tuple[Path, Path]] = []  # (claimed name, the upload's own name)

    def hold(self, held: Path, own: Path) -> None:
        self._held.append((held, own))

    def settle(self, *, taken: bool) -> None:
        """Close the files; remove their data (``taken``) or put the uploads back. Once."""
        for file in self.files:
            file.close()
        for held, own in self._held:
            if taken:
                held.unlink(missing_ok=True)
            else:
                with contextlib.suppress(FileNotFoundError):  # swept meanwhile
                    os.rename(held, own)
        self.files, self._held = [], []


class ResumableUploads:
    """The resumable uploads of one app (see the module docstring): ``create``, ``open``
    (verify an id), ``offset``, ``append``, ``discard``, ``claim_payload`` and ``sweep``.
    ``clock``: seconds since the epoch (file times are compared with it)."""

    def __init__(
        self,
        registry: ComponentRegistry,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        folder = settings.upload_resumable_directory
        #: Where the uploads' data lives.
        self.directory = (
            Path(tempfile.gettempdir()) / DEFAULT_FOLDER if folder is None else Path(folder)
        )
        self.ttl = settings.upload_resumable_ttl
        self.chunk_bytes = settings.upload_chunk_bytes
        self.limits = UploadLimits.from_settings(settings)
        keys = [
            hmac.new(key.encode("utf-8"), _KEY_LABEL, hashlib.sha256).hexdigest()
            for key in settings.signing_keys()
        ]
        self._signer = SnapshotSigner(keys, max_bytes=4096, clock=clock)
        self._clock = clock
        self._writing: set[str] = set()
        self._swept_at = float("-inf")

    def path_of(self, upload: ResumableUpload) -> Path:
        """Where ``upload``'s data lives."""
        return self.directory / upload.nonce

    # -- creating ------------------------------------------------------------------------------

    def create(
        self,
        component: str,
        event: str,
        field: str,
        *,
        filename: str,
        size: int,
        content_type: str = "",
        owner: str = "",
    ) -> ResumableUpload:
        """A new, empty upload of ``size`` bytes for ``field`` of ``event`` on ``component``,
        refused as a multipart file would be: 404 (component, event), 415 (a call that takes
        no file, or a type its ``Accept`` refuses), 422 (a field that takes no file), 413
        (larger than the field's limit)."""
        if type(size) is not int or size < 0:
            raise MalformedRequest(f"an upload's size must be a whole number >= 0, got {size!r}")
        filename = filename.replace("\\", "/").rsplit("/", 1)[-1][:_MAX_FILENAME] or "file"
        content_type = content_type.strip() or "application/octet-stream"
        if len(content_type) > _MAX_CONTENT_TYPE:
            raise MalformedRequest(
                f"a content type may have at most {_MAX_CONTENT_TYPE} characters, "
                f"this one has {len(content_type)}"
            )
        rules = call_upload_rules(self.registry, component, event)
        check_file_type(rules, field, content_type, filename)
        check_file_size(self.limits, rules, field, size)
        self.sweep()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        nonce = secrets.token_hex(_NONCE_CHARS // 2)
        os.close(os.open(self.directory / nonce, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        described = {"c": component, "e": event, "f": field, "n": filename}
        described.update(m=content_type, o=owner)
        token = self._signer.sign(_TOKEN_NAME, nonce, {**described, "z": size})
        return ResumableUpload(
            token, nonce, component, event, field, filename, content_type, size, owner
        )

    # -- finding one ---------------------------------------------------------------------------

    def open(self, upload_id: str, owner: str) -> ResumableUpload:
        """The upload ``upload_id`` names, if it is genuine (404), ``owner``'s (403) and not
        expired or claimed (410)."""
        try:
            snapshot = self._signer.verify(upload_id, _TOKEN_NAME, expire=False)
            data, nonce = snapshot.state, snapshot.component_id
            component, event, field, filename, content_type, belongs_to = (
                str(data[key]) for key in ("c", "e", "f", "n", "m", "o")
            )
            size = int(data["z"])
        except (SnapshotError, KeyError, TypeError, ValueError):
            raise UploadNotFound("no upload has this id") from None
        upload = ResumableUpload(
            upload_id, nonce, component, event, field, filename, content_type, size, belongs_to
        )
        if len(nonce) != _NONCE_CHARS or not all(c in "0123456789abcdef" for c in nonce):
            raise UploadNotFound("no upload has this id")
        if upload.owner != owner:
            raise Forbidden("this upload belongs to another user")
        self.offset(upload)  # 410 when gone
        return upload

    def offset(self, upload: ResumableUpload) -> int:
        """The bytes of ``upload`` confirmed so far; ``410`` (and its data removed) once it
        has expired, or when it is gone (expired and swept, or claimed)."""
        path = self.path_of(upload)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise UploadExpired(
                "this upload is gone: it expired, or its event already took it; start again"
            ) from None
        if stat.st_mtime + self.ttl < self._clock() and upload.nonce not in self._writing:
            path.unlink(missing_ok=True)
            raise UploadExpired(
                f"this upload expired: nothing was added for {self.ttl:g} s; start again"
            )
        return stat.st_size

    # -- appending -----------------------------------------------------------------------------

    def append(self, upload: ResumableUpload, offset: int) -> ChunkWriter:
        """A writer for the chunk that starts at ``offset``: ``409`` (with the confirmed
        offset) when that is not where the data ends, or while another request appends."""
        current = self.offset(upload)
        if upload.nonce in self._writing:
            raise UploadOffsetMismatch("another request is adding to this upload", offset=current)
        if offset != current:
            raise UploadOffsetMismatch(
                f"the chunk starts at byte {offset}, but the upload has {current}",
                offset=current,
            )
        writer = ChunkWriter(self, upload, current)
        self._writing.add(upload.nonce)
        return writer

    def discard(self, upload: ResumableUpload) -> None:
        """Remove ``upload``'s data (the client gave up)."""
        if upload.nonce in self._writing:
            raise UploadOffsetMismatch(
                "another request is adding to this upload", offset=self.offset(upload)
            )
        self.path_of(upload).unlink(missing_ok=True)

    # -- handing it to its event ---------------------------------------------------------------

    def claim(
        self, upload_id: str, component: str, event: str, field: str, owner: str, claims: Claims
    ) -> UploadFile:
        """The complete upload ``upload_id`` as an ``UploadFile`` for ``field`` of ``event``
        on ``component``, taken once: its file moves to a claimed name now (a second claim
        finds nothing) and stays there, held by ``claims``, until the event is settled. 404
        for an id made for another component, event or field; 409 while bytes are missing."""
        upload = self.open(upload_id, owner)
        if (upload.component, upload.event, upload.field) != (component, event, field):
            raise UploadNotFound(
                f"this upload was made for field {shown(upload.field)} of event "
                f"{shown(upload.event)} on {shown(upload.component)}"
            )
        have = self.offset(upload)
        if have != upload.size or upload.nonce in self._writing:
            raise UploadIncomplete(f"the upload has {have} of its {upload.size} bytes", offset=have)
        path = self.path_of(upload)
        held = path.with_name(upload.nonce + ".claimed")
        try:
            os.rename(path, held)  # atomic: a second claim finds nothing
        except FileNotFoundError:
            raise UploadExpired("this upload is gone: its event already took it") from None
        try:
            file = held.open("rb")
        except BaseException:
            os.rename(held, path)
            raise
        claims.hold(held, path)
        claimed = UploadFile.from_disk(file, upload.filename, upload.content_type, field=field)
        claims.files.append(claimed)
        return claimed

    def claim_payload(
        self,
        component: str,
        event: str | None,
        payload: dict[str, Any],
        context: AccessContext | None,
    ) -> Claims | None:
        """Replace each upload id in ``payload`` (a token-shaped text value, or a list of them,
        in a field of ``event`` that takes files) by its claimed ``UploadFile``; returns the
        claims for the caller to settle once the request is answered (all put back here on a
        refusal), or ``None`` when nothing was claimed (most requests: nothing to settle)."""
        if event is None or not payload:
            return None
        cls = self.registry.get(component)
        handler = cls.events.get(event)
        if handler is None:
            return None  # the dispatcher answers the unknown event
        owner = upload_owner(context)
        claims = Claims()
        try:
            for field in binder_for(handler).upload_rules:
                value = payload.get(field)
                if isinstance(value, str) and _is_id(value):
                    payload[field] = self.claim(value, component, event, field, owner, claims)
                elif isinstance(value, list) and value and all(_is_id(v) for v in value):
                    payload[field] = [
                        self.claim(upload_id, component, event, field, owner, claims)
                        for upload_id in value
                    ]
        except BaseException:
            claims.settle(taken=False)
            raise
        self.sweep()
        return claims if claims.files else None

    # -- expiry --------------------------------------------------------------------------------

    def sweep(self, *, force: bool = False) -> int:
        """Remove every upload untouched for ``ttl`` seconds; runs at most once a minute
        unless ``force``d. Returns how many were removed."""
        now = self._clock()
        if not force and now - self._swept_at < min(_SWEEP_EVERY, self.ttl):
            return 0
        self._swept_at = now
        removed = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if entry.name[:_NONCE_CHARS] in self._writing or not entry.is_file():
                continue
            try:
                if entry.stat().st_mtime + self.ttl < now:
                    os.unlink(entry.path)
                    removed += 1
            except OSError as exc:  # removed meanwhile by another worker
                if exc.errno != errno.ENOENT:
                    raise
        return removed
