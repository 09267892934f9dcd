"""The example app's components: the guide's counter, an async sentiment analyser and the
streaming report."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from component_framework.core import registry
from component_framework.core.component import Component, StreamingComponent

POSITIVE = frozenset({"love", "great", "good", "happy", "fast", "excellent", "nice"})
NEGATIVE = frozenset({"hate", "bad", "slow", "sad", "awful", "broken", "terrible"})


@registry.register("counter")
class CounterComponent(Component):
    """Simple increment/decrement counter."""

    template_name = "counter.html"

    def mount(self) -> None:
        self.state["count"] = 0

    def on_increment(self) -> None:
        self.state["count"] += 1

    def on_decrement(self) -> None:
        self.state["count"] = max(0, self.state["count"] - 1)


async def score_sentiment(text: str) -> float:
    """A stand-in for an ML service: awaits like network I/O, scores by word lists."""
    await asyncio.sleep(0.3)
    words = [word.strip(".,!?").lower() for word in text.split()]
    hits = sum(word in POSITIVE for word in words) - sum(word in NEGATIVE for word in words)
    return max(-1.0, min(1.0, hits / max(1, len(words)) * 3))


@registry.register("sentiment")
class SentimentComponent(Component):
    """Scores a text snippet with an async (mock) ML service."""

    template_name = "sentiment.html"

    def mount(self) -> None:
        self.state.update({"text": "", "score": None})

    async def on_analyze(self, text: str) -> None:
        self.state["text"] = text
        self.state["score"] = round(await score_sentiment(text), 2)

    def before_render(self) -> None:
        score = self.state["score"]
        self.state["mood"] = (
            ""
            if score is None
            else "positive"
            if score > 0
            else "negative"
            if score < 0
            else "neutral"
        )


@registry.register("report")
class ReportComponent(StreamingComponent):
    """Generates a multi-section report, streaming each section as it completes (SSE)."""

    template_name = "report.html"

    def mount(self) -> None:
        self.state.update({"sections": [], "done": False})

    async def on_generate(self, report_id: int = 1) -> AsyncIterator[None]:
        """Each ``yield`` pushes the current render to the browser as one SSE frame."""
        for title in ("Executive Summary", "Revenue Analysis", "Forecast"):
            content = await build_section(report_id, title)
            self.state["sections"].append({"title": title, "content": content})
            yield
        self.state["done"] = True
        yield


async def build_section(report_id: int, title: str) -> str:
    """Simulated work: a query, a computation, a model call..."""
    await asyncio.sleep(0.4)
    return f"Content for {title} (report #{report_id})"
