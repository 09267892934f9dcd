"""The process's logging configuration, left by each test as the test found it.

A Litestar app configures logging when it is built (``LoggingConfig``'s defaults): the root
logger and the ``litestar`` logger get one queue handler, whose thread writes to a
``StreamHandler`` on the ``sys.stderr`` of that moment. Built inside a test that captures its
output (``capsys``), that stream is the capture's, closed when the test ends; every record
that reached the root logger afterwards, in any later test, printed ``--- Logging error ---
... ValueError: I/O operation on closed file`` from the handler's thread (the configuration
also took pytest's own root handlers off). :func:`logging_kept` gives the root logger back
its handlers and level and takes the handlers the test installed off every logger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["logging_kept"]


@contextmanager
def logging_kept() -> Iterator[None]:
    """Within the block anything may configure logging; after it the root logger has the
    handlers and level it had before, and no logger holds a handler installed in the block.
    (A queue handler's thread is left to its ``atexit`` stop: it no longer gets records.)"""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        installed = [handler for handler in root.handlers if handler not in handlers]
        if installed or root.handlers != handlers:  # (most tests configure nothing)
            root.handlers[:] = handlers
            for logger in logging.Logger.manager.loggerDict.values():
                if isinstance(logger, logging.Logger) and logger.handlers:
                    kept = [handler for handler in logger.handlers if handler not in installed]
                    if len(kept) != len(logger.handlers):
                        logger.handlers[:] = kept
        root.setLevel(level)
