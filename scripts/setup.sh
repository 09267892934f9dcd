#!/usr/bin/env bash
# Create .venv (if missing) and install the project with the given extra (default: dev), plus the
# browser packages from package.json. Idempotent; used by demo.sh, test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-dev}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extra}]"
if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
else
    echo "npm not found: the demo page will load htmx from its public URL" >&2
fi
