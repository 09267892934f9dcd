"""Hypothesis profiles of the fuzz suite: ``ci`` (the default, short) and ``long``.

The profile is chosen, in order, by ``--hypothesis-profile`` (when it names one of ours), by
the ``HYPOTHESIS_PROFILE`` environment variable, else ``ci``. It applies to the tests of this
package only (through :func:`fuzz_settings`), so a whole-suite run keeps every other
hypothesis test on its own settings. ``scripts/fuzz.sh`` runs the ``long`` profile.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

Test = TypeVar("Test", bound=Callable[..., Any])

#: Examples per property (properties scale it, see :func:`fuzz_settings`): ``ci`` keeps the
#: whole package near 30 s on two shared cores, ``long`` takes several minutes.
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"max_examples": 120},
    "long": {"max_examples": 2500},
}
ENV_PROFILE = "HYPOTHESIS_PROFILE"

for _name, _values in PROFILES.items():
    settings.register_profile(
        _name,
        deadline=None,  # two shared cores: timing is noise, hangs are caught by asyncio.timeout
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **_values,
    )


def profile_name() -> str:
    """The profile in force for the fuzz tests (see the module docstring)."""
    loaded = settings.get_current_profile_name()  # what --hypothesis-profile loaded
    if loaded in PROFILES:
        return loaded
    return os.environ.get(ENV_PROFILE) or "ci"


def fuzz_settings(scale: float = 1.0) -> Callable[[Test], Test]:
    """``@settings`` of the chosen profile, with ``scale`` times its examples (slow
    properties, such as whole WebSocket sessions, take a fraction)."""
    profile = settings.get_profile(profile_name())
    examples = max(10, round(profile.max_examples * scale))
    return settings(parent=profile, max_examples=examples)


def pytest_report_header() -> str:
    examples = settings.get_profile(profile_name()).max_examples
    return f"fuzz profile: {profile_name()} ({examples} examples per property, scaled)"
