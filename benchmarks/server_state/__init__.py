"""``python -m benchmarks.server_state``: the cost per event of server-held state."""
