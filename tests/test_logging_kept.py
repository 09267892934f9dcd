"""Each test leaves the process's logging as it found it (``tests.logging_kept``, which the
suite's conftest runs around every test): what a Litestar app configures goes with the test
that built it."""

from __future__ import annotations

import contextlib
import io
import logging

from litestar import Litestar

from tests.logging_kept import logging_kept


def every_logger() -> list[logging.Logger]:
    loggers = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(lg for lg in loggers if isinstance(lg, logging.Logger))]


def test_what_a_litestar_app_configures_in_the_block_is_taken_off_after_it() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    captured = io.StringIO()  # a test's output capture, closed when the test ends

    with logging_kept():
        with contextlib.redirect_stderr(captured):
            Litestar(route_handlers=[])
        installed = [handler for handler in root.handlers if handler not in handlers]
        assert installed  # the app configured the root logger (the case this is about)
        assert not any(handler in root.handlers for handler in handlers)  # pytest's: gone
    captured.close()

    assert root.handlers == handlers
    assert root.level == level
    holders = [lg.name for lg in every_logger() if any(h in lg.handlers for h in installed)]
    assert holders == []  # no record reaches the stream that closed


def test_an_error_logged_after_the_block_reaches_the_handlers_of_before(
    caplog: logging.LogCaptureFixture,
) -> None:
    with logging_kept(), contextlib.redirect_stderr(io.StringIO()):
        Litestar(route_handlers=[])

    logging.getLogger("component_framework").error("the handler failed")

    assert [record.getMessage() for record in caplog.records] == ["the handler failed"]
