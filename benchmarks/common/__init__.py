"""What every benchmark shares; nothing here knows one benchmark.

- :mod:`~benchmarks.common.processes`: loopback ports, CPU pinning (:class:`CpuPlan`), uvicorn
  command lines, starting, readiness and bounded stops of servers, a client's JSON line;
- :mod:`~benchmarks.common.machine`: what the numbers were measured on;
- :mod:`~benchmarks.common.report`: progress lines and the results files;
- :mod:`~benchmarks.common.probes`: RSS, CPU time and core ticks from ``/proc``, percentiles,
  the open-file limit;
- :mod:`~benchmarks.common.asgi`: a bare lifespan, the cProfile wrapper and its table, the
  one-client load settings;
- :mod:`~benchmarks.common.counter`: the guide's counter event every contender answers;
- :mod:`~benchmarks.common.wsclient`: the minimal RFC 6455 client of the WebSocket, soak and
  fairness clients.
"""
