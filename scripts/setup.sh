#!/usr/bin/env bash
# Create .venv (if missing) and install the project with the given extra (default: dev); for dev,
# also the browser test packages of package.json (npm ci). Idempotent; used by demo.sh, test.sh
# and .ci/run. System packages (python3-venv, npm, ...) come from scripts/system-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-dev}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extra}]"
if [ "$extra" = dev ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
