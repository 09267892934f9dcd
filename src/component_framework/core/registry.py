"""The component registry: names to component classes.

Owns :class:`ComponentRegistry` and the process-wide default registry that ``ComponentASGI()``
uses when given none. The module-level functions (``register``, ``get``, ``names``) act on the
default, so ``from component_framework.core import registry`` then
``@registry.register("counter")`` reads as in the guide. Tests build isolated registries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, TypeVar

from component_framework.core.component import Component
from component_framework.errors import ComponentNotFound, ConfigurationError

__all__ = ["ComponentRegistry", "default_registry", "get", "names", "register"]

ComponentT = TypeVar("ComponentT", bound=type[Component])
_COMPONENT_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def is_valid_component_name(name: str) -> bool:
    """Lower-case letters, digits, ``_`` and ``-``; 1 to 64 long; never starting with ``_``."""
    return _COMPONENT_NAME.fullmatch(name) is not None


class ComponentRegistry:
    """A mapping of public component names to :class:`Component` subclasses."""

    def __init__(self) -> None:
        self._components: dict[str, type[Component]] = {}

    def register(self, name: str) -> Callable[[ComponentT], ComponentT]:
        """Class decorator registering a component under ``name``."""
        if not is_valid_component_name(name):
            raise ConfigurationError(
                f"invalid component name {name!r}: expected lower-case letters, digits, "
                "'_' or '-', 1 to 64 characters, not starting with '_' (reserved)"
            )

        def decorate(cls: ComponentT) -> ComponentT:
            if not (isinstance(cls, type) and issubclass(cls, Component)):
                raise ConfigurationError(f"{cls!r} registered as {name!r} is not a Component")
            previous = self._components.get(name)
            if previous is not None and _qualified(previous) != _qualified(cls):
                raise ConfigurationError(
                    f"component name {name!r} is already taken by {_qualified(previous)}"
                )
            cls.component_name = name
            self._components[name] = cls
            return cls

        return decorate

    def get(self, name: str) -> type[Component]:
        """The class registered as ``name``; raises ``ComponentNotFound``."""
        try:
            return self._components[name]
        except KeyError:
            raise ComponentNotFound(name) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._components)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests use this to clean up)."""
        self._components.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def __len__(self) -> int:
        return len(self._components)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


default_registry: Final = ComponentRegistry()
register = default_registry.register
get = default_registry.get
names = default_registry.names
unregister = default_registry.unregister
