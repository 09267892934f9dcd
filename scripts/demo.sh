#!/usr/bin/env bash
# Set up everything the demo needs (system packages, .venv), then serve
# examples/litestar_example.py on 127.0.0.1:8000, in debug mode: a template edit shows on the
# next render (COMPONENT_FRAMEWORK_DEBUG=0 scripts/demo.sh turns it off).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh demo
bash scripts/setup.sh litestar
export COMPONENT_FRAMEWORK_DEBUG="${COMPONENT_FRAMEWORK_DEBUG:-1}"
echo "Serving the example app on http://${HOST:-127.0.0.1}:${PORT:-8000} (Ctrl+C to stop)"
exec .venv/bin/python examples/litestar_example.py
