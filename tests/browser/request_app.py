"""The apps the request and effects browser tests drive (``tests/browser/test_request_effects.py``).

The same components and pages on two hosts, each behind real session authentication:

- ``starlette_app``: ``Mount("/components", ComponentASGI(...))`` behind Starlette's
  ``SessionMiddleware`` and ``AuthenticationMiddleware`` (a backend reading the session);
- ``litestar_app``: ``create_component_routes`` on a Litestar app with its cookie sessions
  (``CookieBackendConfig(...).middleware``) and an ``AbstractAuthenticationMiddleware``.

Both authenticate as the request tests' hosts do (their ``SessionBackend`` and
``SessionAuthentication``, from ``tests/request/hosts.py``).

Pages (every one loads ``component_scripts()``, ``/listener.js`` and a strict
Content-Security-Policy header; components rendered by the ``component()`` page global, so with
the page's request):

- ``/greeting``: a sign-in form (``POST /login``, a ``name`` field: the session cookie is set
  and the browser is sent back here with 303), a sign-out form (``POST /logout``), and the
  ``greeting`` component twice: over HTTP (``#greeting-http``) and inside a ``ws-connect`` box
  (``#greeting-ws``). It says who mounted it and who sends each event (``self.request.user``);
- ``/shop/http`` and ``/shop/ws`` (``?page=N`` and ``?sort=S`` are echoed in ``.query``): the
  ``shop`` component, whose buttons ask for every effect: ``add`` (``trigger("cart-changed",
  {"items": n})``), ``page`` (``push_url``), ``sort`` (``replace_url``), ``checkout``
  (``redirect("/done")``) and ``pay_elsewhere`` (adds 100 items, then ``redirect`` to a foreign
  origin: refused, nothing of it applied);
- ``/done``: where a checkout ends.

``/listener.js`` records every ``cart-changed`` event the document receives (its target's id and
its detail) in ``window.__heard``, and shows the last one in ``#heard``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import jinja2
from litestar import Litestar, get, post
from litestar import Request as LitestarRequest
from litestar.enums import RequestEncodingType
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import Body
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.response import Response as LitestarResponse
from litestar.template.config import TemplateConfig
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.adapters.litestar import create_component_routes
from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry
from tests.request.hosts import SessionAuthentication, SessionBackend

__all__ = ["CSP", "FOREIGN", "litestar_app", "starlette_app"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent.parent
NODE_MODULES: Final = REPO_ROOT / "node_modules"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src data:; form-action 'self'"
)
KEY: Final = "browser-request-effects-key-0123456789abcdef"
SESSION_SECRET: Final = "browser-request-session-secret-0123456789"
#: Where ``pay_elsewhere`` tries to send the browser: another site, not in allowed_origins.
FOREIGN: Final = "https://pay.evil.example/session/7"

COMPONENT_TEMPLATES: Final = {
    "greeting.html": (
        '<div class="greeting">'
        '<p class="hello">Hello {{ name or "stranger" }}</p>'
        '<p class="asker">this event: {{ asker or "nobody" }} over {{ request.transport }}</p>'
        '<p class="visits">visits: {{ visits }}</p>'
        "{% if via == 'ws' %}"
        '<button class="visit" ws-send hx-vals=\'{"event": "visit"}\'>Visit</button>'
        "{% else %}"
        '<button class="visit" hx-post="/components/greeting/" hx-vals=\'{"event": "visit"}\'>'
        "Visit</button>"
        "{% endif %}"
        "</div>"
    ),
    "shop.html": (
        '{%- macro action(event, label, vals="") -%}'
        "{% if via == 'ws' %}"
        '<button class="{{ event }}" ws-send hx-vals=\'{"event": "{{ event }}"{{ vals }}}\'>'
        "{{ label }}</button>"
        "{% else %}"
        '<button class="{{ event }}" hx-post="/components/shop/" '
        'hx-vals=\'{"event": "{{ event }}"{{ vals }}}\'>{{ label }}</button>'
        "{% endif %}"
        "{%- endmacro -%}"
        '<div class="shop">'
        '<p class="item-count">items: {{ items }}</p>'
        '<p class="page-number">page: {{ page }}</p>'
        '{{ action("add", "Add") }}'
        '{{ action("page", "Next page", \', "page": \' ~ (page + 1)) }}'
        '{{ action("sort", "Sort by price", \', "order": "price"\') }}'
        '{{ action("checkout", "Checkout") }}'
        '{{ action("pay_elsewhere", "Pay elsewhere") }}'
        "</div>"
    ),
}

PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="icon" href="data:,">
<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>
{{ component_scripts() }}
<script src="/listener.js"></script>
</head><body hx-ext="component-framework">
{{ body }}
</body></html>
"""
GREETING_BODY: Final = """<h1>Greeting</h1>
<form id="login" method="post" action="/login">
<input name="name" autocomplete="off"><button type="submit">Sign in</button></form>
<form id="logout" method="post" action="/logout"><button type="submit">Sign out</button></form>
<section id="greeting-http">{{ component("greeting", via="http") }}</section>
<section id="greeting-ws" hx-ext="ws"
 ws-connect="/components/greeting/ws/?format=html&target=greeting-ws">
{{ component("greeting", via="ws") }}</section>
"""
SHOP_BODY: Final = """<h1>Shop</h1>
<p class="query">page={{ query_page }} sort={{ query_sort }}</p>
<p id="heard"></p>
{% if via == "ws" %}<section id="shop-box" hx-ext="ws"
 ws-connect="/components/shop/ws/?format=html&target=shop-box">
{{ component("shop", via="ws") }}</section>
{% else %}<section id="shop-box">{{ component("shop", via="http") }}</section>{% endif %}
"""
DONE_BODY: Final = '<h1 id="done">Thank you for your order</h1>'
LISTENER: Final = """
window.__heard = [];
document.addEventListener("cart-changed", (event) => {
  const heard = { target: event.target.id, detail: event.detail };
  window.__heard.push(heard);
  const shown = document.getElementById("heard");
  if (shown) { shown.textContent = "heard " + JSON.stringify(event.detail.items); }
});
"""

registry = ComponentRegistry()


def user_name(request: AccessContext) -> str | None:
    """The signed-in user's name, from what either host's middleware put in the scope
    (Starlette: an ``UnauthenticatedUser`` when nobody is; Litestar here: ``None``)."""
    user = request.user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name: str = user.display_name
    return name


@registry.register("greeting")
class GreetingComponent(Component):
    """Says who mounted it and who sends each event."""

    template_name = "greeting.html"

    def mount(self, via: str = "http") -> None:
        self.state.update({"name": user_name(self.request), "visits": 0, "via": via})

    def on_visit(self) -> None:
        self.state["visits"] += 1

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["asker"] = user_name(self.request)
        return context


@registry.register("shop")
class ShopComponent(Component):
    """Every effect, one button each."""

    template_name = "shop.html"

    def mount(self, via: str = "http") -> None:
        self.state.update({"items": 0, "page": 1, "via": via})

    def on_add(self) -> None:
        self.state["items"] += 1
        self.trigger("cart-changed", {"items": self.state["items"]})

    def on_page(self, page: int) -> None:
        self.state["page"] = page
        self.push_url(f"/shop/{self.state['via']}?page={page}")

    def on_sort(self, order: str) -> None:
        self.replace_url(f"/shop/{self.state['via']}?sort={order}")

    def on_checkout(self) -> None:
        self.redirect("/done")

    def on_pay_elsewhere(self) -> None:
        self.state["items"] += 100
        self.redirect(FOREIGN)


renderer = Jinja2Renderer.from_strings(COMPONENT_TEMPLATES)


def _components() -> ComponentASGI:
    return ComponentASGI(
        registry=registry,
        renderer=renderer,
        settings=Settings(secret_keys=(KEY,), vendor_directory=NODE_MODULES),
        hub=Hub(),
    )


def _page_context(path: str, query: dict[str, str]) -> dict[str, Any]:
    """What a page's body is: its title and the values its body template reads."""
    if path == "/greeting":
        return {"title": "greeting", "body_template": GREETING_BODY}
    if path == "/done":
        return {"title": "done", "body_template": DONE_BODY}
    via = path.rsplit("/", 1)[-1]
    return {
        "title": f"shop {via}",
        "body_template": SHOP_BODY,
        "via": via,
        "query_page": query.get("page", "-"),
        "query_sort": query.get("sort", "-"),
    }


# -- Starlette: SessionMiddleware + AuthenticationMiddleware around a Mount --------------------


starlette_components = _components()
starlette_environment = jinja2.Environment(autoescape=True)
register_component_global(starlette_environment, starlette_components)


def _starlette_render(request: Request, path: str) -> HTMLResponse:
    context = _page_context(path, dict(request.query_params))
    template = "{% set body %}" + context.pop("body_template") + "{% endset %}" + PAGE
    # The page's request in the context: component() mounts with it (transport "page").
    page = starlette_environment.from_string(template).render(request=request, **context)
    return HTMLResponse(page, headers={"content-security-policy": CSP})


async def _starlette_page(request: Request) -> HTMLResponse:
    return _starlette_render(request, request.url.path)


async def _starlette_login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name", "")).strip()
    if name:
        request.session["user"] = name
    return RedirectResponse("/greeting", status_code=303)


async def _starlette_logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/greeting", status_code=303)


async def _listener(request: Request) -> Response:
    return Response(LISTENER, media_type="text/javascript")


starlette_app = Starlette(
    routes=[
        Route("/greeting", _starlette_page),
        Route("/shop/http", _starlette_page),
        Route("/shop/ws", _starlette_page),
        Route("/done", _starlette_page),
        Route("/login", _starlette_login, methods=["POST"]),
        Route("/logout", _starlette_logout, methods=["POST"]),
        Route("/listener.js", _listener),
        Mount("/components", app=starlette_components),
    ],
    middleware=[
        # Outermost first: the session is loaded before authentication reads it.
        Middleware(SessionMiddleware, secret_key=SESSION_SECRET),
        Middleware(AuthenticationMiddleware, backend=SessionBackend()),
    ],
)


# -- Litestar: cookie sessions + an authentication middleware, create_component_routes --------


def _litestar_render(request: LitestarRequest[Any, Any, Any]) -> Template:
    context = _page_context(request.url.path, dict(request.query_params))
    template = "{% set body %}" + context.pop("body_template") + "{% endset %}" + PAGE
    return Template(
        template_str=template, context=context, headers={"content-security-policy": CSP}
    )


@get(["/greeting", "/shop/http", "/shop/ws", "/done"], sync_to_thread=False)
def _litestar_page(request: LitestarRequest[Any, Any, Any]) -> Template:
    return _litestar_render(request)


@post("/login", sync_to_thread=False)
def _litestar_login(
    request: LitestarRequest[Any, Any, Any],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    name = data.get("name", "").strip()
    if name:
        request.set_session({"user": name})
    return Redirect("/greeting", status_code=303)


@post("/logout", sync_to_thread=False)
def _litestar_logout(request: LitestarRequest[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/greeting", status_code=303)


@get("/listener.js", sync_to_thread=False)
def _litestar_listener() -> LitestarResponse[str]:
    return LitestarResponse(LISTENER, media_type="text/javascript")


litestar_components = _components()
_session = CookieBackendConfig(secret=SESSION_SECRET.encode()[:32])
litestar_app = Litestar(
    route_handlers=[_litestar_page, _litestar_login, _litestar_logout, _litestar_listener],
    middleware=[_session.middleware, DefineMiddleware(SessionAuthentication)],
    template_config=TemplateConfig(
        directory=REPO_ROOT / "tests" / "browser",
        engine=JinjaTemplateEngine,
        engine_callback=lambda engine: register_component_global(engine, litestar_components),
    ),
)
create_component_routes(litestar_app, litestar_components)
