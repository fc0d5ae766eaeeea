"""The authorization tests catch every check they guard: each switched off in the stand-in, one at a time.

For every check the matrix names (``Rule.checks`` in ``cocalc_api_tests/matrix.py``),
a throwaway stand-in is started with that one check switched off
(``COCALC_STANDIN_BREAK_CHECKS``), the authorization test classes whose rows guard
it run against it, and the run must fail with a ``SECURITY:`` message.  The test
prints ``N of N checks caught``.  ``COCALC_SWITCH_CHECKS`` (comma-separated names) limits
the runs to those checks, e.g. the ones a change added.
"""
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import unittest
from typing import Dict, List, Tuple

from suite_runner import clean_environ

from cocalc_api_tests import test_authz
from cocalc_api_tests.actors import ACTORS
from cocalc_api_tests.matrix import RULES, NoEffect, Refuse

#: Runs at once (each is a stand-in and a suite process; the machine has 2 cores).
AT_ONCE = 3
#: Seconds one run may take.
RUN_TIMEOUT = 600
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


#: Environment variable naming the only checks to switch off (default: every one the matrix names).
CHOSEN_VARIABLE = "COCALC_SWITCH_CHECKS"


def chosen(where: Dict[str, List[str]]) -> Dict[str, List[str]]:
    """*where* limited to the checks :data:`CHOSEN_VARIABLE` names (all of them when it is unset)."""
    names = [n.strip() for n in os.environ.get(CHOSEN_VARIABLE, "").split(",") if n.strip()]
    unknown = sorted(set(names) - set(where))
    if unknown:
        raise ValueError(f"{CHOSEN_VARIABLE} names checks no row of the matrix guards: {', '.join(unknown)}")
    return {check: classes for check, classes in where.items() if not names or check in names}


def guarded_checks() -> Dict[str, List[str]]:
    """Each check the matrix names, with the test classes (dotted names) whose rows guard it."""
    where: Dict[str, List[str]] = {}
    for name, cls in sorted(test_authz.MATRIX_CLASSES.items()):
        for rule in cls.rules:
            for check in rule.checks:
                dotted = f"cocalc_api_tests.test_authz.{name}"
                if dotted not in where.setdefault(check, []):
                    where[check].append(dotted)
    return where


def run_broken(check: str, classes: List[str], ledgers: str) -> Tuple[int, str]:
    """Run *classes* against a stand-in with *check* switched off: exit status and output."""
    environ = clean_environ(CI="true", COCALC_STANDIN_BREAK_CHECKS=check, COCALC_TESTS_LEDGER_DIR=ledgers)
    done = subprocess.run(
        [sys.executable, "-m", "cocalc_standin", "run"] + classes,
        cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=RUN_TIMEOUT,
    )
    return done.returncode, done.stdout


class TestEveryCheckIsCaught(unittest.TestCase):
    def test_the_matrix_names_only_checks_the_standin_has(self) -> None:
        listed = subprocess.run([sys.executable, "-m", "cocalc_standin", "checks"], cwd=ROOT, capture_output=True, text=True)
        registry = {line.split("\t")[0] for line in listed.stdout.splitlines() if line}
        self.assertEqual(sorted(set(guarded_checks()) - registry), [], "checks the matrix names but the stand-in lacks")
        unguarded = [
            rule.name for rule in RULES
            if not rule.checks and any(isinstance(rule.outcome(a), (Refuse, NoEffect)) for a in ACTORS if a != "project_key")
        ]
        self.assertEqual(unguarded, [], "rows that refuse someone but name no check of the stand-in to switch off")

    def test_each_check_switched_off_fails_its_tests_with_security(self) -> None:
        where = chosen(guarded_checks())
        caught: List[str] = []
        with tempfile.TemporaryDirectory(prefix="switch-ledgers-") as ledgers:
            with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as pool:
                runs = {check: pool.submit(run_broken, check, classes, ledgers) for check, classes in where.items()}
                for check, future in runs.items():
                    status, output = future.result()
                    with self.subTest(check=check):
                        self.assertNotEqual(status, 0, f"with {check} switched off the tests still pass:\n{output[-3000:]}")
                        self.assertIn("SECURITY:", output, f"with {check} switched off no failure says SECURITY:\n{output[-3000:]}")
                        self.assertIn("leaked rows: 0", output, f"with {check} switched off rows were left:\n{output[-2000:]}")
                        caught.append(check)
        print(f"\n{len(caught)} of {len(where)} checks caught", file=sys.stderr)
        self.assertEqual(len(caught), len(where))


if __name__ == "__main__":
    unittest.main()
