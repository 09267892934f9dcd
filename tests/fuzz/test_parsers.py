"""Every sans-IO parser on arbitrary input: a well-formed result or its documented error type,
never another exception; and the round trips (SSE frames, snapshots, fragment annotation)."""

from __future__ import annotations

import itertools
import json
import math
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from component_framework.protocol.fragment import annotate_root, wire_attributes
from component_framework.protocol.request import (
    RESERVED_FIELDS,
    RequestError,
    RequestFields,
    decode_json_object,
    fields_from_mapping,
    json_depth,
    parse_body,
    parse_query,
)
from component_framework.protocol.snapshot import Snapshot, SnapshotError, SnapshotSigner
from component_framework.protocol.sse import (
    SSEDecoder,
    SSEEncodeError,
    SSEEvent,
    encode_comment,
    encode_event,
)
from component_framework.protocol.websocket import (
    CLIENT_TYPES,
    ClientMessage,
    MessageError,
    parse_client_message,
)
from tests.fuzz import strategies as fz
from tests.fuzz.apps import attempt
from tests.fuzz.conftest import fuzz_settings

PROBLEMS = {"malformed", "unsupported_media_type", "too_deep", "too_many_fields"}
#: What parsing JSON or form text may refuse it for (not its content type).
TEXT_PROBLEMS = PROBLEMS - {"unsupported_media_type"}
depths = st.integers(min_value=1, max_value=40)


def _strict_loads(text: str) -> Any:
    """The oracle: the standard library's JSON, with what the protocol refuses refused too:
    NaN and Infinity, numbers out of float range, and lone surrogate escapes (neither could be
    sent back or signed), and an object holding one key twice (readers would disagree)."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise ValueError("a key twice")
        return dict(pairs)

    def finite(number: str) -> float:
        value = float(number)
        if math.isinf(value):
            raise ValueError(number)
        return value

    document = json.loads(text, parse_constant=refuse, parse_float=finite, object_pairs_hook=unique)
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError: a lone one
    return document


def check_fields(fields: RequestFields) -> None:
    """The shape every parse result has, whatever came in."""
    assert isinstance(fields, RequestFields)
    assert fields.event is None or (isinstance(fields.event, str) and fields.event)
    assert fields.snapshot is None or (isinstance(fields.snapshot, str) and fields.snapshot)
    assert isinstance(fields.payload, dict)
    assert isinstance(fields.params, dict)
    assert fields.state is None or isinstance(fields.state, dict)
    assert all(isinstance(key, str) for key in (*fields.payload, *fields.params))


def check_against_document(fields: RequestFields, document: dict[str, Any], loose: bool) -> None:
    """``fields`` say exactly what the JSON ``document`` said: reserved fields as given, every
    loose field in ``payload`` (events, streams) or ``params`` (mounts), nothing else."""
    assert fields.event == (document.get("event") or None)
    assert fields.snapshot == (document.get("snapshot") or None)
    assert fields.state == document.get("state")
    mounting = fields.is_mount and fields.snapshot is None and not loose
    target, other = (fields.params, fields.payload) if mounting else (fields.payload, fields.params)
    assert other == (document.get("payload" if mounting else "params") or {})
    given_target = document.get("params" if mounting else "payload") or {}
    extra = {key: value for key, value in document.items() if key not in RESERVED_FIELDS}
    assert target == {**given_target, **extra}
    assert not set(given_target) & set(extra)


@fuzz_settings()
@given(
    body=fz.bodies(),
    other_type=fz.content_types,
    max_depth=depths,
    loose=st.booleans(),
    swap=st.booleans(),
)
@example(body=("application/json", b'{"a": ' * 3000), other_type=None, max_depth=32,
         loose=False, swap=False)  # fmt: skip
def test_parse_body_returns_fields_or_a_request_error(
    body: tuple[str | None, bytes], other_type: str | None, max_depth: int, loose: bool, swap: bool
) -> None:
    content_type, raw = body
    if swap:
        content_type = other_type
    fields, error = attempt(
        lambda: parse_body(content_type, raw, max_depth=max_depth, loose_to_payload=loose),
        RequestError,
    )
    if isinstance(error, RequestError):
        assert error.problem in PROBLEMS
        assert str(error)
        return
    assert fields is not None
    check_fields(fields)
    if raw.strip() and content_type in fz.JSON_TYPES:
        document = _strict_loads(raw.decode("utf-8"))
        assert json_depth(document) <= max_depth
        check_against_document(fields, document, loose)


@fuzz_settings()
@given(text=fz.json_texts, max_depth=depths)
def test_decode_json_object_agrees_with_the_standard_library(text: str, max_depth: int) -> None:
    try:
        expected: Any = _strict_loads(text)
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        expected = None
    document, error = attempt(lambda: decode_json_object(text, max_depth), RequestError)
    if isinstance(error, RequestError):
        assert error.problem in TEXT_PROBLEMS
        if isinstance(expected, dict):  # a valid object is refused only for its depth
            assert error.problem == "too_deep", error  # (its few keys are under the limit)
            assert json_depth(expected) > max_depth
        return
    assert document == expected
    assert json_depth(document) <= max_depth


@fuzz_settings()
@given(query=fz.query_strings, max_depth=depths, loose=st.booleans())
def test_parse_query_returns_fields_or_a_request_error(
    query: bytes, max_depth: int, loose: bool
) -> None:
    fields, error = attempt(
        lambda: parse_query(query, max_depth=max_depth, loose_to_payload=loose), RequestError
    )
    if isinstance(error, RequestError):
        assert error.problem in TEXT_PROBLEMS
        return
    assert fields is not None
    check_fields(fields)


@fuzz_settings()
@given(
    document=fz.protocol_documents() | st.dictionaries(fz.short_text, fz.json_values, max_size=6),
    loose=st.booleans(),
)
def test_fields_from_mapping_moves_every_field_or_refuses(
    document: dict[str, Any], loose: bool
) -> None:
    original = json.loads(json.dumps(document))
    fields, error = attempt(lambda: fields_from_mapping(document, loose), RequestError)
    if isinstance(error, RequestError):
        assert error.problem == "malformed"
        return
    assert fields is not None
    check_fields(fields)
    check_against_document(fields, original, loose)


def check_ref(ref: Any) -> None:
    assert ref is None or type(ref) is int or (isinstance(ref, str) and len(ref) <= 128), ref


@fuzz_settings()
@given(text=fz.json_texts | st.text(max_size=40) | fz.ws_message_texts, max_depth=depths)
def test_parse_client_message_returns_a_message_or_a_message_error(
    text: str, max_depth: int
) -> None:
    message, error = attempt(lambda: parse_client_message(text, max_depth=max_depth), MessageError)
    if isinstance(error, MessageError):
        assert error.problem in TEXT_PROBLEMS
        check_ref(error.ref)
        assert str(error)
        return
    assert isinstance(message, ClientMessage)
    assert message.type in CLIENT_TYPES
    check_ref(message.ref)
    assert isinstance(message.payload, dict)
    assert isinstance(message.params, dict)
    assert message.snapshot is None or isinstance(message.snapshot, str)
    if message.type == "event":
        assert isinstance(message.event, str)
        assert message.event
    if message.htmx:
        assert message.type == "event"
        assert message.snapshot is None


# -- snapshots --------------------------------------------------------------------------------

KEYS = ("fuzz-key-one-0123456789", "fuzz-key-two-0123456789")
json_states = st.dictionaries(fz.short_text, fz.json_values, max_size=5)
names = st.text(max_size=12)


@fuzz_settings()
@given(token=fz.token_strings | st.text(max_size=200) | fz.damaged_tokens(), name=names)
def test_verify_returns_a_snapshot_or_a_snapshot_error(token: str, name: str) -> None:
    signer = SnapshotSigner(KEYS, max_age=60.0)
    snapshot, error = attempt(lambda: signer.verify(token, name), SnapshotError)
    assert snapshot is None, f"a token not signed with these keys verified: {snapshot!r}"
    assert isinstance(error, SnapshotError)
    assert error.problem in {"malformed", "tampered", "unknown_key", "foreign", "expired"} | {
        "oversized"
    }


@fuzz_settings()
@given(state=json_states, name=names, component_id=names, rotated=st.booleans())
def test_sign_then_verify_gives_the_state_back(
    state: dict[str, Any], name: str, component_id: str, rotated: bool
) -> None:
    signer = SnapshotSigner(KEYS[1:])
    token = signer.sign(name, component_id, state)
    verifier = SnapshotSigner(KEYS) if rotated else signer  # a new key first: the old verifies
    snapshot = verifier.verify(token, name)
    assert isinstance(snapshot, Snapshot)
    assert (snapshot.component_name, snapshot.component_id) == (name, component_id)
    assert snapshot.state == state
    assert token.isascii()
    assert len(token.split(".")) == 4  # v2.<key id>.<payload>.<signature>


@st.composite
def tamperings(draw: st.DrawFn, token: str) -> str:
    """Any change to ``token``: replace, insert, delete, swap case, cut, extend."""
    index = draw(st.integers(0, len(token) - 1))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        changed = token[:index] + draw(st.characters()) + token[index + 1 :]
    elif kind == 1:
        changed = token[:index] + draw(st.text(min_size=1, max_size=3)) + token[index:]
    elif kind == 2:
        changed = token[:index] + token[index + 1 :]
    elif kind == 3:
        changed = token[:index] + token[index:].swapcase()
    elif kind == 4:
        changed = token[:index]
    else:
        changed = token + draw(st.text(min_size=1, max_size=4))
    return changed


@fuzz_settings()
@given(state=json_states, data=st.data())
def test_a_tampered_token_never_verifies(state: dict[str, Any], data: st.DataObject) -> None:
    signer = SnapshotSigner(KEYS)
    token = signer.sign("counter", "counter-1", state)
    changed = data.draw(tamperings(token))
    assume(changed != token)
    with pytest.raises(SnapshotError) as caught:
        signer.verify(changed, "counter")
    assert caught.value.problem in ("malformed", "tampered", "unknown_key", "oversized")
    with pytest.raises(SnapshotError) as foreign:
        signer.verify(token, "other")
    assert foreign.value.problem == "foreign"
    with pytest.raises(SnapshotError) as other_key:
        SnapshotSigner(("another-key-0123456789",)).verify(token, "counter")
    assert other_key.value.problem == "unknown_key"


# -- SSE frames -------------------------------------------------------------------------------

any_text = st.text(max_size=40) | st.sampled_from(
    ["", "\r", "\n", "\r\n", "\n\r", "\0", "a\rb\nc\r\nd", ": x", "data: x", "\ufeff", "\ud800"]
)


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    return [stream[a:b] for a, b in itertools.pairwise(edges)]


def decode(chunks: list[bytes]) -> tuple[list[SSEEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events, decoder


def breaks_a_rule(data: str, event: str | None, id: str | None, retry: Any) -> bool:
    """Whether an encoder argument is one the documented rules refuse."""
    texts = [data, event or "", id or ""]
    if any(text.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") != text
           for text in texts):  # fmt: skip
        return True  # a lone surrogate: not UTF-8
    if event is not None and ("\r" in event or "\n" in event):
        return True
    if id is not None and ("\r" in id or "\n" in id or "\0" in id):
        return True
    return retry is not None and (
        isinstance(retry, bool) or not isinstance(retry, int) or retry < 0
    )


@fuzz_settings()
@given(
    data=any_text,
    event=st.none() | any_text,
    id=st.none() | any_text,
    retry=st.none() | st.integers(-3, 2**40) | st.sampled_from([True, 1.5, "7"]),
    cuts=st.lists(st.integers(0, 500), max_size=8),
)
@example(data="a\r\nb\rc\n", event="", id="", retry=0, cuts=[7])
def test_sse_encode_then_decode_round_trips_or_refuses(
    data: str, event: str | None, id: str | None, retry: Any, cuts: list[int]
) -> None:
    try:
        frame = encode_event(data, event=event, id=id, retry=retry)
    except SSEEncodeError:
        assert breaks_a_rule(data, event, id, retry)
        return
    assert not breaks_a_rule(data, event, id, retry)
    stream = encode_comment("x\ry\nz") + frame + frame
    events, decoder = decode(split_at(stream, cuts))
    expected = SSEEvent(
        data.replace("\r\n", "\n").replace("\r", "\n"), event or "message", id, retry
    )
    assert events == [expected, expected]
    assert decoder.comments == 3
    assert not decoder.pending
    assert decoder.last_event_id == (id or "")


@fuzz_settings()
@given(
    stream=st.lists(
        st.binary(max_size=30)
        | st.sampled_from([b"data: x\n\n", b"id: 1\r\n", b"\r", b"\n", b"retry: 99\n", b":\n"])
        | st.builds(lambda d: encode_event(d), st.text(max_size=20)),
        max_size=8,
    ).map(b"".join),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_sse_decoder_never_raises_and_ignores_chunk_boundaries(
    stream: bytes, cuts: list[int]
) -> None:
    whole, whole_decoder = decode([stream])
    events, decoder = decode(split_at(stream, cuts))
    assert events == whole
    for event in events:
        assert isinstance(event.data, str)
        assert event.event
        assert event.id is None or "\0" not in event.id
    assert (decoder.last_event_id, decoder.retry, decoder.comments, decoder.pending) == (
        whole_decoder.last_event_id,
        whole_decoder.retry,
        whole_decoder.comments,
        whole_decoder.pending,
    )
    assert decoder.close() == []


# -- fragment annotation ----------------------------------------------------------------------


class Recorder(HTMLParser):
    """The parse events of a fragment, as a browser-like tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if self.events and self.events[-1][0] == "data":
            self.events[-1] = ("data", self.events[-1][1] + data)
        else:
            self.events.append(("data", data))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl", decl))


def parse(fragment: str) -> list[tuple[Any, ...]]:
    recorder = Recorder()
    recorder.feed(fragment)
    recorder.close()
    return recorder.events


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


tag_names = st.sampled_from(["div", "p", "section", "span", "li", "Button", "my-widget"])
attr_names = st.sampled_from(["class", "hx-vals", "id", "data-x", "title", "hx-target", "ID"])
attr_values = st.text(max_size=12) | st.sampled_from(
    ['{"event": "inc"}', '{"snapshot": "old"}', "js:{a: 1}", "[1]", "a\"b'c", "&amp;"]
)


@st.composite
def attributes(draw: st.DrawFn) -> str:
    rendered = []
    for name in draw(st.lists(attr_names, max_size=3, unique_by=str.lower)):
        value = draw(attr_values)
        quote = draw(st.sampled_from(['"', "'"]))
        escaped = _escape(value).replace(quote, "&#34;" if quote == '"' else "&#39;")
        rendered.append(f" {name}={quote}{escaped}{quote}")
    return "".join(rendered)


@st.composite
def fragments(draw: st.DrawFn) -> str:
    """A template's output: optional lead (space, comments, doctype), then elements or text."""
    lead = "".join(
        draw(st.lists(st.sampled_from(["  ", "\n", "<!-- c -->", "<!DOCTYPE html>"]), max_size=3))
    )
    if draw(fz.one_in(5)):  # no element at all
        return lead + _escape(draw(st.text(max_size=20)))
    tag = draw(tag_names)
    inner = _escape(draw(st.text(max_size=20)))
    child = f"<b{draw(attributes())}>{_escape(draw(st.text(max_size=5)))}</b>"
    rest = _escape(draw(st.text(max_size=5)))
    return f"{lead}<{tag}{draw(attributes())}>{inner}{child}</{tag}>{rest}"


wire_values = st.text(max_size=20) | st.sampled_from(['"><script>x</script>', "a'b\"c&d<e>"])


@fuzz_settings()
@given(fragment=fragments(), name=wire_values, component_id=wire_values, snapshot=wire_values)
@example(fragment="<p hx-vals='js:{a: 1}'>x</p>", name="n", component_id="i", snapshot="s")
def test_annotate_root_keeps_the_text_and_escapes_every_value(
    fragment: str, name: str, component_id: str, snapshot: str
) -> None:
    attributes = wire_attributes(name, component_id, snapshot)
    annotated = annotate_root(fragment, attributes)

    before, after = parse(fragment), parse(annotated)
    starts = [index for index, event in enumerate(before) if event[0] == "start"]
    if not starts:  # wrapped in a div that carries every attribute
        assert after[0][:2] == ("start", "div")
        assert after[-1] == ("end", "div")
        assert dict(after[0][2]) == attributes
        assert [e for e in after[1:-1] if e[0] != "decl"] == [e for e in before if e[0] != "decl"]
        return
    root = starts[0]
    assert len(after) == len(before)
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        if index != root:
            assert new == old  # text, comments and every other element are untouched
    old_attrs, new_attrs = dict(before[root][2]), dict(after[root][2])
    assert after[root][1] == before[root][1]
    assert len(after[root][2]) == len(new_attrs)  # no attribute twice
    for key, value in attributes.items():
        if key == "hx-vals" and key in old_attrs:
            merged_from = old_attrs[key]
            try:
                theirs = json.loads(merged_from or "")
            except ValueError:
                theirs = None
            if isinstance(theirs, dict):
                assert json.loads(new_attrs[key]) == {**theirs, "snapshot": snapshot}
            else:
                assert new_attrs[key] == merged_from
        elif key in old_attrs:
            assert new_attrs[key] == old_attrs[key]  # the template's own value wins
        else:
            assert new_attrs[key] == value  # exactly the value: escaped, not injected
    assert set(new_attrs) == set(old_attrs) | set(attributes)


@fuzz_settings()
@given(text=st.text(max_size=60), snapshot=wire_values)
def test_annotate_root_never_raises_on_any_text(text: str, snapshot: str) -> None:
    annotated = annotate_root(text, wire_attributes("note", "note-1", snapshot))
    assert isinstance(annotated, str)
    if "<" not in text:
        assert annotated.endswith(f">{text}</div>")
        assert dict(parse(annotated)[0][2])["hx-vals"] == json.dumps(
            {"snapshot": snapshot}, separators=(",", ":")
        )
