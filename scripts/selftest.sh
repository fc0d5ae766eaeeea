#!/usr/bin/env bash
# Run this project's own tests (selftests/): config, client, cleaner, stand-in server, and one
# full end-to-end pass of the API suite against the stand-in.  Extra arguments go to unittest
# (e.g. test_cleanup, -k pattern).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
exec python selftests/run.py "$@"
