"""Property-based fuzzing (hypothesis) of the parsers and of the HTTP, SSE and WebSocket entry
points, with one invariant: a documented 4xx or a valid answer, never a 500, a hang, an
unhandled exception or a task left running.

- ``test_parsers``: request bodies and query strings, JSON objects, WebSocket client messages,
  snapshot tokens, SSE frames, fragment annotation;
- ``test_binding``: payloads against handler signatures;
- ``test_http``, ``test_sse``, ``test_websocket``: whole exchanges with ``ComponentASGI``, in
  process at the ASGI message level (``wire``), against the components of ``apps``.

``pytest tests/fuzz`` runs the short ``ci`` profile; ``scripts/fuzz.sh`` the ``long`` one (see
``conftest``). Properties named after one kind of input (``..._lone_surrogate_...``,
``..._mount_event_...``) pin bugs found by fuzzing, with the minimal example as ``@example``.
"""
