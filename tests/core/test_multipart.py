"""The streaming multipart reader: fed whole, byte by byte and in any pieces; its limits,
checked while the body streams in; and no temporary file left behind, whatever happens."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from component_framework.core.binding import Binder
from component_framework.core.config import Settings
from component_framework.core.multipart import FILE_NOT_ACCEPTED, MultipartForm, MultipartReader
from component_framework.core.uploads import Accept, UploadFile, UploadLimits
from component_framework.errors import (
    ClientError,
    MalformedRequest,
    PayloadValidationError,
    UnsupportedMediaType,
    UploadTooLarge,
    UploadTypeNotAllowed,
    error_document,
)
from tests.core.test_uploads import open_temporary_files

BOUNDARY = "----form7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, data: bytes, filename: str | None = None, content_type: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    headers = f"Content-Disposition: {disposition}\r\n"
    if content_type:
        headers += f"Content-Type: {content_type}\r\n"
    return f"--{BOUNDARY}\r\n{headers}\r\n".encode() + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


PHOTO = bytes(range(256)) * 40  # 10 KiB, every byte value
PROFILE = body(
    part("name", "Zoë".encode()),
    part("tags", b"a"),
    part("tags", b"b"),
    part("avatar", PHOTO, "me.png", "image/png"),
    part("docs", b"%PDF-1", "a.pdf", "application/pdf"),
    part("docs", b"", "empty.txt", "text/plain"),
)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    """The upload folder; at the end of the test nothing may be open or left in it."""
    yield tmp_path
    assert open_temporary_files(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def limits(folder: Path, **overrides: Any) -> UploadLimits:
    values: dict[str, Any] = {"spool_bytes": 1024, "directory": folder, **overrides}
    return UploadLimits(**values)


def read(data: bytes, folder: Path, step: int | None = None, **overrides: Any) -> MultipartForm:
    reader = MultipartReader(CONTENT_TYPE, limits(folder, **overrides))
    size = step or len(data) or 1
    for start in range(0, len(data), size):
        reader.feed(data[start : start + size])
    return reader.finish()


def summary(form: MultipartForm) -> dict[str, Any]:
    files = {
        name: [(f.filename, f.content_type, f.size, asyncio.run(f.read())) for f in uploads]
        for name, uploads in form.files.items()
    }
    return {"pairs": form.pairs, "files": files}


SMALL = body(part("a", b"1"), part("f", b"xyz", "f.txt", "text/plain"))
EXPECTED = {
    "pairs": [("name", "Zoë"), ("tags", "a"), ("tags", "b")],
    "files": {
        "avatar": [("me.png", "image/png", len(PHOTO), PHOTO)],
        "docs": [("a.pdf", "application/pdf", 6, b"%PDF-1"), ("empty.txt", "text/plain", 0, b"")],
    },
}


@pytest.mark.parametrize("step", [None, 1, 7, 4096], ids=["whole", "byte by byte", "7", "4096"])
def test_a_body_parses_the_same_in_any_pieces(spool: Path, step: int | None) -> None:
    form = read(PROFILE, spool, step)

    assert summary(form) == EXPECTED
    assert not form.files["avatar"][0].in_memory  # past 1 KiB: spooled to disk
    form.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(PROFILE)), max_size=12))
def test_any_split_of_the_body_gives_the_same_form(spool: Path, cuts: list[int]) -> None:
    reader = MultipartReader(CONTENT_TYPE, limits(spool))
    edges = [0, *sorted(cuts), len(PROFILE)]
    for start, end in itertools.pairwise(edges):
        reader.feed(PROFILE[start:end])
    form = reader.finish()

    assert summary(form) == EXPECTED
    form.close()


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    garbage=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda cut, noise: SMALL[:cut] + noise + SMALL[cut:],
            st.integers(0, len(SMALL)),
            st.binary(min_size=1, max_size=20),
        ),
    )
)
def test_garbage_parses_or_is_refused_with_our_error(spool: Path, garbage: bytes) -> None:
    reader = MultipartReader(CONTENT_TYPE, limits(spool))
    try:
        reader.feed(garbage)
        reader.finish().close()
    except ClientError:
        pass
    assert open_temporary_files(spool) == []


def test_values_merge_fields_and_files_as_form_fields_do(spool: Path) -> None:
    form = read(PROFILE, spool)

    values = form.values()

    assert values["name"] == "Zoë"
    assert values["tags"] == ["a", "b"]
    assert isinstance(values["avatar"], UploadFile)
    assert [f.filename for f in values["docs"]] == ["a.pdf", "empty.txt"]
    form.close()


def test_an_empty_file_input_sends_no_file(spool: Path) -> None:
    form = read(body(part("avatar", b"", "", "application/octet-stream")), spool)

    assert form.files == {}
    assert form.values() == {}


def test_a_filename_with_a_folder_keeps_only_its_name(spool: Path) -> None:
    form = read(body(part("f", b"x", "C:\\\\Users\\\\me\\\\cv.pdf")), spool)

    assert form.files["f"][0].filename == "cv.pdf"
    assert form.files["f"][0].content_type == "application/octet-stream"
    form.close()


def test_data_after_the_closing_boundary_is_ignored(spool: Path) -> None:
    form = read(body(part("a", b"1")) + b"epilogue", spool)

    assert form.pairs == [("a", "1")]


# -- the format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        f"multipart/form-data; boundary={'b' * 71}",
    ],
)
def test_a_missing_or_bad_boundary_is_malformed(content_type: str) -> None:
    with pytest.raises(MalformedRequest, match="boundary"):
        MultipartReader(content_type, UploadLimits())


def test_another_media_type_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType, match="multipart/form-data"):
        MultipartReader("application/json", UploadLimits())


def test_a_body_cut_short_is_malformed_and_leaves_nothing(spool: Path) -> None:
    reader = MultipartReader(CONTENT_TYPE, limits(spool))
    reader.feed(PROFILE[: len(PROFILE) // 2])

    with pytest.raises(MalformedRequest, match="closing boundary"):
        reader.finish()


def test_a_part_without_a_name_is_malformed(spool: Path) -> None:
    data = f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()

    with pytest.raises(MalformedRequest, match="Content-Disposition"):
        read(data, spool)


def test_a_text_field_that_is_not_utf8_is_malformed(spool: Path) -> None:
    with pytest.raises(MalformedRequest, match="UTF-8"):
        read(body(part("a", b"\xff\xfe")), spool)


def test_a_refused_reader_takes_no_more(spool: Path) -> None:
    reader = MultipartReader(CONTENT_TYPE, limits(spool, max_bytes=10))
    with pytest.raises(UploadTooLarge):
        reader.feed(PROFILE)

    with pytest.raises(MalformedRequest, match="already"):
        reader.feed(b"x")


# -- limits, while streaming ----------------------------------------------------------------


def refusal(data: bytes, folder: Path, rules: dict[str, Accept] | None = None, **limit: Any) -> Any:
    """The error the reader raises for ``data`` fed in 512-byte pieces, and how far it got."""
    reader = MultipartReader(CONTENT_TYPE, limits(folder, **limit), rules)
    fed = 0
    try:
        for start in range(0, len(data), 512):
            fed += len(data[start : start + 512])
            reader.feed(data[start : start + 512])
        reader.finish()
    except ClientError as error:
        error.fed = fed  # type: ignore[attr-defined]
        return error
    raise AssertionError("the body was accepted")


def test_the_whole_body_limit_refuses_before_the_rest_arrives(spool: Path) -> None:
    error = refusal(PROFILE, spool, max_bytes=2048)

    assert isinstance(error, UploadTooLarge)
    assert (error.status_code, error.limit, error.field) == (413, "upload_max_bytes", None)
    assert error.fed <= 2048 + 512


def test_the_per_file_limit_names_the_field_and_the_setting(spool: Path) -> None:
    error = refusal(PROFILE, spool, max_file_bytes=4096)

    assert isinstance(error, UploadTooLarge)
    assert (error.limit, error.field) == ("upload_max_file_bytes", "avatar")
    assert error.message == "the file is larger than 4 KiB"
    assert error.fed < len(PROFILE)
    assert error_document(error) == {
        "code": "upload_too_large",
        "message": "the file is larger than 4 KiB",
        "limit": "upload_max_file_bytes",
        "field": "avatar",
    }


def test_a_field_can_lower_the_file_limit(spool: Path) -> None:
    rules = {"avatar": Accept("image/*", max_bytes=100), "docs": Accept()}

    error = refusal(PROFILE, spool, rules)

    assert isinstance(error, UploadTooLarge)
    assert (error.limit, error.field, error.message) == (
        "max_bytes",
        "avatar",
        "the file is larger than 100 bytes",
    )


def test_too_many_files_are_refused_at_the_extra_files_headers(spool: Path) -> None:
    error = refusal(PROFILE, spool, max_files=2)

    assert isinstance(error, UploadTooLarge)
    assert (error.limit, error.field) == ("upload_max_files", "docs")


def test_too_many_text_fields_are_refused(spool: Path) -> None:
    data = body(*(part(f"f{i}", b"x") for i in range(20)))

    error = refusal(data, spool, max_fields=5)

    assert isinstance(error, UploadTooLarge)
    assert error.limit == "max_fields"


def test_text_fields_together_keep_the_ordinary_body_limit(spool: Path) -> None:
    data = body(part("a", b"x" * 600), part("b", b"y" * 600))

    error = refusal(data, spool, max_field_bytes=1000)

    assert isinstance(error, UploadTooLarge)
    assert (error.limit, error.field) == ("max_body_bytes", "b")


def test_a_content_type_the_field_does_not_accept_is_415(spool: Path) -> None:
    rules = {"avatar": Accept("image/jpeg", ".webp"), "docs": Accept()}

    error = refusal(PROFILE, spool, rules)

    assert isinstance(error, UploadTypeNotAllowed)
    assert (error.status_code, error.field) == (415, "avatar")
    assert error.message == "this field accepts image/jpeg, .webp, not 'image/png'"
    assert error_document(error)["limit"] == "accept"


def test_a_file_in_a_field_that_takes_none_is_422(spool: Path) -> None:
    error = refusal(PROFILE, spool, {"avatar": Accept()})

    assert isinstance(error, PayloadValidationError)
    assert (error.field, error.message) == ("docs", FILE_NOT_ACCEPTED)


def test_rules_known_later_check_the_files_already_read(spool: Path) -> None:
    reader = MultipartReader(CONTENT_TYPE, limits(spool))
    reader.feed(PROFILE[: PROFILE.index(b'name="docs"')])

    with pytest.raises(UploadTypeNotAllowed):
        reader.rules = {"avatar": Accept("text/plain"), "docs": Accept()}


def test_rules_known_later_apply_to_the_files_after(spool: Path) -> None:
    reader = MultipartReader(CONTENT_TYPE, limits(spool))
    reader.feed(PROFILE[: PROFILE.index(b'name="docs"')])
    reader.rules = {"avatar": Accept("image/png")}

    with pytest.raises(PayloadValidationError, match="does not accept files"):
        reader.feed(PROFILE[PROFILE.index(b'name="docs"') - 50 :])


def test_settings_give_the_limits() -> None:
    settings = Settings(upload_max_files=3, max_fields=7, upload_directory="/tmp/x")

    assert UploadLimits.from_settings(settings) == UploadLimits(
        max_file_bytes=16 * 1024 * 1024,
        max_files=3,
        max_bytes=64 * 1024 * 1024,
        max_fields=7,
        max_field_bytes=1024 * 1024,
        spool_bytes=1024 * 1024,
        directory=Path("/tmp/x"),
    )


# -- nothing left behind ------------------------------------------------------------------


def test_a_disconnect_at_every_point_leaves_no_temporary_file(spool: Path) -> None:
    for cut in range(0, len(PROFILE), 97):
        reader = MultipartReader(CONTENT_TYPE, limits(spool))
        reader.feed(PROFILE[:cut])
        reader.abort()
        assert open_temporary_files(spool) == [], cut


def test_an_error_after_a_spooled_file_leaves_no_temporary_file(spool: Path) -> None:
    data = body(part("avatar", PHOTO, "a.png", "image/png"), part("b", b"\xff"))

    with pytest.raises(MalformedRequest):
        read(data, spool)


def test_closing_the_form_after_the_handler_removes_its_files(spool: Path) -> None:
    form = read(PROFILE, spool)
    assert open_temporary_files(spool) != []

    form.close()

    assert all(f.closed for uploads in form.files.values() for f in uploads)


async def collect(upload: UploadFile) -> bytes:
    return b"".join([chunk async for chunk in upload])


def test_a_large_file_streams_through_a_small_memory_threshold(spool: Path) -> None:
    big = os.urandom(3 * 1024 * 1024)
    data = body(part("video", big, "v.bin"))

    form = read(data, spool, step=64 * 1024)

    upload = form.files["video"][0]
    assert (upload.size, upload.in_memory) == (len(big), False)
    assert asyncio.run(collect(upload)) == big
    form.close()


# -- binding files to parameters ----------------------------------------------------------


def test_upload_parameters_declare_their_rules() -> None:
    def on_save(
        self: object,
        avatar: Annotated[UploadFile, Accept("image/*", max_bytes=1000)],
        docs: list[UploadFile],
        note: UploadFile | None = None,
        title: str = "",
    ) -> None:
        return None

    rules = Binder(on_save).upload_rules

    assert rules == {
        "avatar": Accept("image/*", max_bytes=1000),
        "docs": Accept(),
        "note": Accept(),
    }


def test_files_bind_to_their_parameters(spool: Path) -> None:
    def on_save(self: object, avatar: UploadFile, docs: list[UploadFile], name: str) -> None:
        return None

    form = read(PROFILE, spool)
    values = {k: v for k, v in form.values().items() if k != "tags"}

    bound = Binder(on_save).bind(values)

    assert bound["avatar"].filename == "me.png"
    assert [f.filename for f in bound["docs"]] == ["a.pdf", "empty.txt"]
    form.close()


def test_one_file_binds_to_a_list_parameter() -> None:
    def on_save(self: object, docs: list[UploadFile]) -> None:
        return None

    upload = UploadFile.from_bytes(b"x", "a.txt")

    assert Binder(on_save).bind({"docs": upload}) == {"docs": [upload]}


@pytest.mark.parametrize(
    ("values", "problem"),
    [({"avatar": "me.png"}, "Choose a file."), ({}, "This field is required.")],
)
def test_text_or_nothing_for_a_file_parameter_is_refused(
    values: dict[str, Any], problem: str
) -> None:
    def on_save(self: object, avatar: UploadFile) -> None:
        return None

    with pytest.raises(PayloadValidationError) as caught:
        Binder(on_save).bind(values)

    assert (caught.value.field, caught.value.problem) == ("avatar", problem)
