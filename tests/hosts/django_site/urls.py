"""The site's URLs: its page and Django's admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from tests.hosts.django_site import views

urlpatterns = [
    path("", views.page, name="page"),
    path("admin/", admin.site.urls),
]
