"""The example app's components, shared by the Litestar, Starlette and standalone examples.

- ``counter``: the guide's counter (HTTP).
- ``sentiment``: an ``async def`` handler awaiting a mock ML service (loading state).
- ``report``: a report whose sections arrive one by one over SSE, with a progress bar
  (stream operations: ``stream_insert`` and ``stream_to``).
- ``chat``: an AI-chat-style assistant over WebSocket whose reply streams token by token with
  ``stream_text`` (a local fake token generator, no network).
- ``ticker``: live prices pushed by a background task through ``WebSocketManager.broadcast``.
- ``todo``: a shared list over WebSocket; every open page sees every change, so each client
  may change it at most twice a second (``@rate_limit``: every change is a broadcast that
  re-renders every open page). It shows who is viewing the list (``presence``: every open
  page, on every worker with a broker; a closed page leaves at once, a crashed worker's
  within a few seconds).
- ``profile``: a form over HTTP whose handler takes a msgspec ``Struct`` (``Profile``): every
  invalid field is shown at once on save with what the person typed kept, each field is
  checked as the person types, and the handler adds an error of its own (a taken name).
- ``avatar``: an image upload over HTTP with its progress shown while it is sent and a
  preview once it arrived (``UploadFile`` with ``Accept``: type and size checked as it
  streams).
- ``greeting`` and ``checkout`` (``examples.account``, imported here): a component that
  reads ``self.request.user``, and handlers that redirect the browser (one refused: no
  open redirect).
- ``shop_products`` (``examples.shop``, imported here): the shop page's product list, whose
  search and page live in the page's URL (``url_state``), with an owner-only action, and
  ``cart_badge``, which hears the products' ``added`` events.

The slow services they call (a mock ML model, a report generator, a fake LLM) live in
``examples.fake_services``. Also the pieces each host needs: :func:`example_settings`,
:data:`TEMPLATES`, :data:`STATIC` (the stylesheet), :data:`CONTENT_SECURITY_POLICY` for the
page, and :data:`ticker_feed`, the background task.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
from markupsafe import escape

from component_framework.core import registry
from component_framework.core.component import Component, StreamingComponent, rate_limit
from component_framework.core.config import Settings
from component_framework.core.uploads import Accept, UploadFile
from component_framework.core.websocket import WebSocketManager
from examples import account, shop  # noqa: F401  (register the account and shop components)
from examples.fake_services import (
    REPORT_SECTIONS,
    build_section,
    generate_tokens,
    score_sentiment,
)

ROOT: Final = Path(__file__).resolve().parent
TEMPLATES: Final = ROOT / "templates"

STATIC: Final = ROOT / "static"
#: The index page's policy: no inline script or style anywhere, scripts (htmx included) and
#: connections (SSE, WebSocket) to this origin only.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

manager = WebSocketManager()


def example_settings() -> Settings:
    """Settings from the environment (``scripts/demo.sh`` turns ``COMPONENT_FRAMEWORK_DEBUG``
    on); htmx is the copy shipped with the package, served by the app itself."""
    return Settings.from_env()


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


@registry.register("sentiment")
class SentimentComponent(Component):
    """Scores a text snippet with an async (mock) ML service."""

    template_name = "sentiment.html"

    def mount(self) -> None:
        self.state.update({"text": "", "score": None})

    async def on_analyze(self, text: str) -> None:
        self.state["text"] = text[:500]
        self.state["score"] = round(await score_sentiment(self.state["text"]), 2)

    def before_render(self) -> None:
        score = self.state["score"]
        if score is None:
            self.state["mood"] = ""
        else:
            self.state["mood"] = "positive" if score > 0 else "negative" if score < 0 else "neutral"


@registry.register("report")
class ReportComponent(StreamingComponent):
    """A report generated section by section; each section is streamed to the page as it is
    ready, with a progress bar (SSE: ``/components/report/stream/?report_id=N``)."""

    template_name = "report.html"

    def mount(self) -> None:
        self.state.update({"report_id": 0, "running": False})

    def on_start(self) -> None:
        """The button: renders the stream element, whose connection runs :meth:`on_generate`."""
        self.state["report_id"] += 1
        self.state["running"] = True

    async def on_generate(self, report_id: int = 1) -> AsyncIterator[None]:
        """Runs for ``/components/report/stream/?report_id=N`` (a fresh report component)."""
        await self.stream_start("sections")
        for done, title in enumerate(REPORT_SECTIONS, start=1):
            content = await build_section(report_id, title)
            await self.stream_insert(
                "sections", f"<article><h3>{escape(title)}</h3><p>{escape(content)}</p></article>"
            )
            await self.stream_to("progress", html=progress_html(done, len(REPORT_SECTIONS)))
            yield
        await self.stream_to("progress", html='<p class="report-done">Report complete.</p>')
        await self.stream_done("sections")


def progress_html(done: int, total: int) -> str:
    return f'<progress max="{total}" value="{done}"></progress> {done} of {total} sections'


MAX_CHAT_MESSAGES: Final = 20


@registry.register("chat")
class ChatComponent(StreamingComponent):
    """An assistant that answers over WebSocket, streaming its reply token by token."""

    template_name = "chat.html"

    def mount(self) -> None:
        self.state.update({"messages": [], "busy": False})

    async def on_ask(self, question: str) -> AsyncIterator[None]:
        question = question.strip()[:300]
        if not question or self.state["busy"]:
            return
        messages = self.state["messages"][-(MAX_CHAT_MESSAGES - 1) :]
        number = (messages[-1]["number"] + 1) if messages else 1
        messages.append({"number": number, "question": question, "answer": ""})
        self.state.update({"messages": messages, "busy": True})
        yield  # the question and an empty reply appear at once
        stream = f"reply-{number}"
        await self.stream_start(stream)
        answer = []
        async for token in generate_tokens(question):
            answer.append(token)
            await self.stream_text(stream, token)
        messages[-1]["answer"] = "".join(answer).strip()
        self.state["busy"] = False
        await self.stream_done(stream)
        yield


TICKER_SYMBOLS: Final = ("ACME", "GLOBEX", "INITECH")


@registry.register("ticker")
class TickerComponent(Component):
    """Live prices: :class:`TickerFeed` broadcasts ``tick`` to every live ticker."""

    template_name = "ticker.html"

    def mount(self) -> None:
        self.state.update({"prices": {}, "changes": {}, "ticks": 0})

    def on_tick(self, prices: dict[str, float]) -> None:
        old = self.state["prices"]
        self.state["changes"] = {
            symbol: round(price - old.get(symbol, price), 2) for symbol, price in prices.items()
        }
        self.state["prices"] = prices
        self.state["ticks"] += 1


@dataclass
class TickerFeed:
    """The background task behind the ticker: a random walk, broadcast every ``interval`` s."""

    interval: float = 1.0
    prices: dict[str, float] = field(
        default_factory=lambda: dict(zip(TICKER_SYMBOLS, (101.0, 57.5, 12.25), strict=True))
    )
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for symbol, price in self.prices.items():
                self.prices[symbol] = round(max(1.0, price + random.uniform(-1.5, 1.5)), 2)
            await manager.broadcast(
                component_name="ticker", event="tick", payload={"prices": dict(self.prices)}
            )

    async def start(self) -> None:
        """Start broadcasting (a host's startup hook)."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Stop broadcasting (a host's shutdown hook)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


ticker_feed = TickerFeed()
MAX_TODO_ITEMS: Final = 50
MAX_TODO_TEXT: Final = 120
#: Names shown under the list; beyond them, "and N more".
MAX_VIEWERS_SHOWN: Final = 8


@dataclass
class TodoStore:
    """The shared list (in this process: several workers would keep it in a database)."""

    items: list[dict[str, object]] = field(default_factory=list)
    next_id: int = 1

    def add(self, text: str) -> None:
        self.items = [*self.items, {"id": self.next_id, "text": text, "done": False}]
        self.items = self.items[-MAX_TODO_ITEMS:]
        self.next_id += 1

    def toggle(self, item_id: int) -> None:
        self.items = [
            {**item, "done": not item["done"]} if item["id"] == item_id else item
            for item in self.items
        ]

    def remove(self, item_id: int) -> None:
        self.items = [item for item in self.items if item["id"] != item_id]


todo_store = TodoStore()


@registry.register("todo")
class TodoComponent(Component):
    """A list shared by every page: each change is broadcast, every live list re-reads it.
    Each open list is present in the topic ``todo`` and shows who is viewing it."""

    template_name = "todo.html"
    presence = True

    def mount(self) -> None:
        self.state["items"] = todo_store.items

    def topics(self) -> list[str]:
        return ["todo"]

    def on_presence(self) -> None:
        """Someone opened or closed the list: the render shows who is viewing now."""

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["viewers"] = [
            {"name": entry["name"], "you": entry["key"] == self.presence_key}
            for entry in self.present(limit=MAX_VIEWERS_SHOWN)
        ]
        context["viewer_count"] = self.present_count()
        return context

    # Each change re-renders every open list: one client may not make the server do that
    # more than twice a second (a burst of 5 for quick clicks).
    @rate_limit(per_second=2, burst=5)
    async def on_add(self, text: str) -> None:
        text = " ".join(text.split())[:MAX_TODO_TEXT]
        if text:
            todo_store.add(text)
            await self._changed()

    @rate_limit(per_second=2, burst=5)
    async def on_toggle(self, item_id: int) -> None:
        todo_store.toggle(item_id)
        await self._changed()

    @rate_limit(per_second=2, burst=5)
    async def on_remove(self, item_id: int) -> None:
        todo_store.remove(item_id)
        await self._changed()

    def on_changed(self) -> None:
        """Broadcast to every live list after a change (this one included)."""
        self.state["items"] = todo_store.items

    async def _changed(self) -> None:
        self.state["items"] = todo_store.items
        await manager.broadcast(component_name="todo", event="changed", payload={})


# -- profile: a form (docs/forms.md) ---------------------------------------------------------

#: Not a full address check (only sending mail proves an address), just its shape.
EMAIL_PATTERN: Final = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
WEBSITE_PATTERN: Final = r"^(https?://\S+)?$"
#: Names the handler refuses itself, as a check against a database would.
TAKEN_NAMES: Final = frozenset({"admin", "root", "support"})
TAKEN: Final = "This name is taken: choose another."


class Profile(msgspec.Struct):
    """The profile form: each field's rules, checked as the person types and again on save
    (msgspec comes with Litestar; pydantic models, dataclasses and TypedDicts work too)."""

    name: Annotated[str, msgspec.Meta(min_length=2, max_length=40)]
    email: Annotated[str, msgspec.Meta(max_length=120, pattern=EMAIL_PATTERN)]
    age: Annotated[int, msgspec.Meta(ge=13, le=120)]
    website: Annotated[str, msgspec.Meta(max_length=200, pattern=WEBSITE_PATTERN)] = ""
    bio: Annotated[str, msgspec.Meta(max_length=160)] = ""
    newsletter: bool = False


def empty_profile() -> dict[str, Any]:
    return {"name": "", "email": "", "age": None, "website": "", "bio": "", "newsletter": False}


@registry.register("profile")
class ProfileComponent(Component):
    """A profile form over HTTP (``profile.html``): an invalid save re-renders with every
    field's message and what was typed; each field is checked as the person types (its own
    request names it in ``validate``: the handler does not run); :meth:`on_save` adds an
    error of its own for a taken name. The avatar upload goes beside the fields."""

    template_name = "profile.html"

    def mount(self) -> None:
        self.state.update({"profile": empty_profile(), "saves": 0})

    def on_save(self, profile: Profile) -> None:
        """Runs only when every field is valid."""
        if profile.name.strip().lower() in TAKEN_NAMES:
            self.add_error("name", TAKEN)
            return
        self.state["profile"] = msgspec.structs.asdict(profile)
        self.state["saves"] += 1


# -- avatar: an upload with progress and a preview (docs/uploads.md) --------------------------

#: What the avatar field takes: a small image of one of these types.
AVATAR_TYPES: Final = ("image/png", "image/jpeg", "image/gif", "image/webp")
AVATAR_MAX_BYTES: Final = 512 * 1024


class AvatarStore:
    """The latest avatars, in memory and bounded (a real app saves them to its storage). The
    state holds only an avatar's key, so the snapshot stays small; the page shows the image as
    a ``data:`` URL (which the page's policy allows for images), served by no extra route."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._images: OrderedDict[str, tuple[str, bytes]] = OrderedDict()

    def put(self, media_type: str, data: bytes) -> str:
        """Keep an image (the oldest goes past ``limit``); its new key."""
        key = secrets.token_urlsafe(12)
        self._images[key] = (media_type, data)
        while len(self._images) > self.limit:
            self._images.popitem(last=False)
        return key

    def data_url(self, key: str) -> str | None:
        """The image under ``key`` as a ``data:`` URL (``None``: gone)."""
        found = self._images.get(key)
        if found is None:
            return None
        media_type, data = found
        return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


avatars = AvatarStore()


@registry.register("avatar")
class AvatarComponent(Component):
    """An avatar upload over HTTP (``avatar.html``): the runtime shows its progress on the
    ``<progress data-upload-progress>``, the answer shows the image. A file of another type or
    over 512 KiB is refused while it streams, and the refusal is shown in the component."""

    template_name = "avatar.html"

    def mount(self) -> None:
        self.state.update({"key": None, "name": "", "size": 0})

    async def on_upload(
        self,
        avatar: Annotated[UploadFile, Accept(*AVATAR_TYPES, max_bytes=AVATAR_MAX_BYTES)],
    ) -> None:
        media_type = avatar.content_type.split(";", 1)[0].strip().lower()
        key = avatars.put(media_type, await avatar.read())
        self.state.update({"key": key, "name": avatar.filename, "size": avatar.size})

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        key = self.state.get("key")
        context["preview"] = avatars.data_url(key) if key else None
        return context
