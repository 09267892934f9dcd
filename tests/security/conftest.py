"""Fixtures of the security tests."""

from __future__ import annotations

import pytest

from tests.security.components import journal


@pytest.fixture(autouse=True)
def _reset_journal() -> None:
    journal.reset()
