# Sourced by the scripts in this folder: make sure .venv exists and holds this project with
# its test extras, then put it first on PATH.  Installs again only when setup.cfg or setup.py
# changed since the last install.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
base_python=${PYTHON3:-python3}

if ! command -v "$base_python" >/dev/null 2>&1; then
    echo "cocalc-api-tests: python3 was not found on PATH; install Python 3.9 or newer (Debian: apt-get install python3 python3-venv)." >&2
    exit 2
fi
if ! "$base_python" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
    echo "cocalc-api-tests: $("$base_python" --version 2>&1) is too old; Python 3.9 or newer is needed." >&2
    exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
    if ! "$base_python" -m venv "$venv" >/dev/null; then
        rm -rf "$venv"
        echo "cocalc-api-tests: could not create a virtual environment in $venv; install the venv module (Debian: apt-get install python3-venv)." >&2
        exit 2
    fi
fi
stamp="$venv/.cocalc-api-tests-installed"
want=$(cat "$root/setup.cfg" "$root/setup.py" | "$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "cocalc-api-tests: installing into $venv (first run, or setup.cfg changed) ..." >&2
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[selftest]" >&2; then
        echo "cocalc-api-tests: pip could not install the project into $venv; see the messages above (a network connection to PyPI is needed the first time)." >&2
        exit 2
    fi
    echo "$want" >"$stamp"
fi
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
