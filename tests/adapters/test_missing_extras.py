"""Importing an adapter without its optional dependency names the extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest

from component_framework.adapters._extras import MissingExtraError


@pytest.mark.parametrize(
    ("adapter", "dependency", "extra"),
    [
        ("component_framework.adapters.litestar", "litestar", "litestar"),
        ("component_framework.adapters.jinjax_renderer", "jinja2", "litestar"),
        ("component_framework.adapters.redis_broker", "redis", "redis"),
        ("component_framework.adapters.postgres_broker", "asyncpg", "postgres"),
        ("component_framework.adapters.litestar_channels_broker", "litestar", "litestar"),
    ],
)
def test_adapter_without_its_dependency_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, adapter: str, dependency: str, extra: str
) -> None:
    # None makes ``import dependency`` fail, and its submodules too (``from litestar.channels
    # import ...`` finds an already imported ``litestar.channels`` without its parent).
    for name in [dependency, *(n for n in sys.modules if n.startswith(f"{dependency}."))]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, adapter, raising=False)
    with pytest.raises(MissingExtraError, match=rf"pip install -e '\.\[{extra}\]'") as raised:
        importlib.import_module(adapter)
    assert f"its '{extra}' extra, from a clone" in str(raised.value)
    assert isinstance(raised.value, ImportError)
    assert raised.value.name == dependency
