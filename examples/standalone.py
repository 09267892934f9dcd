"""The showcase with no web framework at all: ``ComponentASGI`` is the whole application.

Run it with ``python examples/standalone.py`` or ``uvicorn examples.standalone:app``.
``ComponentASGI`` serves ``/components/...`` (and the client runtime and htmx under
``/components/_static/``) and hands everything else to :func:`pages`, a few lines of raw ASGI
that serve the index page, the shop (``examples.shop``, without sign-in: there is no session
middleware here) and the stylesheet, and run the ticker's feed in the lifespan.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # ``python examples/...``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.core.access import AccessContext
from examples.shop import shop_page_context
from examples.showcase import (  # importing it registers the components
    CONTENT_SECURITY_POLICY,
    STATIC,
    TEMPLATES,
    example_settings,
    ticker_feed,
)

renderer = Jinja2Renderer(TEMPLATES)


class PageRequest:
    """The page's request as the ``component()`` global reads it (its ``scope``), so the
    shop's components mount with the page's query (URL state)."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope


def _page(scope: dict[str, Any]) -> str:
    if scope["path"] == "/":
        return renderer.environment.get_template("index.html").render()
    context = shop_page_context(AccessContext("page", scope), sessions=False)
    template = renderer.environment.get_template("shop.html")
    return template.render(request=PageRequest(scope), **context)


async def pages(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Raw ASGI for everything outside ``/components``: the page, the stylesheet, the lifespan."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await ticker_feed.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await ticker_feed.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] in ("/", "/shop"):
        body = _page(scope).encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        ]
        status = 200
    elif scope["path"] == "/static/showcase.css":
        body = (STATIC / "showcase.css").read_bytes()
        headers = [(b"content-type", b"text/css; charset=utf-8")]
        status = 200
    else:
        body, headers, status = b"not found", [(b"content-type", b"text/plain")], 404
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = ComponentASGI(app=pages, renderer=renderer, settings=example_settings())
register_component_global(renderer.environment, app)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
