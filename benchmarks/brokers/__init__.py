"""Broker fan-out benchmark: ``python -m benchmarks.brokers [--smoke]``.

Measures what a broadcast costs on its way between processes, through each broker the library
ships: the in-memory reference, Redis (``redis://``), PostgreSQL LISTEN/NOTIFY
(``postgresql://``) and Litestar channels (memory backend, and the asyncpg backend). See
:mod:`benchmarks.brokers.run`.
"""
