"""Forms over HTTP: form-urlencoded and JSON bodies, htmx and JSON answers.

An invalid form (or a handler's own errors) is a re-render: for htmx a plain ``200`` fragment
that swaps (no ``HX-Reswap: none``, no ``component-error`` trigger), for JSON a ``422`` whose
``error`` document carries ``errors`` beside the render document (``html``, ``state``,
``snapshot``, ``component_id``, ``errors``). Validation as the person types is a ``200``.
"""

from __future__ import annotations

import re
import time
from html import unescape
from typing import Any

from component_framework import ComponentASGI
from component_framework.testing import ASGIResponse, asgi_request
from tests.forms.components import ALREADY, REQUIRED, TAKEN, WHOLE_NUMBER
from tests.forms.conftest import make_app

HTMX = {"HX-Request": "true"}
TYPED = {"name": "Ann", "age": "old", "address.city": "Oslo", "step": "x"}
ERRORS = {"step": [WHOLE_NUMBER], "age": [WHOLE_NUMBER], "address.zip": [REQUIRED]}


def _path(name: str) -> str:
    return f"/components/{name}/"


async def _mount(app: ComponentASGI, name: str) -> dict[str, Any]:
    answer = await asgi_request(app, "POST", _path(name), json={})
    assert answer.status == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _snapshot_of(fragment: str) -> str:
    found = re.search(r'hx-vals="([^"]+)"', fragment)
    assert found is not None, fragment
    return str(re.search(r'"snapshot":"([^"]+)"', unescape(found.group(1))).group(1))  # type: ignore[union-attr]


def _state(app: ComponentASGI, name: str, snapshot: str) -> dict[str, Any]:
    return app.dispatcher.signer.verify(snapshot, name).state


def _no_error_headers(answer: ASGIResponse) -> None:
    assert answer.header("hx-reswap") is None
    assert answer.header("hx-trigger") is None


async def test_an_htmx_form_post_with_invalid_fields_swaps_a_200_fragment(
    app: ComponentASGI,
) -> None:
    mounted = await _mount(app, "signup")
    form = {"event": "submit", "snapshot": mounted["snapshot"], **TYPED}

    answer = await asgi_request(app, "POST", _path("signup"), form=form, headers=HTMX)

    assert answer.status == 200
    assert answer.header("content-type") == "text/html; charset=utf-8"
    _no_error_headers(answer)
    html = answer.text
    assert f'id="{mounted["component_id"]}"' in html
    assert 'name="age" value="old" aria-invalid="true"' in html
    assert 'name="address.city" value="Oslo">' in html
    for name, messages in ERRORS.items():
        if name != "step":  # a parameter beside the form: the template shows no field for it
            assert f'<p class="error" data-for="{name}">{messages[0]}</p>' in html
    assert '<p class="count">3</p>' in html
    assert _state(app, "signup", _snapshot_of(html)) == mounted["state"]


async def test_a_json_post_with_invalid_fields_is_422_with_the_errors_and_the_render(
    app: ComponentASGI,
) -> None:
    mounted = await _mount(app, "signup")
    body = {"event": "submit", "snapshot": mounted["snapshot"], "payload": TYPED}

    answer = await asgi_request(app, "POST", _path("signup"), json=body)

    assert answer.status == 422
    _no_error_headers(answer)
    document = answer.json()
    assert list(document) == ["error", "html", "state", "snapshot", "component_id", "errors"]
    assert document["error"] == {
        "code": "invalid_form",
        "message": "3 fields need correcting.",
        "field": "step",
        "errors": ERRORS,
    }
    assert document["errors"] == ERRORS
    assert document["state"] == mounted["state"]
    assert document["component_id"] == mounted["component_id"]
    assert 'value="old"' in document["html"]
    state = _state(app, "signup", document["snapshot"])
    assert state == mounted["state"]  # no errors, no typing in the snapshot
    assert "old" not in str(state)


async def test_json_nested_objects_and_form_names_give_the_same_errors(app: ComponentASGI) -> None:
    mounted = await _mount(app, "signup")
    nested = {"name": "Ann", "age": "old", "address": {"city": "Oslo"}, "step": "x"}

    answer = await asgi_request(
        app,
        "POST",
        _path("signup"),
        json={"event": "submit", "snapshot": mounted["snapshot"], **nested},
    )

    assert answer.status == 422
    assert answer.json()["errors"] == ERRORS


async def test_a_valid_form_answers_200_without_errors(app: ComponentASGI) -> None:
    mounted = await _mount(app, "signup")
    payload = {"name": "Ann", "age": "33", "address.city": "Oslo", "address.zip": "0150"}
    body = {"event": "submit", "snapshot": mounted["snapshot"], **payload}

    answer = await asgi_request(app, "POST", _path("signup"), json=body)
    fragment = await asgi_request(app, "POST", _path("signup"), form=body, headers=HTMX)

    assert answer.status == 200
    assert "errors" not in answer.json()
    assert answer.json()["state"]["welcome"] == "Welcome, Ann from Oslo! (1)"
    assert fragment.status == 200
    assert 'value="Ann"' in fragment.text  # from the state: the typing is no longer shown
    assert 'name="age" value=""' in fragment.text


async def test_a_handler_that_adds_an_error_gets_the_same_answer_with_its_state(
    app: ComponentASGI,
) -> None:
    mounted = await _mount(app, "register")
    body = {"event": "submit", "snapshot": mounted["snapshot"], "email": TAKEN}

    answer = await asgi_request(app, "POST", _path("register"), json=body)
    fragment = await asgi_request(app, "POST", _path("register"), form=body, headers=HTMX)

    assert answer.status == 422
    document = answer.json()
    assert document["error"]["code"] == "invalid_form"
    assert document["error"]["message"] == ALREADY
    assert document["errors"] == {"email": [ALREADY]}
    assert document["state"] == {"attempts": 1, "registered": ""}
    assert _state(app, "register", document["snapshot"]) == document["state"]
    assert fragment.status == 200
    _no_error_headers(fragment)
    assert f'value="{TAKEN}" aria-invalid="true"' in fragment.text
    assert f'<p class="error" data-for="email">{ALREADY}</p>' in fragment.text


async def test_validation_as_you_type_answers_200_with_the_named_fields_errors(
    app: ComponentASGI,
) -> None:
    mounted = await _mount(app, "signup")
    form = {"event": "submit", "snapshot": mounted["snapshot"], **TYPED}

    # The runtime adds the fields that already show an error: `validate` repeated.
    body = (
        "&".join(f"{key}={value}" for key, value in {**form, "validate": "age"}.items())
        + "&validate=address.zip"
    )
    headers = {**HTMX, "content-type": "application/x-www-form-urlencoded"}
    fragment = await asgi_request(app, "POST", _path("signup"), body=body.encode(), headers=headers)
    answer = await asgi_request(
        app, "POST", _path("signup"), json={**form, "validate": ["age", "address.zip"]}
    )

    assert fragment.status == 200
    _no_error_headers(fragment)
    assert '<p class="count">2</p>' in fragment.text
    assert 'data-for="step"' not in fragment.text
    assert answer.status == 200
    assert answer.json()["errors"] == {"age": [WHOLE_NUMBER], "address.zip": [REQUIRED]}
    assert answer.json()["state"] == mounted["state"]


async def test_validating_a_right_field_answers_200_without_errors(app: ComponentASGI) -> None:
    mounted = await _mount(app, "signup")
    body = {"event": "submit", "snapshot": mounted["snapshot"], "age": "33", "validate": "age"}

    answer = await asgi_request(app, "POST", _path("signup"), json=body)

    assert answer.status == 200
    assert "errors" not in answer.json()
    assert 'name="age" value="33">' in answer.json()["html"]
    assert answer.json()["state"]["submits"] == 0


async def test_validate_of_the_wrong_type_is_a_malformed_request(app: ComponentASGI) -> None:
    mounted = await _mount(app, "signup")
    for wrong in ({"a": 1}, [1], 3):
        body = {"event": "submit", "snapshot": mounted["snapshot"], "validate": wrong}
        answer = await asgi_request(app, "POST", _path("signup"), json=body)
        assert answer.status == 400, answer.text
        assert answer.json()["error"]["code"] == "malformed_request"


async def test_validation_does_not_spend_the_handlers_declared_rate() -> None:
    app = make_app()
    mounted = await _mount(app, "limited")
    base = {"event": "save", "snapshot": mounted["snapshot"]}

    for _ in range(5):
        checked = await asgi_request(
            app, "POST", _path("limited"), json={**base, "name": "A", "validate": "name"}
        )
        assert checked.status == 200, checked.text
    saved = await asgi_request(app, "POST", _path("limited"), json={**base, "name": "Ann"})
    again = await asgi_request(app, "POST", _path("limited"), json={**base, "name": "Bob"})

    assert saved.status == 200, saved.text
    assert again.status == 429


async def test_a_forged_form_field_is_one_more_field_of_the_form(app: ComponentASGI) -> None:
    mounted = await _mount(app, "stateful")
    form = {
        "event": "save",
        "snapshot": mounted["snapshot"],
        "name": "Ann",
        "form": "<b>forged</b>",
        "errors": "forged",
    }

    answer = await asgi_request(app, "POST", _path("stateful"), form=form, headers=HTMX)

    assert answer.status == 200
    assert "<b>" not in answer.text  # shown as text, escaped
    assert "&lt;b&gt;forged&lt;/b&gt;" in answer.text
    assert "This field is not accepted here." in answer.text
    assert "state&#39;s errors" in answer.text


async def test_enormous_error_counts_are_bounded_by_max_fields() -> None:
    app = make_app(max_fields=100)
    mounted = await _mount(app, "tags")
    body = {"event": "save", "snapshot": mounted["snapshot"], "tags": ["x"] * 100_000}

    # CPU time of this process, not the wall clock: on a loaded machine (load average 15) the
    # request waits for a core for seconds without doing any more work.
    started = time.process_time()
    answer = await asgi_request(app, "POST", _path("tags"), json=body)
    spent = time.process_time() - started

    assert answer.status == 422
    document = answer.json()
    assert len(document["errors"]) == 100
    assert len(document["error"]["errors"]) == 100
    assert document["error"]["message"] == "100 fields need correcting."
    assert len(answer.body) < 20_000
    assert spent < 3  # pydantic lists all 100,000 item errors (~0.2 s); the rest stops at 100


async def test_an_htmx_answer_to_a_form_of_many_fields_sends_no_header_of_them() -> None:
    app = make_app()
    mounted = await _mount(app, "stateful")
    fields = {f"field{i}": "x" for i in range(900)}
    form = {"event": "save", "snapshot": mounted["snapshot"], "name": "Ann", **fields}

    answer = await asgi_request(app, "POST", _path("stateful"), form=form, headers=HTMX)

    assert answer.status == 200
    _no_error_headers(answer)
    assert all(len(value) < 1000 for _, value in answer.headers)
