"""Litestar integration: route handlers that mount one shared ``ComponentASGI``.

Owns the thin Litestar layer and nothing else: each endpoint is a Litestar ``asgi`` mount at
``/components`` that hands the scope to ``ComponentASGI.serve_mounted`` (Litestar has already
stripped the mount path; see HOST-FACTS.md). The three names of the guide,
``component_endpoint``, ``component_stream_endpoint`` and ``component_websocket_endpoint``, are
mounts of the same app at the same path, so listing one or all three serves every transport the
framework has; Litestar keeps one of them (the last registered wins without error).

Routing by transport happens inside ``ComponentASGI`` because Litestar ``asgi`` handlers with
path parameters fail on HTTP requests. The shared app is built on first use, so
``Component.renderer`` and ``COMPONENT_FRAMEWORK_*`` variables set after import still apply;
:func:`configure_components` replaces it with one built from explicit settings.
"""

from __future__ import annotations

from typing import Any, Final

try:
    from litestar import Litestar, asgi
    from litestar.config.app import AppConfig
    from litestar.handlers.asgi_handlers import ASGIRouteHandler
    from litestar.plugins import InitPlugin
    from litestar.types import Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - exercised by the missing-extra test
    from component_framework.adapters._extras import MissingExtraError

    raise MissingExtraError("litestar", "litestar") from exc

from component_framework.adapters.jinjax_renderer import register_component_global
from component_framework.asgi.app import ComponentASGI
from component_framework.core.access import AccessHook
from component_framework.core.config import Settings
from component_framework.core.registry import ComponentRegistry
from component_framework.core.renderer import Renderer

__all__ = [
    "COMPONENTS_PATH",
    "ComponentPlugin",
    "component_endpoint",
    "component_stream_endpoint",
    "component_websocket_endpoint",
    "configure_components",
    "create_component_routes",
    "get_components_app",
    "make_component_endpoint",
]

COMPONENTS_PATH: Final = "/components"
_shared: list[ComponentASGI] = []


def configure_components(
    *,
    registry: ComponentRegistry | None = None,
    renderer: Renderer | None = None,
    settings: Settings | None = None,
    authorize: AccessHook | None = None,
) -> ComponentASGI:
    """Replace the app behind the module-level endpoints with one built from these arguments
    (``authorize``: the app-level authorization hook, see ``core.access``)."""
    app = ComponentASGI(
        registry=registry, renderer=renderer, settings=settings, authorize=authorize
    )
    _shared[:] = [app]
    return app


def get_components_app() -> ComponentASGI:
    """The ``ComponentASGI`` the module-level endpoints mount (built on first use)."""
    if not _shared:
        _shared.append(ComponentASGI())
    return _shared[0]


def _mount(name: str, path: str, app: ComponentASGI | None) -> ASGIRouteHandler:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        target = get_components_app() if app is None else app
        await target.serve_mounted(scope, receive, send)  # type: ignore[arg-type]

    endpoint.__name__ = endpoint.__qualname__ = name
    return asgi(path, is_mount=True, copy_scope=False, name=name)(endpoint)


def make_component_endpoint(
    components: ComponentASGI | None = None, *, path: str = COMPONENTS_PATH
) -> ASGIRouteHandler:
    """A Litestar handler mounting ``components`` (by default the shared app) at ``path``;
    the app's own ``prefix`` does not matter here."""
    return _mount(f"components:{path}", path, components)


#: ``POST``/``GET /components/{name}/`` (and every other transport: see the module docstring).
component_endpoint: Final = _mount("component_endpoint", COMPONENTS_PATH, None)
#: ``GET|POST /components/{name}/stream/``: the same mount as :data:`component_endpoint`.
component_stream_endpoint: Final = _mount("component_stream_endpoint", COMPONENTS_PATH, None)
#: ``WS /components/{name}/ws/``: the same mount as :data:`component_endpoint`.
component_websocket_endpoint: Final = _mount("component_websocket_endpoint", COMPONENTS_PATH, None)


def create_component_routes(app: Litestar, components: ComponentASGI | None = None) -> None:
    """Register the component routes (``/components/{name}/`` with its ``stream/`` and ``ws/``
    sub-routes) on an existing Litestar ``app``."""
    app.register(_endpoint_for(components, COMPONENTS_PATH))


def _endpoint_for(components: ComponentASGI | None, path: str) -> Any:
    if components is None and path == COMPONENTS_PATH:
        return component_endpoint
    return make_component_endpoint(components, path=path)


class ComponentPlugin(InitPlugin):
    """``Litestar(plugins=[ComponentPlugin()])``: registers the component routes at ``path``
    and, when the app uses a Jinja template engine, the ``component()`` page global (named
    ``page_global``; ``None`` to skip) bound to the same ``components``."""

    __slots__ = ("components", "page_global", "path")

    def __init__(
        self,
        components: ComponentASGI | None = None,
        *,
        path: str = COMPONENTS_PATH,
        page_global: str | None = "component",
    ) -> None:
        self.components = components
        self.path = path
        self.page_global = page_global

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the endpoint and chain the page global into the template engine callback."""
        app_config.route_handlers.append(_endpoint_for(self.components, self.path))
        template_config = app_config.template_config
        if template_config is not None and self.page_global is not None:
            previous = template_config.engine_callback
            global_name = self.page_global

            def install(engine: Any) -> None:
                if previous is not None:
                    previous(engine)
                if hasattr(getattr(engine, "engine", None), "globals"):
                    components = self.components or get_components_app()
                    register_component_global(engine, components, name=global_name)

            template_config.engine_callback = install
        return app_config
