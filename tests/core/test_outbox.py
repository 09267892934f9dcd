"""The bounded outbox of a connection and its overflow policies, sans-IO."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from component_framework.core.outbox import OVERFLOW, QUEUED, Outbox, Verdict, fits_alone


def outbox(policy: str = "coalesce", messages: int = 8, size: int = 1000) -> Outbox:
    return Outbox(max_messages=messages, max_bytes=size, policy=policy)  # type: ignore[arg-type]


def drain(box: Outbox) -> list[str]:
    taken = []
    while (text := box.take()) is not None:
        taken.append(text)
    return taken


def test_messages_come_out_in_order_and_the_counters_follow() -> None:
    box = outbox()
    assert box.put("a") is QUEUED
    assert box.put("bb") is QUEUED
    assert (box.count, box.size, len(box)) == (2, 3, 2)
    assert box.take() == "a"
    assert (box.count, box.size) == (1, 2)
    assert box.take() == "bb"
    assert box.take() is None
    assert (box.count, box.size, len(box)) == (0, 0, 0)


@pytest.mark.parametrize("policy", ["coalesce", "disconnect"])
def test_the_message_bound_overflows_on_one_message_too_many(policy: str) -> None:
    box = outbox(policy, messages=3)
    assert [box.put(text) for text in "abc"] == [QUEUED] * 3
    assert box.put("d") is OVERFLOW
    assert box.count == 4, "the message is queued all the same: the caller clears"
    box.clear()
    assert (box.count, box.size, len(box), box.take()) == (0, 0, 0, None)


@pytest.mark.parametrize("policy", ["coalesce", "disconnect"])
def test_the_byte_bound_counts_characters_of_text(policy: str) -> None:
    box = outbox(policy, size=10)
    assert box.put("x" * 6) is QUEUED
    assert box.put("y" * 4) is QUEUED  # exactly at the bound
    assert box.put("z") is OVERFLOW
    box.clear()
    assert box.put("w" * 11) is OVERFLOW, "one message larger than the bound"


def test_taking_frees_room_under_the_bounds() -> None:
    box = outbox(messages=2, size=4)
    box.put("aa")
    box.put("bb")
    assert box.take() == "aa"
    assert box.put("cc") is QUEUED
    assert drain(box) == ["bb", "cc"]


def test_coalesce_keeps_only_the_newest_push_render() -> None:
    box = outbox("coalesce", messages=2)
    verdicts = [box.put(f"render {n}", push=True) for n in range(100)]
    assert set(verdicts) == {QUEUED}, "push renders never overflow under coalesce"
    assert (box.count, len(box)) == (1, 1)
    assert drain(box) == ["render 99"]


def test_coalesce_keeps_the_order_of_the_other_messages() -> None:
    box = outbox("coalesce")
    box.put("r1", push=True)
    box.put("e1")
    box.put("r2", push=True)
    box.put("e2")
    box.put("r3", push=True)
    assert box.count == 3
    assert box.size == len("e1e2r3")
    assert len(box) == 5, "replaced renders keep their places before later messages"
    assert [entry.text for entry in box] == ["", "e1", "", "e2", "r3"]
    assert drain(box) == ["e1", "e2", "r3"]
    assert (box.count, box.size, len(box)) == (0, 0, 0)


def test_coalesce_replaces_nothing_once_the_render_was_taken() -> None:
    box = outbox("coalesce")
    box.put("r1", push=True)
    assert box.take() == "r1"
    box.put("r2", push=True)
    box.put("r3", push=True)
    assert drain(box) == ["r3"]


def test_answers_are_never_coalesced() -> None:
    box = outbox("coalesce")
    box.put("answer 1")
    box.put("answer 2")
    box.put("push", push=True)
    assert drain(box) == ["answer 1", "answer 2", "push"]


def test_coalesce_closes_only_when_other_messages_overflow() -> None:
    box = outbox("coalesce", messages=3)
    box.put("r", push=True)
    box.put("e1")
    box.put("r", push=True)
    box.put("e2")
    assert box.put("r", push=True) is QUEUED
    assert box.put("e3") is OVERFLOW


def test_replaced_renders_do_not_pile_up_in_the_queue() -> None:
    box = outbox("coalesce", messages=8)
    for n in range(50):
        assert box.put(f"r{n}", push=True) is QUEUED
        if n % 10 == 0:
            assert box.put(f"e{n}") is QUEUED
        assert len(box) <= 8, "the places of replaced renders are reclaimed"
    assert drain(box) == ["e0", "e10", "e20", "e30", "e40", "r49"]


def test_disconnect_counts_every_push_render() -> None:
    box = outbox("disconnect", messages=3)
    assert [box.put(f"r{n}", push=True) for n in range(3)] == [QUEUED] * 3
    assert box.put("r3", push=True) is OVERFLOW
    box.clear()
    box.put("r", push=True)
    box.put("e")
    box.put("r2", push=True)
    assert drain(box) == ["r", "e", "r2"]


def test_clear_forgets_the_pending_push_render() -> None:
    box = outbox("coalesce")
    box.put("r1", push=True)
    box.clear()
    box.put("e")
    box.put("r2", push=True)
    assert drain(box) == ["e", "r2"]


@given(
    st.lists(st.tuples(st.sampled_from(["put", "push", "take"]), st.text(max_size=5)), max_size=60)
)
def test_coalesce_matches_a_simple_model(steps: list[tuple[str, str]]) -> None:
    """Sent in order, minus every push render that a newer unsent one replaced; the counters
    always say what is left, and the verdict is the bound check on them."""
    box = outbox("coalesce", messages=6, size=20)
    model: list[tuple[str, bool]] = []
    for action, text in steps:
        if action == "take":
            expected = model.pop(0)[0] if model else None
            assert box.take() == expected
            continue
        push = action == "push"
        if push:  # at most one push render is unsent: the newer one replaces it
            model = [queued for queued in model if not queued[1]]
        model.append((text, push))
        verdict = box.put(text, push=push)
        over = len(model) > 6 or sum(len(t) for t, _ in model) > 20
        assert verdict is (OVERFLOW if over else QUEUED)
        if verdict is OVERFLOW:
            box.clear()
            model.clear()
        assert (box.count, box.size) == (len(model), sum(len(t) for t, _ in model))
    assert drain(box) == [text for text, _ in model]


def test_the_verdicts_are_named() -> None:
    assert {verdict.value for verdict in Verdict} == {"queued", "overflow"}


def test_push_renders_coalesce_per_component_never_across() -> None:
    box = outbox("coalesce")
    box.put("a1", push=True, key="a")
    box.put("b1", push=True, key="b")
    box.put("a2", push=True, key="a")
    assert drain(box) == ["b1", "a2"]


def test_a_message_passes_the_queue_only_when_nothing_waits_and_it_fits_alone() -> None:
    box = outbox(size=10)
    assert box.passes("a" * 10)
    assert not box.passes("a" * 11), "too large alone: put says OVERFLOW, the caller closes"
    box.put("waiting")
    assert not box.passes("b"), "it would overtake the message that waits"
    box.take()
    assert box.passes("b")


def test_a_connection_without_an_outbox_lets_pass_what_an_empty_outbox_would() -> None:
    # A connection makes its outbox only when a message has to wait: until then it asks
    # fits_alone, which must agree with an empty outbox of the same bounds.
    for messages, size, text in [(8, 10, "a" * 10), (8, 10, "a" * 11), (0, 10, "a"), (1, 0, "")]:
        empty = outbox(messages=messages, size=size)
        assert fits_alone(text, max_messages=messages, max_bytes=size) == empty.passes(text)


def test_a_drained_outbox_coalesces_afresh() -> None:
    box = outbox()
    box.put("old push", push=True)
    assert drain(box) == ["old push"]
    box.put("new push", push=True)
    box.put("newest push", push=True)
    assert drain(box) == ["newest push"]
    box.put("after clear", push=True)
    box.clear()
    box.put("push", push=True)
    assert drain(box) == ["push"]


def test_nothing_passes_while_a_replaced_push_render_still_holds_a_place() -> None:
    box = outbox()
    box.put("first push", push=True)
    box.put("answer")
    box.put("second push", push=True)  # the first one is dead but keeps its place
    assert not box.passes("next")
    assert drain(box) == ["answer", "second push"]
    assert box.passes("next")
