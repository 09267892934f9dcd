"""The HTTP transport: one request/response exchange for ``/{name}/``.

Owns reading the body under its size limit, turning it into a ``ComponentCall``, choosing the
answer's form (JSON, or the annotated HTML fragment for htmx and for GET) and framing every
failure's error document (``errors.report_failure``, then ``responses.error_response``) as its
status and JSON body. A ``multipart/form-data`` body (an upload) is not collected: it streams
into a ``core.multipart.MultipartReader`` under the upload limits, which learns the fields
that take files as soon as the event is known (from the URL, or when its form field arrives);
the request's files are closed once it is answered, whatever happened. Before any of that,
the app's ``ClientGuard.admit`` checks the host, counts the request against the client's
rate and refuses a cross-site ``POST``, in one call; the request's scope is the
authorization context of the call. ``GET`` mounts (or re-renders a snapshot) and never runs
an event handler; ``HEAD`` is ``GET`` without the body; ``POST`` does both. Knows nothing of
other transports.
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Any, Final

from component_framework.asgi.incoming import (
    Disconnected,
    RequestHeaders,
    page_of,
    read_body,
    read_multipart,
    request_error,
)
from component_framework.asgi.responses import (
    JSON_HEADERS,
    Response,
    error_response,
    fragment_response,
    json_body,
    refused_form_response,
    send_response,
)
from component_framework.core.access import AccessContext
from component_framework.core.dispatch import ComponentCall
from component_framework.core.multipart import (
    MultipartForm,
    MultipartReader,
    call_upload_rules,
    check_takes_files,
)
from component_framework.core.resumable import Claims
from component_framework.core.uploads import UploadLimits
from component_framework.errors import MethodNotAllowed, report_failure
from component_framework.protocol.answer import render_document
from component_framework.protocol.request import (
    RequestError,
    RequestFields,
    fields_from_form,
    http_answer_format,
    is_multipart,
    merge_loose,
    parse_body,
    parse_query,
)

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

    from component_framework.asgi.services import AppServices

__all__ = ["ALLOWED_METHODS", "handle_http"]

ALLOWED_METHODS: Final = ("GET", "HEAD", "POST")
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


async def handle_http(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    component_name: str,
    services: AppServices,
) -> None:
    """Serve one request for ``component_name`` and send the complete answer."""
    headers = RequestHeaders.of(scope)
    htmx, accept = headers.htmx, headers.accept
    method = scope["method"]
    dispatcher, guard = services.dispatcher, services.guard
    settings = dispatcher.settings
    form: MultipartForm | None = None
    claimed: Claims | None = None
    taken = False  # whether the handler completed with the claimed uploads (then they are its)
    try:
        now = monotonic()
        post = method == "POST"
        client = guard.admit(scope, headers, now, "request" if post else None)
        if post:
            content_type = headers.content_type
            if content_type != "application/json" and is_multipart(content_type):
                fields, form = await _read_upload(scope, receive, headers, services, component_name)
            else:
                limit, deadlines = settings.max_body_bytes, guard.body_deadlines
                body = await read_body(receive, limit, headers.content_length, deadlines, now)
                fields = parse_body(
                    content_type,
                    body,
                    max_depth=settings.max_json_depth,
                    max_fields=settings.max_fields,
                )
        elif method in _SAFE_METHODS:
            fields = parse_query(
                scope["query_string"],
                max_depth=settings.max_json_depth,
                max_fields=settings.max_fields,
            )
            if not fields.is_mount:
                raise MethodNotAllowed(method, ["POST"])
        else:
            raise MethodNotAllowed(method, ALLOWED_METHODS)
        context = AccessContext("http", scope, client)
        if fields.payload:  # resumable uploads named by their id (an empty payload has none)
            claimed = services.uploads.claim_payload(
                component_name, fields.event, fields.payload, context
            )
        prepared = dispatcher.prepare(ComponentCall.from_fields(component_name, fields, context))
        if prepared.runs_async:
            result = await dispatcher.async_run(prepared)
        else:  # no coroutine to create for a sync handler
            result = dispatcher.run(prepared)
            if result.writes:  # server-held state of nested children
                await dispatcher.commit(result)
        taken = prepared.invalid is None
        if result.effects and "emit" in result.effects:
            await _emit_to_live(scope, services, result.effects["emit"])
        if http_answer_format(post, htmx, accept) == "html":
            response = fragment_response(result)  # errors too: htmx swaps it
        elif (refusal := result.refusal()) is not None:  # a form that did not go through
            response = refused_form_response(refusal, render_document(result))
        else:
            response = Response(200, JSON_HEADERS, json_body(render_document(result)))
    except Disconnected:
        return
    except RequestError as exc:
        response = error_response(request_error(exc), htmx=htmx, component=component_name)
    except Exception as exc:  # a framework bug must still answer, never crash the worker
        error = report_failure(exc, f"serving component {component_name!r:.80}")
        response = error_response(error, debug=settings.debug, htmx=htmx, component=component_name)
    finally:
        if form is not None:  # the handler is done with the files: free them at once
            form.close()
        if claimed is not None:  # a refused or failed event leaves them to be claimed again
            claimed.settle(taken=taken)
    await send_response(send, response, head=method == "HEAD")


async def _emit_to_live(scope: HTTPScope, services: AppServices, emitted: list[Any]) -> None:
    """The events a handler emitted, to the live components of the request's page (the
    runtime delivers them to the others with the answer: nobody gets them twice)."""
    page = page_of(scope)
    if page is not None:
        await services.hub.emit_to_page(page, emitted, 1)


async def _read_upload(
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    headers: RequestHeaders,
    services: AppServices,
    component_name: str,
) -> tuple[RequestFields, MultipartForm]:
    """The fields and files of a ``multipart/form-data`` POST, read as the body streams in.

    The event may be given in the URL (``?event=upload``): the handler's rules then apply from
    the first byte; otherwise they apply from its form field on (the files before it are
    checked then). A component with no handler that takes files refuses the body before
    reading it, a call that takes no file as soon as its event is known (415). The caller
    closes the returned form's files; on any failure here they are closed already."""
    settings, registry = services.dispatcher.settings, services.dispatcher.registry
    check_takes_files(registry, component_name)
    query = parse_query(
        scope["query_string"], max_depth=settings.max_json_depth, max_fields=settings.max_fields
    )

    def learn_event(field: str, value: str) -> None:
        if field == "event" and reader.rules is None:
            reader.rules = call_upload_rules(registry, component_name, value)

    reader = MultipartReader(
        headers.content_type or "", UploadLimits.from_settings(settings), on_field=learn_event
    )
    if query.event is not None:
        reader.rules = call_upload_rules(registry, component_name, query.event)
    form = await read_multipart(
        receive,
        reader,
        headers.content_length,
        services.guard.body_deadlines,
        seconds=settings.upload_timeout,
    )
    try:
        if reader.rules is None:  # no event at all: a mount, which takes no files
            reader.rules = call_upload_rules(registry, component_name, None)
        pairs = form.pairs if query.event is None else [("event", query.event), *form.pairs]
        fields = fields_from_form(
            pairs, max_depth=settings.max_json_depth, max_fields=settings.max_fields
        )
        merge_loose(fields.payload, form.file_fields())
    except BaseException:
        form.close()
        raise
    return fields, form
