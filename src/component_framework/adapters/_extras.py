"""The error raised when an adapter's optional dependency is missing."""

from __future__ import annotations

__all__ = ["MissingExtraError"]


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: pip install 'component-framework[{extra}]'",
            name=package,
        )
        self.extra = extra
