"""Run the API suite in a child process, as a user would, for the self-tests.

>>> environ = suite_environ(standin.environ, ledgers=tmpdir)    # standin = helpers.start_standin()
>>> child = start([PY, "-m", "cocalc_api_tests", "run", "interruptible"], environ)
>>> out, err = finish(child)
"""
import os
import signal
import subprocess
import sys
from typing import Dict, List, Mapping, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "selftests", "fixtures")
PY = sys.executable
#: Variables of the calling shell that would change what the child does.
_DROP = ("CI", "COCALC_PROJECT_ID", "COCALC_API_KEY", "COCALC_HOST", "COCALC_TESTS_CLEANUP", "COCALC_TESTS_LEDGER_DIR",
         "PGHOST", "PGUSER", "PGDATABASE", "PGPORT", "PGPASSWORD")
#: Seconds a whole child run may take.
RUN_TIMEOUT = 300.0


def clean_environ(**extra: str) -> Dict[str, str]:
    """This process's environment without the suite's variables, plus *extra*."""
    environ = {k: v for k, v in os.environ.items() if k not in _DROP}
    environ.update(extra)
    return environ


def suite_environ(standin: Mapping[str, str], ledgers: str, **extra: str) -> Dict[str, str]:
    """The environment of a suite run against *standin*, ledgers in *ledgers*, fixtures importable."""
    environ = clean_environ()
    environ.update(standin)
    environ["COCALC_TESTS_LEDGER_DIR"] = ledgers
    environ["PYTHONPATH"] = os.pathsep.join([FIXTURES, ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    environ.update(extra)
    return environ


def start(argv: List[str], environ: Mapping[str, str]) -> subprocess.Popen:
    """Start *argv* in the repository root with *environ*, capturing its output as text."""
    return subprocess.Popen(argv, cwd=ROOT, env=dict(environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_in_a_terminal)


def _as_in_a_terminal() -> None:
    """Give the child Ctrl-C's default action, as a shell does for a foreground command.

    A shell without job control (CI, ``cmd &``) starts programs with SIGINT ignored,
    and Python then leaves it ignored; the signal tests need it delivered.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(child: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> Tuple[str, str]:
    """Wait for *child* (killing it after *timeout*); its stdout and stderr."""
    try:
        return child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        raise AssertionError(f"{child.args} did not finish within {timeout:g} s; stderr: {err[-2000:]}") from None


def run(argv: List[str], environ: Mapping[str, str], timeout: float = RUN_TIMEOUT) -> Tuple[int, str, str]:
    """Run *argv* to the end: exit status, stdout, stderr."""
    child = start(argv, environ)
    out, err = finish(child, timeout)
    return child.returncode, out, err


def ledger_files(directory: str) -> List[str]:
    """The ledgers in *directory*."""
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".jsonl"))


def summary(out: str, err: str, limit: int = 3000) -> str:
    """The tail of a child's output, for failure messages."""
    return f"--- stdout ---\n{out[-limit:]}\n--- stderr ---\n{err[-limit:]}"

