"""The hosts of the contract suite and one small client interface over all of them.

Owns how each host is built (raw ``ComponentASGI``, Litestar patterns A and B, Starlette and
FastAPI ``Mount``, middleware mode around a Starlette app), how a real uvicorn is started and
stopped on loopback, and :class:`HostClient`: ``request(...) -> HostResponse``, the only way the
contract tests talk to a host. In-process hosts go through
:func:`component_framework.testing.asgi_request`; uvicorn hosts through ``httpx`` over TCP.
Does not own any expectation: the tests do.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from litestar import Litestar
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from component_framework import ComponentASGI
from component_framework.adapters.litestar import component_endpoint, create_component_routes
from component_framework.testing import ASGIResponse, asgi_request
from tests import sample_components, servers
from tests.servers import REPO_ROOT, UvicornServer

__all__ = [
    "INNER_TEXT",
    "REPO_ROOT",
    "ASGIHostClient",
    "HTTPHostClient",
    "HostClient",
    "HostResponse",
    "InnerAppRecord",
    "UvicornServer",
    "build_fastapi_mount",
    "build_inner_app",
    "build_litestar_create_routes",
    "build_litestar_handlers",
    "build_middleware",
    "build_raw",
    "build_starlette_mount",
    "http_host_client",
    "start_uvicorn",
]


#: One complete answer; the same type the in-process helper returns.
HostResponse = ASGIResponse


class HostClient(Protocol):
    """What every contract test needs from a host."""

    @property
    def name(self) -> str:
        """The host's id in test names."""
        ...

    @property
    def in_process(self) -> bool:
        """True when the app runs on the test's own event loop."""
        ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> HostResponse:
        """Send one request and return the whole answer."""
        ...


@dataclass(frozen=True)
class ASGIHostClient:
    """Drives an ASGI app in process, at the ASGI message level."""

    name: str
    app: Any
    root_path: str = ""
    in_process: bool = True

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> HostResponse:
        response = await asgi_request(
            self.app,
            method,
            self.root_path + path,
            json=json,
            form=form,
            body=body,
            headers=headers,
            query=query,
            root_path=self.root_path,
        )
        return response


@dataclass(frozen=True)
class HTTPHostClient:
    """Drives a real server over loopback TCP with ``httpx``."""

    name: str
    client: httpx.AsyncClient
    in_process: bool = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> HostResponse:
        content: bytes | None = body
        sent_headers = dict(headers or {})
        if json is not None:
            content = jsonlib.dumps(json).encode("utf-8")
            sent_headers.setdefault("content-type", "application/json")
        elif form is not None:
            content = urlencode(form, doseq=True).encode("ascii")
            sent_headers.setdefault("content-type", "application/x-www-form-urlencoded")
        response = await self.client.request(
            method, path, content=content, headers=sent_headers, params=query
        )
        pairs = [(key.lower(), value) for key, value in response.headers.multi_items()]
        return HostResponse(response.status_code, pairs, response.content)


@contextlib.asynccontextmanager
async def http_host_client(
    name: str, base_url: str, *, http2: bool = False
) -> AsyncIterator[HTTPHostClient]:
    """An :class:`HTTPHostClient` on a fresh ``httpx.AsyncClient`` (closed on exit); with
    ``http2`` it speaks HTTP/2 only (h2c with prior knowledge over ``http://``), and every
    answer is checked to have come over HTTP/2."""
    hooks = {"response": [_check_http2]} if http2 else {}
    async with httpx.AsyncClient(
        base_url=base_url, timeout=10.0, http1=not http2, http2=http2, event_hooks=hooks
    ) as client:
        yield HTTPHostClient(name, client)


async def _check_http2(response: httpx.Response) -> None:
    assert response.http_version == "HTTP/2", response.http_version


# -- in-process hosts -----------------------------------------------------------------------


def _components(app: Any = None) -> ComponentASGI:
    return ComponentASGI(
        app,
        registry=sample_components.registry,
        renderer=sample_components.renderer,
        settings=sample_components.SETTINGS,
    )


def build_raw() -> ComponentASGI:
    """Standalone ``ComponentASGI`` at its default prefix ``/components``."""
    return _components()


def build_litestar_handlers() -> Litestar:
    """Pattern A of the guide (needs ``configure_components`` first)."""
    return Litestar(route_handlers=[component_endpoint])


def build_litestar_create_routes() -> Litestar:
    """Pattern B of the guide (needs ``configure_components`` first)."""
    app = Litestar()
    create_component_routes(app)
    return app


def build_starlette_mount() -> Starlette:
    """``Mount("/components", app=ComponentASGI(...))`` in a Starlette app."""
    return Starlette(routes=[Mount("/components", app=_components())])


def build_fastapi_mount() -> FastAPI:
    """``app.mount("/components", ComponentASGI(...))`` on a FastAPI app."""
    app = FastAPI()
    app.mount("/components", _components())
    return app


@dataclass
class InnerAppRecord:
    """What the wrapped app of middleware mode has seen."""

    started: bool = False
    stopped: bool = False
    paths: list[str] = field(default_factory=list)


INNER_TEXT = "inner app says hello"


def build_inner_app(record: InnerAppRecord) -> ASGIApp:
    """A Starlette app with one route (``/hello``) and a lifespan that updates ``record``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        record.started = True
        yield
        record.stopped = True

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(INNER_TEXT)

    inner = Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            record.paths.append(scope["path"])
        await inner(scope, receive, send)

    return recording


def build_middleware(record: InnerAppRecord | None = None) -> ComponentASGI:
    """``ComponentASGI(app=inner)``: components under ``/components``, the rest to ``inner``."""
    return _components(build_inner_app(record or InnerAppRecord()))


# -- a real uvicorn -------------------------------------------------------------------------


def start_uvicorn(http: str, log_dir: Path, extra_args: Sequence[str] = ()) -> UvicornServer:
    """Serve :mod:`tests.hosts.uvicorn_app` under uvicorn with ``--http <http>``."""
    arguments = ["--http", http, "--lifespan", "on", "--no-access-log", *extra_args]
    return servers.start_uvicorn("tests.hosts.uvicorn_app:app", log_dir, arguments)
