"""``component_framework.adapters.django`` in process: what it does when Django cannot answer,
the lifespan Django lacks, which requests it loads a session for, and its missing extra.

Django is configured in this process from the test site's settings with an empty in-memory
database (no tables): any attempt to load a session fails there, which is what these tests
watch for.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from component_framework import ComponentASGI
from component_framework.adapters._extras import MissingExtraError
from component_framework.testing import asgi_request
from tests.hosts.django_host import configure_django
from tests.hosts.django_site.components import SETTINGS, registry, renderer

configure_django()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402

from component_framework.adapters.django import (  # noqa: E402
    DjangoSessionAuth,
    ScopeUserMiddleware,
)

WAIT = 5.0
A_SESSION = {"cookie": "sessionid=abcdefgh12345678abcdefgh12345678"}


def site_app() -> DjangoSessionAuth:
    components = ComponentASGI(
        get_asgi_application(), registry=registry, renderer=renderer, settings=SETTINGS
    )
    return DjangoSessionAuth(components)


async def test_unloadable_session_is_anonymous_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="component_framework"):
        answer = await asgi_request(site_app(), "POST", "/components/badge/", json={},
                                    headers=A_SESSION)  # fmt: skip
    assert answer.status == 401
    assert answer.json() == {
        "error": {"code": "unauthorized", "message": "authentication required"}
    }
    assert "could not load the Django session" in caplog.text
    assert "django_session" in caplog.text  # the cause, in the log only


async def test_without_a_session_cookie_nothing_is_loaded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="component_framework"):
        answer = await asgi_request(site_app(), "POST", "/components/counter/", json={})
    assert answer.status == 200
    assert caplog.text == ""


async def test_static_runtime_files_load_no_session(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="component_framework"):
        answer = await asgi_request(
            site_app(), "GET", "/components/_static/htmx.min.js", headers=A_SESSION
        )
    assert answer.status == 200
    assert caplog.text == ""


async def test_lifespan_is_answered_for_django() -> None:
    communicator = ApplicationCommunicator(site_app(), {"type": "lifespan", "asgi": {}})
    await communicator.send_input({"type": "lifespan.startup"})
    assert await communicator.receive_output(WAIT) == {"type": "lifespan.startup.complete"}
    await communicator.send_input({"type": "lifespan.shutdown"})
    assert await communicator.receive_output(WAIT) == {"type": "lifespan.shutdown.complete"}
    await communicator.wait(WAIT)


async def test_lifespan_goes_to_an_inner_app_that_is_not_django() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "inner says no"})

    app = DjangoSessionAuth(ComponentASGI(inner, registry=registry, settings=SETTINGS))
    communicator = ApplicationCommunicator(app, {"type": "lifespan", "asgi": {}})
    await communicator.send_input({"type": "lifespan.startup"})
    failed = await communicator.receive_output(WAIT)
    assert failed["type"] == "lifespan.startup.failed"
    assert seen == ["lifespan"]


def test_scope_user_middleware_needs_authentication_middleware_first() -> None:
    middleware = ScopeUserMiddleware(lambda request: HttpResponse("page"))
    with pytest.raises(ImproperlyConfigured, match=r"after 'django\.contrib\.auth\.middleware"):
        middleware(HttpRequest())


def test_adapter_without_django_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = "component_framework.adapters.django"
    monkeypatch.setitem(sys.modules, "django.conf", None)  # makes the import fail
    monkeypatch.delitem(sys.modules, adapter, raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[django\]'") as raised:
        importlib.import_module(adapter)
    assert raised.value.name == "django"
