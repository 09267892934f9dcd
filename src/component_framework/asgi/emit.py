"""The emit transport: ``POST {prefix}/_emit/``, one batch of emitted events for the
listeners of a page, in one request/response exchange.

Owns the exchange: the same guard as an event (host, client rate: the batch and each
listener beyond the first count as one request each, cross-site refusal), the
JSON body under the body limit (``protocol.emit`` parses it), then each listener in turn:
its class must list at least one event of the batch (else ``not_listening``, and it does not
run), and each event it lists runs on it as a client's event would (``Dispatcher.prepare``
with the listener's snapshot: the declared rate, the snapshot check, binding and its 422,
authorization), in the batch's order, and one render. A listener's failure is its own result
(the error document); the others still run. The events a listener emits in turn reach the
page's live components through the hub when the batch names its page; the browser's runtime
gets them with the listener's effects and sends the next batch itself. Knows nothing of other
transports.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from component_framework.asgi.incoming import (
    Disconnected,
    RequestHeaders,
    read_json_text,
    request_error,
)
from component_framework.asgi.responses import (
    JSON_HEADERS,
    Response,
    error_response,
    json_body,
    send_response,
)
from component_framework.core.access import AccessContext
from component_framework.core.dispatch import (
    ComponentCall,
    Dispatcher,
    DispatchResult,
    PreparedCall,
)
from component_framework.core.events import MAX_EMIT_DEPTH, MAX_EMITS_PER_ANSWER, checked_page_id
from component_framework.errors import (
    MethodNotAllowed,
    NotListening,
    error_document,
    report_failure,
)
from component_framework.protocol.emit import (
    EmitBatch,
    Listener,
    emit_result,
    failed_result,
    parse_emit_batch,
)
from component_framework.protocol.request import RequestError

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

    from component_framework.asgi.services import AppServices

__all__ = ["handle_emit", "run_listener"]


async def handle_emit(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    name: str,
    services: AppServices,
) -> None:
    """Serve one batch (``name`` is empty: the route names no component)."""
    headers = RequestHeaders.of(scope)
    dispatcher, guard, settings = services.dispatcher, services.guard, services.dispatcher.settings
    try:
        now = monotonic()
        client = guard.admit(scope, headers, now, None)  # cross-site: once it is a POST
        if scope["method"] != "POST":
            raise MethodNotAllowed(scope["method"], ["POST"])
        guard.check_origin(headers.origin, headers.fetch_site, headers.host, "request")
        limit, deadlines = settings.max_body_bytes, guard.body_deadlines
        what = "a batch of emitted events"
        text = await read_json_text(receive, headers, limit, deadlines, now, what)
        batch = parse_emit_batch(
            text,
            max_depth=settings.max_json_depth,
            max_fields=settings.max_fields,
            max_events=MAX_EMITS_PER_ANSWER,
            max_chain=MAX_EMIT_DEPTH,
        )
        context = AccessContext("http", scope, client)
        results = []
        for index, listener in enumerate(batch.listeners):
            # Each listener beyond the first costs a request of the client's budget, as the
            # event it replaces would (a refusal is that listener's 429).
            charge = None if index == 0 else (lambda: guard.take_request(client, monotonic()))
            results.append(await _result(dispatcher, services, batch, listener, context, charge))
        response = Response(200, JSON_HEADERS, json_body({"results": results}))
    except Disconnected:
        return
    except RequestError as exc:
        response = error_response(request_error(exc))
    except Exception as exc:  # a framework bug must still answer, never crash the worker
        response = error_response(report_failure(exc, "serving a batch of emitted events"))
    await send_response(send, response)


async def _result(
    dispatcher: Dispatcher,
    services: AppServices,
    batch: EmitBatch,
    listener: Listener,
    context: AccessContext,
    charge: Callable[[], None] | None,
) -> dict[str, Any]:
    """One listener's entry of the answer: its render, or its own error."""
    settings = dispatcher.settings
    try:
        if charge is not None:
            charge()
        result = await run_listener(dispatcher, listener, batch.events, context)
        emitted = (result.effects or {}).get("emit")
        page = checked_page_id(batch.page)
        if emitted and page is not None:  # the page's live listeners hear them here
            await services.hub.emit_to_page(page, emitted, batch.depth + 1)
        return emit_result(result, batch.answer_format)
    except Exception as exc:
        error = report_failure(exc, f"running emitted events on {listener.component!r:.80}")
        return failed_result(listener, error_document(error, debug=settings.debug))


async def run_listener(
    dispatcher: Dispatcher,
    listener: Listener,
    events: tuple[tuple[str, dict[str, Any]], ...],
    context: AccessContext | None,
) -> DispatchResult:
    """Run each event of ``events`` that the listener's class lists on the component its
    snapshot restores, as a client's events, then render it once. ``NotListening`` when the
    class lists none of them (nothing of it runs)."""
    cls = dispatcher.registry.get(listener.component)
    heard = [(event, payload) for event, payload in events if event in cls.listens]
    if not heard:
        raise NotListening(listener.component, [event for event, _ in events])
    component = None
    first: PreparedCall | None = None
    for event, payload in heard:
        if component is None:  # the snapshot's checks (its children's too), then hydrate
            call = ComponentCall(listener.component, event, payload, {}, listener.snapshot)
            call.context, call.children = context, listener.children
            plan = first = dispatcher.prepare(call)
            component = await dispatcher.open(plan)
        else:
            plan = dispatcher.prepare_live_event(cls, event, payload, context)
        await dispatcher.complete(plan, dispatcher.call_handler(plan, component))
    assert component is not None
    assert first is not None
    result = dispatcher.render(component, first.children)  # nested children keep their state
    await dispatcher.commit(result)  # server-held state: stored before the answer
    return result
