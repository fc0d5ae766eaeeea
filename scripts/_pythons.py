"""The other Pythons scripts/selftest.sh runs the self-tests on: one ``X.Y PATH`` line each on stdout.

    python scripts/_pythons.py

``COCALC_SELFTEST_PYTHONS`` says which:

- unset, empty or ``auto``: the oldest and the newest Python 3.9+ this machine has besides the one
  running this script (``python3.X`` on PATH, pyenv's versions); none when there is none, said in
  one line on stderr;
- ``none``: none;
- a list (spaces or commas): ``3.9`` (that version, found as above), a command (``python3.12``,
  else that version as above) or a path (``/opt/py/bin/python3``).  One that cannot be found or is older than 3.9 is named on
  stderr and the exit status is 1; the others are still printed.

Only the standard library, and it runs on any Python 3.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

OLDEST = (3, 9)
PROBE = "import sys; print('%d.%d %s' % (sys.version_info[0], sys.version_info[1], sys.version.split()[0]))"


def say(text):
    print("cocalc-api-tests: " + text, file=sys.stderr)


def probe(path):
    """``((major, minor), full version)`` of the interpreter at *path*, or None if it does not run."""
    try:
        answer = subprocess.run([path, "-c", PROBE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                universal_newlines=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"^(\d+)\.(\d+) (\S+)$", answer.stdout.strip())
    if answer.returncode != 0 or not found:
        return None
    return (int(found.group(1)), int(found.group(2))), found.group(3)


def candidates():
    """Paths of the Pythons 3 this machine has: ``python3.X`` on PATH in PATH's order, then pyenv's."""
    paths = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        paths += sorted(glob.glob(os.path.join(folder or ".", "python3.[0-9]*")))
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    paths += sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3")))
    return [p for p in paths if re.search(r"python3(\.\d+)?$", p) and os.access(p, os.X_OK)]


def installed():
    """``{(major, minor): (full version, path)}``: the first interpreter found of each version that runs."""
    versions = {}
    for path in candidates():
        found = probe(path)
        if found and found[0] not in versions:
            versions[found[0]] = (found[1], path)
    return versions


def named(word, versions):
    """The ``(version, (full, path))`` *word* names, or None."""
    if re.match(r"^3\.\d+$", word):
        key = tuple(int(n) for n in word.split("."))
        return (key, versions[key]) if key in versions else None
    path = shutil.which(word) if os.sep not in word else word
    found = probe(path) if path else None
    if found:
        return found[0], (found[1], path)
    version = re.match(r"^python(3\.\d+)$", word)  # a pyenv shim of a version not selected: pyenv's own
    return named(version.group(1), versions) if version else None


def main():
    own = sys.version_info[:2]
    choice = os.environ.get("COCALC_SELFTEST_PYTHONS", "").strip()
    if choice == "none":
        say("COCALC_SELFTEST_PYTHONS=none: the self-tests run on Python %d.%d only" % own)
        return 0
    versions = installed()
    chosen, status = [], 0
    if choice in ("", "auto"):
        others = sorted(v for v in versions if v >= OLDEST and v != own)
        if not others:
            say("no other Python 3.9+ was found (python3.X on PATH, pyenv's versions): the self-tests run on "
                "Python %d.%d only" % own)
            return 0
        chosen = [(v, versions[v]) for v in sorted({others[0], others[-1]})]
    else:
        for word in filter(None, re.split(r"[\s,]+", choice)):
            found = named(word, versions)
            if found is None:
                say("COCALC_SELFTEST_PYTHONS names %s, which was not found or does not run" % word)
                status = 1
            elif found[0] < OLDEST:
                say("COCALC_SELFTEST_PYTHONS names %s, which is Python %s; 3.9 or newer is needed" % (word, found[1][0]))
                status = 1
            elif found not in chosen:
                chosen.append(found)
    for (major, minor), (_, path) in chosen:
        print("%d.%d %s" % (major, minor, path))
    return status


if __name__ == "__main__":
    sys.exit(main())
