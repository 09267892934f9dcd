#!/usr/bin/env bash
# Install the system packages that demo.sh or test.sh needs and this machine lacks (Debian or
# Ubuntu, with apt-get). Usage: scripts/system-deps.sh demo|test
#
#   demo: a Python 3.11+ that can create a virtual environment (python3, python3-venv);
#   test: the same, plus redis-server, postgresql (the PostgreSQL broker tests start their own
#         server from its initdb and postgres), chromium (Debian's), node (nodejs), npm and nginx
#         (the deployment tests run the documented nginx configuration).
#
# Only what is missing is installed: as root with apt-get, otherwise through sudo. Without
# either, one message names the packages and the command to run, and the exit status is 1.
# Uses nothing but bash builtins besides python3, id, env, apt-get and sudo.
set -euo pipefail
case "$0" in */*) cd "${0%/*}/.." ;; *) cd .. ;; esac

purpose="${1:-}"
if [ "$purpose" != demo ] && [ "$purpose" != test ]; then
    echo "usage: scripts/system-deps.sh demo|test" >&2
    exit 2
fi
python="${PYTHON:-python3}"
packages=()

missing() { ! command -v "$1" >/dev/null 2>&1; }
# nginx lives in /usr/sbin, which a non-root PATH often lacks (SYSTEM_DEPS_SBIN: tests).
sbin="${SYSTEM_DEPS_SBIN:-/usr/sbin}"
missing_nginx() { missing nginx && [ ! -x "$sbin/nginx" ]; }
# Debian's postgresql keeps initdb off PATH, in /usr/lib/postgresql/<version>/bin
# (SYSTEM_DEPS_PGLIB: tests).
pglib="${SYSTEM_DEPS_PGLIB:-/usr/lib/postgresql}"
missing_postgres() {
    missing initdb || return 1
    for initdb in "$pglib"/*/bin/initdb; do
        [ -x "$initdb" ] && return 1
    done
    return 0
}

# .venv is created by scripts/setup.sh; once it exists, the system Python is not needed.
if [ ! -x .venv/bin/python ]; then
    if missing "$python"; then
        packages+=(python3 python3-venv)
    elif ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "$python is older than 3.11: install Python 3.11 or newer and run again with" \
            "PYTHON=/path/to/python3.11" >&2
        exit 1
    elif ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        packages+=(python3-venv)
    fi
fi
if [ "$purpose" = test ]; then
    missing redis-server && packages+=(redis-server)
    missing_postgres && packages+=(postgresql)
    missing chromium && packages+=(chromium)
    missing node && packages+=(nodejs)
    missing npm && packages+=(npm)
    missing_nginx && packages+=(nginx)
fi
[ "${#packages[@]}" -eq 0 ] && exit 0

if missing apt-get; then
    printf '%s\n' "scripts/$purpose.sh needs these system packages, which are missing:" \
        "    ${packages[*]}" \
        "This machine has no apt-get: install them (or their equivalents) with its package" \
        "manager, then run scripts/$purpose.sh again." >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=(env DEBIAN_FRONTEND=noninteractive)
elif ! missing sudo && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
    as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
    printf '%s\n' "scripts/$purpose.sh needs these system packages, which are missing:" \
        "    ${packages[*]}" \
        "Install them as root (this user is not root and cannot use sudo here), then run" \
        "scripts/$purpose.sh again:" \
        "    apt-get update && apt-get install -y --no-install-recommends ${packages[*]}" >&2
    exit 1
fi

echo "Installing the missing system packages: ${packages[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"

still=()
if [ ! -x .venv/bin/python ] && ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    still+=("$python with venv")
fi
if [ "$purpose" = test ]; then
    for command in redis-server chromium node npm; do
        missing "$command" && still+=("$command")
    done
    missing_nginx && still+=(nginx)
    missing_postgres && still+=(postgresql)
fi
if [ "${#still[@]}" -gt 0 ]; then
    echo "still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
