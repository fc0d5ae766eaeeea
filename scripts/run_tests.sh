#!/usr/bin/env bash
# Run the CoCalc API suite.
#
#   scripts/run_tests.sh [run options] [tests]     against $COCALC_HOST with $COCALC_API_KEY
#   scripts/run_tests.sh --standin [--profile NAME] [run options] [tests]
#                                                   against a throwaway stand-in server; NAME is
#                                                   fast (default) or real (as slow as a real CoCalc,
#                                                   scaled by $COCALC_STANDIN_TIME_SCALE)
#
# See README.md for the environment variables.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
--profile | --profile=*)
    echo "run_tests.sh: --profile chooses how the stand-in behaves, so it goes after --standin:" \
        "scripts/run_tests.sh --standin --profile NAME [run options] [tests]" >&2
    exit 2
    ;;
esac
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
if [ "${1:-}" = "--standin" ]; then
    shift
    exec python -m cocalc_standin run "$@"
fi
exec python -m cocalc_api_tests run "$@"
