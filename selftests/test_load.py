"""Load: three suite runs at once against one stand-in playing a real CoCalc, and the parts that let them pass.

- :func:`cocalc_api_tests.poll.settle` and :mod:`cocalc_api_tests.changes`: a call CoCalc answers
  with a timeout is a change still going on, followed through ``projects.state`` (against
  the stand-in, whose bridge answers a call's own short timeout with CoCalc's 408 text);
- :class:`cocalc_api_tests.runner.AdaptiveLimit` and the runner: fewer classes at once
  while the server shows strain, more again when it is calm;
- three ``python -m cocalc_api_tests run`` at once (``CI=true``), as three users of one
  server would, against ONE stand-in with the ``real`` profile at a compressed time
  scale: every run passes and the database holds no row more than before
  (``leaked rows: 0``).  The wall times are printed as ``[figure]`` lines.
"""
import io
import shutil
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Callable, Dict, List

from cocalc_api_tests.calllog import CallLog
from cocalc_api_tests.changes import RUNNING, STOPPED, change_project
from cocalc_api_tests.client import Hub
from cocalc_api_tests.errors import CoCalcAPIError, NotSettled
from cocalc_api_tests.poll import Settled, settle
from cocalc_api_tests.runner import AdaptiveLimit, ParallelRunner
from cocalc_standin.launch import SetupError, StandinEnvironment, leaked_rows, snapshot
from cocalc_standin.profile import get_profile

from suite_runner import PY, finish, ledger_files, start, suite_environ, summary

#: How the load test compresses the ``real`` profile's latencies (as the end-to-end self-test does).
SCALE = 0.05
#: Runs at once.
RUNS = 3
#: Seconds the three runs may take together.
LOAD_TIMEOUT = 900.0
#: What CoCalc's hub bridge answers a call that outlasted its wait (a change still going on).
TIMEOUT_408 = "timeout - callHub: subject='hub.account.x.api', name='projects.stop', code='408' "



class StandinTestCase(unittest.TestCase):
    """A stand-in with the ``real`` profile at :data:`SCALE` for the class (not the module: the runner test
    below runs a :class:`ParallelRunner`, which ends with every module cleanup of the process)."""

    env: Any = None

    @classmethod
    def setUpClass(cls) -> None:
        env = StandinEnvironment(profile=get_profile("real", SCALE))
        try:
            env.__enter__()
        except SetupError as err:
            raise unittest.SkipTest(f"no PostgreSQL for the stand-in: {err}") from None
        cls.addClassCleanup(env.close)
        cls.env = env


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestSettle(unittest.TestCase):
    """``settle`` on made-up calls: what each kind of answer leads to."""

    def test_an_answer_is_returned_and_the_state_never_read(self) -> None:
        reads: List[int] = []
        answer = settle(lambda: "done", read=lambda: reads.append(1), accept=bool, timeout=5, what="x")
        self.assertEqual((answer, reads), ("done", []))

    def test_a_timeout_is_followed_until_the_state_is_reached(self) -> None:
        states = iter(["stopping", "stopping", "opened"])
        seen: List[Any] = []

        def change() -> None:
            raise CoCalcAPIError(TIMEOUT_408, "projects.stop")

        answer = settle(change, read=lambda: next(states), accept=lambda s: s == "opened", timeout=5, what="stop",
                        interval=0.01, on_done=seen.append)
        self.assertIsInstance(answer, Settled)
        self.assertEqual(str(answer.answer), TIMEOUT_408)
        self.assertEqual(len(seen[0].tries), 2, "the call, then the wait for its state")
        self.assertIn("state reached after", seen[0].describe())

    def test_a_change_the_server_dropped_is_made_again(self) -> None:
        made: List[int] = []

        def change() -> None:
            made.append(1)
            raise CoCalcAPIError(TIMEOUT_408, "projects.start")

        # The state moves only once the change was made a second time (the first was dropped).
        answer = settle(change, read=lambda: "running" if len(made) > 1 else "opened", accept=lambda s: s == "running",
                        timeout=5, what="start", again=0.2, interval=0.05)
        self.assertIsInstance(answer, Settled)
        self.assertEqual(len(made), 2)

    def test_a_refusal_is_raised_at_once(self) -> None:
        def change() -> None:
            raise CoCalcAPIError("Error: must be collaborator on project to stop it", "projects.stop")

        with self.assertRaises(CoCalcAPIError) as caught:
            settle(change, read=lambda: self.fail("a refused change has no state to follow"), accept=bool, timeout=5,
                   what="stop")
        self.assertNotIsInstance(caught.exception, NotSettled)

    def test_a_state_never_reached_names_both_waits(self) -> None:
        def change() -> None:
            raise CoCalcAPIError(TIMEOUT_408, "projects.stop")

        started = time.monotonic()
        with self.assertRaises(NotSettled) as caught:
            settle(change, read=lambda: {"state": "running"}, accept=lambda s: s["state"] == "opened", timeout=0.3,
                   what="projects.stop(p)", interval=0.05)
        self.assertLess(time.monotonic() - started, 2.0, "the wait is the call's, not more")
        text = str(caught.exception)
        for part in ("projects.stop(p) answered a timeout", "state not reached", "code='408'", "'running'"):
            self.assertIn(part, text)


class TestChangesOnTheStandin(StandinTestCase):
    """``change_project`` against the stand-in: a start and a stop that outlast their call's own wait."""

    def test_start_and_stop_answered_with_a_timeout_are_seen_through(self) -> None:
        hub = Hub(self.env.admin_key, self.env.environ["COCALC_HOST"])
        self.addCleanup(hub.close)
        project_id = hub.projects.create_project(title="load self-test")
        self.addCleanup(lambda: self.env.store.query("DELETE FROM projects WHERE project_id = :p::UUID", p=project_id))
        log = CallLog()

        def short(name: str) -> Callable[[str], Any]:
            """The call with a 50 ms wait, which the profile's start (~1.8 s) and stop (~8 s) outlast (scaled)."""
            call = lambda pid: hub.call(name, [{"project_id": pid}], timeout_ms=50)  # noqa: E731
            call.remote_name = name  # type: ignore[attr-defined]
            return call

        for name, states in (("projects.start", RUNNING), ("projects.stop", STOPPED)):
            with self.subTest(call=name):
                answer = change_project(hub, short(name), project_id, states, wait=60, log=log)
                self.assertIsInstance(answer, Settled, f"{name} with a 50 ms wait answered {answer!r}")
                self.assertIn(hub.projects.state(project_id)["state"], states)
        reported = [entry.call for entry in log.entries()]
        self.assertEqual(reported, ["projects.start", "projects.stop"], "each change is one entry of the slow calls")


class TestAdaptiveLimit(unittest.TestCase):
    def setUp(self) -> None:
        self.clock, self.strain = FakeClock(), [0]
        self.limit = AdaptiveLimit(16, lambda: self.strain[0], cooldown=10, calm=20, clock=self.clock)

    def test_strain_halves_once_per_cooldown_and_calm_adds_one(self) -> None:
        self.assertEqual(self.limit.current(), 16)
        self.strain[0] += 3
        self.assertEqual(self.limit.current(), 8, "strain halves the limit")
        self.clock.now, self.strain[0] = 5, self.strain[0] + 1
        self.assertEqual(self.limit.current(), 8, "within the cooldown, more strain does not cut again")
        self.clock.now, self.strain[0] = 15, self.strain[0] + 1
        self.assertEqual(self.limit.current(), 4)
        self.clock.now = 34
        self.assertEqual(self.limit.current(), 4, "not yet calm: the last strain was 19 s ago")
        self.clock.now = 35
        self.assertEqual(self.limit.current(), 5, "a calm spell lets one more class in")
        self.clock.now = 55
        self.assertEqual(self.limit.current(), 6)
        self.assertEqual(self.limit.lowest, 4)

    def test_never_below_one_nor_above_the_maximum(self) -> None:
        for step in range(10):
            self.clock.now, self.strain[0] = step * 10, self.strain[0] + 1
            self.limit.current()
        self.assertEqual(self.limit.current(), 1)
        self.clock.now += 20 * 100
        for _ in range(40):
            self.clock.now += 20
            self.limit.current()
        self.assertEqual(self.limit.current(), 16)


class TestRunnerUnderStrain(unittest.TestCase):
    """The runner starts no more classes than the limit allows once the server shows strain."""

    def test_fewer_classes_at_once_after_strain(self) -> None:
        state: Dict[str, Any] = {"running": 0, "most": [], "strain": 0, "lock": threading.Lock()}

        def body(test: unittest.TestCase) -> None:
            with state["lock"]:
                state["running"] += 1
                state["most"].append(state["running"])
                state["strain"] += 1  # every class "sees a slow call"
            time.sleep(0.05)
            with state["lock"]:
                state["running"] -= 1

        classes = [type(f"Case{n}", (unittest.TestCase,), {"test_it": body}) for n in range(24)]
        suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in classes)
        runner = ParallelRunner(parallel=8, stream=io.StringIO())
        runner.limit = AdaptiveLimit(8, lambda: state["strain"], cooldown=0.0, calm=3600)
        result = runner.run(suite)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(result.testsRun, 24)
        self.assertEqual(runner.limit.current(), 1, "every class strained the server: one at a time")
        self.assertLessEqual(max(state["most"][-8:]), 1, f"concurrency seen: {state['most']}")
        self.assertIn("down to 1 while the server was slow", runner.stream.getvalue())


class TestRunLate(unittest.TestCase):
    """Classes marked ``run_late`` start after every other class, whatever the order they come in."""

    def test_late_classes_start_last(self) -> None:
        started: List[str] = []

        def body(test: unittest.TestCase) -> None:
            started.append(type(test).__name__)

        classes = [type(f"Case{n}", (unittest.TestCase,), {"test_it": body, "run_late": n % 2 == 0}) for n in range(6)]
        suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in classes)
        result = ParallelRunner(parallel=1, stream=io.StringIO()).run(suite)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(started, ["Case1", "Case3", "Case5", "Case0", "Case2", "Case4"])


class TestThreeRunsAtOnce(StandinTestCase):
    def test_three_runs_against_one_real_profile_standin_pass_and_leave_nothing(self) -> None:
        before = snapshot(self.env.store)
        ledgers = [tempfile.mkdtemp(prefix="selftest-load-ledgers-") for _ in range(RUNS)]
        for folder in ledgers:
            self.addCleanup(shutil.rmtree, folder, True)
        argv = [PY, "-m", "cocalc_api_tests", "run"]
        started = time.monotonic()
        children = [start(argv, suite_environ(self.env.environ, folder, CI="true")) for folder in ledgers]
        ended: List[float] = []
        outputs = []
        for child in children:
            outputs.append(finish(child, timeout=LOAD_TIMEOUT))
            ended.append(time.monotonic() - started)
        for number, (child, (out, err)) in enumerate(zip(children, outputs)):
            with self.subTest(run=number):
                self.assertEqual(child.returncode, 0, summary(out, err))
                self.assertRegex(err, r"Ran \d+ tests")
                self.assertIn("OK (skipped=", err)
                self.assertEqual(ledger_files(ledgers[number]), [], "a run's cleanup did not finish")
        leaks = leaked_rows(self.env.store, before)
        print(f"\n[figure] {RUNS} runs at once, CI=true, profile real at scale {SCALE}: "
              f"{', '.join(f'{s:.1f}' for s in ended)} s; leaked rows: {len(leaks)}", file=sys.stderr)
        self.assertEqual(leaks, [])


if __name__ == "__main__":
    unittest.main()
