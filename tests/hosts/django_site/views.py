"""The site's one page: components rendered server-side by the Jinja2 page globals."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def page(request: HttpRequest) -> HttpResponse:
    """A Django page with the counter and the signed-in user's badge."""
    return render(request, "page.html", using="jinja2")
