#!/usr/bin/env bash
# Run the CoCalc API suite.
#
#   scripts/run_tests.sh [unittest args]            against $COCALC_HOST with $COCALC_API_KEY
#   scripts/run_tests.sh --standin [unittest args]  against a throwaway stand-in server
#
# See README.md for the environment variables.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
if [ "${1:-}" = "--standin" ]; then
    shift
    exec python -m cocalc_api_tests.standin run "$@"
fi
exec python -m cocalc_api_tests run "$@"
