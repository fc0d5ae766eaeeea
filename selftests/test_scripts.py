"""scripts/selftest.sh's own parts: which other Pythons it picks, how it counts, and its closing line.

``scripts/_pythons.py`` runs against fake interpreters (shell scripts answering its version
probe) on a PATH and a pyenv root of a temporary folder; ``run.count_suite_output`` reads
unittest's closing lines; ``scripts/selftest.sh`` itself runs one small selection, so its last
line (which CI reads) and exit status are checked as CI sees them.
"""
import os
import stat
import sys
import tempfile
import unittest
from typing import Dict, List, Tuple

from run import count_suite_output
from suite_runner import ROOT, clean_environ, run

PYTHONS = os.path.join(ROOT, "scripts", "_pythons.py")
SELFTEST = os.path.join(ROOT, "scripts", "selftest.sh")
OWN = "%d.%d" % sys.version_info[:2]


def fake_python(folder: str, name: str, version: str, works: bool = True) -> str:
    """An executable *name* in *folder* that answers the probe as Python *version* (or fails, like a pyenv shim)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    body = f"echo '{version} {version}.0'" if works else "echo 'pyenv: command not found' >&2; exit 127"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"#!/bin/sh\n{body}\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


class PythonsTest(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory(prefix="selftest-pythons-")
        self.addCleanup(tmp.cleanup)
        self.bin = os.path.join(tmp.name, "bin")
        self.pyenv = os.path.join(tmp.name, "pyenv")
        os.makedirs(self.bin)

    def pythons(self, choice: str = "") -> Tuple[int, List[str], str]:
        """Exit status, stdout lines and stderr of _pythons.py with only the fake interpreters to find."""
        environ: Dict[str, str] = dict(clean_environ(), PATH=self.bin, PYENV_ROOT=self.pyenv)
        environ.pop("COCALC_SELFTEST_PYTHONS", None)
        if choice:
            environ["COCALC_SELFTEST_PYTHONS"] = choice
        status, out, err = run([sys.executable, PYTHONS], environ, timeout=60)
        return status, out.splitlines(), err

    def test_the_oldest_and_the_newest_besides_the_running_one(self) -> None:
        versions = ["3.9", "3.10", "3.12", "3.13"]
        paths = {v: fake_python(self.bin, f"python{v}", v) for v in versions}
        fake_python(self.bin, "python3.8", "3.8")  # too old
        fake_python(self.bin, "python3.14", "3.14", works=False)  # a shim of a version not selected
        others = [v for v in versions if v != OWN]
        for choice in ("", "auto"):
            with self.subTest(choice=choice):
                status, lines, err = self.pythons(choice)
                self.assertEqual(status, 0, err)
                self.assertEqual(lines, [f"{v} {paths[v]}" for v in (others[0], others[-1])])

    def test_pyenv_versions_are_found_and_path_comes_first(self) -> None:
        in_pyenv = fake_python(os.path.join(self.pyenv, "versions", "3.10.4", "bin"), "python3", "3.10")
        fake_python(os.path.join(self.pyenv, "versions", "3.12.1", "bin"), "python3", "3.12")
        on_path = fake_python(self.bin, "python3.12", "3.12")
        status, lines, err = self.pythons()
        self.assertEqual(status, 0, err)
        expected = {"3.10": in_pyenv, "3.12": on_path}
        self.assertEqual(lines, [f"{v} {p}" for v, p in sorted(expected.items()) if v != OWN])

    def test_none_found_is_one_line_and_no_failure(self) -> None:
        fake_python(self.bin, "python3.13", "3.13", works=False)
        status, lines, err = self.pythons()
        self.assertEqual((status, lines), (0, []))
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("no other Python 3.9+ was found", err)

    def test_none_chooses_none(self) -> None:
        fake_python(self.bin, "python3.10", "3.10")
        status, lines, err = self.pythons("none")
        self.assertEqual((status, lines), (0, []))
        self.assertIn("COCALC_SELFTEST_PYTHONS=none", err)

    def test_a_list_names_versions_commands_and_paths_and_what_is_missing_fails(self) -> None:
        py310 = fake_python(self.bin, "python3.10", "3.10")
        py312 = fake_python(os.path.join(self.pyenv, "versions", "3.12.1", "bin"), "python3", "3.12")
        fake_python(self.bin, "python3.12", "3.12", works=False)  # the shim falls back to pyenv's 3.12
        elsewhere = fake_python(os.path.join(self.pyenv, "other"), "py", "3.11")
        fake_python(self.bin, "python3.8", "3.8")
        status, lines, err = self.pythons(f"3.10, python3.12 {elsewhere} 3.8 3.7 /nowhere/python3")
        self.assertEqual(status, 1)
        self.assertEqual(lines, [f"3.10 {py310}", f"3.12 {py312}", f"3.11 {elsewhere}"])
        self.assertIn("names 3.8, which is Python 3.8.0; 3.9 or newer is needed", err)
        self.assertIn("names 3.7, which was not found", err)
        self.assertIn("names /nowhere/python3, which was not found", err)


class CountSuiteOutputTest(unittest.TestCase):
    def test_a_passing_run_with_skips(self) -> None:
        lines = ["....s", "Ran 178 tests in 17.5s", "", "OK (skipped=14)", "leaked rows: 0"]
        self.assertEqual(count_suite_output(lines, 0), (164, 0, 14))

    def test_failures_errors_and_unexpected_successes_fail(self) -> None:
        lines = ["Ran 20 tests in 3.0s", "FAILED (failures=2, errors=1, skipped=3, expected failures=1, "
                 "unexpected successes=1)"]
        self.assertEqual(count_suite_output(lines, 1), (13, 4, 3))

    def test_a_failed_run_without_a_failing_test_counts_one_failure(self) -> None:
        lines = ["Ran 5 tests in 1.0s", "OK", "leaked row: projects project_id=x", "leaked rows: 1"]
        self.assertEqual(count_suite_output(lines, 1), (5, 1, 0))

    def test_a_run_that_never_ran_its_tests_is_one_failure(self) -> None:
        self.assertEqual(count_suite_output(["cocalc-api-tests: no PostgreSQL"], 2), (0, 1, 0))


class SelftestScriptTest(unittest.TestCase):
    """scripts/selftest.sh with a small selection: the last line adds up the parts, the status follows."""

    def selftest(self, pythons: str) -> Tuple[int, List[str], str]:
        environ = dict(clean_environ(), COCALC_SELFTEST_PYTHONS=pythons)
        status, out, err = run([SELFTEST, "test_scripts.CountSuiteOutputTest"], environ, timeout=300)
        return status, out.strip().splitlines(), err

    def test_none_runs_the_default_python_only(self) -> None:
        status, lines, err = self.selftest("none")
        self.assertEqual(status, 0, err)
        self.assertEqual(lines[-1], "4 passed, 0 failed, 0 skipped")

    def test_a_part_that_cannot_run_is_one_failure_and_fails_the_script(self) -> None:
        status, lines, err = self.selftest("/nowhere/python3")
        self.assertEqual(status, 1, err)
        self.assertEqual(lines[-1], "4 passed, 1 failed, 0 skipped")
        self.assertIn("names /nowhere/python3, which was not found", err)


if __name__ == "__main__":
    unittest.main()
