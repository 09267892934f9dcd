"""Benchmarks of component-framework: one package per benchmark, the shared parts in ``common``.

- :mod:`benchmarks.http`: the guide's counter event on four contenders, in process and under
  uvicorn + wrk (``python -m benchmarks.http [--smoke]``);
- :mod:`benchmarks.streaming`: the SSE transport's token streams (``python -m
  benchmarks.streaming [--smoke]``);
- :mod:`benchmarks.websocket`: WebSocket round trips and broadcast fan-out (``python -m
  benchmarks.websocket [--smoke]``);
- :mod:`benchmarks.fairness`: a broadcast flood and what an unrelated client pays for it
  (``python -m benchmarks.fairness [--smoke]``);
- :mod:`benchmarks.soak`: a bounded run that checks nothing grows (``python -m benchmarks.soak
  [--smoke]``);
- :mod:`benchmarks.common`: server processes, CPU pinning, machine facts, ``/proc`` probes,
  results files, the counter workload and the raw WebSocket client they share.

Results go to ``benchmarks/results/`` (git-ignored). See docs/benchmarks.md.
"""
