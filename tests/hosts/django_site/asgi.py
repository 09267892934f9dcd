"""The application: ``uvicorn tests.hosts.django_site.asgi:application``.

Django's ASGI application (with its static files handler, as ``runserver`` serves them) inside
``ComponentASGI`` in middleware mode, inside :class:`DjangoSessionAuth`, which gives component
requests the Django user.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.hosts.django_site.settings")

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from component_framework import ComponentASGI
from component_framework.adapters.django import DjangoSessionAuth
from tests.hosts.django_site.components import SETTINGS, registry, renderer

__all__ = ["application", "components"]

django_app = ASGIStaticFilesHandler(get_asgi_application())
components = ComponentASGI(django_app, registry=registry, renderer=renderer, settings=SETTINGS)
application = DjangoSessionAuth(components, load_permissions=True)
