"""The benchmarked operation, shared by every contender and every measurement.

One request is the guide's counter event: a JSON body ``{"event": "increment", "snapshot": ...}``
in, a JSON answer ``{"html", "state", "snapshot", "component_id"}`` out. Every request re-uses
one valid snapshot (count :data:`START_COUNT`): verifying it costs the same as verifying a fresh
one, and the answer must always carry ``START_COUNT + 1``, which makes each answer checkable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from component_framework.protocol.snapshot import SnapshotSigner

__all__ = [
    "COMPONENT_ID",
    "COMPONENT_NAME",
    "CONTENT_TYPE",
    "EXPECTED_COUNT",
    "PATH",
    "SECRET_KEY",
    "START_COUNT",
    "TEMPLATE",
    "TEMPLATE_NAME",
    "WrongAnswer",
    "check_answer",
    "request_body",
]

#: One key for every contender, so one snapshot is valid everywhere.
SECRET_KEY: Final = "benchmark-secret-key-0123456789abcdef"
COMPONENT_NAME: Final = "counter"
COMPONENT_ID: Final = "counter-benchmark01"
START_COUNT: Final = 41
EXPECTED_COUNT: Final = START_COUNT + 1
#: Where every contender serves the counter.
PATH: Final = "/components/counter/"
CONTENT_TYPE: Final = "application/json"
TEMPLATE_NAME: Final = "counter.html"
#: The guide's counter template (as in the test suite).
TEMPLATE: Final = (
    '<div class="counter"><span class="count">{{ count }}</span>'
    '<button hx-post="/components/counter/" hx-vals=\'{"event": "increment"}\'>+</button>'
    '<button hx-post="/components/counter/" hx-vals=\'{"event": "decrement"}\'>-</button>'
    "</div>"
)


class WrongAnswer(AssertionError):
    """A contender answered the counter event incorrectly."""


def request_body() -> bytes:
    """The request body every contender receives: an increment on a count of START_COUNT."""
    snapshot = SnapshotSigner([SECRET_KEY]).sign(
        COMPONENT_NAME, COMPONENT_ID, {"count": START_COUNT}
    )
    return json.dumps({"event": "increment", "snapshot": snapshot}).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Answer:
    """A checked answer."""

    count: int
    html: str


def check_answer(status: int, body: bytes, label: str) -> Answer:
    """Raise :class:`WrongAnswer` unless ``body`` is a correct answer to :func:`request_body`."""
    if status != 200:
        raise WrongAnswer(f"{label}: expected status 200, got {status}: {body[:200]!r}")
    try:
        document: Any = json.loads(body)
    except ValueError:
        raise WrongAnswer(f"{label}: answer is not JSON: {body[:200]!r}") from None
    if not isinstance(document, dict) or set(document) != {
        "html",
        "state",
        "snapshot",
        "component_id",
    }:
        raise WrongAnswer(f"{label}: expected keys html, state, snapshot, component_id: {document}")
    if document["state"] != {"count": EXPECTED_COUNT}:
        raise WrongAnswer(
            f"{label}: expected state {{'count': {EXPECTED_COUNT}}}, got {document['state']!r}"
        )
    if document["component_id"] != COMPONENT_ID:
        raise WrongAnswer(f"{label}: expected component id {COMPONENT_ID!r}")
    if f'<span class="count">{EXPECTED_COUNT}</span>' not in document["html"]:
        raise WrongAnswer(f"{label}: html does not show {EXPECTED_COUNT}: {document['html']!r}")
    snapshot = SnapshotSigner([SECRET_KEY]).verify(document["snapshot"], COMPONENT_NAME)
    if snapshot.state != {"count": EXPECTED_COUNT} or snapshot.component_id != COMPONENT_ID:
        raise WrongAnswer(f"{label}: the new snapshot does not carry the new state")
    return Answer(EXPECTED_COUNT, document["html"])
