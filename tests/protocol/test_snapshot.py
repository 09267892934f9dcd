"""Signed snapshot tokens: round trips, tampering, key rotation, expiry, limits and shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from component_framework.protocol.snapshot import (
    CLOCK_SKEW_SECONDS,
    Snapshot,
    SnapshotError,
    SnapshotSigner,
    key_id,
)

KEY = "snapshot-test-key-0123456789abcdef"
NEW_KEY = "rotated-snapshot-key-0123456789ab"
OTHER_KEY = "unrelated-snapshot-key-0123456789"
NOW = 1_700_000_000
NAME = "counter"
COMPONENT_ID = "counter-abc123"
STATE: dict[str, Any] = {
    "count": 3,
    "items": ["a", "b"],
    "nested": {"ok": True, "ratio": 0.5, "nothing": None, "text": "é ✓ <b>"},
}
#: An edited key id names no key: "unknown_key" is a rejection too.
REJECTED = {"tampered", "malformed", "unknown_key"}
SNAPSHOT_PROBLEMS = {"malformed", "tampered", "unknown_key", "foreign", "expired", "oversized"}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signer(*keys: str | bytes, clock: FakeClock | None = None, **options: Any) -> SnapshotSigner:
    return SnapshotSigner(keys or (KEY,), clock=clock or FakeClock(), **options)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def hand_signed(payload_text: str, key: str = KEY) -> str:
    """A token over ``payload_text`` with a correct signature, built without the signer."""
    identifier = b64(
        hmac.new(key.encode(), b"component-framework snapshot key id", "sha256").digest()[:6]
    )
    signed = f"v2.{identifier}.{payload_text}".encode("ascii")
    mac = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"v2.{identifier}.{payload_text}.{b64(mac)}"


def legacy_signed(payload_text: str, key: str = KEY) -> str:
    """A token of the previous format (``v1``, no key id)."""
    signed = b"v1." + payload_text.encode("ascii")
    mac = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"v1.{payload_text}.{b64(mac)}"


def document(**fields: Any) -> bytes:
    base: dict[str, Any] = {"c": NAME, "i": COMPONENT_ID, "t": NOW, "s": {}}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode("utf-8")


TOKEN = signer().sign(NAME, COMPONENT_ID, STATE)
_PREFIX_END = TOKEN.index(".") + 1
_KEY_ID_END = TOKEN.index(".", _PREFIX_END) + 1
_SIGNATURE_START = TOKEN.rindex(".")
REGIONS = {
    "version prefix": range(_PREFIX_END),
    "key id": range(_PREFIX_END, _KEY_ID_END),
    "payload": range(_KEY_ID_END, _SIGNATURE_START),
    "signature": range(_SIGNATURE_START, len(TOKEN)),
}
_REPLACEMENTS = string.ascii_letters + string.digits + "-_.=+/!~ \n"


def _substitutions(positions: range) -> Iterator[str]:
    for index in positions:
        for char in _REPLACEMENTS:
            if char != TOKEN[index]:
                yield TOKEN[:index] + char + TOKEN[index + 1 :]


def _deletions(positions: range) -> Iterator[str]:
    for index in positions:
        yield TOKEN[:index] + TOKEN[index + 1 :]


def _insertions(positions: range) -> Iterator[str]:
    last = positions.stop + 1 if positions.stop == len(TOKEN) else positions.stop
    for index in range(positions.start, last):
        for char in _REPLACEMENTS:
            yield TOKEN[:index] + char + TOKEN[index:]


MUTATIONS = {"substitute": _substitutions, "delete": _deletions, "insert": _insertions}


# -- round trip ---------------------------------------------------------------------------


def test_verified_token_returns_name_id_time_and_state() -> None:
    snapshot = signer().verify(TOKEN, NAME)

    assert snapshot == Snapshot(NAME, COMPONENT_ID, float(NOW), STATE)


def test_token_is_ascii_version_key_id_payload_signature() -> None:
    version, identifier, payload, signature = TOKEN.split(".")

    assert version == "v2"
    assert identifier == key_id(KEY)
    assert len(identifier) == 8
    assert set(identifier + payload + signature) <= set(string.ascii_letters + string.digits + "-_")
    assert hand_signed(payload) == TOKEN


def test_the_key_id_depends_on_the_key_only() -> None:
    assert key_id(KEY) == key_id(KEY.encode("utf-8")) != key_id(NEW_KEY)
    assert signer(KEY, NEW_KEY).sign(NAME, COMPONENT_ID, {}).split(".")[1] == key_id(KEY)


def test_a_legacy_v1_token_still_verifies() -> None:
    payload = b64(document(s=STATE))

    assert signer(NEW_KEY, KEY).verify(legacy_signed(payload), NAME).state == STATE


def test_a_legacy_v1_token_of_an_unknown_key_is_tampered() -> None:
    """A v1 token carries no key id, so nothing tells another key from an edit."""
    with pytest.raises(SnapshotError) as excinfo:
        signer(NEW_KEY).verify(legacy_signed(b64(document())), NAME)

    assert excinfo.value.problem == "tampered"


def test_a_key_id_swapped_for_another_known_key_is_tampered() -> None:
    version, _, payload, signature = TOKEN.split(".")
    swapped = f"{version}.{key_id(NEW_KEY)}.{payload}.{signature}"

    with pytest.raises(SnapshotError) as excinfo:
        signer(KEY, NEW_KEY).verify(swapped, NAME)

    assert excinfo.value.problem == "tampered"


@pytest.mark.parametrize("identifier", ["", "short", "much-too-long", "é" * 8])
def test_a_key_id_of_the_wrong_shape_is_malformed(identifier: str) -> None:
    version, _, payload, signature = TOKEN.split(".")

    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(f"{version}.{identifier}.{payload}.{signature}", NAME)

    assert excinfo.value.problem == "malformed"


def test_issue_time_is_the_signing_clock_in_whole_seconds() -> None:
    token = signer(clock=FakeClock(NOW + 0.9)).sign(NAME, COMPONENT_ID, {})

    assert signer().verify(token, NAME).issued_at == NOW


def test_verify_with_a_second_signer_over_the_same_key() -> None:
    assert signer(KEY).verify(TOKEN, NAME).state == STATE


def test_str_and_bytes_keys_are_the_same_key() -> None:
    token = signer(KEY.encode("utf-8")).sign(NAME, COMPONENT_ID, STATE)

    assert signer(KEY).verify(token, NAME).state == STATE


# -- tampering ----------------------------------------------------------------------------


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("region", sorted(REGIONS))
def test_every_changed_character_is_rejected(region: str, mutation: str) -> None:
    verifier = signer()
    accepted: list[str] = []
    wrong_problem: list[tuple[str, str]] = []
    for variant in MUTATIONS[mutation](REGIONS[region]):
        try:
            verifier.verify(variant, NAME)
        except SnapshotError as exc:
            if exc.problem not in REJECTED:
                wrong_problem.append((variant, exc.problem))
        else:
            accepted.append(variant)

    assert accepted == []
    assert wrong_problem == []


def test_payload_of_one_token_with_signature_of_another_is_tampered() -> None:
    other = signer().sign(NAME, COMPONENT_ID, {"count": 999})
    spliced = TOKEN.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]

    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(spliced, NAME)

    assert excinfo.value.problem == "tampered"


def test_token_signed_with_an_unknown_key_is_unknown_key_not_tampered() -> None:
    foreign = signer(OTHER_KEY).sign(NAME, COMPONENT_ID, STATE)

    with pytest.raises(SnapshotError) as excinfo:
        signer(KEY).verify(foreign, NAME)

    assert excinfo.value.problem == "unknown_key"
    assert str(excinfo.value) == "snapshot was signed with a key this server does not have"


def test_truncated_signature_is_malformed() -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(TOKEN[:-4], NAME)

    assert excinfo.value.problem == "malformed"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1",
        "v1.",
        "v1..",
        "v2.abc.def",
        "V1.abc.def",
        "v1.a.b.c",
        "x" * 100,
        "v1.é.abc",
        "v2",
        "v2...",
        "v2.a.b.c.d",
        "V2.abcdefgh.a.b",
        "v3.abcdefgh.a.b",
    ],
)
def test_structurally_broken_token_is_rejected(token: str) -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(token, NAME)

    assert excinfo.value.problem in REJECTED


def test_non_ascii_signature_is_malformed() -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(TOKEN[:-1] + "é", NAME)

    assert excinfo.value.problem == "malformed"


# -- key rotation -------------------------------------------------------------------------


def test_token_signed_with_old_key_verifies_after_new_key_is_prepended() -> None:
    old_token = signer(KEY).sign(NAME, COMPONENT_ID, STATE)

    assert signer(NEW_KEY, KEY).verify(old_token, NAME).state == STATE


def test_new_tokens_are_signed_with_the_first_key() -> None:
    token = signer(NEW_KEY, KEY).sign(NAME, COMPONENT_ID, STATE)

    assert signer(NEW_KEY).verify(token, NAME).state == STATE
    with pytest.raises(SnapshotError) as excinfo:
        signer(KEY).verify(token, NAME)
    assert excinfo.value.problem == "unknown_key"


def test_dropping_the_old_key_rejects_its_tokens() -> None:
    old_token = signer(KEY).sign(NAME, COMPONENT_ID, STATE)

    with pytest.raises(SnapshotError) as excinfo:
        signer(NEW_KEY).verify(old_token, NAME)

    assert excinfo.value.problem == "unknown_key"


# -- expiry -------------------------------------------------------------------------------


def test_token_exactly_max_age_old_verifies() -> None:
    clock = FakeClock()
    verifier = signer(clock=clock, max_age=300)
    token = verifier.sign(NAME, COMPONENT_ID, STATE)
    clock.now = NOW + 300

    assert verifier.verify(token, NAME).state == STATE


def test_token_older_than_max_age_is_expired() -> None:
    clock = FakeClock()
    verifier = signer(clock=clock, max_age=300)
    token = verifier.sign(NAME, COMPONENT_ID, STATE)
    clock.now = NOW + 301

    with pytest.raises(SnapshotError) as excinfo:
        verifier.verify(token, NAME)

    assert excinfo.value.problem == "expired"
    assert "300" in str(excinfo.value)


def test_without_max_age_tokens_never_expire() -> None:
    clock = FakeClock()
    verifier = signer(clock=clock)
    token = verifier.sign(NAME, COMPONENT_ID, STATE)
    clock.now = NOW + 10 * 365 * 24 * 3600

    assert verifier.verify(token, NAME).state == STATE


def test_token_issued_in_the_future_within_clock_skew_verifies() -> None:
    token = signer(clock=FakeClock(NOW + CLOCK_SKEW_SECONDS)).sign(NAME, COMPONENT_ID, STATE)

    assert signer(clock=FakeClock(NOW)).verify(token, NAME).state == STATE


def test_token_issued_in_the_future_beyond_clock_skew_is_expired() -> None:
    token = signer(clock=FakeClock(NOW + CLOCK_SKEW_SECONDS + 1)).sign(NAME, COMPONENT_ID, STATE)

    with pytest.raises(SnapshotError) as excinfo:
        signer(clock=FakeClock(NOW)).verify(token, NAME)

    assert excinfo.value.problem == "expired"


# -- binding to the component --------------------------------------------------------------


def test_token_of_another_component_is_foreign() -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(TOKEN, "todo")

    assert excinfo.value.problem == "foreign"
    assert "'counter'" in str(excinfo.value)
    assert "'todo'" in str(excinfo.value)


def test_component_id_travels_inside_the_signature() -> None:
    token = signer().sign(NAME, "counter-other", STATE)

    assert signer().verify(token, NAME).component_id == "counter-other"
    assert token.rsplit(".", 1)[1] != TOKEN.rsplit(".", 1)[1]


# -- size limits --------------------------------------------------------------------------


def test_verify_rejects_token_over_max_bytes_as_oversized() -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer(max_bytes=len(TOKEN) - 1).verify(TOKEN, NAME)

    assert excinfo.value.problem == "oversized"


def test_verify_rejects_oversized_garbage_before_parsing_it() -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer(max_bytes=100).verify("!" * 101, NAME)

    assert excinfo.value.problem == "oversized"


def test_verify_accepts_token_of_exactly_max_bytes() -> None:
    assert signer(max_bytes=len(TOKEN)).verify(TOKEN, NAME).state == STATE


def test_sign_rejects_state_whose_token_would_exceed_max_bytes() -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer(max_bytes=200).sign(NAME, COMPONENT_ID, {"text": "x" * 500})

    assert excinfo.value.problem == "oversized"
    assert "200" in str(excinfo.value)


# -- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [("",), ("short",), ("x" * 15,), (b"x" * 15,), (KEY, "short")])
def test_keys_shorter_than_16_bytes_are_refused(keys: tuple[str | bytes, ...]) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SnapshotSigner(keys)


def test_key_of_16_bytes_is_accepted() -> None:
    assert signer("x" * 16).verify(signer("x" * 16).sign(NAME, COMPONENT_ID, {}), NAME)


def test_key_length_is_counted_in_utf8_bytes() -> None:
    assert SnapshotSigner(["é" * 8])  # 8 characters, 16 bytes


def test_empty_key_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        SnapshotSigner([])


def test_state_that_is_not_json_data_cannot_be_signed() -> None:
    with pytest.raises(TypeError):
        signer().sign(NAME, COMPONENT_ID, {"when": object()})


def test_state_with_nan_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="JSON"):
        signer().sign(NAME, COMPONENT_ID, {"ratio": float("nan")})


# -- correctly signed payloads we would never produce --------------------------------------

_DEEP = ("[" * 5000 + "]" * 5000).encode("ascii")

WRONG_PAYLOADS: dict[str, bytes] = {
    "not json": b"not json",
    "invalid utf-8": b'{"c": "\xff"}',
    "empty": b"",
    "array": b"[]",
    "string": b'"text"',
    "number": b"42",
    "null": b"null",
    "empty object": b"{}",
    "no name": document(c=...),
    "no id": document(i=...),
    "no time": document(t=...),
    "no state": document(s=...),
    "name is a number": document(c=1),
    "id is null": document(i=None),
    "time is a string": document(t="1700000000"),
    "time is a float": document(t=1.5),
    "time is a boolean": document(t=True),
    "state is a list": document(s=[1, 2]),
    "state is a string": document(s="{}"),
    "deeply nested": _DEEP,
}


@pytest.mark.parametrize("payload", WRONG_PAYLOADS.values(), ids=WRONG_PAYLOADS.keys())
def test_correctly_signed_payload_of_wrong_shape_is_malformed(payload: bytes) -> None:
    token = hand_signed(b64(payload))

    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(token, NAME)

    assert excinfo.value.problem == "malformed"


@pytest.mark.parametrize("payload_text", ["A", "A====", "%%%%"])
def test_correctly_signed_payload_that_is_not_base64_is_malformed(payload_text: str) -> None:
    with pytest.raises(SnapshotError) as excinfo:
        signer().verify(hand_signed(payload_text), NAME)

    assert excinfo.value.problem == "malformed"


def test_hand_signed_payload_of_right_shape_verifies() -> None:
    """Guards the helper above: its tokens fail only because of their payloads."""
    token = hand_signed(b64(document(s={"count": 1})))

    assert signer().verify(token, NAME).state == {"count": 1}


# -- properties ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_states = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@settings(max_examples=200)
@given(state=json_states, name=st.text(max_size=20), component_id=st.text(max_size=20))
def test_any_json_state_round_trips_exactly(
    state: dict[str, Any], name: str, component_id: str
) -> None:
    verifier = signer(max_bytes=1 << 20)

    snapshot = verifier.verify(verifier.sign(name, component_id, state), name)

    # repr tells 1 from 1.0 and True from 1, which == does not.
    assert repr(snapshot.state) == repr(state)
    assert (snapshot.component_name, snapshot.component_id) == (name, component_id)


@settings(max_examples=100)
@given(
    tokens=st.lists(
        st.tuples(st.sampled_from(["", "a", "b", 'q"\\\n', "é"]), st.text(max_size=8)),
        min_size=1,
        max_size=6,
    )
)
def test_one_signer_signs_names_and_ids_in_turn_as_if_each_were_its_first(
    tokens: list[tuple[str, str]],
) -> None:
    """The signer keeps the last name's text, and a caller may bring the id's: every
    token is still the whole document signed, whatever came before it."""
    one = signer()
    for name, component_id in tokens:
        whole = json.dumps(
            {"c": name, "i": component_id, "t": NOW, "s": {"n": 1}},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        expected = hand_signed(b64(whole.encode("utf-8")))
        assert one.sign(name, component_id, {"n": 1}) == expected
        id_text = json.dumps(component_id, ensure_ascii=False)
        token, _ = one.signed_state(name, component_id, {"n": 1}, id_text=id_text)
        assert token == expected


#: Tokens of any state, name, id and parent, and reference tokens of any version.
signed_tokens = st.builds(
    lambda state, name, component_id, parent: signer(max_bytes=1 << 20).sign(
        name, component_id, state, parent
    ),
    json_states,
    st.text(max_size=20),
    st.text(max_size=20),
    st.none() | st.tuples(st.text(max_size=8), st.text(max_size=8)),
) | st.builds(
    lambda name, version: signer().sign_reference(name, f"{name}-1", version),
    st.text(max_size=20),
    st.integers(min_value=1),
)


@settings(max_examples=200)
@given(token=signed_tokens)
def test_a_token_as_a_json_string_is_itself_in_quotes(token: str) -> None:
    """A message writes a token in quotes, without the string encoder: its characters
    (base64url and dots) never need escaping, whatever the state, name and id hold."""
    assert json.dumps(token, ensure_ascii=False) == f'"{token}"'
    assert json.dumps(token) == f'"{token}"'


@settings(max_examples=200)
@given(
    state=json_states,
    name=st.text(max_size=20),
    component_id=st.text(max_size=20),
    parent=st.none() | st.tuples(st.text(max_size=8), st.text(max_size=8)),
    meta=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)
def test_a_token_is_exactly_the_whole_document_signed_and_carries_the_state_text(
    state: dict[str, Any],
    name: str,
    component_id: str,
    parent: tuple[str, str] | None,
    meta: dict[str, Any] | None,
) -> None:
    """The payload joined from its parts is the document encoded at once, and the state
    text handed back is what the compact encoder writes for the state."""
    token, state_text = signer(max_bytes=1 << 20).signed_state(
        name, component_id, state, parent, meta
    )

    document: dict[str, Any] = {"c": name, "i": component_id, "t": NOW, "s": state}
    if parent is not None:
        document["p"] = parent
    if meta:
        document["m"] = meta
    whole = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert token == hand_signed(b64(whole.encode("utf-8")))
    assert state_text == json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    assert token == signer(max_bytes=1 << 20).sign(name, component_id, state, parent, meta)


def test_a_state_that_is_not_strict_json_is_refused_when_signed() -> None:
    with pytest.raises(ValueError, match="Out of range float values"):
        signer().signed_state(NAME, COMPONENT_ID, {"price": float("nan")})


_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_.="
token_like = st.one_of(
    st.text(),
    st.text(alphabet=_TOKEN_ALPHABET),
    st.builds(lambda a, b: f"v1.{a}.{b}", st.text(_TOKEN_ALPHABET), st.text(_TOKEN_ALPHABET)),
    st.builds(
        lambda a, b: f"v2.{key_id(KEY)}.{a}.{b}",
        st.text(_TOKEN_ALPHABET),
        st.text(_TOKEN_ALPHABET),
    ),
    st.builds(
        lambda index, text: TOKEN[:index] + text + TOKEN[index + len(text) :],
        st.integers(0, len(TOKEN)),
        st.text(max_size=4),
    ),
)


@settings(max_examples=200)
@given(text=token_like)
def test_arbitrary_text_verifies_or_raises_snapshot_error(text: str) -> None:
    try:
        outcome: Snapshot | SnapshotError = signer().verify(text, NAME)
    except SnapshotError as exc:
        outcome = exc

    assert isinstance(outcome, Snapshot) or outcome.problem in SNAPSHOT_PROBLEMS
