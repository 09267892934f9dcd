"""Fixtures of the form integration tests: an app over :mod:`tests.forms.components`."""

from __future__ import annotations

from typing import Any

import pytest

from component_framework import ComponentASGI
from component_framework.core.config import Settings
from component_framework.core.dispatch import Dispatcher
from component_framework.core.hub import Hub
from tests.forms.components import registry, renderer
from tests.sample_components import SECRET


def make_app(**settings: Any) -> ComponentASGI:
    """A standalone app over the form components with its own hub and ``settings``."""
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(SECRET,), **settings),
        hub=Hub(),
        shutdown_on_signals=False,
    )


@pytest.fixture
def app() -> ComponentASGI:
    return make_app()


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(registry, Settings(secret_keys=(SECRET,)), renderer)
