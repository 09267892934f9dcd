"""The WebSocket entry point on arbitrary handshakes and frame sequences: a documented denial,
or an accepted socket whose every message is a documented server message and whose close (if
any) carries a documented code; never an exception out of the app, a hang, or a task left
running after the client left."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import event, example, given
from hypothesis import strategies as st

from component_framework.core.hub import Broadcast
from tests.fuzz import strategies as fz
from tests.fuzz.apps import MAX_WS_MESSAGE, make_app, query_pairs, settle
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.wire import BROADCAST, check_ws_texts, websocket_scope, websocket_session

WS_COMPONENTS = ("counter", "echo", "report", "typed", "live", "note")


class Frame(dict[str, Any]):
    """A ``websocket.receive`` message whose repr stays short (failing examples are printed)."""

    def __repr__(self) -> str:
        shown = {key: value if len(str(value)) <= 200 else f"<{len(value)} long>"
                 for key, value in self.items()}  # fmt: skip
        return f"Frame({shown!r})"


def text_frame(text: str) -> dict[str, Any]:
    return Frame(type="websocket.receive", text=text)


def bytes_frame(data: bytes) -> dict[str, Any]:
    return Frame(type="websocket.receive", bytes=data)


@st.composite
def event_documents(draw: st.DrawFn) -> dict[str, Any]:
    """An event message for one of the fuzz handlers, with a payload that may or may not fit."""
    document: dict[str, Any] = {"type": "event", "event": draw(fz.event_names)}
    document["payload"] = draw(st.dictionaries(fz.field_names, fz.parameter_values, max_size=3))
    if draw(st.booleans()):
        document["ref"] = draw(fz.refs)
    return document


@st.composite
def broadcasts(draw: st.DrawFn) -> dict[str, Any]:
    """A broadcast from the server side: a handler's event or one forwarded to the client."""
    event_name, payload = draw(
        st.sampled_from([("bump", {"by": 2}), ("bump", {}), ("increment", {}),
                         ("say", {"text": "hi"}), ("news", {"x": [1, "y"]}),
                         ("add", {"amount": "x"}), ("generate", {})])
    )  # fmt: skip
    target = draw(st.sampled_from(WS_COMPONENTS))
    return Frame(type=BROADCAST, broadcast=Broadcast(event_name, payload, component_name=target))


frames = fz.weighted(
    (1, broadcasts()),
    (4, event_documents().map(json.dumps).map(text_frame)),
    (3, fz.ws_message_texts.map(text_frame)),
    (1, fz.json_texts.map(text_frame)),
    (1, st.text(max_size=30).map(text_frame)),
    (1, st.binary(max_size=30).map(bytes_frame)),
    (1, st.sampled_from([text_frame("x" * (MAX_WS_MESSAGE + 1)),
                         text_frame("é" * (MAX_WS_MESSAGE // 2 + 1)),
                         bytes_frame(b"\0" * (MAX_WS_MESSAGE + 1)),
                         Frame(type="websocket.receive"),
                         Frame(type="websocket.receive", text=None, bytes=None),
                         bytes_frame(b"")])),
)  # fmt: skip


MOUNT_PARAMS = {"counter": "start", "echo": "text", "live": "count"}


@st.composite
def connect_queries(draw: st.DrawFn, component: str) -> bytes:
    """The query string of the handshake: mount params or a snapshot, format and target."""
    if draw(fz.one_in(10)):
        return draw(fz.query_strings)
    fields: dict[str, Any] = {}
    if draw(fz.one_in(5)):
        fields["snapshot"] = draw(
            fz.weighted((2, fz.valid_tokens(component if component != "nope" else None)),
                        (1, fz.token_strings))
        )  # fmt: skip
    elif component in MOUNT_PARAMS and draw(fz.one_in(3)):
        fields[MOUNT_PARAMS[component]] = draw(fz.form_strings)
    if draw(fz.one_in(4)):
        fields["format"] = draw(
            fz.weighted((3, st.sampled_from(["json", "html"])), (1, st.text(max_size=4)))
        )
    if draw(fz.one_in(6)):
        fields["target"] = draw(st.sampled_from(["box", "a:b-c.d", "1x", "", "x" * 200]))
    if draw(fz.one_in(8)):
        fields.update(draw(st.dictionaries(fz.field_names, fz.parameter_values, max_size=2)))
    return urlencode(query_pairs(fields)).encode("ascii")


@dataclass
class Connection:
    component: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    denial: bool
    frames: list[dict[str, Any]]


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    component = draw(fz.weighted((8, st.sampled_from(WS_COMPONENTS)), (1, st.just("nope"))))
    headers: list[tuple[bytes, bytes]] = [(b"host", b"testserver")]
    origin = draw(fz.weighted((4, st.none()), (1, fz.origins)))
    if origin is not None:
        headers.append((b"origin", fz.latin1(origin)))
    if draw(fz.one_in(10)):
        headers.append((b"x-deny", b"1"))
    sent = draw(st.lists(frames, max_size=12))
    denial = draw(fz.weighted((3, st.just(True)), (1, st.just(False))))
    return Connection(component, draw(connect_queries(component)), headers, denial, sent)


def refs_sent(frames_sent: list[dict[str, Any]]) -> set[Any]:
    """Every ``ref`` the client put in a message (hashable ones; the server echoes only
    strings and ints)."""
    refs: set[Any] = set()
    for frame in frames_sent:
        try:
            document = json.loads(frame.get("text") or "")
        except (ValueError, RecursionError):
            continue
        ref = document.get("ref") if isinstance(document, dict) else None
        if isinstance(ref, str | int):
            refs.add(ref)
    return refs


async def run_connection(connection: Connection, **settings: Any) -> None:
    app = make_app(**settings)
    before = asyncio.all_tasks()
    scope = websocket_scope(
        f"/components/{connection.component}/ws/", connection.query, connection.headers,
        denial=connection.denial,
    )  # fmt: skip
    session = await websocket_session(app, scope, connection.frames)
    if session.accepted:
        event(f"accepted, close {session.close_code}")
    else:
        event(f"denied {session.denied_status or session.close_code} {session.denied_body[:60]!r}")
    html_possible = b"format=html" in connection.query or any(
        "HEADERS" in (frame.get("text") or "") for frame in connection.frames
    )
    messages = check_ws_texts(session, refs_sent(connection.frames), html_possible=html_possible)
    for message in messages:
        event(f"message {message['type']}" + (f" {message['code']}" if "code" in message else ""))
    await settle(app, before)


@fuzz_settings(scale=0.6)
@given(connection=connections())
async def test_any_frames_get_documented_messages_and_closes(connection: Connection) -> None:
    await run_connection(connection)


@fuzz_settings(scale=0.4)
@given(connection=connections())
async def test_under_a_tight_rate_limit_every_answer_is_still_documented(
    connection: Connection,
) -> None:
    await run_connection(connection, ws_rate=5.0, ws_burst=3)


@fuzz_settings(scale=0.1)
@given(
    where=st.sampled_from(["ref", "field", "text", "number"]),
    escape=st.sampled_from(['"\\ud800"', '"\\udfff"', '"a\\udc00b"']),
    number=st.sampled_from(["1e999", "-1e400", "1E+309"]),
)
@example(where="ref", escape='"\\ud800"', number="1e999")  # the ref is echoed in the answer
@example(where="field", escape='"\\ud800"', number="1e999")  # the field name echoed in a 422
@example(where="number", escape='"\\ud800"', number="1e999")  # inf kept in the state
async def test_json_no_answer_can_carry_still_gets_a_sendable_answer(
    where: str, escape: str, number: str
) -> None:
    """A WebSocket text frame is UTF-8, but its JSON may spell a lone surrogate (``\\ud800``)
    or a number out of float range (``1e999``, decoded as ``inf``); every answer must still be
    a message a server can send, and none a server fault."""
    message = (
        {
            "ref": '{"type": "ping", "ref": TEXT}',
            "field": '{"type": "event", "event": "add", "payload": {TEXT: 1}}',
            "text": '{"type": "event", "event": "say", "payload": {"text": TEXT}}',
            "number": '{"type": "event", "event": "collect", "payload": {"ids": [], "meta": META}}',
        }[where]
        .replace("TEXT", escape)
        .replace("META", '{"x": ' + number + "}")
    )
    component = {"text": "echo", "number": "typed"}.get(where, "counter")
    await run_connection(Connection(component, b"", [(b"host", b"testserver")], True,
                                    [text_frame(message)]))  # fmt: skip
