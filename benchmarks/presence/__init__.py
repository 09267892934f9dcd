"""Presence across workers: join/leave latency and what presence costs Redis (see measure)."""
