"""WebSocket benchmark: ``python -m benchmarks.websocket [--smoke] [--ws IMPL]``.

The apps under test (:mod:`~benchmarks.websocket.app`: ``ComponentASGI`` and its bare-ASGI,
Litestar and Starlette contenders) run under uvicorns, with a redis-server for the multi-worker
part (:mod:`~benchmarks.websocket.server`); the client process
(:mod:`~benchmarks.websocket.client`) measures round trips and broadcast fan-out;
:mod:`~benchmarks.websocket.report` writes the tables and :mod:`~benchmarks.websocket.run` runs
it all. :mod:`~benchmarks.websocket.profile` is the diagnostic
(``python -m benchmarks.websocket.profile``).
"""
