"""Benchmark: how many of the stand-in's faults the suite catches (mutation testing of the suite).

    python selftests/mutation.py [--jobs N] [--only PATTERN]... [--from-file FILE] [--sample] [--whole-suite]
                                 [--timeout S] [--missed-file FILE]

For each fault of the stand-in's table (:mod:`cocalc_standin.faults`: four per
safe call) it starts a stand-in (``fast`` profile, its own throwaway database)
that makes that fault, runs the suite against it (``python -m cocalc_standin
run``) and counts the fault as *caught* when a test fails or errs (or the suite
refuses to start); a skip alone catches nothing.  The suite runs with
``CI=true``, except for the faults of calls that need a Jupyter kernel or a tool
(:func:`needs_kernels`: ``CI=true`` skips every test that gets an answer from
them, and the stand-in's projects run real kernels): those run with ``CI``
unset.  Faults run ``--jobs`` at a time (default 2).  One line per fault as it
ends, then ``caught N of M faults``, the faults not caught that
:data:`cocalc_standin.faults.INVISIBLE` explains (each with its reason: what the
API cannot show, or why the stand-in cannot make the call succeed), then the
unexplained ones (call and kind, and why: the tests passed, or the fault never
changed an answer because no test makes the call or every such call failed
anyway), and the figures (total seconds, mean seconds per fault).

To keep each run short, a clean pass first runs each test module on its own
against one clean stand-in and reads, from the stand-in's request log
(``App.calls_seen``: endpoint and call name), which calls each module makes
(once with ``CI=true``, and once with ``CI`` unset when a selected fault needs
kernels); a fault's run then has only the modules that make its call in its
mode (``--whole-suite`` runs every module for every fault).  A fault whose call
no module makes is missed without a run.

``--only PATTERN`` (repeatable) keeps the faults whose id matches the shell
pattern (or contains it), ``--from-file FILE`` those named first on each line
of FILE (a ``--missed-file`` of an earlier run); ``--sample`` runs only :func:`sample`, the fixed six of the
self-test ``selftests/test_faults.py``, against the whole suite.  It is a
benchmark, not a test: it exits 0 whatever it finds (1 when a run could not be
made at all).
"""
import argparse
import fnmatch
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from cocalc_standin import faults  # noqa: E402

from suite_runner import PY, clean_environ, suite_environ  # noqa: E402

#: Seconds one fault's run may take before it is stopped (and counted as hung).  Most take under a minute, but a
#: fault can make the suite fail slowly: projects.start:effect took 1936 s (test_authz waits up to 120 s, cell
#: after cell, for projects that never start).
FAULT_TIMEOUT = 2400.0
#: The seed of :func:`sample`'s choice: the first (counting from 1) whose six were all caught when the sample was
#: fixed, by the first full pass (266 of 312 caught; seed 1 drew system.userTracking:effect, which the suite
#: misses).  A fault of the sample that the suite stops catching fails ``selftests/test_faults.py``.
SAMPLE_SEED = 2
SAMPLE_SIZE = 6
_RAN = re.compile(r"^Ran (\d+) tests?", re.M)
_LEAKED = re.compile(r"^leaked rows: (\d+)$", re.M)
_CHANGED = re.compile(r"^fault (\S+): changed (\d+) of (\d+) calls$", re.M)


def test_modules() -> List[str]:
    """The suite's test modules (``cocalc_api_tests.test_*``)."""
    folder = os.path.join(ROOT, "cocalc_api_tests")
    names = [n[:-3] for n in os.listdir(folder) if n.startswith("test_") and n.endswith(".py")]
    return sorted(f"cocalc_api_tests.{n}" for n in names)


def sample(table: Optional[faults.Table] = None, size: int = SAMPLE_SIZE,
           seed: int = SAMPLE_SEED) -> List[faults.Fault]:
    """A fixed handful of faults of different kinds and areas: the self-test's sample.

    The faults of calls that need a Jupyter kernel or Sage (which ``CI=true`` does
    not exercise) are left out; the rest are shuffled with *seed*; one is taken for
    each of the four primary kinds in turn (then any kind), skipping a fault whose
    area (hub group, or a project's group) already has one, until *size* are taken.
    """
    known = [f for f in (table or faults.table()).faults if not _kernel_or_tool_bound(f.call)]
    random.Random(seed).shuffle(known)
    chosen: List[faults.Fault] = []
    areas: Set[str] = set()
    wanted = list(faults.PRIMARY) + [None] * size
    for kind in wanted:
        if len(chosen) == size:
            break
        for fault in known:
            area = f"{fault.endpoint}:{fault.call.split('.')[0]}"
            if fault in chosen or area in areas or (kind is not None and fault.kind != kind):
                continue
            chosen.append(fault)
            areas.add(area)
            break
    return chosen


def _kernel_or_tool_bound(call: str) -> bool:
    """Whether *call* needs a Jupyter kernel or Sage, so that ``CI=true`` skips the tests that use it."""
    return bool(re.search(r"jupyter|sagews", call, re.IGNORECASE))  # whole names: "messages" holds "sage" too


def needs_kernels(fault: faults.Fault) -> bool:
    """Whether *fault*'s run has ``CI`` unset: its call needs a kernel or a tool, which ``CI=true`` never reaches."""
    return _kernel_or_tool_bound(fault.call)


def mode(ci: bool) -> str:
    """How a run's ``CI`` is said in the output."""
    return "CI=true" if ci else "CI unset"


# ------------------------------------------------------------------ clean pass


def calls_by_module(jobs: int = 2, modules: Optional[Sequence[str]] = None,
                    log: Optional[Callable[[str], None]] = None, ci: bool = True) -> Dict[str, Set[Tuple[str, str]]]:
    """Run each test module alone against a clean stand-in (``CI=true``, or unset); the calls each one makes.

    Raises RuntimeError when a module does not pass without a fault (then no fault's result would mean anything).
    """
    from cocalc_standin.launch import StandinEnvironment

    modules = list(modules or test_modules())
    result: Dict[str, Set[Tuple[str, str]]] = {}
    failures: List[str] = []
    pending = list(modules)
    lock = threading.Lock()

    def worker() -> None:
        with StandinEnvironment() as env, tempfile.TemporaryDirectory(prefix="mutation-ledgers-") as ledgers:
            seen = env.server.app.calls_seen
            while True:
                with lock:
                    if not pending:
                        return
                    module = pending.pop(0)
                seen.clear()
                started = time.monotonic()
                environ = suite_environ(env.environ, ledgers, **({"CI": "true"} if ci else {}))
                child = subprocess.run([PY, "-m", "cocalc_api_tests", "run", module], cwd=ROOT, capture_output=True,
                                       text=True, env=environ, timeout=FAULT_TIMEOUT)
                with lock:
                    result[module] = set(seen)
                    if child.returncode != 0:
                        failures.append(f"{module} (exit {child.returncode}):\n{child.stderr[-2000:]}")
                    if log:
                        log(f"clean pass ({mode(ci)}): {module}: {len(result[module])} calls, "
                            f"{time.monotonic() - started:.1f} s"
                            + ("" if child.returncode == 0 else f", FAILED (exit {child.returncode})"))

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(jobs, len(modules))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"the suite does not pass against a clean stand-in ({mode(ci)}), so no fault can be "
                           "judged:\n"
                           + "\n".join(failures))
    return result


# ------------------------------------------------------------------ one fault


@dataclass
class Outcome:
    """How one fault's run went."""

    fault: faults.Fault
    verdict: str  # "caught", "missed", "not exercised", "hung", "error"
    detail: str = ""
    seconds: float = 0.0
    modules: List[str] = field(default_factory=list)
    failed_tests: List[str] = field(default_factory=list)

    @property
    def caught(self) -> bool:
        return self.verdict == "caught"


def _junit_failures(path: str) -> Tuple[int, List[str]]:
    """Tests run and the ``class.name`` of each failed or erring test in a JUnit report."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return 0, []
    cases = root.iter("testcase")
    ran, failed = 0, []
    for case in cases:
        ran += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '')}.{case.get('name', '')}".strip("."))
    return ran, failed


def run_fault(fault: faults.Fault, modules: Sequence[str] = (), timeout: float = FAULT_TIMEOUT) -> Outcome:
    """One stand-in making *fault*, the suite (*modules*, or all) against it (``CI`` as :func:`needs_kernels` says)."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        report = os.path.join(scratch, "report.xml")
        ci = {} if needs_kernels(fault) else {"CI": "true"}
        environ = clean_environ(**ci, **{faults.ENV: fault.id})
        argv = [PY, "-m", "cocalc_standin", "run", "--junit-xml", report] + list(modules)
        started = time.monotonic()
        child = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(child)
            return Outcome(fault, "hung", f"the run did not end within {timeout:g} s", time.monotonic() - started,
                           list(modules))
        seconds = time.monotonic() - started
        ran, failed = _junit_failures(report)
    leaked = _LEAKED.search(out)
    changed = _CHANGED.search(out)
    changes = int(changed.group(2)) if changed else 0
    matched = int(changed.group(3)) if changed else 0
    leaks = f", {leaked.group(1)} leaked rows" if leaked and leaked.group(1) != "0" else ""
    if leaked is None:
        return Outcome(fault, "error", f"the stand-in did not run the suite (exit {child.returncode}): "
                       f"{(err or out).strip()[-500:]}", seconds, list(modules))
    if not ran and not _RAN.search(err):
        detail = f"the suite refused to start (exit {child.returncode}); fault changed {changes} of {matched} calls"
        return Outcome(fault, "caught" if changes else "not exercised", detail, seconds, list(modules))
    if changes == 0:
        note = " (yet the run failed: flaky?)" if failed else ""
        why = "no test makes the call" if matched == 0 else f"all {matched} calls failed, or lacked what it changes"
        return Outcome(fault, "not exercised", f"the fault never changed an answer: {why}{note}{leaks}", seconds,
                       list(modules), failed)
    if failed:
        return Outcome(fault, "caught", f"{len(failed)} of {ran} tests failed; changed {changes} of {matched} "
                       f"calls{leaks}", seconds, list(modules), failed)
    return Outcome(fault, "missed", f"all {ran} tests passed (or skipped); changed {changes} of {matched} calls{leaks}",
                   seconds, list(modules))


def _stop(child: subprocess.Popen) -> None:
    """SIGTERM the run's process group (the stand-in tears itself down), SIGKILL after 60 s."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------ the benchmark


def select(table: faults.Table, only: Sequence[str] = ()) -> List[faults.Fault]:
    """The faults whose id matches one of *only* (shell patterns, or parts of the id); all without any."""
    if not only:
        return list(table.faults)
    return [f for f in table.faults if any(fnmatch.fnmatchcase(f.id, p) or p in f.id for p in only)]


def ids_in(path: str) -> List[str]:
    """The fault ids in *path*: the first word of each line (a ``--missed-file`` reads back)."""
    with open(path, encoding="utf-8") as fh:
        return [line.split()[0] for line in fh if line.strip() and not line.startswith("#")]


ModuleCalls = Dict[bool, Dict[str, Set[Tuple[str, str]]]]  # CI=true? -> module -> calls its clean pass made


def run_all(selected: Sequence[faults.Fault], jobs: int, module_calls: Optional[ModuleCalls],
            timeout: float = FAULT_TIMEOUT, out=sys.stdout) -> List[Outcome]:
    """Run every fault of *selected*, *jobs* at a time, printing one line for each as it ends.

    *module_calls* (the clean passes, by mode) chooses each fault's modules; None runs the whole suite.
    """
    lock = threading.Lock()
    outcomes: List[Outcome] = []
    width = max((len(f.id) for f in selected), default=10)

    def one(fault: faults.Fault) -> Outcome:
        if module_calls is None:
            outcome = run_fault(fault, (), timeout)
        else:
            ci = not needs_kernels(fault)
            calls_of = module_calls[ci]
            modules = sorted(m for m, calls in calls_of.items() if (fault.endpoint, fault.call) in calls)
            if modules:
                outcome = run_fault(fault, modules, timeout)
            else:
                outcome = Outcome(fault, "not exercised", f"no test module makes the call with {mode(ci)} (not run)")
        with lock:
            outcomes.append(outcome)
            where = "whole suite" if module_calls is None else (
                ", ".join(m.split(".")[-1] for m in outcome.modules) or "-")
            by, failed = "", outcome.failed_tests
            if failed:
                more = f" (+{len(failed) - 2})" if len(failed) > 2 else ""
                by = "  by " + ", ".join(t.split(".", 1)[-1] for t in failed[:2]) + more
            print(f"[{len(outcomes):3d}/{len(selected)}] {outcome.verdict:13} {fault.id:{width}}  "
                  f"{outcome.seconds:6.1f} s  {outcome.detail}  [{mode(not needs_kernels(fault))}: {where}]{by}",
                  file=out, flush=True)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, selected))
    order = {f.id: i for i, f in enumerate(selected)}
    return sorted(outcomes, key=lambda o: order[o.fault.id])


def missed_lines(outcomes: Sequence[Outcome], explained: bool = True) -> List[str]:
    """One line per fault not caught: id, call, kind, verdict and why; only the unexplained ones unless *explained*.

    A fault :data:`cocalc_standin.faults.INVISIBLE` explains is left out with ``explained=False``.
    """
    return [f"{o.fault.id}\tcall {o.fault.label}\tkind {o.fault.kind}\t{o.verdict}: {o.detail}"
            for o in outcomes if not o.caught and (explained or o.fault.id not in faults.INVISIBLE)]


def summary_lines(outcomes: Sequence[Outcome]) -> List[str]:
    """``caught N of M faults``, the verdicts, the explained faults with their reasons, then the unexplained ones.

    Explained faults with the same reason share it (their ids on one line, the reason on the next).
    An explained fault that was caught after all is named too: its reason no longer holds.
    """
    caught = [o for o in outcomes if o.caught]
    verdicts: Dict[str, int] = {}
    for outcome in outcomes:
        verdicts[outcome.verdict] = verdicts.get(outcome.verdict, 0) + 1
    lines = [f"caught {len(caught)} of {len(outcomes)} faults",
             "verdicts: " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))]
    explained = [o for o in outcomes if not o.caught and o.fault.id in faults.INVISIBLE]
    if explained:
        lines.append(f"not caught, explained ({len(explained)}; the reasons: cocalc_standin/faults.py INVISIBLE):")
        by_reason: Dict[str, List[Outcome]] = {}
        for outcome in explained:
            by_reason.setdefault(faults.INVISIBLE[outcome.fault.id], []).append(outcome)
        for reason, group in by_reason.items():
            lines.append("  " + ", ".join(f"{o.fault.id} ({o.verdict})" for o in group))
            lines.append(f"      {reason}")
    stale = [o.fault.id for o in outcomes if o.caught and o.fault.id in faults.INVISIBLE]
    if stale:
        lines.append(f"caught, yet explained as invisible (the reason no longer holds: remove it) ({len(stale)}):")
        lines.extend(f"  {fault_id}" for fault_id in stale)
    unexplained = missed_lines(outcomes, explained=False)
    if unexplained:
        lines.append(f"not caught, unexplained ({len(unexplained)}):")
        lines.extend("  " + line for line in unexplained)
    return lines


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="faults run at once (default 2)")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="only the faults whose id matches this shell pattern (or contains it); repeatable")
    parser.add_argument("--from-file", metavar="FILE", help="only the faults named first on each line of FILE "
                                                            "(e.g. a --missed-file of an earlier run)")
    parser.add_argument("--sample", action="store_true", help="only the self-test's fixed sample (whole suite)")
    parser.add_argument("--whole-suite", action="store_true", help="run every module for every fault (no clean pass)")
    parser.add_argument("--timeout", type=float, default=FAULT_TIMEOUT, help="seconds one fault's run may take")
    parser.add_argument("--missed-file", help="also write the faults not caught to this file, one a line")
    options = parser.parse_args(argv)
    if options.jobs < 1:
        parser.error("--jobs must be at least 1")
    started = time.monotonic()
    table = faults.table()
    patterns = list(options.only)
    named: Set[str] = set()
    if options.from_file:
        try:
            named = {faults.parse(i, table).id for i in ids_in(options.from_file)}
        except (OSError, faults.FaultError) as err:
            print(f"--from-file {options.from_file}: {err}", file=sys.stderr)
            return 1
        if not named:
            print(f"--from-file {options.from_file} names no fault", file=sys.stderr)
            return 1
    if options.sample:
        selected = sample(table)
    elif named:
        selected = [f for f in table.faults if f.id in named or (patterns and f in select(table, patterns))]
    else:
        selected = select(table, patterns)
    if not selected:
        print(f"no fault matches {patterns!r}; `python -m cocalc_standin faults` lists them", file=sys.stderr)
        return 1
    modes = sorted({not needs_kernels(f) for f in selected}, reverse=True)
    print(f"{len(selected)} of {len(table.faults)} faults, {options.jobs} at a time, "
          + " and ".join(f"{sum((not needs_kernels(f)) == ci for f in selected)} with {mode(ci)}" for ci in modes),
          flush=True)
    module_calls: Optional[ModuleCalls] = None
    clean_seconds = 0.0
    if not (options.sample or options.whole_suite):
        try:
            module_calls = {ci: calls_by_module(options.jobs, log=lambda line: print(line, flush=True), ci=ci)
                            for ci in modes}
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 1
        clean_seconds = time.monotonic() - started
    outcomes = run_all(selected, options.jobs, module_calls, options.timeout)
    total = time.monotonic() - started
    caught = [o for o in outcomes if o.caught]
    print()
    print("\n".join(summary_lines(outcomes)))
    missed = missed_lines(outcomes)
    runs = [o.seconds for o in outcomes if o.seconds]
    print(f"figures: total {total:.1f} s (clean pass {clean_seconds:.1f} s), {len(runs)} runs, "
          f"mean {sum(runs) / max(1, len(runs)):.1f} s per fault run, {total / max(1, len(outcomes)):.1f} s wall per "
          f"fault, {options.jobs} at a time")
    if options.missed_file:
        with open(options.missed_file, "w", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in missed))
    return 1 if any(o.verdict == "error" for o in outcomes) and not caught else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
