"""Shared fixtures: an isolated registry, settings and a ``ComponentASGI`` over them;
hypothesis without its per-example deadline; and every test leaving the process's logging as
it found it (``tests.logging_kept``)."""

from __future__ import annotations

from collections.abc import Generator

import hypothesis
import pytest

from component_framework import ComponentASGI
from component_framework.core.hub import Hub
from component_framework.testing import ComponentTestClient
from tests import sample_components
from tests.logging_kept import logging_kept

# Hypothesis fails an example that takes longer than 200 ms of wall clock: on a loaded machine
# (load average 15-25) examples of test_coalescing_loses_nothing took 260 ms and failed. What
# a property checks is its outcome; a run that hangs still meets pytest's global timeout.
hypothesis.settings.register_profile("no-deadline", deadline=None)
if (
    hypothesis.settings.get_current_profile_name() == "default"
):  # not one chosen on the command line
    hypothesis.settings.load_profile("no-deadline")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Around a test's setup, call and teardown (outside pytest's own handlers of each
    phase): a Litestar app a test builds configures the root logger, onto a stream that may
    close with the test (see ``tests/logging_kept.py``)."""
    with logging_kept():
        return (yield)


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
