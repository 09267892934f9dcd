"""The error raised when an adapter's optional dependency is missing."""

from __future__ import annotations

__all__ = ["MissingExtraError"]


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: install component-framework with its {extra!r} "
            f"extra, from a clone of its repository: pip install -e '.[{extra}]'",
            name=package,
        )
        self.extra = extra
