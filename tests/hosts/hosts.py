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
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol
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
from component_framework.testing import asgi_request
from tests import sample_components

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

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3


class HostResponse(NamedTuple):
    """One complete answer: ``(status, headers, body)``; header names are lower case."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body)


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
        return HostResponse(response.status, tuple(response.headers), response.body)


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
        pairs = tuple((key.lower(), value) for key, value in response.headers.multi_items())
        return HostResponse(response.status_code, pairs, response.content)


@contextlib.asynccontextmanager
async def http_host_client(name: str, base_url: str) -> AsyncIterator[HTTPHostClient]:
    """An :class:`HTTPHostClient` on a fresh ``httpx.AsyncClient`` (closed on exit)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
        yield HTTPHostClient(name, client)


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


@dataclass
class UvicornServer:
    """A uvicorn subprocess serving :mod:`tests.hosts.uvicorn_app` on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    def log(self) -> str:
        """What the server wrote so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after a bounded wait)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until_ready(server: UvicornServer, deadline: float) -> bool:
    """True once the port accepts connections; False if the process died first."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if _port_answers(server.port):
            return True
        time.sleep(0.05)
    return False


def start_uvicorn(http: str, log_dir: Path, extra_args: Sequence[str] = ()) -> UvicornServer:
    """Start uvicorn with ``--http <http>`` on a free loopback port; wait at most
    ``READY_TIMEOUT`` seconds for the port to answer. Retries a port another process took."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("COMPONENT_FRAMEWORK_")}  # fmt: skip
    deadline = time.monotonic() + READY_TIMEOUT
    for attempt in range(START_ATTEMPTS):
        port = _free_port()
        log_path = log_dir / f"uvicorn-{http}-{port}-{attempt}.log"
        command = [
            sys.executable, "-m", "uvicorn", "tests.hosts.uvicorn_app:app",
            "--host", LOOPBACK, "--port", str(port), "--http", http,
            "--lifespan", "on", "--log-level", "warning", "--no-access-log", *extra_args,
        ]  # fmt: skip
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = UvicornServer(process, port, log_path)
        if _wait_until_ready(server, deadline):
            return server
        server.stop()
        if time.monotonic() >= deadline:
            break
    raise RuntimeError(
        f"uvicorn --http {http} did not answer on {LOOPBACK} within {READY_TIMEOUT:g} s; "
        f"last log:\n{server.log()}"
    )
