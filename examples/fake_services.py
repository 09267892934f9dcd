"""Stand-ins for the slow services the showcase components call: an ML model, a report
generator and an LLM token stream. Local, deterministic where tests need it, no network, and
no component registration (tests import this module freely)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

POSITIVE: Final = frozenset({"love", "great", "good", "happy", "fast", "excellent", "nice"})
NEGATIVE: Final = frozenset({"hate", "bad", "slow", "sad", "awful", "broken", "terrible"})


async def score_sentiment(text: str) -> float:
    """A stand-in for an ML service: awaits like network I/O, scores by word lists."""
    await asyncio.sleep(0.3)
    words = [word.strip(".,!?").lower() for word in text.split()]
    hits = sum(word in POSITIVE for word in words) - sum(word in NEGATIVE for word in words)
    return max(-1.0, min(1.0, hits / max(1, len(words)) * 3))


REPORT_SECTIONS: Final = ("Executive Summary", "Revenue Analysis", "Forecast")
SECTION_SECONDS: Final = 0.4


async def build_section(report_id: int, title: str) -> str:
    """Simulated work: a query, a computation, a model call..."""
    await asyncio.sleep(SECTION_SECONDS)
    return f"Content for {title} (report #{report_id})"


TOKEN_SECONDS: Final = 0.03


def fake_reply(question: str) -> list[str]:
    """The assistant's answer as tokens: deterministic, local, no network."""
    topic = " ".join(question.split()[:6]) or "that"
    text = (
        f"Good question about “{topic}”. Server-driven components keep the state on the "
        "server, render HTML there, and stream each token to the page as it is produced."
    )
    return [word + " " for word in text.split(" ")]


async def generate_tokens(question: str) -> AsyncIterator[str]:
    """A stand-in for an LLM client's token stream."""
    for token in fake_reply(question):
        await asyncio.sleep(TOKEN_SECONDS)
        yield token
