"""Hypothesis strategies for what clients send: JSON-ish values and texts, protocol-shaped
documents, forms, snapshot tokens, headers and WebSocket frames.

Two kinds of JSON: *documents* (Python values, serialised with ``json.dumps``) reach the
framework's logic with the right shapes often; *texts* are built token by token and carry what
``json.dumps`` never writes: ``\\ud800`` escapes, numbers out of float range, 5000-digit
integers, ``NaN``, duplicate keys and damage (cut, spliced bytes).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from component_framework.protocol.snapshot import SnapshotSigner
from tests.fuzz.apps import COMPONENTS, MAX_BODY, SECRET, SIGNER, SNAPSHOT_MAX_AGE, VALID_STATES


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``options``, each chosen with its weight (the usual cases most of the time)."""
    table = [strategy for weight, strategy in options for _ in range(weight)]
    return st.sampled_from(table).flatmap(lambda strategy: strategy)


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws (``st.integers(0, n - 1) == 0`` is biased to 0)."""
    return st.sampled_from([False] * (n - 1) + [True])


# -- JSON values ------------------------------------------------------------------------------

short_text = st.text(max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(short_text, children, max_size=4)
    ),
    max_leaves=10,
)

#: What a form sends: strings, often ones the binder coerces.
form_strings = st.sampled_from(
    ["", "0", "1", "3", "-7", " 42 ", "1.5", "1e3", "1e999", "nan", "inf", "true", "false",
     "on", "off", "yes", "no", "a", "b", "null", "[1]", "{}", "+5", "1_000", "\u0663"]
) | st.text(max_size=10)  # fmt: skip

#: Handler and mount parameter names of the fuzz components, and other field names.
PARAMETER_NAMES = (
    "start", "amount", "text", "loud", "rounds", "count", "ratio", "flag", "mode", "limit",
    "ids", "meta", "value", "maybe", "by", "note", "words",
)  # fmt: skip
RESERVED = ("event", "payload", "params", "snapshot", "state")
field_names = st.sampled_from(PARAMETER_NAMES + RESERVED + ("format", "target")) | st.text(
    max_size=6
)
parameter_values = json_values | form_strings | st.lists(form_strings, max_size=3)
EVENT_NAMES = (
    "increment", "add", "say", "wait", "secret", "numbers", "choice", "collect", "either",
    "extra", "generate", "tokens", "bump", "write", "mount", "", "_secret", "nope", "on_add",
    "render", "mount_", "__init__",
)  # fmt: skip
event_names = st.sampled_from(EVENT_NAMES) | st.text(max_size=12)

# -- snapshot tokens --------------------------------------------------------------------------


def _signed(name: str, state: dict[str, Any], age: float = 0.0) -> str:
    if not age:
        return SIGNER.sign(name, f"{name}-fuzz", state)
    then = time.time() - age
    signer = SnapshotSigner((SECRET,), clock=lambda: then)
    return signer.sign(name, f"{name}-fuzz", state)


@st.composite
def valid_tokens(draw: st.DrawFn, name: str | None = None) -> str:
    """A token the app itself could have issued for a component (``name`` or any)."""
    component = name if name is not None else draw(st.sampled_from(COMPONENTS))
    return _signed(component, draw(st.sampled_from(VALID_STATES[component])))


@st.composite
def damaged_tokens(draw: st.DrawFn) -> str:
    """A real token changed in one place: a character replaced, inserted or removed."""
    token = draw(valid_tokens())
    index = draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = draw(st.sampled_from(["", "A", "_", "-", ".", "=", "+", "/", "é", "0"]))
    changed = token[:index] + replacement + token[index + draw(st.integers(0, 1)) :]
    return changed if changed != token else token + "A"


token_strings = st.one_of(
    valid_tokens(),
    damaged_tokens(),
    st.builds(
        _signed,
        st.sampled_from(COMPONENTS),
        st.just({}),
        st.sampled_from([SNAPSHOT_MAX_AGE * 2, -SNAPSHOT_MAX_AGE]),  # expired, from the future
    ),
    st.sampled_from(["", "v1", "v1..", "v1.x.y", "v2.a.b", "v1." + "A" * 43 + "." + "A" * 43]),
    st.text(max_size=40),
)

# -- protocol documents -----------------------------------------------------------------------


@st.composite
def protocol_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON request document: reserved fields (mostly of the right type) and loose fields."""
    document: dict[str, Any] = {}
    if draw(st.booleans()):
        document["event"] = draw(event_names | json_scalars)
    if draw(st.booleans()):
        document["snapshot"] = draw(token_strings | json_scalars)
    for name in ("payload", "params"):
        if draw(one_in(4)):
            document[name] = draw(
                st.dictionaries(field_names, parameter_values, max_size=4) | json_values
            )
    if draw(one_in(6)):
        document["state"] = draw(st.dictionaries(short_text, json_values, max_size=3) | json_values)
    loose = draw(st.dictionaries(field_names, parameter_values, max_size=3))
    for key, value in loose.items():
        document.setdefault(key, value)
    return document


# -- JSON texts -------------------------------------------------------------------------------

TRICKY_SCALARS = (
    '"\\ud800"', '"x\\udfff"', '"\\udc00\\ud800"', '"\\u0000"', '"\\/"', '"a\\"b"', "1e999",
    "-1e400", "1E+309", "1e-400", "-0", "0.0", "9" * 5000, "123456789012345678901234567890",
    "NaN", "Infinity", "-Infinity", "true", "false", "null", '"\\ud83d\\ude00"', "01", "1.",
    '"\\x41"', "'single'", '"\t"',
)  # fmt: skip
scalar_texts = st.sampled_from(TRICKY_SCALARS) | json_scalars.map(json.dumps)
key_texts = (
    st.sampled_from([json.dumps(name) for name in PARAMETER_NAMES + RESERVED])
    | st.sampled_from(['"\\ud800"', '"HEADERS"', '"type"', '"ref"', '""'])
    | short_text.map(json.dumps)
)


def _array(children: list[str]) -> str:
    return "[" + ",".join(children) + "]"


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{key}:{value}" for key, value in pairs) + "}"


json_value_texts = st.recursive(
    scalar_texts,
    lambda children: (
        st.lists(children, max_size=4).map(_array)
        | st.lists(st.tuples(key_texts, children), max_size=4).map(_object)
    ),
    max_leaves=12,
)
json_object_texts = st.lists(st.tuples(key_texts, json_value_texts), max_size=6).map(_object)


@st.composite
def damaged(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    """``texts`` cut short or with a few characters spliced in."""
    text = draw(texts)
    if not text:
        return text
    index = draw(st.integers(0, len(text)))
    if draw(st.booleans()):
        return text[:index]
    return (
        text[:index]
        + draw(st.sampled_from(["{", "}", "[", "]", ",", ":", '"', "\\", "\x00"]))
        + text[index:]
    )


def nested_text(depth: int, opener: str = "[", closer: str = "]") -> str:
    """``depth`` nested containers inside an object (``{"a": [[...]]}``)."""
    return '{"payload": ' + opener * depth + closer * depth + "}"


json_texts = st.one_of(
    protocol_documents().map(json.dumps),
    protocol_documents().map(lambda doc: json.dumps(doc, ensure_ascii=False, indent=1)),
    json_object_texts,
    json_value_texts,
    damaged(protocol_documents().map(json.dumps)),
    damaged(json_object_texts),
    st.integers(0, 40).map(nested_text),
    st.integers(0, 40).map(lambda n: nested_text(n, '{"a":', "}")),
    st.just("[" * 5000),
    st.just('{"a":' * 3000),
)

# -- forms and query strings ------------------------------------------------------------------


@st.composite
def form_pairs(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Form fields as htmx sends them; object fields carry JSON text (or garbage)."""
    pairs = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(field_names)
        if name in ("payload", "params", "state"):
            value = draw(
                st.dictionaries(field_names, parameter_values, max_size=3).map(json.dumps)
                | json_value_texts
                | st.just("")
            )
        elif name == "snapshot":
            value = draw(token_strings)
        elif name == "event":
            value = draw(event_names)
        else:
            value = draw(form_strings)
        pairs.append((name, value))
    return pairs


def _form_bytes(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


form_bodies = st.one_of(
    form_pairs().map(_form_bytes),
    st.text(max_size=60).map(lambda text: text.encode("utf-8")),
    st.sampled_from([b"a=%ZZ", b"a=%ED%A0%80", b"%FF=1", b"event=add&event=add", b"&&=&", b"=x"]),
)
query_strings = st.one_of(
    form_pairs().map(_form_bytes),
    st.binary(max_size=40),
    st.sampled_from([b"", b"format=json", b"format=html", b"format=xml", b"event=mount",
                     b"a=%ED%A0%80", b"start=3&start=4", b"\xff"]),
)  # fmt: skip

# -- bodies and headers -----------------------------------------------------------------------

JSON_TYPES = ("application/json", "application/json; charset=utf-8", "APPLICATION/JSON")
FORM_TYPE = "application/x-www-form-urlencoded"
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [*JSON_TYPES, FORM_TYPE, f"{FORM_TYPE}; charset=UTF-8", 'application/json; charset="utf8"',
         "application/json; charset=latin-1", "text/plain", "text/html", "multipart/form-data; "
         "boundary=x", "", ";", "application/json;;charset", "application/jsonx", "*/*"]
    ),
    st.text(max_size=30),
)  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str | None, bytes]:
    """A content type and a body (which may or may not match it)."""
    kind = draw(st.integers(0, 9))
    if kind <= 3:
        return draw(st.sampled_from(JSON_TYPES)), draw(json_texts).encode("utf-8", "surrogatepass")
    if kind <= 5:
        return FORM_TYPE, draw(form_bodies)
    if kind == 6:
        size = draw(st.integers(MAX_BODY - 8, MAX_BODY * 3))
        return draw(st.sampled_from([*JSON_TYPES, FORM_TYPE])), b'{"x": "' + b"y" * size + b'"}'
    return draw(content_types), draw(st.binary(max_size=80) | json_texts.map(str.encode))


def content_lengths(body: bytes) -> st.SearchStrategy[bytes | None]:
    """The ``Content-Length`` a client might send for ``body``: right, wrong or garbage."""
    return st.one_of(
        st.none(),
        st.just(str(len(body)).encode()),
        st.integers(-5, MAX_BODY * 4).map(lambda n: str(n).encode()),
        st.sampled_from([b"", b"abc", b" 12 ", b"+5", b"0x10", b"1e3", b"\xff", b"9" * 5000]),
    )


origins = weighted(
    (6, st.none()),
    (3, st.just("http://testserver")),
    (2, st.sampled_from(["https://testserver", "http://evil.example", "null", "", "HTTP://TESTSERVER",
                         "http://testserver:8000"])),
    (1, st.text(max_size=20)),
)  # fmt: skip
fetch_sites = weighted(
    (4, st.none()), (1, st.sampled_from(["same-origin", "same-site", "cross-site", "none", "x"]))
)


def latin1(text: str) -> bytes:
    """A header value as a server would hand it over (bytes; non-latin-1 characters dropped)."""
    return text.encode("latin-1", "ignore")


@st.composite
def request_headers(
    draw: st.DrawFn, body: bytes, content_type: str | None
) -> list[tuple[bytes, bytes]]:
    """Headers for a request with ``body``: the ones the framework reads, some random."""
    headers: list[tuple[bytes, bytes]] = []
    if not draw(one_in(5)):
        headers.append((b"host", b"testserver"))
    if content_type is not None:
        headers.append((b"content-type", latin1(content_type)))
    length = draw(content_lengths(body))
    if length is not None:
        headers.append((b"content-length", length))
    origin = draw(origins)
    if origin is not None:
        headers.append((b"origin", latin1(origin)))
    site = draw(fetch_sites)
    if site is not None:
        headers.append((b"sec-fetch-site", site.encode()))
    if draw(st.booleans()):
        headers.append((b"hx-request", b"true"))
    accept = draw(st.none() | st.sampled_from(["application/json", "text/html", "*/*", "x"]))
    if accept is not None:
        headers.append((b"accept", accept.encode()))
    if draw(one_in(10)):
        headers.append((b"x-deny", b"1"))
    if draw(one_in(10)):
        headers.append((b"if-none-match", draw(st.sampled_from([b"*", b'"x"', b""]))))
    extra = draw(st.lists(st.tuples(st.binary(min_size=1, max_size=8), st.binary(max_size=12)),
                          max_size=2))  # fmt: skip
    headers.extend(extra)
    return draw(st.permutations(headers))


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """``body`` split into ``http.request`` chunks (at most 6)."""
    if len(body) < 2 or draw(st.booleans()):
        return [body]
    cuts = sorted(draw(st.sets(st.integers(1, len(body) - 1), max_size=5)))
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


# -- paths ------------------------------------------------------------------------------------

component_segments = weighted(
    (8, st.sampled_from(COMPONENTS)),
    (1, st.sampled_from(["nope", "_static", "_secret", "Counter", "counter.", "%63ounter", ""])),
    (1, st.text(max_size=8)),
)
suffixes = weighted(
    (6, st.sampled_from(["", "/"])),
    (2, st.sampled_from(["/stream", "/stream/"])),
    (1, st.sampled_from(["/ws", "/ws/", "/x", "//", "/stream/x"])),
)
static_paths = st.sampled_from(
    ["/_static/component-framework.js", "/_static/component-framework.d.ts", "/_static/htmx.min.js",
     "/_static/../pyproject.toml", "/_static/", "/_static/x.js", "/_static/\x00.js"]
)  # fmt: skip
odd_paths = st.sampled_from(
    ["/components", "/components/", "/componentsX/counter/", "//components/counter/", "/", ""]
) | st.text(max_size=20)


def component_paths(suffix: st.SearchStrategy[str] = suffixes) -> st.SearchStrategy[str]:
    """A path under the app's prefix, mostly naming a component, sometimes anything."""
    return weighted(
        (
            10,
            st.tuples(component_segments, suffix).map(
                lambda parts: "/components/" + "".join(parts)
            ),
        ),
        (1, odd_paths),
        (1, static_paths.map(lambda path: "/components" + path)),
    )


# -- WebSocket messages -----------------------------------------------------------------------

refs = st.none() | st.integers(-(2**40), 2**40) | st.text(max_size=130) | json_values
ws_types = st.sampled_from(["event", "join", "ping"]) | st.sampled_from(["render", "", "EVENT"])


@st.composite
def ws_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A client message: the framework's dialect (mostly) or htmx's ws extension's."""
    document = draw(protocol_documents())
    document.pop("state", None) if draw(st.integers(0, 4)) else None
    if draw(one_in(6)):  # htmx: form values plus HEADERS, no type
        document["HEADERS"] = draw(
            st.fixed_dictionaries({"HX-Request": st.just("true")}) | json_values
        )
        return document
    document["type"] = (
        draw(ws_types | json_scalars)
        if draw(one_in(10))
        else draw(st.sampled_from(["event", "join", "ping"]))
    )
    if document["type"] == "event" and "event" not in document and draw(st.booleans()):
        document["event"] = draw(event_names)
    if draw(st.booleans()):
        document["ref"] = draw(refs)
    return document


ws_message_texts = ws_documents().map(json.dumps)
