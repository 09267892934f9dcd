"""The app the real-uvicorn security tests serve: ``uvicorn tests.security.uvicorn_app:app``.

Starlette with cookie authentication around ``Mount("/components", ...)`` of the security
components (see :mod:`tests.security.hosts`), with a short ``body_timeout`` (1 s) for the
slow-loris test and everything else from the environment (the tests pass
``COMPONENT_FRAMEWORK_TRUSTED_PROXIES`` to one of their servers).
"""

from __future__ import annotations

from component_framework import ComponentASGI, Settings
from tests.security import components
from tests.security.hosts import starlette_host

__all__ = ["BODY_TIMEOUT", "app"]

BODY_TIMEOUT = 1.0

app = starlette_host(
    ComponentASGI(
        registry=components.registry,
        renderer=components.renderer,
        settings=Settings.from_env(secret_keys=components.SECRET, body_timeout=BODY_TIMEOUT),
    )
)
