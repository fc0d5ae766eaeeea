"""The whole API suite, end to end, against the stand-in: as `scripts/run_tests.sh --standin` runs it.

These runs include the Jupyter tests whatever ``CI`` says in the calling shell,
check the CI=true counts (51 run, 13 skipped, each with its reason), that
discovery finds exactly the 64 tests, and that pytest runs the same modules.
"""
import os
import re
import shlex
import sys
import tempfile
import time
import unittest
from typing import Dict

from cocalc_api_tests.support import JUPYTER_SKIP_REASON

from suite_runner import PY, ROOT, clean_environ, finish, run, start, start_standin, suite_environ, summary

#: Tests per module, as issue 4 lists them.
MODULE_COUNTS = {"test_hub": 19, "test_project": 9, "test_jupyter": 12, "test_org": 15, "test_org_basic": 9}
RUN_TESTS = os.path.join(ROOT, "scripts", "run_tests.sh")


def _count(suite: unittest.TestSuite) -> int:
    return sum(_count(t) if isinstance(t, unittest.TestSuite) else 1 for t in suite)


class TestDiscovery(unittest.TestCase):
    def test_each_way_of_loading_finds_the_64_tests(self) -> None:
        loader = unittest.TestLoader()
        self.assertEqual(_count(loader.discover(ROOT, top_level_dir=ROOT)), 64, "python -m unittest discover")
        self.assertEqual(_count(loader.loadTestsFromName("cocalc_api_tests")), 64, "python -m unittest cocalc_api_tests")
        for module, expected in MODULE_COUNTS.items():
            with self.subTest(module=module):
                self.assertEqual(_count(loader.loadTestsFromName(f"cocalc_api_tests.{module}")), expected)


class TestStandinRuns(unittest.TestCase):
    def standin_run(self, **extra: str):
        started = time.monotonic()
        status, out, err = run([RUN_TESTS, "--standin", "-v"], clean_environ(**extra), timeout=600)
        seconds = time.monotonic() - started
        return status, out, err, seconds

    def test_full_pass_with_jupyter(self) -> None:
        status, out, err, seconds = self.standin_run()
        print(f"\n[figure] end-to-end pass of the 64 tests, Jupyter included: {seconds:.1f} s", file=sys.stderr)
        self.assertEqual(status, 0, summary(out, err))
        self.assertIn("Ran 64 tests", err)
        self.assertRegex(err, r"\nOK\n", "every test passes, none skipped")
        self.assertIn("leaked rows: 0", out)

    def test_ci_true_skips_exactly_the_13_jupyter_tests(self) -> None:
        status, out, err, _ = self.standin_run(CI="true")
        self.assertEqual(status, 0, summary(out, err))
        self.assertIn("Ran 64 tests", err)
        self.assertIn("OK (skipped=13)", err)
        skipped = re.findall(r"^(test_\w+) \(([\w.]+)\)[^\n]*\.\.\. skipped '(.*)'$", err, re.M)
        self.assertEqual(len(skipped), 13, summary(out, err))
        self.assertEqual({reason for _, _, reason in skipped}, {JUPYTER_SKIP_REASON})
        modules = sorted(name.split(".")[1] for _, name, _ in skipped)
        self.assertEqual(modules, ["test_jupyter"] * 12 + ["test_project"])
        self.assertIn("leaked rows: 0", out)


class TestStandinInTheForeground(unittest.TestCase):
    """`scripts/standin.sh` in one shell, `scripts/run_tests.sh` in another."""

    def test_standin_sh_then_run_tests_sh(self) -> None:
        server = start([os.path.join(ROOT, "scripts", "standin.sh")], clean_environ())
        self.addCleanup(lambda: server.poll() is None and (server.terminate(), server.wait(60)))
        exports: Dict[str, str] = {}
        while True:  # the export lines, then a comment saying it serves
            line = server.stdout.readline()
            if not line:
                self.fail("scripts/standin.sh ended before it printed its export lines:\n" + summary(*finish(server)))
            if line.startswith("#"):
                break
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                exports[name] = shlex.split(value)[0]
        before = _row_counts(exports)
        ledgers = tempfile.mkdtemp(prefix="selftest-ledgers-")
        status, out, err = run([RUN_TESTS, "cocalc_api_tests.test_hub"], suite_environ(exports, ledgers, CI="true"))
        self.assertEqual(status, 0, summary(out, err))
        self.assertIn("Ran 19 tests", err)
        self.assertEqual(_row_counts(exports), before, "the run left rows behind")
        server.terminate()
        self.assertEqual(server.wait(60), 0, "scripts/standin.sh did not stop cleanly on SIGTERM")


def _row_counts(exports: Dict[str, str]) -> Dict[str, int]:
    import pg8000.native

    conn = pg8000.native.Connection(
        exports["PGUSER"], database=exports["PGDATABASE"], password=exports.get("PGPASSWORD"),
        unix_sock=os.path.join(exports["PGHOST"], f".s.PGSQL.{exports['PGPORT']}"),
    )
    try:
        return {t: conn.run(f"SELECT count(*) FROM {t}")[0][0]
                for t in ("accounts", "projects", "organizations", "messages", "api_keys", "auth_tokens")}
    finally:
        conn.close()


class TestPytest(unittest.TestCase):
    def test_pytest_runs_the_same_modules(self) -> None:
        env = start_standin()
        self.addCleanup(env.close)
        ledgers = tempfile.mkdtemp(prefix="selftest-ledgers-")
        argv = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "cocalc_api_tests"]
        status, out, err = run(argv, suite_environ(env.environ, ledgers, CI="true"))
        self.assertEqual(status, 0, summary(out, err))
        self.assertRegex(out, r"\b51 passed, 13 skipped\b")
        self.assertIn("cleanup: projects: ", err)
        self.assertEqual(os.listdir(ledgers), [], "pytest's run left its ledger behind")


if __name__ == "__main__":
    unittest.main()
