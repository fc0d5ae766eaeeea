"""Run the self-tests and end with the plain line `N passed, N failed, N skipped`.

    python selftests/run.py [--tally FILE] [--failfast] [-k PATTERN] [test names]
    python selftests/run.py --standin-run [--tally FILE]

The first runs the self-tests (all of them, or the named ones).  ``--standin-run`` instead runs
the API suite once against a throwaway stand-in with ``CI=true``, as ``scripts/run_tests.sh
--standin`` does, and counts the suite's tests (a run that fails without a failing test, e.g.
with leaked rows, counts one failure).  ``--tally FILE`` also writes the three numbers to FILE,
for scripts/selftest.sh to add up the parts it runs.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest
from typing import List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Variables of the calling shell the stand-in run must not inherit (it sets its own).
_DROP = ("COCALC_PROJECT_ID", "COCALC_API_KEY", "COCALC_HOST", "COCALC_TESTS_CLEANUP", "COCALC_TESTS_LEDGER_DIR")

Tally = Tuple[int, int, int]


def self_tests(argv: List[str]) -> Tally:
    """Run the self-tests *argv* selects; (passed, failed, skipped)."""
    # Sessions built inside the self-tests keep their ledgers away from the user's own.
    ledgers = tempfile.TemporaryDirectory(prefix="selftest-ledgers-")
    os.environ.setdefault("COCALC_TESTS_LEDGER_DIR", ledgers.name)
    loader = unittest.TestLoader()
    names = [a for a in argv if not a.startswith("-")]
    if "-k" in argv:
        loader.testNamePatterns = [f"*{argv[argv.index('-k') + 1]}*"]
        names = [n for n in names if n != argv[argv.index("-k") + 1]]
    sys.path.insert(0, HERE)
    suite = loader.loadTestsFromNames(names) if names else loader.discover(HERE, top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, failfast="--failfast" in argv).run(suite)
    # Counted per test, not per subtest: a test with several failing subtests is one failed test.
    failing = {_test_id(t) for t, _ in result.failures + result.errors} | {_test_id(t) for t in result.unexpectedSuccesses}
    failed = len(failing)
    skipped = len({_test_id(t) for t, _ in result.skipped} - failing)
    passed = max(0, result.testsRun - failed - skipped)
    if result.testsRun == 0:
        failed += 1  # a selection that runs nothing is a mistake, not a pass
    return passed, failed, skipped


def _test_id(test: unittest.TestCase) -> str:
    """The id of *test*, or of the test a subtest belongs to."""
    return getattr(test, "test_case", test).id()


def count_suite_output(lines: List[str], status: int) -> Tally:
    """(passed, failed, skipped) of a unittest-style run from its output and exit status."""
    ran: Optional[int] = None
    counts = {"failures": 0, "errors": 0, "skipped": 0, "unexpected successes": 0}
    for line in lines:
        found = re.match(r"^Ran (\d+) tests? in ", line)
        if found:
            ran = int(found.group(1))
        verdict = re.match(r"^(?:OK|FAILED)(?: \((.*)\))?\s*$", line)
        if verdict and ran is not None:
            for part in filter(None, (verdict.group(1) or "").split(", ")):
                name, _, number = part.partition("=")
                if name in counts and number.isdigit():
                    counts[name] = int(number)
    if ran is None:
        return 0, 1, 0  # it never got to run the tests
    failed = counts["failures"] + counts["errors"] + counts["unexpected successes"]
    passed = ran - failed - counts["skipped"]
    if status != 0 and failed == 0:
        failed = 1  # every test passed, yet the run failed (leaked rows, an incomplete cleanup)
    return passed, failed, counts["skipped"]


def standin_run() -> Tally:
    """One run of the API suite against a throwaway stand-in, CI=true; its tests counted."""
    environ = {k: v for k, v in os.environ.items() if k not in _DROP}
    environ["CI"] = "true"
    argv = [sys.executable, "-m", "cocalc_standin", "run"]
    print(f"cocalc-api-tests: {' '.join(['python'] + argv[1:])} with CI=true on Python {sys.version.split()[0]}",
          flush=True)
    child = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, bufsize=1)
    lines = []
    assert child.stdout is not None
    for line in child.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    status = child.wait()
    return count_suite_output(lines, status)


def main(argv: List[str]) -> int:
    tally_file = None
    if "--tally" in argv:
        at = argv.index("--tally")
        tally_file = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    passed, failed, skipped = standin_run() if argv == ["--standin-run"] else self_tests(argv)
    if tally_file:
        with open(tally_file, "w", encoding="utf-8") as fh:
            fh.write(f"{passed} {failed} {skipped}\n")
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
