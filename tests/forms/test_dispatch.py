"""An invalid form, a handler's own errors and validation as the person types, through the
dispatcher (no transport): the handler does not run, the component gets the errors, the
template ``errors`` and ``form`` (as typed), and the snapshot stays free of both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from component_framework.core.access import AccessContext
from component_framework.core.binding import Binder
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher, DispatchResult
from component_framework.errors import Forbidden, FormInvalid, PayloadValidationError
from tests.forms.components import (
    ALREADY,
    REQUIRED,
    TAKEN,
    WHOLE_NUMBER,
    registry,
    renderer,
)
from tests.sample_components import SECRET

TYPED = {"name": "Ann", "age": "old", "address.city": "Oslo", "step": "x"}


def _mount(dispatcher: Dispatcher, name: str) -> DispatchResult:
    return dispatcher.dispatch(ComponentCall(name))


def _submit(
    dispatcher: Dispatcher,
    mounted: DispatchResult,
    event: str,
    payload: dict[str, Any],
    **more: Any,
) -> DispatchResult:
    call = ComponentCall(mounted.component_name, event, payload, snapshot=mounted.snapshot, **more)
    return dispatcher.dispatch(call)


def _snapshot_state(dispatcher: Dispatcher, result: DispatchResult) -> dict[str, Any]:
    return dispatcher.signer.verify(result.snapshot, result.component_name).state


def test_an_invalid_form_is_rendered_with_every_error_and_the_typing_instead_of_handled(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "signup")

    result = _submit(dispatcher, mounted, "submit", TYPED)

    assert result.errors == {
        "step": [WHOLE_NUMBER],
        "age": [WHOLE_NUMBER],
        "address.zip": [REQUIRED],
    }
    assert result.component.form == TYPED
    assert result.state == mounted.state  # the handler did not run
    assert result.state["submits"] == 0
    assert 'value="old"' in result.html
    assert '<p class="error" data-for="age">Enter a whole number.</p>' in result.html
    assert '<p class="count">3</p>' in result.html
    assert result.refusal() is not None
    assert result.refusal().errors == result.errors  # type: ignore[union-attr]
    assert result.to_json()["errors"] == result.errors


def test_the_snapshot_after_an_invalid_form_holds_neither_errors_nor_typing(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "signup")

    result = _submit(dispatcher, mounted, "submit", TYPED)

    state = _snapshot_state(dispatcher, result)
    assert state == {"name": "", "welcome": "", "submits": 0}
    assert "old" not in result.snapshot
    again = dispatcher.dispatch(ComponentCall("signup", snapshot=result.snapshot))
    assert again.errors == {}
    assert again.component.form == {}
    assert '<p class="count">0</p>' in again.html


def test_a_valid_form_runs_the_handler_and_the_template_gets_no_typing(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "signup")
    payload = {"name": "Ann", "age": "33", "address.city": "Oslo", "address.zip": "0150"}

    result = _submit(dispatcher, mounted, "submit", payload)

    assert result.errors == {}
    assert result.component.form == {}
    assert result.refusal() is None
    assert "errors" not in result.to_json()
    assert result.state["welcome"] == "Welcome, Ann from Oslo! (1)"
    assert result.component.submitted == payload


def test_a_whole_form_error_is_under_the_empty_name(dispatcher: Dispatcher) -> None:
    mounted = _mount(dispatcher, "signup")
    payload = {"name": "Ann", "age": "-3", "address.city": "Oslo", "address.zip": "1"}

    result = _submit(dispatcher, mounted, "submit", payload)

    assert result.errors == {"": ["Nobody is younger than zero."]}
    assert '<p class="error" data-for="">Nobody is younger than zero.</p>' in result.html


async def test_an_async_dispatch_renders_the_errors_the_same_way(dispatcher: Dispatcher) -> None:
    mounted = _mount(dispatcher, "signup")
    call = ComponentCall("signup", "submit", TYPED, snapshot=mounted.snapshot)

    result = await dispatcher.async_dispatch(call)

    assert set(result.errors) == {"step", "age", "address.zip"}


def test_a_handler_that_adds_errors_is_re_rendered_and_keeps_its_changes(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "register")

    result = _submit(dispatcher, mounted, "submit", {"email": TAKEN})

    assert result.errors == {"email": [ALREADY]}
    assert result.component.form == {"email": TAKEN}
    assert f'value="{TAKEN}"' in result.html
    assert result.state == {"attempts": 1, "registered": ""}  # kept: add_error undoes nothing
    assert _snapshot_state(dispatcher, result) == {"attempts": 1, "registered": ""}
    refusal = result.refusal()
    assert isinstance(refusal, FormInvalid)
    assert refusal.errors == {"email": [ALREADY]}


def test_validation_shows_only_the_named_fields_and_runs_no_handler(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "signup")

    result = _submit(dispatcher, mounted, "submit", TYPED, validate=("age",))

    assert result.errors == {"age": [WHOLE_NUMBER]}
    assert result.component.validating == ("age",)
    assert result.component.form == TYPED
    assert result.refusal() is None  # a check asked for and answered, not a refused submit
    assert result.state == mounted.state


def test_validating_a_valid_field_clears_its_message_and_keeps_the_typing(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "signup")
    payload = {"name": "Ann", "age": "33", "address.city": "Oslo"}

    result = _submit(dispatcher, mounted, "submit", payload, validate=("age",))

    assert result.errors == {}
    assert result.component.form == payload  # still shown as typed while validating
    assert 'value="33"' in result.html
    assert result.state["submits"] == 0  # even a fully valid form is only checked


def test_validating_a_group_covers_the_fields_inside_it(dispatcher: Dispatcher) -> None:
    mounted = _mount(dispatcher, "signup")

    result = _submit(dispatcher, mounted, "submit", TYPED, validate=("address", "name"))

    assert result.errors == {"address.zip": [REQUIRED]}


def test_validating_a_plain_parameter(dispatcher: Dispatcher) -> None:
    mounted = _mount(dispatcher, "plain")

    wrong = _submit(dispatcher, mounted, "set", {"age": "x"}, validate=("age",))
    other = _submit(dispatcher, mounted, "set", {"age": "x"}, validate=("name",))
    right = _submit(dispatcher, mounted, "set", {"age": "7"}, validate=("age",))

    assert wrong.errors == {"age": [WHOLE_NUMBER]}
    assert other.errors == {}
    assert right.errors == {}
    assert "age" not in right.state


def test_a_plain_parameter_that_does_not_fit_is_still_an_error_answer(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "plain")
    with pytest.raises(PayloadValidationError) as caught:
        _submit(dispatcher, mounted, "set", {"age": "x"})
    assert not isinstance(caught.value, FormInvalid)


def test_validate_needs_an_event(dispatcher: Dispatcher) -> None:
    with pytest.raises(PayloadValidationError) as caught:
        dispatcher.dispatch(ComponentCall("signup", validate=("name",)))
    assert caught.value.field == "validate"


def test_errors_of_a_form_are_bounded_by_max_fields() -> None:
    dispatcher = Dispatcher(registry, Settings(secret_keys=(SECRET,), max_fields=50), renderer)
    mounted = _mount(dispatcher, "tags")

    result = _submit(dispatcher, mounted, "save", {"tags": ["x"] * 5000})

    assert len(result.errors) == 50
    assert result.errors["tags[0]"] == [WHOLE_NUMBER]
    assert '<div class="tags">50</div>' in result.html


def test_the_event_is_authorized_before_an_invalid_form_is_rendered(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "secret")
    outsider = AccessContext("http", {"type": "http", "headers": []}, "10.0.0.1")
    member = AccessContext("http", {"type": "http", "headers": [(b"x-member", b"yes")]}, "10.0.0.2")

    for validate in ((), ("name",)):
        call = ComponentCall("secret", "save", {}, snapshot=mounted.snapshot, context=outsider)
        call.validate = validate
        with pytest.raises(Forbidden):
            dispatcher.dispatch(call)
    allowed = ComponentCall("secret", "save", {}, snapshot=mounted.snapshot, context=member)
    assert dispatcher.dispatch(allowed).errors == {"name": [REQUIRED]}


def test_the_template_names_win_over_state_keys_which_state_still_holds(
    dispatcher: Dispatcher,
) -> None:
    mounted = _mount(dispatcher, "stateful")

    assert '<p class="errors">{}</p>' in mounted.html
    assert '<p class="form">{}</p>' in mounted.html
    assert '<p class="state-errors">state&#39;s errors</p>' in mounted.html
    assert '<p class="state-form">state&#39;s form</p>' in mounted.html
    result = _submit(dispatcher, mounted, "save", {"name": "Ann", "other": "1"})
    assert result.errors == {"other": ["This field is not accepted here."]}
    assert result.state["errors"] == "state's errors"  # the state is untouched
    assert '<p class="state-errors">state&#39;s errors</p>' in result.html


def test_forged_errors_and_form_fields_are_only_fields(dispatcher: Dispatcher) -> None:
    mounted = _mount(dispatcher, "stateful")
    forged = {"errors": '{"name": ["forged"]}', "form": "forged"}

    echoed = _submit(dispatcher, mounted, "echo", forged)

    assert echoed.errors == {}  # a handler that takes anything just gets two fields
    assert echoed.state["echoed"] == ["errors", "form"]
    assert '<p class="errors">{}</p>' in echoed.html
    assert '<p class="form">{}</p>' in echoed.html
    refused = _submit(dispatcher, mounted, "save", {"name": "Ann", **forged})
    assert refused.errors == {
        "errors": ["This field is not accepted here."],
        "form": ["This field is not accepted here."],
    }
    assert refused.component.form == {"name": "Ann", **forged}  # what was sent, as typed


def test_a_broadcast_that_does_not_fit_is_still_raised(dispatcher: Dispatcher) -> None:
    from tests.forms.components import SignupComponent

    with pytest.raises(FormInvalid):
        dispatcher.prepare_live_event(SignupComponent, "submit", TYPED, broadcast=True)
    plan = dispatcher.prepare_live_event(SignupComponent, "submit", TYPED)
    assert plan.invalid is not None
    assert plan.submitted == TYPED


@dataclass
class Item:
    name: str
    count: int


@dataclass
class Order:
    items: list[Item]


def on_order(self: object, order: Order) -> None: ...


def test_a_long_list_of_wrong_nested_items_stops_at_the_bound() -> None:
    binder = Binder(on_order)
    items = [{"name": "x", "count": "many"}] * 200_000

    with pytest.raises(FormInvalid) as caught:
        binder.bind({"items": items}, max_errors=20)

    assert len(caught.value.errors) == 20
    assert caught.value.errors["items[19].count"] == [WHOLE_NUMBER]
    with pytest.raises(FormInvalid) as unbounded:
        binder.bind({"items": items[:3]})
    assert list(unbounded.value.errors) == [f"items[{i}].count" for i in range(3)]
