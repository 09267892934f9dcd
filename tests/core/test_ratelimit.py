"""Declared event rates: ``@rate_limit``, the buckets behind it and the dispatcher's check.

The clock is passed in (``TokenBuckets``) or the budget refills too slowly to matter
(``per_second`` of 0.001), so nothing here depends on timing.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from component_framework.core.access import AccessContext
from component_framework.core.component import Component, rate_limit
from component_framework.core.config import ENV_EVENT_RATE_LIMITS, Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher
from component_framework.core.ratelimit import (
    EventRate,
    TokenBuckets,
    declared_rate,
)
from component_framework.core.registry import ComponentRegistry
from component_framework.errors import ConfigurationError, InvalidSnapshot, RateLimited
from component_framework.testing import StateRenderer

SECRET = "rate-limit-tests-secret-0123456789"
registry = ComponentRegistry()
runs: list[str] = []


@registry.register("board")
class Board(Component):
    """A shared board: posting is limited, reading is not."""

    template_name = "board.html"

    def mount(self) -> None:
        self.state["posts"] = 0

    @rate_limit(per_second=0.001, burst=2)
    def on_post(self) -> None:
        runs.append("post")
        self.state["posts"] += 1

    @rate_limit(per_second=0.001, burst=1)
    async def on_announce(self) -> None:
        runs.append("announce")

    def on_read(self) -> None:
        runs.append("read")


@pytest.fixture(autouse=True)
def _forget_runs() -> None:
    runs.clear()


def dispatcher(**overrides: Any) -> Dispatcher:
    settings = Settings(secret_keys=SECRET, **overrides)
    return Dispatcher(registry, settings, StateRenderer())


def client(address: str = "10.0.0.1") -> AccessContext:
    return AccessContext("http", {}, address)


def post(app: Dispatcher, context: AccessContext | None, event: str = "post") -> Any:
    """Mount a board, then run ``event`` on it as the client of ``context``."""
    mounted = app.dispatch(ComponentCall("board"))
    return app.dispatch(ComponentCall("board", event, snapshot=mounted.snapshot, context=context))


# -- the buckets --------------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    buckets = TokenBuckets()

    allowed = [buckets.take("a", 2.0, 3, now=10.0) for _ in range(3)]
    refused = buckets.take("a", 2.0, 3, now=10.0)

    assert allowed == [0.0, 0.0, 0.0]
    assert refused == pytest.approx(0.5)
    assert buckets.take("a", 2.0, 3, now=10.5) == 0.0  # one token came back


def test_each_key_has_its_own_bucket() -> None:
    buckets = TokenBuckets()
    buckets.take(("1.2.3.4", "board", "post"), 1.0, 1, now=0.0)

    assert buckets.take(("1.2.3.4", "board", "post"), 1.0, 1, now=0.0) > 0
    assert buckets.take(("1.2.3.4", "board", "like"), 1.0, 1, now=0.0) == 0.0
    assert buckets.take(("5.6.7.8", "board", "post"), 1.0, 1, now=0.0) == 0.0


def test_a_million_keys_keep_at_most_the_limit_of_buckets() -> None:
    buckets = TokenBuckets(limit=1000)

    for index in range(1_000_000):
        buckets.take(index, 1.0, 1, now=0.0)

    assert len(buckets) <= 1000
    assert buckets.take(999_999, 1.0, 1, now=0.0) > 0  # the newest are kept


# -- the decorator --------------------------------------------------------------------------


def test_the_declared_rate_is_listed_per_event_and_the_handler_is_unchanged() -> None:
    board = Board()
    board.mount()

    Board.on_post(board)  # still a plain method: unit tests call it directly

    assert Board.event_rates == {
        "post": EventRate(0.001, 2),
        "announce": EventRate(0.001, 1),
    }
    assert board.state["posts"] == 1
    assert Board.events["post"] is Board.on_post


@pytest.mark.parametrize(("per_second", "burst"), [(2, 2), (0.5, 1), (2.5, 3), (100, 100)])
def test_the_default_burst_is_one_second_worth_and_at_least_one(
    per_second: float, burst: int
) -> None:
    @rate_limit(per_second=per_second)
    def on_hit(self: Any) -> None: ...

    assert declared_rate(on_hit) == EventRate(per_second, burst)


@pytest.mark.parametrize(
    "arguments",
    [
        {"per_second": 0},
        {"per_second": -1},
        {"per_second": math.nan},
        {"per_second": math.inf},
        {"per_second": True},
        {"per_second": "2"},
        {"per_second": 1, "burst": 0},
        {"per_second": 1, "burst": 2.5},
    ],
    ids=repr,
)
def test_a_rate_that_cannot_be_applied_is_a_configuration_error(arguments: Any) -> None:
    with pytest.raises(ConfigurationError, match="rate_limit"):
        rate_limit(**arguments)


def test_a_rate_on_a_method_that_is_not_an_event_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"Helper\.refresh: @rate_limit applies"):

        class Helper(Component):
            @rate_limit(per_second=1)
            def refresh(self) -> None: ...


def test_a_rate_on_a_private_handler_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="on__hidden"):

        class Hidden(Component):
            @rate_limit(per_second=1)
            def on__hidden(self) -> None: ...


def test_a_subclass_inherits_the_rate_and_an_override_declares_its_own() -> None:
    class Inherits(Board):
        pass

    class Overrides(Board):
        def on_post(self) -> None:
            super().on_post()

    assert Inherits.event_rates["post"] == EventRate(0.001, 2)
    assert "post" not in Overrides.event_rates
    assert Overrides.event_rates["announce"] == EventRate(0.001, 1)


# -- the dispatcher -------------------------------------------------------------------------


def test_a_client_past_its_budget_is_refused_with_429_before_the_handler_runs() -> None:
    app = dispatcher()
    visitor = client()
    post(app, visitor)
    post(app, visitor)

    with pytest.raises(RateLimited) as refused:
        post(app, visitor)

    assert runs == ["post", "post"]
    assert refused.value.status_code == 429
    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after > 100  # one token every 1,000 s
    assert "'post'" in refused.value.message


def test_each_client_address_has_its_own_budget() -> None:
    app = dispatcher()
    for _ in range(2):
        post(app, client("10.0.0.1"))

    post(app, client("10.0.0.2"))

    assert runs == ["post", "post", "post"]


def test_each_event_has_its_own_budget_and_undeclared_events_have_none() -> None:
    app = dispatcher()
    visitor = client()
    for _ in range(2):
        post(app, visitor)

    post(app, visitor, "read")
    post(app, visitor, "read")
    post(app, visitor, "read")

    assert runs == ["post", "post", "read", "read", "read"]


def test_in_process_calls_without_a_client_are_not_counted() -> None:
    app = dispatcher()

    for _ in range(5):
        post(app, None)

    assert runs == ["post"] * 5


def test_the_rate_is_counted_before_the_snapshot_is_verified() -> None:
    """Refusing early bounds the work: a client past its budget gets 429 even for a request
    that would fail later, and such requests count too."""
    app = dispatcher()
    visitor = client()
    for expected in (InvalidSnapshot, InvalidSnapshot, RateLimited):
        with pytest.raises(expected):
            app.prepare(ComponentCall("board", "post", snapshot="v1.forged.x", context=visitor))
    assert runs == []


def test_the_budget_of_an_app_covers_live_events_and_broadcasts_do_not_count() -> None:
    app = dispatcher()
    visitor = AccessContext("websocket", {}, "10.0.0.1")
    post(app, client("10.0.0.1"))  # the same address over HTTP

    app.prepare_live_event(Board, "post", {}, visitor)
    with pytest.raises(RateLimited):
        app.prepare_live_event(Board, "post", {}, visitor)
    for _ in range(5):  # a broadcast carries no client
        app.prepare_live_event(Board, "post", {}, None)


async def test_an_async_handler_is_limited_like_a_sync_one() -> None:
    app = dispatcher()
    visitor = client()
    mounted = app.dispatch(ComponentCall("board"))
    call = ComponentCall("board", "announce", snapshot=mounted.snapshot, context=visitor)
    await app.async_dispatch(call)

    with pytest.raises(RateLimited):
        await app.async_dispatch(call)

    assert runs == ["announce"]


def test_declared_rates_can_be_switched_off_in_the_settings() -> None:
    app = dispatcher(event_rate_limits=False)

    for _ in range(5):
        post(app, client())

    assert runs == ["post"] * 5


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("", True), ("on", True), ("off", False), ("0", False)]
)
def test_the_switch_reads_its_environment_variable(value: str | None, expected: bool) -> None:
    environ = {} if value is None else {ENV_EVENT_RATE_LIMITS: value}

    assert Settings.from_env(environ, secret_keys=SECRET).event_rate_limits is expected
