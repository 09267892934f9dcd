"""A record of what test components went through, readable from the test and, through a file,
from a server process the test started."""

from __future__ import annotations

import os

__all__ = ["Journal"]


class Journal:
    """``(kind, tag)`` entries in the order handlers recorded them; each is also appended to the
    file named by the environment variable ``file_variable`` when it is set (how a uvicorn
    subprocess reports to its test)."""

    def __init__(self, file_variable: str) -> None:
        self.file_variable = file_variable
        self.entries: list[tuple[str, str]] = []

    def record(self, kind: str, tag: str) -> None:
        self.entries.append((kind, tag))
        path = os.environ.get(self.file_variable)
        if path:
            with open(path, "a", encoding="utf-8") as file:
                file.write(f"{kind} {tag}\n")

    def tags(self, kind: str) -> list[str]:
        """The tags recorded with ``kind``, in order."""
        return [tag for entry_kind, tag in self.entries if entry_kind == kind]

    def has(self, kind: str, tag: str) -> bool:
        return (kind, tag) in self.entries

    def reset(self) -> None:
        self.entries.clear()
