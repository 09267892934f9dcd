"""The four contenders, each an ASGI app serving the counter event at ``/components/counter/``.

(a) ``floor``: :class:`benchmarks.http.floor.FloorApp`, the work with nothing around it.
(b) ``components``: ``ComponentASGI`` standalone, over its own registry and renderer.
(c) ``litestar_handler``: a plain Litestar ``@post`` handler running the floor's logic.
(d) ``litestar_mount``: ``ComponentASGI`` mounted in Litestar by ``make_component_endpoint``.

Each ``build_*`` function is a uvicorn factory
(``uvicorn --factory benchmarks.http.contenders:...``) and is also what the in-process benchmark
calls, so both measure the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from litestar import Litestar, MediaType, Request, Response, post

from benchmarks.common.asgi import one_client_load
from benchmarks.common.counter import COMPONENT_NAME, PATH, SECRET_KEY, TEMPLATE, TEMPLATE_NAME
from benchmarks.http.floor import CounterWork, FloorApp
from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.adapters.litestar import make_component_endpoint
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry

__all__ = ["CONTENDERS", "FLOOR", "Contender", "by_key"]

REGISTRY: Final = ComponentRegistry()


@REGISTRY.register(COMPONENT_NAME)
class CounterComponent(Component):
    """The guide's counter."""

    template_name = TEMPLATE_NAME

    def mount(self) -> None:
        self.state["count"] = 0

    def on_increment(self) -> None:
        self.state["count"] += 1

    def on_decrement(self) -> None:
        self.state["count"] = max(0, self.state["count"] - 1)


def _components() -> ComponentASGI:
    return ComponentASGI(
        registry=REGISTRY,
        renderer=Jinja2Renderer.from_strings({TEMPLATE_NAME: TEMPLATE}),
        settings=one_client_load(Settings(secret_keys=(SECRET_KEY,))),
    )


def build_floor() -> Any:
    """(a) The hand-written bare ASGI app."""
    return FloorApp()


def build_components() -> Any:
    """(b) ``ComponentASGI`` standalone at its default prefix ``/components``."""
    return _components()


def build_litestar_handler() -> Any:
    """(c) A plain Litestar ``@post`` handler doing the floor's work."""
    work = CounterWork()

    @post(PATH, status_code=200)
    async def counter(request: Request[Any, Any, Any]) -> Response[bytes]:
        status, payload = work.handle(request.headers.get("content-type"), await request.body())
        return Response(content=payload, status_code=status, media_type=MediaType.JSON)

    return Litestar(route_handlers=[counter])


def build_litestar_mount() -> Any:
    """(d) ``ComponentASGI`` mounted in Litestar at ``/components``."""
    return Litestar(route_handlers=[make_component_endpoint(_components())])


@dataclass(frozen=True, slots=True)
class Contender:
    """One app under test."""

    key: str
    label: str
    build: Callable[[], Any]

    @property
    def factory(self) -> str:
        """The uvicorn factory import string."""
        return f"benchmarks.http.contenders:{self.build.__name__}"


FLOOR: Final = Contender("floor", "(a) floor: bare ASGI", build_floor)
CONTENDERS: Final = (
    FLOOR,
    Contender("components", "(b) ComponentASGI standalone", build_components),
    Contender("litestar_handler", "(c) Litestar @post handler", build_litestar_handler),
    Contender("litestar_mount", "(d) ComponentASGI in Litestar", build_litestar_mount),
)


def by_key(key: str) -> Contender:
    """The contender named ``key``."""
    for contender in CONTENDERS:
        if contender.key == key:
            return contender
    raise KeyError(key)
