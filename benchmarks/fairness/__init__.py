"""Fairness benchmark: ``python -m benchmarks.fairness [--smoke]``.

:mod:`~benchmarks.fairness.run` serves the showcase (``examples.standalone:app``) under uvicorn,
once with the event rate limits off and once on; the client process
(:mod:`~benchmarks.fairness.client`) floods the shared list and probes an unrelated component.
"""
