"""The components of the form integration tests: one registry, in-memory templates.

- ``signup``: an HTTP form whose handler takes a dataclass (``Signup``: name, age, an address
  with city and zip, a newsletter box) beside a plain ``step`` parameter; the template shows
  each field's value from ``form`` (else the state's) and its first message.
- ``register``: a handler that checks the address itself and reports with ``add_error``,
  after changing the state (``attempts``), which is kept.
- ``tags``: a pydantic model with ``list[int]``, for enormous error counts.
- ``plain``: a handler without a form parameter (``age: int``), for validation of a plain field.
- ``secret``: a form handler that only members may run (``authorize``).
- ``streamed``: a ``StreamingComponent`` whose generator handler takes a form (SSE).
- ``stateful``: a component with state keys named ``errors`` and ``form``.
- ``limited``: a form handler with a declared rate (``@rate_limit``), which validation as the
  person types does not spend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pydantic

from component_framework.adapters.jinjax_renderer import Jinja2Renderer
from component_framework.core.access import AccessContext
from component_framework.core.component import Component, StreamingComponent, rate_limit
from component_framework.core.registry import ComponentRegistry

__all__ = ["REQUIRED", "WHOLE_NUMBER", "registry", "renderer"]

REQUIRED = "This field is required."
WHOLE_NUMBER = "Enter a whole number."

FIELD = (
    '<label>{label} <input name="{name}" value="{{{{ form.get("{name}", {default}) }}}}"'
    '{{% if errors.get("{name}") %}} aria-invalid="true"{{% endif %}}></label>'
    '{{% for message in errors.get("{name}", []) %}}'
    '<p class="error" data-for="{name}">{{{{ message }}}}</p>{{% endfor %}}'
)


def _field(name: str, default: str = "''") -> str:
    return FIELD.format(label=name, name=name, default=default)


SIGNUP = (
    '<form class="signup" hx-post="/components/signup/" hx-vals=\'{"event": "submit"}\'>'
    + _field("name", "state.name")
    + _field("age")
    + _field("address.city")
    + _field("address.zip")
    + '{% for message in errors.get("", []) %}<p class="error" data-for="">{{ message }}</p>'
    "{% endfor %}"
    '<p class="welcome">{{ welcome }}</p><p class="count">{{ errors | length }}</p>'
    "</form>"
)

TEMPLATES = {
    "signup.html": SIGNUP,
    "register.html": (
        '<div class="register">' + _field("email") + '<p class="attempts">{{ attempts }}</p>'
        '<p class="registered">{{ registered }}</p></div>'
    ),
    "tags.html": '<div class="tags">{{ errors | length }}</div>',
    "plain.html": '<div class="plain">' + _field("age") + "</div>",
    "secret.html": '<div class="secret">' + _field("name") + "</div>",
    "limited.html": '<div class="limited">' + _field("name") + "</div>",
    "streamed.html": '<div class="streamed">' + _field("name") + "<p>{{ done }}</p></div>",
    "stateful.html": (
        '<div class="stateful"><p class="state-errors">{{ state.errors }}</p>'
        '<p class="errors">{{ errors }}</p><p class="form">{{ form }}</p>'
        '<p class="state-form">{{ state.form }}</p></div>'
    ),
}

registry = ComponentRegistry()
renderer = Jinja2Renderer.from_strings(TEMPLATES)


@dataclass
class Address:
    city: str
    zip: int


@dataclass
class Signup:
    name: str
    age: int
    address: Address
    newsletter: bool = False
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.age < 0:
            raise ValueError("Nobody is younger than zero.")


@registry.register("signup")
class SignupComponent(Component):
    template_name = "signup.html"

    def mount(self) -> None:
        self.state.update({"name": "", "welcome": "", "submits": 0})

    def on_submit(self, form: Signup, step: int = 1) -> None:
        self.state["submits"] += 1
        self.state["name"] = form.name
        self.state["welcome"] = f"Welcome, {form.name} from {form.address.city}! ({step})"


TAKEN = "taken@example.com"
ALREADY = "This address is already registered."


@registry.register("register")
class RegisterComponent(Component):
    template_name = "register.html"

    def mount(self) -> None:
        self.state.update({"attempts": 0, "registered": ""})

    def on_submit(self, email: str) -> None:
        self.state["attempts"] += 1  # kept: add_error undoes nothing
        if email == TAKEN:
            self.add_error("email", ALREADY)
            return
        self.state["registered"] = email

    def on_poke(self) -> None:
        """An event without a form: the errors of the last submit are gone after it."""


class Tags(pydantic.BaseModel):
    tags: list[int]


@registry.register("tags")
class TagsComponent(Component):
    template_name = "tags.html"

    def on_save(self, form: Tags) -> None:
        self.state["saved"] = len(form.tags)


@registry.register("plain")
class PlainComponent(Component):
    template_name = "plain.html"

    def on_set(self, age: int) -> None:
        self.state["age"] = age


@dataclass
class Name:
    name: str


@registry.register("secret")
class SecretComponent(Component):
    template_name = "secret.html"

    def authorize(self, context: AccessContext, event: str) -> bool:
        headers = dict(context.scope.get("headers") or ())
        return event == "mount" or headers.get(b"x-member") == b"yes"

    def on_save(self, form: Name) -> None:
        self.state["name"] = form.name


@registry.register("streamed")
class StreamedComponent(StreamingComponent):
    template_name = "streamed.html"

    def mount(self) -> None:
        self.state["done"] = ""

    async def on_greet(self, form: Name) -> AsyncIterator[None]:
        self.state["done"] = f"hello {form.name}"
        yield


@registry.register("stateful")
class StatefulComponent(Component):
    template_name = "stateful.html"

    def mount(self) -> None:
        self.state.update({"errors": "state's errors", "form": "state's form"})

    def on_save(self, form: Name) -> None:
        self.state["saved"] = form.name

    def on_echo(self, **fields: Any) -> None:
        """Takes anything: a forged ``errors`` or ``form`` field is just a field."""
        self.state["echoed"] = sorted(fields)


@registry.register("limited")
class LimitedComponent(Component):
    template_name = "limited.html"

    @rate_limit(per_second=0.01, burst=1)
    def on_save(self, form: Name) -> None:
        self.state["name"] = form.name
