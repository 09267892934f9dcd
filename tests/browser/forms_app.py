"""The app the forms browser tests drive (``tests/browser/test_forms.py``).

``app`` is :class:`_SlowChecks` around ``components = ComponentASGI(app=inner)`` (middleware
mode, its own registry and hub; htmx and its extensions from ``node_modules`` through
``Settings.vendor_directory``; the key from ``FORMS_APP_KEY``, so a restarted server may keep
or change it). Every page loads ``components.script_tags()``, has ``<body
hx-ext="component-framework">`` and a strict Content-Security-Policy header.

Pages (``inner``, a Starlette app):

- ``/http``: the ``account`` component, an HTTP form of a pydantic model (name, email, age,
  bio), each text field checked as the person types (its own ``hx-post`` naming it in
  ``validate``, ``hx-sync="closest form:abort"``);
- ``/ws``: the ``note`` component inside ``#note-box`` (``ws-connect`` with ``format=html`` and
  ``target=note-box``): a ``ws-send`` form (title, body, kind, urgent) whose title is checked
  as the person types over the socket, and the list of saved notes.

Test routes: ``POST /test/close-sockets`` (close every socket with 1012; reconnects are
accepted), ``POST /test/slow-checks?seconds=S`` (from now on every HTTP validation request
waits ``S`` seconds before it is served: typing goes on meanwhile).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Final, Literal

import pydantic
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from component_framework import ComponentASGI
from component_framework.adapters.jinjax_renderer import (
    Jinja2Renderer,
    register_component_global,
)
from component_framework.core.component import Component
from component_framework.core.config import Settings
from component_framework.core.hub import Hub
from component_framework.core.registry import ComponentRegistry

__all__ = ["CSP", "DEFAULT_KEY", "TAKEN", "app", "components"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent.parent
NODE_MODULES: Final = REPO_ROOT / "node_modules"
CSP: Final = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'"
DEFAULT_KEY: Final = "browser-forms-test-key-0123456789abcdef"
TAKEN: Final = "This title is already used."

FIELD: Final = (
    '{%- macro field(name, label, trigger="input delay:300ms", textarea=False) -%}'
    '{%- set id = component_id ~ "-" ~ name -%}'
    '{%- set value = form.get(name, state.saved.get(name, "")) -%}'
    '{%- set live %} hx-post="/components/{{ component_name }}/" hx-trigger="{{ trigger }}"'
    ' hx-sync="closest form:abort" hx-vals=\'{"event": "save", "validate": "{{ name }}"}\''
    '{% if errors.get(name) %} aria-invalid="true"{% endif %}{% endset -%}'
    '<label for="{{ id }}">{{ label }}</label>'
    '{%- if textarea %}<textarea id="{{ id }}" name="{{ name }}"{{ live }}>{{ value }}</textarea>'
    '{%- else %}<input id="{{ id }}" name="{{ name }}" value="{{ value }}" autocomplete="off"'
    "{{ live }}>{%- endif %}"
    '{%- for message in errors.get(name, []) %}<p class="error" data-for="{{ name }}">'
    "{{ message }}</p>{% endfor %}"
    "{%- endmacro -%}"
)

TEMPLATES: Final = {
    "account.html": FIELD
    + (
        '<div class="account">'
        '<form hx-post="/components/account/" hx-vals=\'{"event": "save"}\' novalidate>'
        '{{ field("name", "Name") }}{{ field("email", "Email") }}{{ field("age", "Age") }}'
        '{{ field("bio", "Bio", textarea=True) }}'
        '<button type="submit">Save</button></form>'
        '<p class="count">{{ errors | length }}</p>'
        '<p class="saves">saves: {{ saves }}</p>'
        "</div>"
    ),
    "note.html": (
        '<div class="note">'
        '<form class="note-form" ws-send hx-vals=\'{"event": "save"}\'>'
        '<input name="title" autocomplete="off" value="{{ form.get("title", "") }}" ws-send '
        'hx-trigger="input delay:300ms" hx-vals=\'{"event": "save", "validate": "title"}\''
        '{% if errors.title %} aria-invalid="true"{% endif %}>'
        '{% for message in errors.get("title", []) %}'
        '<p class="error" data-for="title">{{ message }}</p>{% endfor %}'
        '<textarea name="body">{{ form.get("body", "") }}</textarea>'
        '<select name="kind">{% for kind in ("idea", "task", "bug") %}'
        '<option value="{{ kind }}"{% if form.get("kind", "idea") == kind %} selected{% endif %}>'
        "{{ kind }}</option>{% endfor %}</select>"
        '<label><input type="checkbox" name="urgent"{% if form.get("urgent") %} checked{% endif %}>'
        " urgent</label>"
        '<button type="submit">Save</button></form>'
        '<ul class="notes">{% for note in notes %}<li class="saved-note">{{ note.title }} / '
        "{{ note.body }} / {{ note.kind }} / {{ 'urgent' if note.urgent else 'calm' }}</li>"
        "{% endfor %}</ul>"
        "</div>"
    ),
    "page.html": (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8"><title>forms {{ title }}</title>\n'
        '<meta name="htmx-config" '
        'content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>\n'
        "{{ scripts | safe }}\n"
        '</head><body hx-ext="component-framework">\n'
        "{{ body | safe }}\n"
        "</body></html>\n"
    ),
}

registry = ComponentRegistry()
renderer = Jinja2Renderer.from_strings(TEMPLATES)


class Account(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=2, max_length=30)
    email: str = pydantic.Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    age: int = pydantic.Field(ge=18, le=120)
    bio: str = pydantic.Field(default="", max_length=40)


@registry.register("account")
class AccountComponent(Component):
    template_name = "account.html"

    def mount(self) -> None:
        self.state.update({"saved": {}, "saves": 0})

    def on_save(self, account: Account) -> None:
        self.state["saved"] = account.model_dump()
        self.state["saves"] += 1


class Note(pydantic.BaseModel):
    title: str = pydantic.Field(min_length=3, max_length=40)
    body: str = pydantic.Field(default="", max_length=200)
    kind: Literal["idea", "task", "bug"] = "idea"
    urgent: bool = False


@registry.register("note")
class NoteComponent(Component):
    template_name = "note.html"

    def mount(self) -> None:
        self.state["notes"] = []

    def on_save(self, note: Note) -> None:
        if any(saved["title"] == note.title for saved in self.state["notes"]):
            self.add_error("title", TAKEN)
            return
        self.state["notes"] = [*self.state["notes"], note.model_dump()]


def _page(title: str, body: str) -> HTMLResponse:
    html = renderer.environment.get_template("page.html").render(
        title=title, scripts=components.script_tags(), body=body
    )
    return HTMLResponse(html, headers={"content-security-policy": CSP})


def _component(name: str) -> str:
    return str(renderer.environment.globals["component"](name))


async def http_page(request: Request) -> HTMLResponse:
    return _page("http", _component("account"))


async def ws_page(request: Request) -> HTMLResponse:
    body = (
        '<div id="note-box" hx-ext="ws" ws-connect="/components/note/ws/?format=html&target='
        'note-box">' + _component("note") + "</div>"
    )
    return _page("ws", body)


async def favicon(request: Request) -> Response:
    return Response(status_code=204)


async def close_sockets(request: Request) -> JSONResponse:
    count = len(components.sockets)
    components.sockets.close_all()
    components.sockets.closing = False  # only the connections go: reconnects are accepted
    return JSONResponse({"closed": count})


async def slow_checks(request: Request) -> JSONResponse:
    SLOW_CHECKS[0] = float(request.query_params.get("seconds", "0"))
    return JSONResponse({"ok": True})


#: Seconds every HTTP validation request waits before it is served.
SLOW_CHECKS: Final = [0.0]

inner = Starlette(
    routes=[
        Route("/http", http_page),
        Route("/ws", ws_page),
        Route("/favicon.ico", favicon),
        Route("/test/close-sockets", close_sockets, methods=["POST"]),
        Route("/test/slow-checks", slow_checks, methods=["POST"]),
    ]
)
components = ComponentASGI(
    app=inner,
    registry=registry,
    renderer=renderer,
    settings=Settings(
        secret_keys=(os.environ.get("FORMS_APP_KEY", DEFAULT_KEY),),
        vendor_directory=NODE_MODULES,
    ),
    hub=Hub(),
)
register_component_global(renderer.environment, components)


class _SlowChecks:
    """Holds back HTTP validation requests by ``SLOW_CHECKS[0]`` seconds (the body is read
    first, then replayed), as a slow network or server would."""

    def __init__(self, app: ComponentASGI) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not SLOW_CHECKS[0]:
            await self.app(scope, receive, send)
            return
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if b"validate=" in body:
            await asyncio.sleep(SLOW_CHECKS[0])

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


app = _SlowChecks(components)
