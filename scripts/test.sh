#!/usr/bin/env bash
# Set up everything the test suite needs (system packages, .venv, node_modules), then run the
# whole test suite with branch coverage. Extra arguments go to pytest. pytest's own exit status
# is returned, so "no tests ran" (5) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh test
bash scripts/setup.sh dev
exec .venv/bin/python -m pytest --cov=component_framework --cov-branch \
    --cov-report=term-missing:skip-covered --cov-fail-under=90 "$@"
