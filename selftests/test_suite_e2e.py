"""The whole API suite, end to end, against the stand-in: as `scripts/run_tests.sh --standin` runs it.

The full pass includes the Jupyter tests whatever ``CI`` says in the calling
shell and runs against the ``real`` profile at a compressed time scale (so the
stalls and slow steps of a real CoCalc are survived and reported).  The CI=true
run checks the skips (the seed modules' 13, each with its reason, plus only
kernel- or tool-bound new tests); discovery finds the 64 seed tests in their five
modules plus the new modules' tests; pytest runs the same modules.
"""
import os
import re
import shlex
import sys
import tempfile
import time
import unittest
from typing import Dict, List, Tuple

from cocalc_api_tests.support import JUPYTER_SKIP_REASON

import pgsupport
from helpers import UNSAFE, reachable, start_standin

from cocalc_api_tests.matrix import Allow, NotApplicable, cells
from cocalc_api_tests.test_authz import SLOW_SKIP_REASON
from suite_runner import PY, ROOT, clean_environ, finish, run, start, suite_environ, summary

#: Tests per seed module, as CoCalc's own suite has them (issue 4); they must not change.
SEED_COUNTS = {"test_hub": 19, "test_project": 9, "test_jupyter": 12, "test_org": 15, "test_org_basic": 9}
#: The Jupyter tests CI=true skips in the seed modules.
SEED_CI_SKIPS = 13
RUN_TESTS = os.path.join(ROOT, "scripts", "run_tests.sh")
#: How the full pass compresses the ``real`` profile's latencies and stalls.
REAL_SCALE = "0.05"


def _count(suite: unittest.TestSuite) -> int:
    return sum(_count(t) if isinstance(t, unittest.TestSuite) else 1 for t in suite)


def module_counts() -> Dict[str, int]:
    """Tests per API test module of the package."""
    loader = unittest.TestLoader()
    folder = os.path.join(ROOT, "cocalc_api_tests")
    names = sorted(n[:-3] for n in os.listdir(folder) if n.startswith("test_") and n.endswith(".py"))
    return {name: _count(loader.loadTestsFromName(f"cocalc_api_tests.{name}")) for name in names}


def total_tests() -> int:
    return sum(module_counts().values())


class TestDiscovery(unittest.TestCase):
    def test_each_way_of_loading_finds_the_seed_tests_plus_the_new_ones(self) -> None:
        counts = module_counts()
        self.assertEqual({m: counts.get(m) for m in SEED_COUNTS}, SEED_COUNTS, "the seed modules keep their counts")
        new = {m: n for m, n in counts.items() if m not in SEED_COUNTS}
        self.assertGreaterEqual(len(new), 10, f"the new API modules: {new}")
        total = sum(counts.values())
        loader = unittest.TestLoader()
        self.assertEqual(_count(loader.discover(ROOT, top_level_dir=ROOT)), total, "python -m unittest discover")
        self.assertEqual(_count(loader.loadTestsFromName("cocalc_api_tests")), total, "python -m unittest cocalc_api_tests")


class TestStandinRuns(unittest.TestCase):
    def standin_run(self, *options: str, **extra: str):
        started = time.monotonic()
        status, out, err = run([RUN_TESTS, "--standin", *options, "-v"], clean_environ(**extra), timeout=900)
        seconds = time.monotonic() - started
        return status, out, err, seconds

    def test_full_pass_with_jupyter_on_the_real_profile(self) -> None:
        status, out, err, seconds = self.standin_run("--profile", "real", COCALC_STANDIN_TIME_SCALE=REAL_SCALE)
        print(f"\n[figure] end-to-end pass, Jupyter included, profile real at scale {REAL_SCALE}: {seconds:.1f} s",
              file=sys.stderr)
        self.assertEqual(status, 0, summary(out, err))
        self.assertIn(f"Ran {total_tests()} tests", err)
        skipped = [reason for cell, reason in skips(err) if not cell]
        self.assertTrue(all(reason.startswith("the project has no ") for reason in skipped), skipped)
        self.assertCellSkipsExplained(err)
        self.assertIn("leaked rows: 0", out)
        stalls = re.findall(r"^cocalc-api-tests:   (system\.jupyterExecute|jupyter\.execute)  (.+?)  (\d+) attempts", err, re.M)
        self.assertTrue(stalls, "the real profile's Jupyter stalls are not in the report of slow calls:\n" + summary(out, err))
        self.assertTrue(all(int(attempts) > 1 for _, _, attempts in stalls), stalls)

    def test_ci_true_skips_the_13_seed_jupyter_tests_and_only_kernel_or_tool_bound_new_ones(self) -> None:
        status, out, err, _ = self.standin_run(CI="true")
        self.assertEqual(status, 0, summary(out, err))
        self.assertIn(f"Ran {total_tests()} tests", err)
        everything = SKIP_LINE.findall(err)
        skipped = [(test, name, reason or reason2) for test, name, cell, _, reason, reason2 in everything if not cell]
        seed = [(name, reason) for _, name, reason in skipped if name.split(".")[1] in SEED_COUNTS]
        self.assertEqual(len(seed), SEED_CI_SKIPS, summary(out, err))
        self.assertEqual({reason for _, reason in seed}, {JUPYTER_SKIP_REASON})
        self.assertEqual(sorted(name.split(".")[1] for name, _ in seed), ["test_jupyter"] * 12 + ["test_project"])
        for _, name, reason in skipped:
            with self.subTest(test=name):
                self.assertTrue(reason == JUPYTER_SKIP_REASON or reason.startswith("the project has no "), reason)
        self.assertCellSkipsExplained(err)
        self.assertIn(f"OK (skipped={len(everything)})", err)
        self.assertIn("leaked rows: 0", out)

    def assertCellSkipsExplained(self, err: str) -> None:
        """Every skipped authorization cell skips for its row's reason, or for CI's kernels and tools."""
        allowed = {c.outcome.reason for c in cells() if isinstance(c.outcome, NotApplicable)} | {SLOW_SKIP_REASON}
        self.assertEqual(sorted({r for cell, r in skips(err) if cell} - allowed), [], "cells skipped for no reason of theirs")


def skips(err: str) -> List[Tuple[str, str]]:
    """``(cell, reason)`` of every skip in a verbose run's output (*cell* empty for a whole test)."""
    return [(cell, reason or reason2) for _, _, cell, _, reason, reason2 in SKIP_LINE.findall(err)]


#: A skip in a verbose run: test, its dotted name, the subtest's parameters (if a subtest), a docstring
#: line, and the reason (quoted as ``repr`` quotes it).
SKIP_LINE = re.compile(
    r"^ *(test_\w+) \(([\w.]+)\)( \([^\n]*\))?(\n[^\n]*?)? \.\.\. skipped (?:'([^\n]*)'|\"([^\n]*)\")$", re.M
)


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
    return pgsupport.row_counts(("accounts", "projects", "organizations", "messages", "api_keys", "auth_tokens"),
                                user=exports["PGUSER"], database=exports["PGDATABASE"], socket_dir=exports["PGHOST"],
                                port=exports["PGPORT"], password=exports.get("PGPASSWORD"))


class TestPytest(unittest.TestCase):
    def test_pytest_runs_the_same_modules_which_make_every_safe_call_and_no_unsafe_one(self) -> None:
        env = start_standin()
        self.addCleanup(env.close)
        ledgers = tempfile.mkdtemp(prefix="selftest-ledgers-")
        argv = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "cocalc_api_tests"]
        status, out, err = run(argv, suite_environ(env.environ, ledgers, CI="true"))
        self.assertEqual(status, 0, summary(out, err))
        self.assertEqual((len(reachable()), len(UNSAFE)), (85, 7))
        seen = env.server.app.calls_seen
        self.assertEqual(sorted(reachable() - UNSAFE - seen), [], "safe calls no test makes")
        self.assertEqual(sorted(UNSAFE & seen), [], "unsafe calls a test made")
        passed, skipped = map(int, re.search(r"\b(\d+) passed, (\d+) skipped\b", out).groups())
        # pytest counts skipped subtests (the authorization cells that do not apply) among its skips.
        cell_skips = sum(1 for c in cells() if isinstance(c.outcome, NotApplicable)) + sum(
            1 for c in cells() if c.rule.slow and isinstance(c.outcome, Allow))
        self.assertEqual(passed + skipped, total_tests() + cell_skips, out[-2000:])
        self.assertNotIn(" failed", out[-300:])
        self.assertIn("cleanup: projects: ", err)
        self.assertEqual(os.listdir(ledgers), [], "pytest's run left its ledger behind")


if __name__ == "__main__":
    unittest.main()
