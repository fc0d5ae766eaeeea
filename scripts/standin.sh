#!/usr/bin/env bash
# Start a stand-in CoCalc server in the foreground, with its own throwaway PostgreSQL
# database, and print the `export` lines that point the suite at it:
#
#   scripts/standin.sh [--profile NAME] [--port P] [--site-url URL] [--verbose]
#
# --profile fast (the default) answers as quickly as it can; --profile real answers as slowly as a
# real CoCalc (project start ~2 s, stop ~8 s, Jupyter stalls), scaled by $COCALC_STANDIN_TIME_SCALE.
#
# Then, in another shell, run those export lines and scripts/run_tests.sh.
# Ctrl-C (or SIGTERM) stops the server, its projects and kernels, and drops the database.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
exec python -m cocalc_standin serve "$@"
