"""The documentation site builds in strict mode, and its generated pages hold what they should.

One ``mkdocs build --strict`` per test session (it takes a few seconds); the tests then read the
built HTML. Strict mode turns every warning (a broken link or anchor, a page missing from the
navigation, a docstring mkdocstrings cannot render) into a failure.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from component_framework import ComponentASGI

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mkdocs", reason="the docs site needs the dev extra (mkdocs-material)")
pytest.importorskip("mkdocstrings", reason="the docs site needs the dev extra (mkdocstrings)")


@dataclass(frozen=True)
class Build:
    returncode: int
    output: str
    site: Path

    def text(self, page: str) -> str:
        """The visible text of a built page (tags removed, entities decoded)."""
        source = (self.site / page).read_text(encoding="utf-8")
        return html.unescape(re.sub(r"<[^>]+>", "", source))


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    site = tmp_path_factory.mktemp("site")
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Build(completed.returncode, completed.stdout + completed.stderr, site)


def test_site_builds_in_strict_mode_without_warnings(build: Build) -> None:
    assert build.returncode == 0, build.output
    assert "WARNING" not in build.output, build.output


def test_api_reference_shows_the_component_asgi_docstring(build: Build) -> None:
    text = build.text("api/package/index.html")
    first_line = (ComponentASGI.__doc__ or "").strip().splitlines()[0]
    assert first_line  # the reference is only as good as the docstring
    assert "ComponentASGI" in text
    assert first_line in " ".join(text.split())


def test_api_reference_turns_rst_roles_into_links(build: Build) -> None:
    for page in build.site.glob("api/*/index.html"):
        text = build.text(str(page.relative_to(build.site)))
        assert re.search(r":(class|meth|func|attr|data):", text) is None, page
    source = (build.site / "api/package/index.html").read_text(encoding="utf-8")
    assert 'href="../config/#component_framework.core.config.Settings.from_env"' in source


def test_htmx_page_documents_the_stream_attributes_and_events(build: Build) -> None:
    text = build.text("htmx/index.html")
    for expected in ("data-stream-active", "data-loading", "component_scripts()", "stream:done"):
        assert expected in text


def test_every_guide_page_is_in_the_site(build: Build) -> None:
    built = {path.parent.name for path in build.site.glob("*/index.html")}
    pages = {path.stem for path in (ROOT / "docs").glob("*.md")} - {"index"}
    assert pages <= built, pages - built


def test_site_loads_no_external_fonts_or_scripts(build: Build) -> None:
    source = (build.site / "index.html").read_text(encoding="utf-8")
    external = re.findall(r'<(?:link|script)[^>]*(?:href|src)="(https?://[^"]+)"', source)
    assert external == []
