"""Every install instruction installs this project, never the public index's namesake.

The name ``component-framework`` on the public package index belongs to another, unrelated
project, so ``pip install "component-framework[litestar]"`` installs the wrong thing. Install
lines must point pip at this repository: a path (``-e ".[litestar]"``,
``"../component-framework[litestar]"``) or a direct reference
(``"component-framework[litestar] @ git+..."``). This test reads every document, script and
source file a user or contributor may copy a command from.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    {
        ROOT / "README.md",
        ROOT / "ARCHITECTURE.md",
        ROOT / ".ci" / "run",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "scripts").glob("*.sh"),
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
    }
)

#: ``pip install`` up to the end of its command: a line end, a closing backtick or quote.
_COMMAND = re.compile(r"pip3?\s+install\b([^`\n]*)")
#: The project's name as a requirement from an index: bare, with extras or a version.
_BARE = re.compile(r"component[-_.]framework(\[[^\]]*\])?\s*([<>=!~;].*)?", re.IGNORECASE)


def bare_requirements(text: str) -> list[str]:
    """The ``pip install`` commands in ``text`` that name this project as an index package."""
    found = []
    for match in _COMMAND.finditer(text):
        command = match.group(1)
        try:
            words = shlex.split(command, comments=True)
        except ValueError:  # an unbalanced quote: a command cut by Markdown or a Python string
            words = command.replace('"', " ").replace("'", " ").split()
        for index, word in enumerate(words):
            direct = index + 1 < len(words) and words[index + 1] == "@"
            if _BARE.fullmatch(word) and not direct:
                found.append(match.group(0).strip())
    return found


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", [path for path in SOURCES if path.is_file()], ids=_label)
def test_no_install_line_asks_the_public_index_for_this_project(path: Path) -> None:
    offending = bare_requirements(path.read_text(encoding="utf-8"))
    assert not offending, (
        f"{_label(path)} installs the public index's unrelated 'component-framework': "
        f"{offending}; install from the repository instead (pip install -e '.[litestar]')"
    )


@pytest.mark.parametrize(
    "line",
    [
        'pip install "component-framework[litestar]"',
        "`pip install component-framework`",
        "pip install 'component-framework[litestar,redis]' uvicorn",
        "pip install -U component-framework==0.1.0",
        "python -m pip install --quiet Component_Framework",
        "f\"{package} is not installed: pip install 'component-framework[{extra}]'\"",
    ],
)
def test_a_bare_install_line_is_caught(line: str) -> None:
    assert bare_requirements(line)


@pytest.mark.parametrize(
    "line",
    [
        'pip install -e ".[litestar]"',
        'pip install -e "../component-framework[litestar]"',
        'pip install "component-framework[litestar] @ git+https://example.org/cf.git"',
        "pip install component-framework @ file:///srv/component-framework",
        "pip install /srv/component-framework",
        "pip install websockets  # component-framework needs one",
        "pip install -e '.[dev]'",
    ],
)
def test_installing_from_the_repository_passes(line: str) -> None:
    assert bare_requirements(line) == []


def test_the_readme_says_why_the_public_index_is_not_the_source() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "not from the public package index" in readme
    assert "belongs to another, unrelated project" in readme
    assert 'pip install -e ".[litestar]"' in readme
