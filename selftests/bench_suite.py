"""Benchmark: how long the whole suite takes against a stand-in as slow as a real CoCalc.

    python selftests/bench_suite.py [--scale S] [--parallel N [N ...]] [--ci true|false|both] [-- run options]

For each ``CI`` setting and each ``--parallel`` value it starts a fresh stand-in
with the ``real`` profile (``COCALC_STANDIN_TIME_SCALE=S``, default 1), runs
``python -m cocalc_api_tests run`` against it and prints one line of figures:

* wall: the run from session start to cleanup done (the suite's own figure);
* tests: the sum of the tests' own durations (what a serial run would spend in tests);
* cleanup: the exit-time stop and hard-delete;
* ratio: wall over that serial sum (below 1: the overlap is paying off).

It is a benchmark, not a test: it prints figures and fails only when a run fails.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from cocalc_standin.launch import StandinEnvironment  # noqa: E402
from cocalc_standin.profile import SCALE_VARIABLE, get_profile  # noqa: E402

from suite_runner import clean_environ  # noqa: E402

#: The suite's closing line: ``run took 19.2 s: tests 14.0 s (their own durations add up to 61.3 s), cleanup 2.1 s.``
TOOK = re.compile(r"run took ([\d.]+) s: tests ([\d.]+) s \(their own durations add up to ([\d.]+) s\), cleanup ([\d.]+) s")


def one_run(scale: float, parallel: int, ci: bool, run_options: List[str]) -> Dict[str, float]:
    """A fresh ``real`` stand-in, one run of the suite against it; the run's figures."""
    with StandinEnvironment(profile=get_profile("real", scale)) as env, tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "report.xml")
        environ = clean_environ(**env.environ)  # the calling shell's suite variables dropped
        environ.update(COCALC_TESTS_LEDGER_DIR=os.path.join(scratch, "ledgers"), CI="true" if ci else "false")
        environ[SCALE_VARIABLE] = str(scale)
        argv = [sys.executable, "-m", "cocalc_api_tests", "run", "--parallel", str(parallel), "--junit-xml", report]
        child = subprocess.run(argv + run_options, env=environ, capture_output=True, text=True, cwd=os.path.dirname(HERE))
        found = TOOK.search(child.stderr)
        if child.returncode != 0 or found is None:
            raise SystemExit(f"the run failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
        wall, tests, serial, cleanup = map(float, found.groups())
        cases = len(ET.parse(report).getroot().findall("testcase"))
        return {"wall": wall, "tests": tests, "serial": serial, "cleanup": cleanup, "cases": cases}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="time scale of the real profile (default 1)")
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 8, 16], help="classes at once to try")
    parser.add_argument("--ci", choices=("true", "false", "both"), default="both", help="CI setting(s) to run with")
    parser.add_argument("run_options", nargs="*", help="after --: options and test names for the suite's run")
    options = parser.parse_args(argv)
    settings = {"true": [True], "false": [False], "both": [True, False]}[options.ci]
    print(f"profile real, time scale {options.scale:g}")
    print(f"{'CI':6} {'parallel':>8} {'tests':>6} {'wall s':>8} {'tests s':>8} {'serial s':>9} {'cleanup s':>10} {'ratio':>6}")
    for ci in settings:
        for parallel in options.parallel:
            f = one_run(options.scale, parallel, ci, options.run_options)
            print(f"{str(ci).lower():6} {parallel:8d} {f['cases']:6.0f} {f['wall']:8.1f} {f['tests']:8.1f} "
                  f"{f['serial']:9.1f} {f['cleanup']:10.1f} {f['wall'] / f['serial']:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
