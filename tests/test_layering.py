"""The import rules of DESIGN.md section 3, checked on the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "component_framework"
TRANSPORTS = {"asgi.http", "asgi.sse", "asgi.websocket"}
#: What each layer may import from component_framework (its own layer is always allowed).
ALLOWED = {
    "protocol": set(),
    "core": {"protocol", "errors"},
    "asgi": {"protocol", "core", "errors"},
    "errors": set(),
    "testing": {"asgi", "core", "protocol", "errors"},
    "__init__": {"asgi", "core"},
}
FOREIGN_FORBIDDEN = {
    "protocol": {"asyncio", "litestar", "starlette", "jinja2", "redis", "asyncpg", "asgiref"},
    "core": {"litestar", "starlette", "jinja2", "redis", "asyncpg", "psycopg", "uvicorn"},
    "asgi": {"litestar", "starlette", "jinja2", "redis", "asyncpg", "psycopg"},
}


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    return ".".join(relative.parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_every_layer() -> None:
    layers = {module_name(path).split(".")[0] for path in MODULES}
    assert {"protocol", "core", "asgi", "adapters", "errors", "testing"} <= layers


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_module_respects_the_layering_rules(path: Path) -> None:
    name = module_name(path)
    layer = name.split(".")[0]
    for imported in imports_of(path):
        parts = imported.split(".")
        if parts[0] == "component_framework":
            target = ".".join(parts[1:]) or "__init__"
            target_layer = target.split(".")[0]
            assert target_layer != "adapters" or layer == "adapters", (
                f"{name} imports {imported}: nothing outside adapters may import adapters"
            )
            if layer in ALLOWED and target_layer != layer:
                assert target_layer in ALLOWED[layer], f"{name} may not import {imported}"
            if name in TRANSPORTS and target in TRANSPORTS:
                assert target == name, f"transport {name} imports transport {target}"
        elif layer in FOREIGN_FORBIDDEN:
            assert parts[0] not in FOREIGN_FORBIDDEN[layer], f"{name} imports {imported}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from component_framework.adapters.litestar import component_endpoint\n")
    assert "component_framework.adapters.litestar" in imports_of(sample)


def private_names_imported(path: Path) -> list[str]:
    """``module.name`` for each private name (one leading underscore) that ``path`` imports
    from another module of the package, at any depth (a function's own imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 0 and module.split(".")[0] != "component_framework":
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                source = "." * node.level + module
                found.append(f"{source}.{alias.name}" if module else source + alias.name)
    return found


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_imports_another_modules_private_name(path: Path) -> None:
    # A name with a leading underscore is its module's own: a module that needs it gives
    # it a public home instead (the module that owns the concept, in its __all__).
    assert private_names_imported(path) == []


def test_the_checker_sees_a_private_name_imported(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from component_framework.core.config import ENV_DEBUG, _secret\n"
        "from . import _sibling\n"
        "from os import _exit\n"  # the standard library's: not ours to police
        "def later():\n"
        "    from component_framework.asgi.sse import _late, __all__\n"
    )
    assert private_names_imported(sample) == [
        "component_framework.core.config._secret",
        "._sibling",
        "component_framework.asgi.sse._late",
    ]
