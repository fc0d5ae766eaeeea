#!/usr/bin/env bash
# Run this project's own tests (selftests/): config, client, cleaner, stand-in server, and one
# full end-to-end pass of the API suite against the stand-in, on the default python3 (.venv).
#
# Then, on the oldest and the newest other Python 3.9+ the machine has (python3.X on PATH,
# pyenv's versions), each in its own .venv-py3.X: the unit self-tests (no stand-in) and one
# stand-in run of the suite with CI=true, as `scripts/run_tests.sh --standin` does.
# COCALC_SELFTEST_PYTHONS chooses those Pythons: `none`, or a list such as "3.9 3.13" or paths
# (see scripts/_pythons.py).
#
# Extra arguments go to selftests/run.py (e.g. test_cleanup, -k pattern); they are run on the
# default python3, and on the other Pythons only when COCALC_SELFTEST_PYTHONS is set (without
# the stand-in run).  The last line adds up every part: `N passed, N failed, N skipped`; the exit
# status is non-zero if any part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh

#: The self-tests that need no stand-in (fake servers on loopback, child processes of the CLI).
UNIT_TESTS=(test_config test_client test_junit test_tracking test_ledger test_support test_session test_cli
    test_packaging)

tallies=$(mktemp -d "${TMPDIR:-/tmp}/cocalc-selftest-tallies.XXXXXX")
trap 'rm -rf "$tallies"' EXIT
status=0
failed_part() { # NAME: a part that could not run counts as one failure
    echo "0 1 0" >"$tallies/$1"
    status=1
}
# run_part NAME PYTHON ARGS...: selftests/run.py under PYTHON; its numbers go to the tally NAME.
run_part() {
    local name=$1 python=$2
    shift 2
    "$python" selftests/run.py --tally "$tallies/$name" "$@" || status=1
    [ -s "$tallies/$name" ] || failed_part "$name"
}
tally() { # FILE...: "passed, failed, skipped" added up
    cat "$@" 2>/dev/null | awk '{p += $1; f += $2; s += $3} END {printf "%d passed, %d failed, %d skipped\n", p, f, s}'
}

run_part 00-main python "$@"

if [ $# -gt 0 ] && [ -z "${COCALC_SELFTEST_PYTHONS:-}" ]; then
    echo "cocalc-api-tests: tests were named, so only Python $(python -c 'import platform; print(platform.python_version())') ran them (set COCALC_SELFTEST_PYTHONS to run them on other Pythons too)" >&2
    others=""
else
    others=$(python scripts/_pythons.py) || failed_part 01-pythons
fi
summaries=()
while read -r version interpreter; do
    [ -n "$version" ] || continue
    echo
    echo "cocalc-api-tests: === Python $version ($interpreter), in .venv-py$version ==="
    part_venv="$root/.venv-py$version"
    if ! make_venv "$interpreter" "$part_venv"; then
        failed_part "py$version-venv"
        summaries+=("Python $version: no virtual environment (see above)")
        continue
    fi
    if [ $# -gt 0 ]; then
        run_part "py$version-unit" "$part_venv/bin/python" "$@"
        summaries+=("Python $version: the named self-tests $(tally "$tallies/py$version-unit")")
        continue
    fi
    run_part "py$version-unit" "$part_venv/bin/python" "${UNIT_TESTS[@]}"
    PATH="$part_venv/bin:$PATH" VIRTUAL_ENV="$part_venv" run_part "py$version-standin" "$part_venv/bin/python" --standin-run
    summaries+=("Python $version: unit self-tests $(tally "$tallies/py$version-unit"); stand-in run of the suite $(tally "$tallies/py$version-standin")")
done <<<"$others"

if [ ${#summaries[@]} -gt 0 ]; then
    echo
    echo "cocalc-api-tests: the default Python $(python -c 'import platform; print(platform.python_version())'): the self-tests $(tally "$tallies/00-main")"
    for line in "${summaries[@]}"; do
        echo "cocalc-api-tests: $line"
    done
fi
tally "$tallies"/*
exit $status
