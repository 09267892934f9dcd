"""Streaming benchmark: ``python -m benchmarks.streaming [--smoke]``.

The app under test (:mod:`~benchmarks.streaming.app`, a token-streaming component) runs under
uvicorn (:mod:`~benchmarks.streaming.server`); the client process
(:mod:`~benchmarks.streaming.client`, reading responses with :mod:`~benchmarks.streaming.decode`)
measures bursts, concurrent loads and memory per stream; :mod:`~benchmarks.streaming.floor` is the
pacing floor; :mod:`~benchmarks.streaming.report` writes the tables and
:mod:`~benchmarks.streaming.run` runs it all. :mod:`~benchmarks.streaming.profile` is the
diagnostic (``python -m benchmarks.streaming.profile``).
"""
