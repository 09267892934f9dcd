"""The page connection's requests and answers for the tests of ``tests/streaming``: a started
``POST /_page/`` exchange, its entries (``new``, ``posted``), and what its answer says (the
control frames by key, one run's frames, a paced run's steps)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from component_framework.protocol.page import PageDecoder
from component_framework.protocol.sse import SSEEvent
from component_framework.testing import http_scope
from tests.streaming.conftest import Streams
from tests.streaming.exchange import Exchange


def page_request(
    app: Any,
    streams: Streams,
    entries: list[dict[str, Any]],
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Exchange:
    """A started page connection asking for ``entries`` (``fields``: the request's other
    fields, beside ``streams``; ``headers``: beside the JSON body's), read with the page
    connection's decoder (a compact answer reads back as the full one)."""
    body = json.dumps({"page": "a" * 32, "streams": entries, **fields}).encode()
    header_map = {"content-type": "application/json", "content-length": str(len(body))}
    scope = http_scope("POST", "/components/_page/", headers={**header_map, **(headers or {})})
    exchange = Exchange(app, scope, body=body)
    exchange.decoder = PageDecoder()
    return streams.track(exchange.start())


def new(key: str, name: str, **query: Any) -> dict[str, Any]:
    """An entry starting ``name``'s stream with ``query``."""
    return {"key": key, "name": name, "query": urlencode(query)}


def posted(key: str, name: str, body: str, query: str = "") -> dict[str, Any]:
    """An entry starting ``name``'s stream as a ``POST`` of the form ``body``."""
    return {"key": key, "name": name, "method": "POST", "query": query, "body": body}


def controls(exchange: Exchange) -> dict[str, dict[str, Any]]:
    """The control frames by entry key."""
    found = {}
    for event in exchange.events:
        if event.event == "page":
            document = json.loads(event.data)
            found[document["key"]] = document
    return found


def of_run(exchange: Exchange, run_id: str) -> list[SSEEvent]:
    """The frames of run ``run_id``."""
    return [e for e in exchange.events if e.id and e.id.rpartition(".")[0] == run_id]


def steps(events: list[SSEEvent]) -> list[str]:
    """The step numbers a ``paced`` run's renders show."""
    return [e.data.split("<p>step ")[1].split("<")[0] for e in events if e.event == "message"]
