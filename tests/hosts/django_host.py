"""The Django host: the test site's settings in this process, and its app for the contract suite.

Owns :func:`configure_django` (Django configured once per process from
``tests.hosts.django_site.settings``, without touching ``os.environ``) and
:func:`build_django_middleware`: ``DjangoSessionAuth(ComponentASGI(django_app, ...))`` serving
the sample components, as a Django project would serve its own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from tests import sample_components

__all__ = ["build_django_middleware", "configure_django"]


def configure_django() -> None:
    """Configure Django from the test site's settings module (once; the database is sqlite in
    memory unless ``DJANGO_SITE_DATABASE`` names a file)."""
    if settings.configured:
        return
    from tests.hosts.django_site import settings as site_settings

    settings.configure(
        **{name: getattr(site_settings, name) for name in dir(site_settings) if name.isupper()}
    )


def build_django_middleware() -> Any:
    """Django's ASGI application inside ``ComponentASGI`` (middleware mode), inside
    ``DjangoSessionAuth``."""
    configure_django()
    from django.core.asgi import get_asgi_application

    from component_framework import ComponentASGI
    from component_framework.adapters.django import DjangoSessionAuth

    components = ComponentASGI(
        get_asgi_application(),
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=sample_components.SETTINGS,
    )
    return DjangoSessionAuth(components)
