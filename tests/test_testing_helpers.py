"""The helpers users import from ``component_framework.testing``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from component_framework import ComponentASGI
from component_framework.core.component import Component
from component_framework.core.registry import ComponentRegistry
from component_framework.testing import (
    ComponentResponseError,
    ComponentTestClient,
    StateRenderer,
    asgi_request,
)
from tests import sample_components


def test_state_renderer_needs_no_files_and_escapes() -> None:
    html = StateRenderer().render("x.html", {"state": {"name": "<script>"}})
    assert html.startswith('<div data-template="x.html">')
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


async def test_session_tracks_state_and_snapshot_across_events(client: ComponentTestClient) -> None:
    counter = await client.mount("counter")
    first_snapshot = counter.snapshot
    await counter.send("increment")
    assert counter.state == {"count": 1}
    assert counter.snapshot != first_snapshot
    assert counter.component_id.startswith("counter-")


async def test_session_refresh_rerenders_without_running_a_handler(
    client: ComponentTestClient,
) -> None:
    counter = await client.mount("counter")
    await counter.send("increment")
    await counter.refresh()
    assert counter.state == {"count": 1}


async def test_session_raises_with_the_error_code(client: ComponentTestClient) -> None:
    typed = await client.mount("typed")
    with pytest.raises(ComponentResponseError) as raised:
        await typed.send("numbers", count="many", ratio=1)
    assert raised.value.status == 422
    assert raised.value.code == "validation_error"
    assert raised.value.message == "Enter a whole number."
    assert raised.value.response.json()["error"]["field"] == "count"


async def test_mount_params_reach_mount(client: ComponentTestClient) -> None:
    greeter = await client.mount("greeter", name="Ada")
    assert greeter.html == "<p>Hello Ada</p>"


async def test_client_defaults_to_a_default_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", sample_components.SECRET)
    client = ComponentTestClient()
    assert isinstance(client.app, ComponentASGI)
    with pytest.raises(ComponentResponseError) as raised:
        await client.mount("no-such-component")
    assert raised.value.status == 404


async def test_error_with_a_non_json_body_is_still_reported() -> None:
    async def plain_app(scope: dict[str, object], receive: object, send: object) -> None:
        await send(  # type: ignore[operator]
            {"type": "http.response.start", "status": 502, "headers": [(b"x-a", b"1")]}
        )
        await send({"type": "http.response.body", "body": b"bad gateway"})  # type: ignore[operator]

    with pytest.raises(ComponentResponseError) as raised:
        await ComponentTestClient(plain_app).mount("counter")
    assert raised.value.code == "unknown"
    assert raised.value.message == "bad gateway"


async def test_asgi_request_sends_chunked_bodies_and_query(
    components_app: ComponentASGI,
) -> None:
    response = await asgi_request(
        components_app, "POST", "/components/greeter/", json={"params": {"name": "Bo"}},
        chunk_size=3,
    )  # fmt: skip
    assert response.header("Content-Type") == "application/json"
    assert response.json()["state"]["name"] == "Bo"
    fragment = await asgi_request(
        components_app, "GET", "/components/greeter/", query={"name": "Cy"}
    )
    assert "Hello Cy" in fragment.text


async def test_asgi_request_rejects_an_app_that_never_answers() -> None:
    async def silent_app(scope: object, receive: object, send: object) -> None:
        return None

    with pytest.raises(AssertionError, match=r"expected one http\.response\.start"):
        await asgi_request(silent_app, "GET", "/")


def test_component_renders_with_a_state_renderer_directly() -> None:
    registry = ComponentRegistry()

    @registry.register("plain")
    class Plain(Component):
        template_name = "plain.html"

        def mount(self) -> None:
            self.state["a"] = 1

    component = Plain()
    component.mount()
    assert component.render(StateRenderer()).startswith('<div data-template="plain.html">')


@dataclass
class _Booking:
    guests: int
    email: str


class _BookingForm(Component):
    template_name = "booking.html"

    def mount(self) -> None:
        self.state["booked"] = 0

    def on_book(self, form: _Booking) -> None:
        if form.email.endswith("@blocked.example"):
            self.add_error("email", "This address cannot book.")
            return
        self.state["booked"] += form.guests
        self.trigger("booked", {"guests": form.guests})


@pytest.fixture
def booking_client() -> ComponentTestClient:
    registry = ComponentRegistry()
    registry.register("booking")(_BookingForm)
    app = ComponentASGI(
        registry=registry, renderer=StateRenderer(), settings=sample_components.SETTINGS
    )
    return ComponentTestClient(app)


async def test_a_form_that_does_not_bind_is_a_render_whose_errors_the_session_shows(
    booking_client: ComponentTestClient,
) -> None:
    booking = await booking_client.mount("booking")

    await booking.send("book", guests="many", email="")

    assert booking.errors == {"guests": ["Enter a whole number."]}
    assert booking.state == {"booked": 0}  # the handler did not run
    await booking.send("book", guests="1", email="ann@example.com")  # the session goes on
    assert booking.state == {"booked": 1}


async def test_a_handlers_own_errors_reach_the_session_and_clear_on_the_next_render(
    booking_client: ComponentTestClient,
) -> None:
    booking = await booking_client.mount("booking")

    await booking.send("book", guests="2", email="ann@blocked.example")
    assert booking.errors == {"email": ["This address cannot book."]}
    assert booking.effects == {}

    await booking.send("book", guests="2", email="ann@example.com")
    assert booking.errors == {}
    assert booking.state == {"booked": 2}
    assert booking.effects == {"trigger": {"booked": {"guests": 2}}}
