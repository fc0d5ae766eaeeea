"""The command line's test runner: test classes run concurrently on the one shared session.

unittest runs the tests of a class one after another, and so does this runner;
with ``parallel > 1`` it runs up to that many *classes* at once.  Each class's
output is gathered and printed in one piece when the class ends, so lines never
interleave; the verdicts and the final summary are those of a serial run::

    runner = ParallelRunner(parallel=4, verbosity=2)
    result = runner.run(suite)          # a JUnitResult with every case and its time

Module fixtures run once per module: every ``setUpModule`` in the main thread
before the first class starts (so the background work they start overlaps all
tests), each ``tearDownModule`` after its module's last class; module cleanups
at the very end.  Class fixtures run with their class.
"""
import io
import sys
import threading
import time
import unittest
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Set, TextIO, Tuple

from .junit import JUnitResult

#: Classes run at once by default: what measured fastest with readable output (see README).
DEFAULT_PARALLEL = 16


def flatten(suite: unittest.TestSuite) -> Iterable[unittest.TestCase]:
    """Every test of *suite*, in order."""
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from flatten(item)
        else:
            yield item


def by_class(suite: unittest.TestSuite) -> "OrderedDict[Tuple[str, str], List[unittest.TestCase]]":
    """The tests of *suite* grouped by (module, class), in the order they come."""
    groups: "OrderedDict[Tuple[str, str], List[unittest.TestCase]]" = OrderedDict()
    for test in flatten(suite):
        cls = type(test)
        groups.setdefault((cls.__module__, cls.__qualname__), []).append(test)
    return groups


class _ClassSuite(unittest.TestSuite):
    """A class's tests, with class fixtures but without module fixtures (the runner does those once)."""

    def _handleModuleFixture(self, test: Any, result: Any) -> None:  # noqa: N802 (unittest's name)
        result._previousTestClass = None  # so that the class set-up still runs

    def _handleModuleTearDown(self, result: Any) -> None:  # noqa: N802 (unittest's name)
        pass


class ParallelRunner:
    """Run a suite with up to *parallel* test classes at once; the result is a :class:`JUnitResult`."""

    def __init__(
        self,
        parallel: int = DEFAULT_PARALLEL,
        verbosity: int = 1,
        failfast: bool = False,
        stream: Optional[TextIO] = None,
        **_: Any,
    ):
        self.parallel = max(1, parallel)
        self.verbosity = verbosity
        self.failfast = failfast
        self.stream = stream or sys.stderr
        self._print_lock = threading.Lock()
        self._active: Set[JUnitResult] = set()
        #: The outcomes so far (complete once :meth:`run` returns; partial if it was interrupted).
        self.result = JUnitResult(unittest.runner._WritelnDecorator(self.stream), True, verbosity)

    def run(self, suite: unittest.TestSuite) -> JUnitResult:
        """Run *suite*; print each class's output when it ends, then the errors and the summary."""
        total = self.result
        total.failfast = self.failfast
        groups = by_class(suite)
        modules: "OrderedDict[str, List[Tuple[str, str]]]" = OrderedDict()
        for key in groups:
            modules.setdefault(key[0], []).append(key)
        started = time.perf_counter()
        ready = [
            key
            for module, keys in modules.items()
            if self._set_up_module(module, [t for k in keys for t in groups[k]], total)
            for key in keys
        ]
        pending = list(ready)
        left: Dict[str, int] = {m: sum(1 for k in ready if k[0] == m) for m in modules}
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not pending or total.shouldStop:
                        return
                    key = pending.pop(0)
                self._run_class(groups[key], total)
                with lock:
                    left[key[0]] -= 1
                    last = left[key[0]] == 0
                if last:
                    with self._print_lock:
                        self._tear_down_module(key[0], total)

        threads = [threading.Thread(target=worker, name=f"test worker {n}", daemon=True) for n in range(self.parallel)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            total.stop()
            with self._print_lock:
                for result in list(self._active):
                    result.interrupted()
                    total.merge(result)
                self._active.clear()
            raise
        try:
            unittest.case.doModuleCleanups()
        except Exception:
            total.addError(unittest.suite._ErrorHolder("module cleanups"), sys.exc_info())
        total.wall = time.perf_counter() - started
        total.printErrors()
        self._summary(total)
        return total

    # -- one class --------------------------------------------------------------------

    def _run_class(self, tests: List[unittest.TestCase], total: JUnitResult) -> None:
        buffer = io.StringIO()
        result = JUnitResult(unittest.runner._WritelnDecorator(buffer), True, self.verbosity)
        result.failfast = self.failfast
        result.shouldStop = total.shouldStop
        with self._print_lock:
            self._active.add(result)
        _ClassSuite(tests)(result)
        result._previousTestClass = None
        with self._print_lock:
            if result not in self._active:
                return  # the run was interrupted and this result already counted
            self._active.discard(result)
            self.stream.write(buffer.getvalue())
            self.stream.flush()
            total.merge(result)

    # -- module fixtures ---------------------------------------------------------------

    def _set_up_module(self, module_name: str, tests: List[unittest.TestCase], total: JUnitResult) -> bool:
        """Run the module's ``setUpModule``; ``False`` (its tests skipped or an error reported) if it failed."""
        set_up = getattr(sys.modules.get(module_name), "setUpModule", None)
        if set_up is None:
            return True
        try:
            set_up()
        except unittest.SkipTest as skip:
            for test in tests:
                total.addSkip(test, str(skip))
            return False
        except Exception:
            total.addError(unittest.suite._ErrorHolder(f"setUpModule ({module_name})"), sys.exc_info())
            return False
        return True

    def _tear_down_module(self, module_name: str, total: JUnitResult) -> None:
        tear_down = getattr(sys.modules.get(module_name), "tearDownModule", None)
        try:
            if tear_down is not None:
                tear_down()
        except Exception:
            total.addError(unittest.suite._ErrorHolder(f"tearDownModule ({module_name})"), sys.exc_info())

    # -- the end -------------------------------------------------------------------------

    def _summary(self, result: JUnitResult) -> None:
        run = result.testsRun
        out = self.stream
        out.write(unittest.TextTestResult.separator2 + "\n")
        out.write(f"Ran {run} test{'s' * (run != 1)} in {result.wall:.3f}s ({self.parallel} at once)\n\n")
        details = []
        if result.failures:
            details.append(f"failures={len(result.failures)}")
        if result.errors:
            details.append(f"errors={len(result.errors)}")
        if result.skipped:
            details.append(f"skipped={len(result.skipped)}")
        if result.expectedFailures:
            details.append(f"expected failures={len(result.expectedFailures)}")
        if result.unexpectedSuccesses:
            details.append(f"unexpected successes={len(result.unexpectedSuccesses)}")
        verdict = "OK" if result.wasSuccessful() else "FAILED"
        out.write(f"{verdict} ({', '.join(details)})\n" if details else f"{verdict}\n")
        out.flush()
