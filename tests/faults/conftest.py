"""Fixtures of the fault-injection suite: a clean journal and clean gates per test."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest

from tests.faults.components import Failing, gates, journal


@pytest.fixture(autouse=True)
def clean_components() -> Iterator[None]:
    journal.reset()
    gates.reset()
    yield
    journal.reset()
    gates.reset()
    for task in Failing.orphans:
        task.cancel()
    Failing.orphans.clear()


class _RecordsAsText(logging.Filter):
    """Keep the framework's log records as text only. pytest keeps every record of a test;
    a record holding ``exc_info``, or an exception among its ``args``, keeps that traceback's
    frames alive, and with them the runs, sessions and connections (and Redis clients) that
    the leak checks must see freed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg, record.args = record.getMessage(), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        return True


@pytest.fixture(autouse=True)
def records_as_text() -> Iterator[None]:
    logger = logging.getLogger("component_framework")
    text_only = _RecordsAsText()
    logger.addFilter(text_only)
    yield
    logger.removeFilter(text_only)
