#!/usr/bin/env bash
# The long fuzz run: every property of tests/fuzz with the "long" hypothesis profile (thousands
# of examples each; several minutes on two cores). Choose another profile with
# HYPOTHESIS_PROFILE=ci scripts/fuzz.sh, or pass pytest arguments: scripts/fuzz.sh -k websocket.
# Failing examples are kept in .hypothesis/ and replayed first by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-long}"
exec .venv/bin/python -m pytest tests/fuzz -p no:cacheprovider \
    --hypothesis-profile="$HYPOTHESIS_PROFILE" --hypothesis-show-statistics \
    --timeout=3600 -q "$@"
