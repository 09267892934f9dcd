"""What a benchmark run says: progress lines on stderr and its results files.

:func:`log` writes one progress line to stderr (stdout carries the report or a client's JSON
line); :func:`write_results` writes a run's JSON document and Markdown report side by side to
``benchmarks/results/`` (git-ignored) as ``<name>-<UTC time>.json`` and ``.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

__all__ = ["FAILURES", "RESULTS", "log", "write_results"]

RESULTS: Final = Path(__file__).resolve().parents[1] / "results"
#: What a server, a client or a tool failing raises (a run then exits with status 2).
FAILURES: Final = (RuntimeError, OSError, subprocess.SubprocessError)


def log(message: str) -> None:
    """One progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def write_results(directory: Path, name: str, document: Any, report: str) -> Path:
    """Write ``document`` as ``<directory>/<name>-<stamp>.json`` and ``report`` next to it as
    ``.md``; return the JSON file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = directory / f"{name}-{stamp}.json"
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    target.with_suffix(".md").write_text(report, encoding="utf-8")
    return target
