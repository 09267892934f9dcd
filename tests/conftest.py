"""Shared fixtures: an isolated registry, settings and a ``ComponentASGI`` over them."""

from __future__ import annotations

import pytest

from component_framework import ComponentASGI
from component_framework.core.hub import Hub
from component_framework.testing import ComponentTestClient
from tests import sample_components


@pytest.fixture
def components_app() -> ComponentASGI:
    """A standalone ``ComponentASGI`` serving the sample components at ``/components``, with a
    hub of its own (broadcasts in one test never reach another's components)."""
    return ComponentASGI(
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=sample_components.SETTINGS,
        hub=Hub(),
    )


@pytest.fixture
def client(components_app: ComponentASGI) -> ComponentTestClient:
    """An in-process test client over :func:`components_app`."""
    return ComponentTestClient(components_app)
