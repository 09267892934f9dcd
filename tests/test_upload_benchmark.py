"""The upload benchmark measures correct contenders: its body generator makes a valid
multipart body of the announced length, its report has a row per size and contender, and
(``uvicorn`` marker) its smoke run gets every byte count right. No timing here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.uploads.run import BOUNDARY, SMOKE, main, markdown, multipart_body

from component_framework.core.multipart import MultipartReader
from component_framework.core.uploads import UploadLimits


def test_the_generated_body_is_the_announced_length_and_parses() -> None:
    length, pieces = multipart_body(1_000_003, [("snapshot", "token")])
    body = b"".join(pieces)
    reader = MultipartReader(f"multipart/form-data; boundary={BOUNDARY}", UploadLimits())

    reader.feed(body)
    form = reader.finish()

    assert len(body) == length
    assert form.pairs == [("snapshot", "token")]
    assert form.files["file"][0].size == 1_000_003
    form.close()


def test_the_report_has_a_row_per_size_and_contender() -> None:
    row = {
        "size": 3_000_000,
        "rounds": 1,
        "best_mb_s": 200.0,
        "median_mb_s": 190.0,
        "start_rss_mib": 36.0,
        "peak_rss_mib": 38.4,
    }

    report = markdown({"cpu": "test cpu"}, SMOKE, {"ComponentASGI UploadFile": [row]})

    assert "| 3 MB | ComponentASGI UploadFile | 200 | 190 | 36 / 38 MiB |" in report


@pytest.mark.uvicorn
def test_the_smoke_run_counts_every_byte_on_both_servers(tmp_path: Path) -> None:
    status = main(["--smoke", "--results", str(tmp_path)])

    (written,) = tmp_path.glob("uploads-smoke-*.json")
    document = json.loads(written.read_text(encoding="utf-8"))
    assert status == 0, document["errors"]
    for rows in document["results"].values():
        assert [row["size"] for row in rows] == list(SMOKE.sizes)
