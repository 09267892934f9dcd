"""Soak run: ``python -m benchmarks.soak [--smoke] [--json] [--ws IMPL]``.

:mod:`~benchmarks.soak.app` is the app under test (HTTP, WebSocket and SSE components and the
``/_soak`` measuring endpoints); :mod:`~benchmarks.soak.run` serves it under uvicorn, loads it
from its own process and checks that nothing grows.
"""
