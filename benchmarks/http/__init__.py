"""HTTP benchmark: ``python -m benchmarks.http [--smoke] [--no-loopback]``.

The guide's counter event (:mod:`benchmarks.common.counter`) on four contenders
(:mod:`~benchmarks.http.contenders`, with the bare-ASGI :mod:`~benchmarks.http.floor`), measured
in process (:mod:`~benchmarks.http.inprocess`) and under uvicorn + wrk
(:mod:`~benchmarks.http.loopback`); :mod:`~benchmarks.http.report` writes the tables,
:mod:`~benchmarks.http.run` runs it all. :mod:`~benchmarks.http.hotspots` is the diagnostic
(``python -m benchmarks.http.hotspots``).
"""
