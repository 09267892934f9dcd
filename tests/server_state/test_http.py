"""Server-held state over HTTP (JSON and htmx), at the ASGI message level, on the memory store:
the client holds a signed reference, every event advances the version, replays, concurrent
events, expiry and a store that is down are refused with their own codes, nothing applied."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from typing import Any

from component_framework import testing
from component_framework.core.state_store import MemoryStateStore, StateWrite, StoredState
from component_framework.protocol.snapshot import SnapshotSigner
from tests.server_state.components import PASSWORD, SECRET, app

JSON = {"accept": "application/json"}


def payload_of(token: str) -> dict[str, Any]:
    encoded = token.split(".")[2]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


async def post(application: Any, body: dict[str, Any], name: str = "vault") -> Any:
    return await testing.asgi_request(
        application, "POST", f"/components/{name}/", json=body, headers=JSON
    )


async def test_a_mount_gives_a_reference_and_no_state() -> None:
    response = await post(app(), {})
    assert response.status == 200
    document = response.json()
    assert "state" not in document
    assert PASSWORD not in response.body.decode()
    token = payload_of(document["snapshot"])
    assert token["v"] == 1
    assert "s" not in token
    assert token["i"] == document["component_id"]


async def test_each_event_advances_the_version_and_keeps_the_state() -> None:
    application = app()
    snapshot = (await post(application, {})).json()["snapshot"]
    for expected in (2, 3, 4):
        answer = await post(application, {"event": "open", "snapshot": snapshot})
        assert answer.status == 200
        snapshot = answer.json()["snapshot"]
        assert payload_of(snapshot)["v"] == expected
    assert f"<b>{3}</b>" in answer.json()["html"]


async def test_the_htmx_fragment_carries_the_reference_only() -> None:
    response = await testing.asgi_request(
        app(), "POST", "/components/vault/", form={}, headers={"hx-request": "true"}
    )
    assert response.status == 200
    html = response.body.decode()
    assert PASSWORD not in html
    assert "password" not in html
    assert "snapshot" in html


async def test_a_replayed_older_reference_is_refused_as_stale() -> None:
    application = app()
    first = (await post(application, {})).json()["snapshot"]
    await post(application, {"event": "open", "snapshot": first})
    replay = await post(application, {"event": "open", "snapshot": first})
    assert replay.status == 409
    assert replay.json()["error"]["code"] == "stale_state"


async def test_two_events_from_the_same_version_one_wins_one_conflicts() -> None:
    store = SlowCommits()
    application = app(store)
    snapshot = (await post(application, {})).json()["snapshot"]
    store.delay = 0.05
    answers = await asyncio.gather(
        post(application, {"event": "open", "snapshot": snapshot}),
        post(application, {"event": "open", "snapshot": snapshot}),
    )
    assert sorted(answer.status for answer in answers) == [200, 409]
    loser = next(answer for answer in answers if answer.status == 409)
    assert loser.json()["error"]["code"] == "state_conflict"
    winner = next(answer for answer in answers if answer.status == 200)
    store.delay = 0
    again = await post(application, {"event": "open", "snapshot": winner.json()["snapshot"]})
    assert "<b>2</b>" in again.json()["html"]  # the loser's change was never applied


async def test_expired_state_is_gone_with_its_own_code() -> None:
    clock = Clock()
    application = app(MemoryStateStore(clock=clock), state_ttl=60)
    snapshot = (await post(application, {})).json()["snapshot"]
    clock.now += 61
    answer = await post(application, {"event": "open", "snapshot": snapshot})
    assert answer.status == 410
    assert answer.json()["error"]["code"] == "state_expired"


async def test_each_event_gives_the_state_its_time_to_live_again() -> None:
    clock = Clock()
    application = app(MemoryStateStore(clock=clock), state_ttl=60)
    snapshot = (await post(application, {})).json()["snapshot"]
    for _ in range(3):
        clock.now += 50
        answer = await post(application, {"event": "open", "snapshot": snapshot})
        assert answer.status == 200
        snapshot = answer.json()["snapshot"]


async def test_a_store_that_is_down_is_a_503_and_nothing_is_applied() -> None:
    store = Unreachable()
    application = app(store)
    snapshot = (await post(application, {})).json()["snapshot"]
    store.down = True
    answer = await post(application, {"event": "open", "snapshot": snapshot})
    assert answer.status == 503
    assert answer.json()["error"]["code"] == "state_store_unavailable"
    store.down = False
    answer = await post(application, {"event": "open", "snapshot": snapshot})
    assert answer.status == 200
    assert "<b>1</b>" in answer.json()["html"]


async def test_a_store_down_at_mount_is_a_503() -> None:
    store = Unreachable()
    store.down = True
    answer = await post(app(store), {})
    assert answer.status == 503
    assert answer.json()["error"]["code"] == "state_store_unavailable"


async def test_a_forged_reference_is_refused_before_the_store() -> None:
    application = app()
    snapshot = (await post(application, {})).json()["snapshot"]
    forged = SnapshotSigner(["another-key-0123456789abcdef"]).sign_reference(
        "vault", payload_of(snapshot)["i"], 1
    )
    answer = await post(application, {"event": "open", "snapshot": forged})
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_snapshot"


async def test_a_reference_with_a_future_version_is_expired_not_accepted() -> None:
    application = app()
    snapshot = (await post(application, {})).json()["snapshot"]
    ahead = SnapshotSigner([SECRET]).sign_reference("vault", payload_of(snapshot)["i"], 9)
    answer = await post(application, {"event": "open", "snapshot": ahead})
    assert answer.status == 410


async def test_a_snapshot_carrying_state_is_refused_for_a_server_held_component() -> None:
    signed = SnapshotSigner([SECRET]).sign("vault", "vault-x", {"opened": 99})
    answer = await post(app(), {"event": "open", "snapshot": signed})
    assert answer.status == 400
    assert answer.json()["error"]["reason"] == "state_on_server"


async def test_raw_state_is_refused_even_when_client_state_is_trusted() -> None:
    answer = await post(app(trust_client_state=True), {"event": "open", "state": {"opened": 5}})
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_snapshot"


async def test_the_app_wide_switch_keeps_other_components_on_the_server() -> None:
    answer = await post(app(state_on_server=True), {}, name="plain_counter")
    assert "state" not in answer.json()
    assert payload_of(answer.json()["snapshot"])["v"] == 1


async def test_a_client_held_component_is_unchanged() -> None:
    answer = await post(app(), {}, name="plain_counter")
    assert answer.json()["state"] == {"count": 0}
    assert "v" not in payload_of(answer.json()["snapshot"])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowCommits(MemoryStateStore):
    """A memory store whose commits wait a while first (two events overlap)."""

    delay = 0.0

    async def commit(self, writes: Sequence[StateWrite], ttl: float) -> bool:
        await asyncio.sleep(self.delay)
        return await super().commit(writes, ttl)


class Unreachable(MemoryStateStore):
    """A memory store that can be switched off, as a network store that went away."""

    down = False

    async def load(self, keys: Sequence[str]) -> list[StoredState | None]:
        if self.down:
            raise ConnectionError("store is down")
        return await super().load(keys)

    async def commit(self, writes: Sequence[StateWrite], ttl: float) -> bool:
        if self.down:
            raise ConnectionError("store is down")
        return await super().commit(writes, ttl)
