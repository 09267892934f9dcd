"""Every ```python block of the user documentation runs, so the docs cannot drift from the code.

The blocks of one Markdown file run in order in one fresh namespace (like a notebook), inside a
temporary working directory, with top-level ``await`` allowed. Each block is compiled against the
Markdown file itself, padded so that line numbers in a traceback are the file's own lines.
Global state the examples touch (the default registry, ``Component.renderer``, the Litestar
adapter's shared app) starts empty for each file and is put back afterwards.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from component_framework.core.component import Component
from component_framework.core.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted((ROOT / "docs").glob("*.md"))
README = ROOT / "README.md"
FILES = [*DOC_FILES, *([README] if README.exists() else [])]
SECRET_KEY = "docs-example-key-0123456789abcdef"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
_PYTHON_INFO = frozenset({"python", "py", "python3"})


@dataclass(frozen=True)
class Block:
    """One executable code block: where it starts (1-based line of its first code line)."""

    path: Path
    line: int
    source: str


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, in order."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        words = opening.group("info").split()
        start, body = index, []
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if (
                closing is not None
                and closing.group("fence").startswith(fence[0])
                and len(closing.group("fence")) >= len(fence)
                and not closing.group("info").strip()
            ):
                break
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        index += 1  # the closing fence
        if words and words[0].lower() in _PYTHON_INFO:
            blocks.append(Block(path, start + 1, "\n".join(body) + "\n"))
    return blocks


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT))


async def _run(block: Block, namespace: dict[str, object]) -> None:
    # Padding keeps traceback line numbers equal to the Markdown file's line numbers.
    padded = "\n" * (block.line - 1) + block.source
    code = compile(padded, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(code, namespace)
    if inspect.iscoroutine(outcome):
        await outcome


@pytest.fixture
def docs_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh process, as far as the examples can tell: fixed key, empty default registry, no
    renderer, no shared Litestar app, a temporary working directory. All of it is put back
    afterwards, so examples neither see nor leak global state."""
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("COMPONENT_FRAMEWORK_DEBUG", raising=False)
    monkeypatch.delenv("COMPONENT_FRAMEWORK_TRUST_CLIENT_STATE", raising=False)
    monkeypatch.chdir(tmp_path)
    registered = {name: default_registry.get(name) for name in default_registry.names()}
    renderer = Component.__dict__["renderer"]
    try:
        from component_framework.adapters import litestar as litestar_adapter
    except ImportError:  # pragma: no cover - the litestar extra is part of dev
        litestar_adapter = None
    shared = list(litestar_adapter._shared) if litestar_adapter is not None else []

    def reset() -> None:
        for name in default_registry.names():
            default_registry.unregister(name)
        Component.renderer = None
        if litestar_adapter is not None:
            litestar_adapter._shared.clear()

    reset()
    try:
        yield tmp_path
    finally:
        reset()
        for name, cls in registered.items():
            default_registry.register(name)(cls)
        Component.renderer = renderer
        if litestar_adapter is not None:
            litestar_adapter._shared[:] = shared


def test_docs_have_python_examples() -> None:
    assert sum(len(python_blocks(path)) for path in FILES) > 0, "no ```python block found"


#: Pages with examples; pages with none (benchmarks.md holds figures) have nothing to run.
EXAMPLE_FILES = [path for path in FILES if python_blocks(path)]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_label)
async def test_examples_run(
    path: Path, docs_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks(path)
    # A real module, because hosts such as Litestar resolve type hints through sys.modules.
    module = types.ModuleType("docs_" + re.sub(r"\W", "_", path.stem.lower()))
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for block in blocks:
        failure = None
        try:
            await _run(block, namespace)
        except Exception as exc:
            failure = exc
        if failure is not None:  # failing outside ``except`` keeps the report free of chaining
            detail = "".join(traceback.format_exception(failure))
            pytest.fail(
                f"{_label(path)}: the python block starting at line {block.line} failed: "
                f"{type(failure).__name__}: {failure}\n\n{detail}",
                pytrace=False,
            )


def test_only_python_blocks_are_collected_with_their_line_numbers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n"
        "```bash\n"
        "echo not python\n"
        "```\n"
        "```python\n"
        "x = 1\n"
        "```\n"
        "- item:\n"
        "  ```python title\n"
        "  y = x\n"
        "  ```\n"
        "````markdown\n"
        "```python\n"
        "nested = 'not run'\n"
        "```\n"
        "````\n",
        encoding="utf-8",
    )
    assert [(block.line, block.source) for block in python_blocks(page)] == [
        (6, "x = 1\n"),
        (10, "y = x\n"),
    ]
