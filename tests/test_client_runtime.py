"""The client runtime's file checks that need no browser: size budget, CSP-safe source, valid
JavaScript, and type declarations that type-check real usage and reject wrong usage.

``node`` and the project's TypeScript (``package.json`` devDependencies, installed by
``scripts/setup.sh`` with ``npm ci``) are required: a missing one fails, never skips.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from component_framework.asgi.static import RUNTIME, STATIC_DIRECTORY

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_JS = STATIC_DIRECTORY / RUNTIME
DECLARATIONS = STATIC_DIRECTORY / "component-framework.d.ts"
TS_DIR = Path(__file__).resolve().parent / "browser" / "ts"
TSC = REPO_ROOT / "node_modules" / ".bin" / "tsc"
#: 5 KB for the runtime on one htmx; adapting it to htmx 2 and htmx 4 alike costs about 1.4 KB,
#: forms (validation as the person types, changed fields kept across a reconnect) about 1.2 KB,
#: upload progress (on htmx 4 through XMLHttpRequest) about 1.2 KB.
GZIP_BUDGET = 15 * 1024
TOOL_TIMEOUT = 120

#: Constructs the runtime must never use: code from strings (blocked by a strict CSP), string
#: concatenation into the DOM (quadratic as answers grow), inline styles (blocked by the CSP).
FORBIDDEN = {
    "eval(": re.compile(r"\beval\s*\("),
    "new Function": re.compile(r"\bnew\s+Function\b"),
    "innerHTML +=": re.compile(r"\binnerHTML\s*\+="),
    "textContent +=": re.compile(r"\btextContent\s*\+="),
    'setAttribute("style"': re.compile(r"""\bsetAttribute\s*\(\s*["']style["']"""),
}


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "node is required (installed by .ci/run with npm)"
    return node


def _tsc(*files: Path) -> subprocess.CompletedProcess[str]:
    _node()
    assert TSC.exists(), f"{TSC} is missing: run `npm ci` (package.json devDependencies)"
    return subprocess.run(
        [str(TSC), "--noEmit", "--strict", *map(str, files)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def test_runtime_fits_the_gzip_budget() -> None:
    size = len(gzip.compress(RUNTIME_JS.read_bytes(), compresslevel=9))
    assert size <= GZIP_BUDGET, f"{RUNTIME} is {size} bytes gzipped, budget {GZIP_BUDGET}"


@pytest.mark.parametrize("construct", sorted(FORBIDDEN))
def test_runtime_avoids_constructs_a_strict_csp_or_long_streams_punish(construct: str) -> None:
    source = RUNTIME_JS.read_text()
    found = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(source.splitlines(), start=1)
        if FORBIDDEN[construct].search(line)
    ]
    assert found == [], f"{RUNTIME} uses {construct}: {found}"


def test_forbidden_construct_patterns_match_what_they_forbid() -> None:
    samples = {
        "eval(": "x = eval ('1')",
        "new Function": "f = new Function('a', 'return a')",
        "innerHTML +=": "elt.innerHTML += html",
        "textContent +=": "node.textContent+=text",
        'setAttribute("style"': "elt.setAttribute('style', 'color: red')",
    }
    assert sorted(samples) == sorted(FORBIDDEN)
    for construct, sample in samples.items():
        assert FORBIDDEN[construct].search(sample), construct


def test_runtime_is_valid_javascript_for_node() -> None:
    checked = subprocess.run(
        [_node(), "--check", str(RUNTIME_JS)],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_typescript_is_pinned_exactly_in_package_json() -> None:
    manifest = json.loads((REPO_ROOT / "package.json").read_text())
    version = manifest["devDependencies"]["typescript"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"not an exact version: {version!r}"


def test_declarations_type_check_a_page_script_using_every_event() -> None:
    usage = TS_DIR / "usage.ts"
    source = usage.read_text()
    imported = re.search(r'from "([^"]+/component-framework)\.js"', source)
    assert imported is not None
    assert (TS_DIR / f"{imported.group(1)}.d.ts").resolve() == DECLARATIONS
    for event in (
        "stream:start",
        "stream:text",
        "stream:update",
        "stream:error",
        "stream:done",
        "component-error",
        "component:broadcast",
    ):
        assert f'addEventListener("{event}"' in source, f"usage.ts does not listen to {event}"
    checked = _tsc(usage)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_declarations_reject_wrong_usage_on_exactly_the_marked_lines() -> None:
    wrong = TS_DIR / "wrong_usage.ts"
    marked = {
        number
        for number, line in enumerate(wrong.read_text().splitlines(), start=1)
        if "// error:" in line
    }
    checked = _tsc(wrong)
    assert checked.returncode != 0, "wrong usage type-checked: the declarations accept anything"
    reported = {
        int(match.group(1))
        for match in re.finditer(r"wrong_usage\.ts\((\d+),\d+\): error TS\d+", checked.stdout)
    }
    assert reported == marked, checked.stdout
