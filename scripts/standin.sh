#!/usr/bin/env bash
# Start a stand-in CoCalc server in the foreground, with its own throwaway PostgreSQL
# database, and print the `export` lines that point the suite at it:
#
#   scripts/standin.sh [--port P] [--site-url URL] [--verbose]
#
# Then, in another shell, run those export lines and scripts/run_tests.sh.
# Ctrl-C (or SIGTERM) stops the server, its projects and kernels, and drops the database.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f scripts/_venv.sh ]; then
    # shellcheck source=/dev/null
    . scripts/_venv.sh
    python=${PYTHON:-python}
else
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    python=.venv/bin/python
    if ! "$python" -c 'import cocalc_api_tests, pg8000, requests, jupyter_client, ipykernel' 2>/dev/null; then
        "$python" -m pip install -q -e '.[standin]'
    fi
fi

exec "$python" -m cocalc_api_tests.standin serve "$@"
