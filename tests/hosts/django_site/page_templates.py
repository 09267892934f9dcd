"""The Jinja2 environment of Django's Jinja2 backend, with ``component()`` and
``component_scripts()`` signing with the same registry, renderer and keys as the components app."""

from __future__ import annotations

from typing import Any

import jinja2

from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.core.dispatch import Dispatcher
from tests.hosts.django_site.components import SETTINGS, registry, renderer


def environment(**options: Any) -> jinja2.Environment:
    """``TEMPLATES[...]["OPTIONS"]["environment"]`` of the Jinja2 backend."""
    env = jinja2.Environment(**options)
    register_component_global(env, Dispatcher(registry, SETTINGS, renderer))
    return env
