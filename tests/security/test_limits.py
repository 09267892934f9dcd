"""Limits on time and size: a body that stops arriving (408), an ``async`` mount or handler
that takes too long (504; sync code cannot be interrupted), a stream that runs too long (an
``error`` frame ``stream_timeout``, then the end), and the validation of every limit."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from component_framework import Settings
from component_framework.errors import ConfigurationError
from component_framework.testing import sse_request
from tests.security.components import journal
from tests.security.wire import WAIT, make_app, path, post, socket, stalled_request

# -- body_timeout ---------------------------------------------------------------------------


async def test_body_that_stops_arriving_is_answered_with_408():
    app = make_app(body_timeout=0.3)
    answer = await stalled_request(app, "POST", path("public"))
    assert answer.status == 408
    assert answer.json()["error"]["code"] == "request_timeout"
    assert journal.entries == []


async def test_body_that_never_starts_arriving_is_answered_with_408():
    # The first receive already waits: a body that is all there at once skips the deadline
    # (nothing waits), one that is not must arm it all the same.
    app = make_app(body_timeout=0.3)
    answer = await stalled_request(app, "POST", path("public"), first_chunk=None)
    assert answer.status == 408
    assert answer.json()["error"]["code"] == "request_timeout"
    assert journal.entries == []


async def test_stream_start_whose_body_stops_arriving_is_answered_with_408():
    app = make_app(body_timeout=0.3)
    answer = await stalled_request(app, "POST", path("ticker", "stream"))
    assert answer.status == 408
    assert journal.entries == []
    assert app.guard.open_count("stream") == 0


async def test_a_timed_out_body_leaves_the_app_serving():
    app = make_app(body_timeout=0.3)
    await stalled_request(app, "POST", path("public"))
    assert (await post(app, "public")).status == 200


async def test_body_timeout_none_waits_for_the_client():
    app = make_app(body_timeout=None)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await stalled_request(app, "POST", path("public"))


# -- handler_timeout -------------------------------------------------------------------------


async def _slow_session(app: Any) -> str:
    answer = await post(app, "slow")
    assert answer.status == 200, answer.text
    snapshot: str = answer.json()["snapshot"]
    return snapshot


async def test_async_handler_running_too_long_is_cancelled_with_504():
    app = make_app(handler_timeout=0.2)
    snapshot = await _slow_session(app)
    answer = await post(
        app, "slow", {"event": "wait", "payload": {"seconds": 60}, "snapshot": snapshot}
    )
    assert answer.status == 504
    assert answer.json()["error"]["code"] == "handler_timeout"
    assert journal.of("slow") == ["mount", "wait", "wait cancelled"]


async def test_async_mount_running_too_long_is_cancelled_with_504():
    app = make_app(handler_timeout=0.2)
    answer = await post(app, "slow", {"params": {"delay": 60}})
    assert answer.status == 504
    assert journal.of("slow") == ["mount", "mount cancelled"]


async def test_async_handler_within_the_timeout_answers():
    app = make_app(handler_timeout=WAIT)
    snapshot = await _slow_session(app)
    answer = await post(
        app, "slow", {"event": "wait", "payload": {"seconds": 0.01}, "snapshot": snapshot}
    )
    assert answer.status == 200


async def test_sync_handler_cannot_be_interrupted_and_finishes():
    # Documented: only async code can be cancelled; a blocking sync handler runs to its end.
    app = make_app(handler_timeout=0.1)
    snapshot = await _slow_session(app)
    answer = await post(
        app, "slow", {"event": "block", "payload": {"seconds": 0.4}, "snapshot": snapshot}
    )
    assert answer.status == 200
    assert answer.json()["state"]["done"] == 1


async def test_websocket_event_running_too_long_is_an_error_and_the_socket_stays():
    app = make_app(handler_timeout=0.2)
    async with socket(app, "slow") as ws:
        await ws.receive_json()
        timed_out = await ws.event("wait", {"seconds": 60}, ref=1)
        assert (timed_out["type"], timed_out["code"], timed_out["ref"]) == (
            "error",
            "handler_timeout",
            1,
        )
        answer = await ws.event("wait", {"seconds": 0}, ref=2)
        assert answer["type"] == "render"


# -- stream_max_seconds ---------------------------------------------------------------------


async def test_stream_running_too_long_ends_with_a_stream_timeout_frame():
    app = make_app(stream_max_seconds=1.0)
    answer = await sse_request(
        app, path("ticker", "stream"), query={"event": "forever"}, give_up_after=WAIT
    )
    kinds = [event.event for event in answer.events]
    assert kinds[0] in (None, "message")  # the first render went out
    assert kinds[-1] == "error"
    assert '"code":"stream_timeout"' in answer.events[-1].data
    assert journal.of("ticker") == ["mount", "forever", "cancelled", "finally"]


async def test_stream_within_its_time_is_not_stopped():
    app = make_app(stream_max_seconds=WAIT)
    answer = await sse_request(
        app, path("ticker", "stream"), query={"event": "run"}, give_up_after=WAIT
    )
    assert answer.events[-1].event == "done"


# -- validation of every limit --------------------------------------------------------------

POSITIVE_INTS = [
    "max_snapshot_bytes",
    "max_body_bytes",
    "max_json_depth",
    "max_fields",
    "stream_retry_ms",
    "stream_replay_frames",
    "stream_replay_bytes",
    "ws_max_message_bytes",
    "ws_burst",
    "ws_inbox_messages",
    "ws_outbox_messages",
    "ws_outbox_bytes",
    "http_burst",
    "max_streams_per_client",
    "max_sockets_per_client",
]
POSITIVE_NUMBERS = [
    "stream_heartbeat",
    "stream_send_timeout",
    "stream_frame_interval",
    "ws_rate",
    "ws_send_timeout",
    "ws_join_timeout",
]
OPTIONAL_POSITIVE_NUMBERS = [
    "ws_idle_timeout",
    "http_rate",
    "handler_timeout",
    "body_timeout",
    "stream_max_seconds",
]


@pytest.mark.parametrize("name", POSITIVE_INTS)
@pytest.mark.parametrize("value", [0, -1, 2.5, True, "8", None])
def test_int_limit_must_be_a_positive_int(name: str, value: object):
    with pytest.raises(ConfigurationError, match=name):
        Settings(**{name: value})


@pytest.mark.parametrize("name", POSITIVE_NUMBERS + OPTIONAL_POSITIVE_NUMBERS)
@pytest.mark.parametrize("value", [0, -1, -0.5, True, "5"])
def test_time_and_rate_limits_must_be_positive_numbers(name: str, value: object):
    with pytest.raises(ConfigurationError, match=name):
        Settings(**{name: value})


def test_not_a_number_is_not_a_limit():
    # NaN compares false with everything, so "value <= 0" lets it through.
    accepted = []
    for name in [*POSITIVE_NUMBERS, *OPTIONAL_POSITIVE_NUMBERS, "snapshot_max_age"]:
        try:
            Settings(**{name: math.nan})
        except ConfigurationError:
            continue
        accepted.append(name)
    assert accepted == []


def test_snapshot_max_age_must_be_positive_or_none():
    # -1 or 0 would expire every snapshot at once; "5" (a string) fails at every event (500).
    accepted = []
    for value in (0, -1, -0.5, True, "5"):
        try:
            Settings(snapshot_max_age=value)  # type: ignore[arg-type]
        except ConfigurationError:
            continue
        accepted.append(value)
    assert accepted == []
    assert Settings(snapshot_max_age=None).snapshot_max_age is None
    assert Settings(snapshot_max_age=30).snapshot_max_age == 30


@pytest.mark.parametrize("name", POSITIVE_NUMBERS)
def test_required_limits_cannot_be_switched_off(name: str):
    with pytest.raises(ConfigurationError, match=name):
        Settings(**{name: None})


@pytest.mark.parametrize("name", OPTIONAL_POSITIVE_NUMBERS)
def test_optional_limits_accept_none_for_no_limit(name: str):
    assert getattr(Settings(**{name: None}), name) is None


def test_resume_grace_may_be_zero_but_not_negative():
    assert Settings(stream_resume_grace=0).stream_resume_grace == 0
    with pytest.raises(ConfigurationError, match="stream_resume_grace"):
        Settings(stream_resume_grace=-1)


def test_defaults_of_the_abuse_limits():
    settings = Settings()
    assert settings.check_origin is True
    assert settings.trusted_proxies == ()
    assert settings.body_timeout == 15.0
    assert settings.handler_timeout == 30.0
    assert settings.stream_max_seconds == 3600.0
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.max_json_depth == 32
    assert settings.max_fields == 1000
    assert settings.max_snapshot_bytes == 64 * 1024
    assert settings.ws_max_message_bytes == 1024 * 1024
