"""What the numbers were measured on: CPU, Python and the versions of the stack."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Final

__all__ = ["machine_info"]

PACKAGES: Final = (
    "uvicorn", "granian", "httptools", "uvloop", "litestar", "jinja2", "component-framework",
)  # fmt: skip


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown"


def _wrk_version() -> str:
    try:
        completed = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    """A flat description of the machine and software (for the report and the JSON)."""
    info = {
        "cpu": _cpu_model(),
        "cpus": str(os.cpu_count()),
        "cpus_allowed": ",".join(map(str, sorted(os.sched_getaffinity(0)))),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "wrk": _wrk_version(),
    }
    info.update({package: _version(package) for package in PACKAGES})
    return info
