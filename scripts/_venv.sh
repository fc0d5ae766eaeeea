# Sourced by the scripts in this folder: make sure .venv exists and holds this project with
# its test extras, then put it first on PATH.  Installs again only when setup.cfg or setup.py
# changed since the last install.
#
# It also defines make_venv PYTHON DIR, which makes DIR the same kind of environment for another
# interpreter (scripts/selftest.sh uses it for .venv-py3.X); it returns 2, having said why, when
# it cannot.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

make_venv() {
    local base_python=$1 venv=$2
    if ! command -v "$base_python" >/dev/null 2>&1; then
        echo "cocalc-api-tests: $base_python was not found on PATH; install Python 3.9 or newer (Debian: apt-get install python3 python3-venv)." >&2
        return 2
    fi
    if ! "$base_python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
        echo "cocalc-api-tests: $base_python ($("$base_python" --version 2>&1)) is too old or does not run; Python 3.9 or newer is needed." >&2
        return 2
    fi
    # A venv whose interpreter no longer runs (its base Python was removed or rebuilt) is made anew.
    if [ -e "$venv" ] && ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
        rm -rf "$venv"
    fi
    if [ ! -x "$venv/bin/python" ]; then
        if ! "$base_python" -m venv "$venv" >/dev/null; then
            rm -rf "$venv"
            echo "cocalc-api-tests: could not create a virtual environment in $venv with $base_python; install the venv module (Debian: apt-get install python3-venv)." >&2
            return 2
        fi
    fi
    local stamp="$venv/.cocalc-api-tests-installed" want
    want=$(cat "$root/setup.cfg" "$root/setup.py" | "$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "cocalc-api-tests: installing into $venv (first run, or setup.cfg changed) ..." >&2
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[selftest]" >&2; then
            echo "cocalc-api-tests: pip could not install the project into $venv; see the messages above (a network connection to PyPI is needed the first time)." >&2
            return 2
        fi
        echo "$want" >"$stamp"
    fi
}

make_venv "${PYTHON3:-python3}" "$root/.venv" || exit $?
venv="$root/.venv"
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
