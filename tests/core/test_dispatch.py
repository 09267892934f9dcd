"""Dispatch: the order of checks before user code, sync and async entry points, failures."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, ClassVar

import pytest

from component_framework.core.component import Component, StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher, DispatchResult
from component_framework.core.registry import ComponentRegistry, default_registry
from component_framework.errors import (
    ComponentNotFound,
    ConfigurationError,
    EventNotFound,
    HandlerError,
    InvalidSnapshot,
    PayloadValidationError,
    SnapshotTooLarge,
)
from component_framework.protocol.request import RequestFields
from component_framework.protocol.snapshot import SnapshotSigner
from tests import sample_components
from tests.sample_components import SECRET, SentimentComponent


class LabelRenderer:
    """Renders the template name, a label and the state, and remembers the contexts."""

    def __init__(self, label: str = "dispatcher") -> None:
        self.label = label
        self.contexts: list[dict[str, Any]] = []

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        self.contexts.append(dict(context))
        return f'<div data-label="{self.label}">{template_name} {context["state"]!r}</div>'


registry = ComponentRegistry()
calls: list[str] = []


@registry.register("recorder")
class Recorder(Component):
    """Records every piece of user code that runs."""

    template_name = "recorder.html"

    def __init__(self, component_id: str | None = None, **state: Any) -> None:
        calls.append("init")
        super().__init__(component_id, **state)

    def mount(self, size: int = 1) -> None:
        calls.append("mount")
        self.state["size"] = size

    def hydrate(self, state: dict[str, Any]) -> None:
        calls.append("hydrate")
        super().hydrate(state)

    def on_resize(self, size: int) -> None:
        calls.append("handler")
        self.state["size"] = size

    def before_render(self) -> None:
        calls.append("before_render")

    def dehydrate(self) -> dict[str, Any]:
        calls.append("dehydrate")
        return super().dehydrate()


@registry.register("plain")
class Plain(Component):
    """Keeps the framework's default mount, which takes no parameters."""

    template_name = "plain.html"


@registry.register("async-mount")
class AsyncMount(Component):
    template_name = "async_mount.html"

    async def mount(self, name: str) -> None:
        await asyncio.sleep(0)
        calls.append("mount")
        self.state["name"] = name

    async def on_fail(self) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async secret")


@registry.register("async-refusing")
class AsyncRefusing(Component):
    template_name = "refusing.html"

    async def on_check(self, text: str) -> None:
        await asyncio.sleep(0)
        raise PayloadValidationError("text", "must be polite")


class CustomAwaitable:
    """An awaitable that is neither a coroutine nor an async generator."""

    def __await__(self) -> Iterator[None]:
        yield None


@registry.register("custom-awaitable")
class ReturnsAwaitable(Component):
    template_name = "custom.html"

    def on_wait(self) -> CustomAwaitable:
        return CustomAwaitable()


@registry.register("async-failing-mount")
class AsyncFailingMount(Component):
    template_name = "x.html"

    async def mount(self) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("mount secret")


@registry.register("tagged")
class Tagged(Component):
    """Stores a set, which only its own hydrate and dehydrate know how to persist."""

    template_name = "tagged.html"

    def mount(self) -> None:
        self.state["tags"] = {"b", "a"}

    def hydrate(self, state: dict[str, Any]) -> None:
        self.state = {"tags": set(state["tags"])}

    def dehydrate(self) -> dict[str, Any]:
        return {"tags": sorted(self.state["tags"])}

    def before_render(self) -> None:
        self.state["tag_count"] = len(self.state["tags"])

    def on_tag(self, tag: str) -> None:
        self.state["tags"].add(tag)


@registry.register("own-renderer")
class OwnRenderer(Component):
    template_name = "own.html"
    renderer: ClassVar[Any] = LabelRenderer("component")


@registry.register("failing-stages")
class FailingStages(Component):
    """Fails in the stage named by its state."""

    template_name = "failing.html"

    def hydrate(self, state: dict[str, Any]) -> None:
        if state.get("fail") == "hydrate":
            raise RuntimeError("hydrate secret")
        super().hydrate(state)

    def before_render(self) -> None:
        if self.state.get("fail") == "before_render":
            raise RuntimeError("before_render secret")

    def on_fail_in(self, where: str) -> None:
        self.state["fail"] = where


@registry.register("awkward-names")
class AwkwardNames(Component):
    """Parameter names that an implementation might also use for its own arguments."""

    template_name = "awkward.html"

    def mount(self, component: str = "", stage: str = "", function: str = "") -> None:
        self.state.update(component=component, stage=stage, function=function)

    def on_pick(self, component: str, stage: str, function: str) -> None:
        self.state.update(component=component, stage=stage, function=function)


@registry.register("deep")
class Deep(Component):
    template_name = "deep.html"

    def on_nest(self) -> None:
        value: list[Any] = []
        for _ in range(5000):
            value = [value]
        self.state["value"] = value


@registry.register("huge")
class Huge(Component):
    template_name = "huge.html"

    def on_grow(self) -> None:
        self.state["text"] = "x" * 2000


@registry.register("failing-stream")
class FailingStream(StreamingComponent):
    template_name = "stream.html"

    async def on_run(self) -> AsyncIterator[None]:
        self.state["step"] = 1
        yield
        raise RuntimeError("stream secret")


class ConstantRenderer:
    """Renders the same HTML whatever the state (which may be too deep to show)."""

    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        return "<div></div>"


class FailingRenderer:
    def render(self, template_name: str, context: Mapping[str, Any]) -> str:
        raise RuntimeError("template secret")


SETTINGS = Settings(secret_keys=(SECRET,))


@pytest.fixture(autouse=True)
def clear_calls() -> Iterator[None]:
    calls.clear()
    yield
    calls.clear()


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(registry, SETTINGS, LabelRenderer())


@pytest.fixture
def samples() -> Dispatcher:
    """A dispatcher over the shared sample components and their Jinja templates."""
    return Dispatcher(sample_components.registry, SETTINGS, sample_components.renderer)


@pytest.fixture
def recorder_snapshot(dispatcher: Dispatcher) -> str:
    """A valid snapshot of a mounted recorder; the calls list is cleared afterwards."""
    snapshot = dispatcher.dispatch(ComponentCall("recorder")).snapshot
    calls.clear()
    return snapshot


def event(target: str, snapshot: str, **payload: Any) -> ComponentCall:
    """The call of event ``target`` (``"component:event"``) with ``payload``."""
    component, name = target.split(":")
    return ComponentCall(component, name, payload, snapshot=snapshot)


# -- checks before any user code ----------------------------------------------------------


def test_unknown_component_is_404_before_anything_else(dispatcher: Dispatcher) -> None:
    call = ComponentCall("missing", "resize", {"size": "x"}, snapshot="garbage")

    with pytest.raises(ComponentNotFound):
        dispatcher.dispatch(call)

    assert calls == []


def test_unknown_event_is_404_before_the_snapshot_is_checked(dispatcher: Dispatcher) -> None:
    with pytest.raises(EventNotFound) as excinfo:
        dispatcher.dispatch(event("recorder:missing", "garbage", size="x"))

    assert (excinfo.value.component, excinfo.value.event) == ("recorder", "missing")
    assert calls == []


@pytest.mark.parametrize(
    "name",
    [
        "hydrate",
        "dehydrate",
        "before_render",
        "render",
        "get_context",
        "event_handler",
        "__init__",
        "_secret",
        "on_increment",
        "secret",
        "",
        "increment now",
        "x" * 65,
    ],
)
def test_only_public_handlers_are_reachable(samples: Dispatcher, name: str) -> None:
    snapshot = samples.dispatch(ComponentCall("counter")).snapshot

    with pytest.raises(EventNotFound):
        samples.dispatch(ComponentCall("counter", name, snapshot=snapshot))


def test_bad_snapshot_is_400_before_the_payload_is_bound(dispatcher: Dispatcher) -> None:
    with pytest.raises(InvalidSnapshot) as excinfo:
        dispatcher.dispatch(event("recorder:resize", "garbage", size="not a number"))

    assert excinfo.value.status_code == 400
    assert calls == []


def _tampered(snapshot: str) -> str:
    head, signature = snapshot.rsplit(".", 1)
    return f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def _not_a_token(snapshot: str) -> str:
    return "not-a-token"


def _signed_with_unknown_key(snapshot: str) -> str:
    return SnapshotSigner(["another-key-0123456789abcdef"]).sign("recorder", "recorder-1", {})


def _of_another_component(snapshot: str) -> str:
    return SnapshotSigner([SECRET]).sign("plain", "plain-1", {})


@pytest.mark.parametrize(
    ("problem", "make"),
    [
        ("tampered", _tampered),
        ("malformed", _not_a_token),
        ("unknown key", _signed_with_unknown_key),
        ("foreign", _of_another_component),
    ],
    ids=["tampered", "malformed", "unknown key", "foreign"],
)
def test_rejected_snapshot_runs_no_user_code(
    dispatcher: Dispatcher, recorder_snapshot: str, problem: str, make: Callable[[str], str]
) -> None:
    with pytest.raises(InvalidSnapshot, match=f"invalid snapshot \\({problem}\\)"):
        dispatcher.dispatch(event("recorder:resize", make(recorder_snapshot), size=2))

    assert calls == []


def test_expired_snapshot_runs_no_user_code(dispatcher: Dispatcher) -> None:
    now = [1_000_000.0]
    dispatcher.signer = SnapshotSigner([SECRET], max_age=60, clock=lambda: now[0])
    snapshot = dispatcher.dispatch(ComponentCall("recorder")).snapshot
    calls.clear()
    now[0] += 61

    with pytest.raises(InvalidSnapshot, match="expired"):
        dispatcher.dispatch(event("recorder:resize", snapshot, size=2))

    assert calls == []


def test_event_without_snapshot_is_400(dispatcher: Dispatcher) -> None:
    with pytest.raises(InvalidSnapshot, match="needs the snapshot"):
        dispatcher.dispatch(ComponentCall("recorder", "resize", {"size": 2}))

    assert calls == []


def test_raw_state_is_400_unless_trusted(dispatcher: Dispatcher) -> None:
    call = ComponentCall("recorder", "resize", {"size": 2}, state={"size": 1})

    with pytest.raises(InvalidSnapshot, match="raw state is not accepted"):
        dispatcher.dispatch(call)

    assert calls == []


def test_payload_not_fitting_the_handler_is_422_before_user_code(
    dispatcher: Dispatcher, recorder_snapshot: str
) -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        dispatcher.dispatch(event("recorder:resize", recorder_snapshot, size="big"))

    assert excinfo.value.field == "size"
    assert calls == []


def test_unexpected_payload_field_is_422_before_user_code(
    dispatcher: Dispatcher, recorder_snapshot: str
) -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        dispatcher.dispatch(event("recorder:resize", recorder_snapshot, size=1, extra=2))

    assert excinfo.value.field == "extra"
    assert calls == []


def test_mount_params_not_fitting_mount_are_422_before_user_code(
    dispatcher: Dispatcher,
) -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        dispatcher.dispatch(ComponentCall("recorder", params={"size": "big"}))

    assert excinfo.value.field == "size"
    assert calls == []


def test_params_for_the_default_mount_are_422(dispatcher: Dispatcher) -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        dispatcher.dispatch(ComponentCall("plain", params={"colour": "red"}))

    assert excinfo.value.field == "colour"
    assert "takes no parameters" in str(excinfo.value)


def test_params_for_a_mount_without_parameters_are_422(samples: Dispatcher) -> None:
    with pytest.raises(PayloadValidationError) as excinfo:
        samples.dispatch(ComponentCall("counter", params={"start": 3}))

    assert excinfo.value.field == "start"


async def test_async_dispatch_checks_before_user_code_too(dispatcher: Dispatcher) -> None:
    with pytest.raises(InvalidSnapshot):
        await dispatcher.async_dispatch(event("recorder:resize", "garbage", size=2))

    assert calls == []


# -- the lifecycle once checks pass -------------------------------------------------------


def test_mount_runs_init_mount_before_render_and_dehydrate(dispatcher: Dispatcher) -> None:
    dispatcher.dispatch(ComponentCall("recorder", params={"size": "3"}))

    assert calls == ["init", "mount", "before_render", "dehydrate"]


def test_event_runs_init_hydrate_handler_before_render_and_dehydrate(
    dispatcher: Dispatcher, recorder_snapshot: str
) -> None:
    dispatcher.dispatch(event("recorder:resize", recorder_snapshot, size=5))

    assert calls == ["init", "hydrate", "handler", "before_render", "dehydrate"]


def test_mount_request_with_a_snapshot_rerenders_without_mounting(
    dispatcher: Dispatcher, recorder_snapshot: str
) -> None:
    result = dispatcher.dispatch(ComponentCall("recorder", snapshot=recorder_snapshot))

    assert calls == ["init", "hydrate", "before_render", "dehydrate"]
    assert result.state == {"size": 1}


def test_mount_params_are_bound_to_mount(dispatcher: Dispatcher) -> None:
    result = dispatcher.dispatch(ComponentCall("recorder", params={"size": "3"}))

    assert result.state == {"size": 3}


def test_empty_raw_state_at_mount_is_ignored(dispatcher: Dispatcher) -> None:
    result = dispatcher.dispatch(ComponentCall("recorder", state={}))

    assert result.state == {"size": 1}


# -- sync and async entry points ----------------------------------------------------------


def test_dispatch_mounts_and_renders_the_counter(samples: Dispatcher) -> None:
    result = samples.dispatch(ComponentCall("counter"))

    assert result.state == {"count": 0}
    assert '<span class="count">0</span>' in result.html
    assert result.component_id.startswith("counter-")


def test_dispatch_runs_an_event_from_the_snapshot(samples: Dispatcher) -> None:
    mounted = samples.dispatch(ComponentCall("counter"))

    result = samples.dispatch(ComponentCall("counter", "increment", snapshot=mounted.snapshot))

    assert result.state == {"count": 1}


def test_result_snapshot_verifies_to_the_result_state(samples: Dispatcher) -> None:
    result = samples.dispatch(ComponentCall("counter"))

    snapshot = samples.signer.verify(result.snapshot, "counter")

    assert (snapshot.state, snapshot.component_id) == (result.state, result.component_id)


def test_snapshot_keeps_the_component_id_across_events(samples: Dispatcher) -> None:
    result = samples.dispatch(ComponentCall("counter"))
    first_id = result.component_id

    for _ in range(3):
        result = samples.dispatch(ComponentCall("counter", "increment", snapshot=result.snapshot))

    assert result.component_id == first_id
    assert samples.signer.verify(result.snapshot, "counter").component_id == first_id


def test_separate_mounts_get_separate_ids(samples: Dispatcher) -> None:
    first = samples.dispatch(ComponentCall("counter"))
    second = samples.dispatch(ComponentCall("counter"))

    assert first.component_id != second.component_id


async def test_async_dispatch_runs_a_sync_handler(samples: Dispatcher) -> None:
    mounted = await samples.async_dispatch(ComponentCall("counter"))

    result = await samples.async_dispatch(
        ComponentCall("counter", "increment", snapshot=mounted.snapshot)
    )

    assert result.state == {"count": 1}


async def test_async_dispatch_awaits_an_async_handler(samples: Dispatcher) -> None:
    mounted = await samples.async_dispatch(ComponentCall("sentiment"))
    call = ComponentCall(
        "sentiment", "analyze", {"text": "I love async Python"}, snapshot=mounted.snapshot
    )

    result = await samples.async_dispatch(call)

    assert result.state == {"text": "I love async Python", "score": 1.9}


async def test_async_handler_runs_on_the_running_loop_thread(samples: Dispatcher) -> None:
    mounted = await samples.async_dispatch(ComponentCall("sentiment"))
    SentimentComponent.seen.clear()

    await samples.async_dispatch(
        ComponentCall("sentiment", "analyze", {"text": "hi"}, snapshot=mounted.snapshot)
    )

    assert SentimentComponent.seen == [(threading.get_ident(), asyncio.get_running_loop())]


async def test_async_mount_is_awaited_under_async_dispatch(dispatcher: Dispatcher) -> None:
    result = await dispatcher.async_dispatch(ComponentCall("async-mount", params={"name": "Ada"}))

    assert result.state == {"name": "Ada"}
    assert calls == ["mount"]


async def test_generator_handler_is_drained_and_final_state_returned(
    samples: Dispatcher,
) -> None:
    mounted = await samples.async_dispatch(ComponentCall("report"))

    result = await samples.async_dispatch(
        ComponentCall("report", "generate", {"report_id": "7"}, snapshot=mounted.snapshot)
    )

    assert result.state == {
        "sections": ["Summary #7", "Revenue #7", "Forecast #7"],
        "done": True,
    }
    assert "<p>done</p>" in result.html


def _dispatch_without_coroutine_warnings(dispatcher: Dispatcher, call: ComponentCall) -> None:
    """Run ``dispatch(call)`` expecting the async-code error, and fail on any RuntimeWarning
    (an un-awaited coroutine or generator) once garbage is collected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigurationError, match="use async_dispatch"):
            dispatcher.dispatch(call)
        gc.collect()
    assert [str(w.message) for w in caught] == []


def test_sync_dispatch_of_an_async_handler_is_a_configuration_error(
    samples: Dispatcher,
) -> None:
    mounted = samples.dispatch(ComponentCall("sentiment"))
    SentimentComponent.seen.clear()

    _dispatch_without_coroutine_warnings(
        samples, ComponentCall("sentiment", "analyze", {"text": "x"}, snapshot=mounted.snapshot)
    )

    assert SentimentComponent.seen == []


def test_sync_dispatch_of_an_async_mount_is_a_configuration_error(
    dispatcher: Dispatcher,
) -> None:
    _dispatch_without_coroutine_warnings(
        dispatcher, ComponentCall("async-mount", params={"name": "Ada"})
    )

    assert calls == []


def test_sync_dispatch_of_a_generator_handler_is_a_configuration_error(
    samples: Dispatcher,
) -> None:
    mounted = samples.dispatch(ComponentCall("report"))

    _dispatch_without_coroutine_warnings(
        samples, ComponentCall("report", "generate", {"report_id": 1}, snapshot=mounted.snapshot)
    )


def test_sync_dispatch_of_a_handler_returning_any_awaitable_is_a_configuration_error(
    dispatcher: Dispatcher,
) -> None:
    mounted = dispatcher.dispatch(ComponentCall("custom-awaitable"))

    _dispatch_without_coroutine_warnings(
        dispatcher, ComponentCall("custom-awaitable", "wait", snapshot=mounted.snapshot)
    )


# -- failures in user code ----------------------------------------------------------------


@pytest.fixture
def broken_snapshot(samples: Dispatcher) -> str:
    return samples.dispatch(ComponentCall("broken")).snapshot


def test_user_exception_becomes_a_handler_error(samples: Dispatcher, broken_snapshot: str) -> None:
    with pytest.raises(HandlerError) as excinfo:
        samples.dispatch(ComponentCall("broken", "boom", snapshot=broken_snapshot))

    assert (excinfo.value.component, excinfo.value.stage) == ("broken", "handler")
    assert isinstance(excinfo.value.__cause__, RuntimeError)


def test_handler_error_message_does_not_leak_the_exception(
    samples: Dispatcher, broken_snapshot: str
) -> None:
    with pytest.raises(HandlerError) as excinfo:
        samples.dispatch(ComponentCall("broken", "boom", snapshot=broken_snapshot))

    assert "secret internal detail" not in str(excinfo.value)
    assert "secret internal detail" not in repr(excinfo.value.to_dict())


def test_handler_error_traceback_is_logged(
    samples: Dispatcher, broken_snapshot: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="component_framework")

    with pytest.raises(HandlerError):
        samples.dispatch(ComponentCall("broken", "boom", snapshot=broken_snapshot))

    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert "secret internal detail" in caplog.text
    assert "on_boom" in caplog.text


async def test_async_handler_exception_becomes_a_handler_error(dispatcher: Dispatcher) -> None:
    mounted = await dispatcher.async_dispatch(ComponentCall("async-mount", params={"name": "x"}))

    with pytest.raises(HandlerError) as excinfo:
        await dispatcher.async_dispatch(
            ComponentCall("async-mount", "fail", snapshot=mounted.snapshot)
        )

    assert excinfo.value.stage == "handler"
    assert "async secret" not in str(excinfo.value)


async def test_async_mount_exception_becomes_a_handler_error(dispatcher: Dispatcher) -> None:
    with pytest.raises(HandlerError) as excinfo:
        await dispatcher.async_dispatch(ComponentCall("async-failing-mount"))

    assert excinfo.value.stage == "mount"


async def test_generator_failure_becomes_a_handler_error(dispatcher: Dispatcher) -> None:
    mounted = await dispatcher.async_dispatch(ComponentCall("failing-stream"))

    with pytest.raises(HandlerError) as excinfo:
        await dispatcher.async_dispatch(
            ComponentCall("failing-stream", "run", snapshot=mounted.snapshot)
        )

    assert excinfo.value.stage == "handler"


def test_failure_in_hydrate_names_the_stage(dispatcher: Dispatcher) -> None:
    snapshot = dispatcher.signer.sign("failing-stages", "failing-1", {"fail": "hydrate"})

    with pytest.raises(HandlerError) as excinfo:
        dispatcher.dispatch(ComponentCall("failing-stages", snapshot=snapshot))

    assert excinfo.value.stage == "hydrate"


def test_failure_in_before_render_names_the_stage(dispatcher: Dispatcher) -> None:
    mounted = dispatcher.dispatch(ComponentCall("failing-stages"))
    call = ComponentCall(
        "failing-stages", "fail_in", {"where": "before_render"}, snapshot=mounted.snapshot
    )

    with pytest.raises(HandlerError) as excinfo:
        dispatcher.dispatch(call)

    assert excinfo.value.stage == "before_render"


def test_template_failure_is_a_handler_error_in_render() -> None:
    dispatcher = Dispatcher(registry, SETTINGS, FailingRenderer())

    with pytest.raises(HandlerError) as excinfo:
        dispatcher.dispatch(ComponentCall("plain"))

    assert excinfo.value.stage == "render"


def test_client_error_raised_by_a_handler_passes_through_unchanged(
    samples: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="component_framework")
    mounted = samples.dispatch(ComponentCall("typed"))

    with pytest.raises(PayloadValidationError) as excinfo:
        samples.dispatch(
            ComponentCall("typed", "validate", {"text": "  "}, snapshot=mounted.snapshot)
        )

    assert (excinfo.value.field, excinfo.value.problem) == ("text", "must not be empty")
    assert excinfo.value.__cause__ is None
    assert caplog.records == []


async def test_client_error_raised_by_an_async_handler_passes_through_unchanged(
    dispatcher: Dispatcher,
) -> None:
    mounted = await dispatcher.async_dispatch(ComponentCall("async-refusing"))
    call = ComponentCall("async-refusing", "check", {"text": "x"}, snapshot=mounted.snapshot)

    with pytest.raises(PayloadValidationError) as excinfo:
        await dispatcher.async_dispatch(call)

    assert (excinfo.value.field, excinfo.value.problem) == ("text", "must be polite")


def test_state_that_is_not_json_is_a_handler_error_in_dehydrate(
    samples: Dispatcher, broken_snapshot: str
) -> None:
    with pytest.raises(HandlerError) as excinfo:
        samples.dispatch(ComponentCall("broken", "unserialisable", snapshot=broken_snapshot))

    assert excinfo.value.stage == "dehydrate"


def test_state_nested_too_deep_to_serialise_is_a_handler_error_in_dehydrate() -> None:
    dispatcher = Dispatcher(registry, SETTINGS, ConstantRenderer())
    mounted = dispatcher.dispatch(ComponentCall("deep"))

    with pytest.raises(HandlerError) as excinfo:
        dispatcher.dispatch(ComponentCall("deep", "nest", snapshot=mounted.snapshot))

    assert excinfo.value.stage == "dehydrate"


def test_state_grown_past_the_snapshot_limit_is_a_413_logged_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(secret_keys=(SECRET,), max_snapshot_bytes=1000)
    dispatcher = Dispatcher(registry, settings, LabelRenderer())
    mounted = dispatcher.dispatch(ComponentCall("huge"))

    with pytest.raises(SnapshotTooLarge, match="over the limit of 1000") as excinfo:
        dispatcher.dispatch(ComponentCall("huge", "grow", snapshot=mounted.snapshot))

    assert (excinfo.value.status_code, excinfo.value.code) == (413, "snapshot_too_large")
    assert "the change was not applied" in excinfo.value.message
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("WARNING", None)]


def test_missing_renderer_is_a_configuration_error_not_a_handler_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Component, "renderer", None)
    dispatcher = Dispatcher(registry, SETTINGS)

    with pytest.raises(ConfigurationError, match="no renderer configured"):
        dispatcher.dispatch(ComponentCall("plain"))


def test_handler_parameters_may_share_names_with_dispatch_internals(
    dispatcher: Dispatcher,
) -> None:
    mounted = dispatcher.dispatch(ComponentCall("awkward-names"))
    payload = {"component": "c", "stage": "s", "function": "f"}

    result = dispatcher.dispatch(
        ComponentCall("awkward-names", "pick", payload, snapshot=mounted.snapshot)
    )

    assert result.state == payload


def test_mount_parameters_may_share_names_with_dispatch_internals(
    dispatcher: Dispatcher,
) -> None:
    params = {"component": "c", "stage": "s", "function": "f"}

    result = dispatcher.dispatch(ComponentCall("awkward-names", params=params))

    assert result.state == params


async def test_async_handler_parameters_may_share_names_with_dispatch_internals(
    dispatcher: Dispatcher,
) -> None:
    mounted = await dispatcher.async_dispatch(ComponentCall("awkward-names"))
    payload = {"component": "c", "stage": "s", "function": "f"}

    result = await dispatcher.async_dispatch(
        ComponentCall("awkward-names", "pick", payload, snapshot=mounted.snapshot)
    )

    assert result.state == payload


# -- trusted state, overrides and renderers -----------------------------------------------


def test_trusted_client_state_is_accepted_without_a_snapshot(samples: Dispatcher) -> None:
    settings = Settings(secret_keys=(SECRET,), trust_client_state=True)
    trusting = Dispatcher(sample_components.registry, settings, sample_components.renderer)

    result = trusting.dispatch(ComponentCall("counter", "increment", state={"count": 5}))

    assert result.state == {"count": 6}


def test_trusted_client_state_is_hydrated_instead_of_mounting() -> None:
    settings = Settings(secret_keys=(SECRET,), trust_client_state=True)
    trusting = Dispatcher(registry, settings, LabelRenderer())

    result = trusting.dispatch(ComponentCall("recorder", state={"size": 9}))

    assert result.state == {"size": 9}
    assert "mount" not in calls


def test_hydrate_dehydrate_and_before_render_overrides_are_honoured(
    dispatcher: Dispatcher,
) -> None:
    mounted = dispatcher.dispatch(ComponentCall("tagged"))

    result = dispatcher.dispatch(
        ComponentCall("tagged", "tag", {"tag": "c"}, snapshot=mounted.snapshot)
    )

    assert result.state == {"tags": ["a", "b", "c"]}
    assert dispatcher.renderer is not None
    context = dispatcher.renderer.contexts[-1]  # type: ignore[attr-defined]
    assert (context["tags"], context["tag_count"]) == ({"a", "b", "c"}, 3)


def test_dispatcher_renderer_overrides_the_component_renderer(dispatcher: Dispatcher) -> None:
    result = dispatcher.dispatch(ComponentCall("own-renderer"))

    assert 'data-label="dispatcher"' in result.html


def test_component_renderer_is_used_when_the_dispatcher_has_none() -> None:
    result = Dispatcher(registry, SETTINGS).dispatch(ComponentCall("own-renderer"))

    assert 'data-label="component"' in result.html


def test_default_registry_is_used_when_none_is_given() -> None:
    assert Dispatcher(settings=SETTINGS).registry is default_registry


# -- calls and results --------------------------------------------------------------------


def test_call_from_request_fields_copies_every_field() -> None:
    fields = RequestFields("add", {"a": 1}, {"p": 2}, "tok", {"s": 3})

    call = ComponentCall.from_fields("counter", fields)

    assert call == ComponentCall("counter", "add", {"a": 1}, {"p": 2}, "tok", {"s": 3})


@pytest.mark.parametrize(
    ("event_name", "is_mount"), [(None, True), ("mount", True), ("save", False)]
)
def test_call_is_a_mount_without_an_event(event_name: str | None, is_mount: bool) -> None:
    assert ComponentCall("counter", event_name).is_mount is is_mount


def test_result_json_has_html_state_snapshot_and_id(samples: Dispatcher) -> None:
    result = samples.dispatch(ComponentCall("counter"))

    assert result.to_json() == {
        "html": result.html,
        "state": {"count": 0},
        "snapshot": result.snapshot,
        "component_id": result.component_id,
    }


def test_result_fragment_root_carries_id_and_snapshot(samples: Dispatcher) -> None:
    result: DispatchResult = samples.dispatch(ComponentCall("counter"))

    fragment = result.fragment()

    assert fragment.startswith(f'<div class="counter" id="{result.component_id}"')
    assert f"&quot;snapshot&quot;:&quot;{result.snapshot}&quot;" in fragment
    assert result.component_name == "counter"


async def test_prepared_call_says_whether_it_needs_the_loop() -> None:
    dispatcher = Dispatcher(
        sample_components.registry, sample_components.SETTINGS, sample_components.renderer
    )
    counter = dispatcher.prepare(ComponentCall("counter"))
    assert counter.runs_async is False
    mounted = dispatcher.run(counter)
    sentiment = dispatcher.dispatch(ComponentCall("sentiment"))
    analyze = dispatcher.prepare(
        ComponentCall("sentiment", "analyze", {"text": "hi"}, snapshot=sentiment.snapshot)
    )
    assert analyze.runs_async is True
    assert (await dispatcher.async_run(analyze)).state["text"] == "hi"
    increment = dispatcher.prepare(ComponentCall("counter", "increment", snapshot=mounted.snapshot))
    assert increment.runs_async is False
    assert dispatcher.run(increment).state == {"count": 1}
