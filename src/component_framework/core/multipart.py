"""Reading a ``multipart/form-data`` body as it streams in, within its limits.

Owns :class:`MultipartReader`: fed the body's chunks as they arrive (``feed``), it parses them
with python-multipart's incremental parser, spools each file into an
:class:`~component_framework.core.uploads.UploadFile` and enforces every limit while the bytes
arrive, never after buffering the body: the whole body (``upload_max_bytes``), each file
(``upload_max_file_bytes``, or a field's ``Accept(max_bytes=...)``), the files of a request
(``upload_max_files``), the text fields (``max_fields`` of them, ``max_body_bytes`` of text
together) and the content types a field accepts (``Accept``). A refusal raises the named
error (``413 upload_too_large`` naming the setting, ``415 upload_type_not_allowed``,
``422 validation_error`` for a file in a field that takes none, ``400 malformed_request`` for
a broken body) and closes every file it had opened; so do :meth:`MultipartReader.abort` (the
client went away, or the caller failed) and any error after that: the reader is then done for
good. A complete body gives a :class:`MultipartForm`, whose files the caller closes once the
request is answered. Knows nothing of ASGI: the transport reads ``receive()`` and feeds.

Also owns which files one call takes (:func:`call_upload_rules`): the ``UploadFile``
parameters of the handler its event names. A call whose handler takes no file (a mount, or an
event without such a parameter) refuses a multipart body as a whole (``415``), so a form sent
with the wrong encoding gets a message that says so rather than a refusal per file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from component_framework.core.binding import binder_for
from component_framework.core.uploads import Accept, UploadFile, UploadLimits
from component_framework.errors import (
    EventNotFound,
    MalformedRequest,
    PayloadValidationError,
    UnsupportedMediaType,
    UploadTooLarge,
    UploadTypeNotAllowed,
    shown,
)
from component_framework.protocol.request import MOUNT_EVENT

if TYPE_CHECKING:
    from component_framework.core.registry import ComponentRegistry

__all__ = [
    "FILE_NOT_ACCEPTED",
    "MultipartForm",
    "MultipartReader",
    "call_upload_rules",
    "check_file_size",
    "check_file_type",
    "check_takes_files",
]

#: The message of a file sent in a field whose handler parameter takes no file.
FILE_NOT_ACCEPTED: Final = "This field does not accept files."
_MEDIA_TYPE: Final = b"multipart/form-data"
_DEFAULT_FILE_TYPE: Final = "application/octet-stream"


def _size(count: int) -> str:
    """``16 MiB``, ``300 KiB`` or ``512 bytes``: a limit as people read it."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count} bytes"


@dataclass(slots=True)
class MultipartForm:
    """A complete multipart body: its text fields in order (``pairs``) and its files by
    field name. The caller owns the files: :meth:`close` them once the request is answered."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, list[UploadFile]] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """Fields and files by name, as form fields are merged: a name given once maps to its
        value (a string or an ``UploadFile``), a repeated one to the list of them."""
        merged: dict[str, Any] = {}
        for name, value in [*self.pairs, *((n, f) for n, fs in self.files.items() for f in fs)]:
            if name not in merged:
                merged[name] = value
            elif isinstance(merged[name], list):
                merged[name].append(value)
            else:
                merged[name] = [merged[name], value]
        return merged

    def file_fields(self) -> dict[str, UploadFile | list[UploadFile]]:
        """The files by field name: one file, or the list of a field that sent several."""
        return {name: files[0] if len(files) == 1 else files for name, files in self.files.items()}

    def close(self) -> None:
        """Close every file (their temporary files go with them)."""
        for uploads in self.files.values():
            for upload in uploads:
                upload.close()


class _Part:
    """The part being read: its headers, then its file or its text."""

    __slots__ = ("file", "header_name", "header_value", "headers", "name", "skip", "text")

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.name = ""
        self.file: UploadFile | None = None
        self.text: bytearray | None = None
        self.skip = False


class MultipartReader:
    """Parses one ``multipart/form-data`` body fed in chunks (see the module docstring).

    ``content_type`` is the request's header (it carries the boundary). ``rules`` maps each
    field that takes files to its :class:`Accept` (``Binder.upload_rules`` of the handler); a
    file in any other field is refused. ``None`` means the handler is not known yet (its event
    arrives in the body): files are then held to the app's limits only, and setting
    :attr:`rules` later checks the files already read and every file after.
    """

    def __init__(
        self,
        content_type: str,
        limits: UploadLimits,
        rules: Mapping[str, Accept] | None = None,
        on_field: Callable[[str, str], None] | None = None,
    ) -> None:
        media, options = parse_options_header(content_type)
        if media != _MEDIA_TYPE:
            raise UnsupportedMediaType(
                f"expected a multipart/form-data body, got {shown(media.decode('latin-1'))}"
            )
        boundary = options.get(b"boundary", b"")
        if not boundary or len(boundary) > 70:  # RFC 2046: 1 to 70 characters
            raise MalformedRequest("multipart/form-data needs a boundary of 1 to 70 characters")
        self.limits = limits
        #: Called with each text field as soon as it is complete (the transport learns the
        #: event this way, and sets :attr:`rules`); what it raises refuses the body.
        self.on_field = on_field
        self._rules = None if rules is None else dict(rules)
        self._form = MultipartForm()
        self._part = _Part()
        self._received = 0
        self._files = 0
        self._field_bytes = 0
        self._ended = False
        self._done = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    # -- the caller's side ----------------------------------------------------------------

    @property
    def rules(self) -> dict[str, Accept] | None:
        """The fields that take files and their rules (``None``: not known yet)."""
        return self._rules

    @rules.setter
    def rules(self, rules: Mapping[str, Accept]) -> None:
        self._rules = dict(rules)
        try:
            for uploads in self._form.files.values():
                for upload in uploads:
                    self._check_file(upload.field, upload.content_type, upload.filename)
                    self._check_file_size(upload.field, upload.size)
        except BaseException:
            self.abort()
            raise

    def feed(self, chunk: bytes) -> None:
        """Parse the next piece of the body; raises a :class:`ClientError` (after closing every
        file) when the body breaks a limit or the format."""
        if self._done:
            raise MalformedRequest("the multipart body was already read to its end or refused")
        try:
            self._received += len(chunk)
            if self._received > self.limits.max_bytes:
                raise UploadTooLarge(
                    f"the upload is larger than {_size(self.limits.max_bytes)}",
                    limit="upload_max_bytes",
                )
            self._parser.write(chunk)  # data after the closing boundary is ignored
        except MultipartParseError as exc:
            self.abort()
            raise MalformedRequest(f"malformed multipart body: {exc}") from None
        except BaseException:
            self.abort()
            raise

    def finish(self) -> MultipartForm:
        """The parsed form, once the whole body was fed; a body cut short is refused."""
        if self._done:
            raise MalformedRequest("the multipart body was already read to its end or refused")
        if not self._ended:
            self.abort()
            raise MalformedRequest("the multipart body ended before its closing boundary")
        self._done = True
        return self._form

    def abort(self) -> None:
        """Give up (the client disconnected, or the caller failed): close every file opened so
        far, the one being written included. Safe to call at any time, more than once."""
        self._done = True
        self._form.close()
        if self._part.file is not None:
            self._part.file.close()
            self._part.file = None

    # -- python-multipart callbacks ----------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        part = self._part
        part.headers[bytes(part.header_name).strip().lower()] = bytes(part.header_value).strip()
        part.header_name.clear()
        part.header_value.clear()

    def _on_headers_finished(self) -> None:
        part = self._part
        try:
            disposition, options = parse_options_header(part.headers.get(b"content-disposition"))
        except (ValueError, UnicodeError):
            disposition, options = b"", {}
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedRequest("a multipart part has no Content-Disposition: form-data name")
        part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self._form.pairs) >= self.limits.max_fields:
                raise UploadTooLarge(
                    f"the form has more than {self.limits.max_fields} fields", limit="max_fields"
                )
            part.text = bytearray()
            return
        filename = options[b"filename"].decode("utf-8", "replace")
        filename = filename.replace("\\", "/").rsplit("/", 1)[-1]  # some browsers send a path
        if not filename:  # a file input left empty: browsers still send its part
            part.skip = True
            return
        declared = part.headers.get(b"content-type", b"").decode("latin-1")
        content_type = declared or _DEFAULT_FILE_TYPE
        self._files += 1
        if self._files > self.limits.max_files:
            raise UploadTooLarge(
                f"the upload has more than {self.limits.max_files} files",
                limit="upload_max_files",
                field=part.name,
            )
        self._check_file(part.name, content_type, filename)
        part.file = UploadFile(
            filename,
            content_type,
            field=part.name,
            spool_bytes=self.limits.spool_bytes,
            directory=self.limits.directory,
        )

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.file is not None:
            self._check_file_size(part.name, part.file.size + end - start)
            part.file.write(data[start:end])
        elif part.text is not None:
            self._field_bytes += end - start
            if self._field_bytes > self.limits.max_field_bytes:
                raise UploadTooLarge(
                    f"the form's text fields hold more than {_size(self.limits.max_field_bytes)}",
                    limit="max_body_bytes",
                    field=part.name,
                )
            part.text += data[start:end]

    def _on_part_end(self) -> None:
        part = self._part
        if part.file is not None:
            part.file.rewind()
            self._form.files.setdefault(part.name, []).append(part.file)
            part.file = None
        elif part.text is not None:
            try:
                value = part.text.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedRequest(f"form field {shown(part.name)} is not UTF-8 text") from None
            self._form.pairs.append((part.name, value))
            if self.on_field is not None:
                self.on_field(part.name, value)

    def _on_end(self) -> None:
        self._ended = True

    # -- limits -------------------------------------------------------------------------------

    def _check_file(self, field: str, content_type: str, filename: str) -> None:
        if self._rules is not None:
            check_file_type(self._rules, field, content_type, filename)

    def _check_file_size(self, field: str, size: int) -> None:
        check_file_size(self.limits, self._rules, field, size)


def check_file_type(
    rules: Mapping[str, Accept], field: str, content_type: str, filename: str
) -> None:
    """Refuse a file sent in ``field`` that takes none (422) or of a type its ``Accept`` does
    not take (415)."""
    accept = rules.get(field)
    if accept is None:
        raise PayloadValidationError(field, FILE_NOT_ACCEPTED)
    if not accept.allows(content_type, filename):
        raise UploadTypeNotAllowed(
            field, f"this field accepts {accept.describe()}, not {shown(content_type)}"
        )


def check_file_size(
    limits: UploadLimits, rules: Mapping[str, Accept] | None, field: str, size: int
) -> None:
    """Refuse ``size`` bytes in ``field`` past the app's per-file limit or its ``Accept``'s
    ``max_bytes`` (413, naming the one that applies)."""
    accept = None if rules is None else rules.get(field)
    limit, name = limits.max_file_bytes, "upload_max_file_bytes"
    if accept is not None and accept.max_bytes is not None and accept.max_bytes < limit:
        limit, name = accept.max_bytes, "max_bytes"
    if size > limit:
        raise UploadTooLarge(f"the file is larger than {_size(limit)}", limit=name, field=field)


def check_takes_files(registry: ComponentRegistry, component_name: str) -> None:
    """Refuse a multipart body for ``component_name`` before reading it: ``404`` for an
    unknown component, ``415`` when none of its handlers takes a file."""
    cls = registry.get(component_name)
    if not any(binder_for(handler).upload_rules for handler in cls.events.values()):
        raise UnsupportedMediaType(
            f"component {shown(component_name)} takes no files, so it does not accept "
            "multipart/form-data: send the form as application/x-www-form-urlencoded or JSON "
            "(htmx's default), or give a handler an UploadFile parameter"
        )


def call_upload_rules(
    registry: ComponentRegistry, component_name: str, event: str | None
) -> dict[str, Accept]:
    """The fields that take files in a call of ``event`` on ``component_name``, and their
    :class:`Accept`: ``404`` for an unknown component or event, ``415`` when the call takes no
    file at all (a mount, or a handler without an ``UploadFile`` parameter)."""
    cls = registry.get(component_name)
    if event is None or event == MOUNT_EVENT:
        raise UnsupportedMediaType(
            f"a multipart/form-data body needs an event whose handler takes files; "
            f"this request to {shown(component_name)} names none (mounts take no files)"
        )
    handler = cls.events.get(event)
    if handler is None:
        raise EventNotFound(component_name, event)
    rules = binder_for(handler).upload_rules
    if not rules:
        raise UnsupportedMediaType(
            f"event {shown(event)} of {shown(component_name)} takes no files, so it does not "
            "accept multipart/form-data: send the form as application/x-www-form-urlencoded "
            "or JSON (htmx's default), or give the handler an UploadFile parameter"
        )
    return rules
