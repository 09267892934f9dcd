#!/usr/bin/env bash
# Set up everything the demo needs, then serve examples/litestar_example.py on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh litestar
echo "Serving the example app on http://${HOST:-127.0.0.1}:${PORT:-8000} (Ctrl+C to stop)"
exec .venv/bin/python examples/litestar_example.py
