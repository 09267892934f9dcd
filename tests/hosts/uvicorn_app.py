"""The standalone app the uvicorn hosts serve: ``uvicorn tests.hosts.uvicorn_app:app``.

The same components, renderer and settings as the in-process hosts, so that every host answers
the contract suite identically (snapshots signed here verify in the tests' own signer too).
"""

from __future__ import annotations

from component_framework import ComponentASGI
from tests import sample_components

__all__ = ["app"]

app = ComponentASGI(
    registry=sample_components.registry,
    renderer=sample_components.renderer,
    settings=sample_components.SETTINGS,
)
