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
at the very end.  Class fixtures run with their class.  Classes run in the order
they come, except that those with a true ``run_late`` attribute (classes that
mostly wait for such background work) start after all the others.

``parallel`` is a ceiling, not a quota: when the server shows strain (a call timed
out or took longer than the slow-call threshold, :func:`strain_of` the run's call
log), :class:`AdaptiveLimit` halves how many classes may *start*, and lets one more
in again after each quiet spell.  Classes already running go on.
"""
import io
import sys
import threading
import time
import unittest
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, TextIO, Tuple

from .calllog import CallLog
from .junit import JUnitResult

#: Classes run at once by default: what measured fastest with readable output (see README).
DEFAULT_PARALLEL = 16
#: Seconds after a cut in which new strain does not cut again (the calls then in flight began before it).
CUT_COOLDOWN = 10.0
#: Seconds without new strain after which one more class may run at once.
CALM = 20.0
#: Calls whose slowness is their kernel's, not the server's load (a cold or stalled Jupyter kernel).
KERNEL_CALLS = ("jupyter.execute", "system.jupyterExecute")


def strain_of(calls: CallLog) -> Callable[[], int]:
    """How often the server has shown strain so far: the run's slow or retried calls, kernel executions aside.

    Every call that took longer than the call log's threshold (10 s; CoCalc's bridge
    answers a timeout after 15 s) or needed retries or a wait for its state is an entry.
    """
    return lambda: sum(1 for entry in calls.entries() if entry.call not in KERNEL_CALLS)


class AdaptiveLimit:
    """How many classes may run at once: at most *maximum*, halved on strain, one more after each calm spell.

    *strain* returns a count that grows each time the server shows strain; *clock*
    is ``time.monotonic`` but for tests.  :meth:`current` reads both and answers the
    limit; :attr:`lowest` is the lowest it has been.
    """

    def __init__(
        self,
        maximum: int,
        strain: Callable[[], int] = lambda: 0,
        *,
        cooldown: float = CUT_COOLDOWN,
        calm: float = CALM,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.maximum = max(1, maximum)
        self.limit = self.lowest = self.maximum
        self._strain = strain
        self._cooldown = cooldown
        self._calm = calm
        self._clock = clock
        self._seen = strain()
        self._last_cut = float("-inf")  # the first strain cuts at once
        self._last_change = clock()
        self._lock = threading.Lock()

    def current(self) -> int:
        """The limit now (cut if there was new strain since the last look, raised after a calm spell)."""
        with self._lock:
            now, seen = self._clock(), self._strain()
            if seen > self._seen:
                self._seen = seen
                if now - self._last_cut >= self._cooldown and self.limit > 1:
                    self.limit = max(1, self.limit // 2)
                    self.lowest = min(self.lowest, self.limit)
                    self._last_cut = now
                self._last_change = now
            elif self.limit < self.maximum and now - self._last_change >= self._calm:
                self.limit += 1
                self._last_change = now
            return self.limit


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
        pass  # the class set-up runs once, before the first test (each class has a fresh result)

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
        strain: Optional[Callable[[], int]] = None,
        **_: Any,
    ):
        self.parallel = max(1, parallel)
        #: How many classes may start now (:class:`AdaptiveLimit`; *strain* as :func:`strain_of` gives).
        self.limit = AdaptiveLimit(self.parallel, strain or (lambda: 0))
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
        # Classes that mostly wait on the background work (``run_late``) start after the others, so that the
        # waiting overlaps their tests instead of holding the slots (a stable sort: the order is kept otherwise).
        pending = sorted(ready, key=lambda key: bool(getattr(groups[key][0], "run_late", False)))
        left: Dict[str, int] = {m: sum(1 for k in ready if k[0] == m) for m in modules}
        lock = threading.Condition()
        running = [0]

        def worker() -> None:
            while True:
                with lock:
                    # Wait for a slot under the adaptive limit (looked at again every second).
                    while pending and not total.shouldStop and running[0] >= self.limit.current():
                        lock.wait(1.0)
                    if not pending or total.shouldStop:
                        return
                    key = pending.pop(0)
                    running[0] += 1
                try:
                    self._run_class(groups[key], total)
                finally:
                    with lock:
                        running[0] -= 1
                        left[key[0]] -= 1
                        last = left[key[0]] == 0
                        lock.notify_all()
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
        at_once = f"{self.parallel} at once"
        if self.limit.lowest < self.parallel:
            at_once += f"; down to {self.limit.lowest} while the server was slow"
        out.write(f"Ran {run} test{'s' * (run != 1)} in {result.wall:.3f}s ({at_once})\n\n")
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
