"""The helpers that turn server misbehaviour into test failures, against a fake CoCalc.

A real loopback HTTP server (:class:`helpers.RecordingServer`) answers each
call from a script; a real :class:`~cocalc_api_tests.session.Session` (cleanup
disabled, so no database) is built against it.  Each check runs a helper of
:mod:`cocalc_api_tests.support` inside a throwaway test case and looks at that
case's outcome: a server error, a call that succeeds when it must not, an answer
that never comes, must each fail the case with a message naming the call and
the answer; a transient error must be retried, a refusal must not.
"""
import sys
import threading
import time
import unittest
from types import ModuleType
from typing import Any, Callable, List, Tuple
from unittest import mock

from cocalc_api_tests import support
from cocalc_api_tests.errors import CoCalcAPIError, CoCalcConnectionError, StillTransient
from cocalc_api_tests.poll import Attempts, poll, retry_transient

from helpers import ACCOUNT_ID, PROJECT_ID, FakeServerCase, Recorded, Reply, json_reply

#: Answers that mean "no answer in time" (transient), worded as a real CoCalc words them: a cold
#: kernel's bare ``timeout`` and the project bridge's 408 (note the trailing space).
TIMEOUT = json_reply({"error": "timeout"})
#: The hub bridge's 408, as CoCalc words it.
HUB_TIMEOUT_TEXT = (
    "timeout - Error: operation has timed out - callHub: subject='hub.account.x.api', name='system.ping', code='408' "
)
BRIDGE_TIMEOUT = json_reply({"error": f"timeout - callHub: subject='project.{PROJECT_ID}.0.api.-', name='system.exec', code='408' "})


def globals_of(cls: type) -> ModuleType:
    """The module whose globals the methods of *cls* read: the one to patch a limit of ``support`` in.

    ``support`` may be one module or a package that re-exports its modules' names; a patch of the
    re-exported name would not reach the code.
    """
    return sys.modules[cls.__module__]


def script(*replies: Reply) -> Callable[[Recorded], Reply]:
    """Answer with *replies* in turn, then with the last one for ever."""
    queue = list(replies)
    lock = threading.Lock()

    def respond(request: Recorded) -> Reply:
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


class Outcome:
    """How a throwaway test case ended: ``kind`` is ``pass``, ``failure``, ``error`` or ``skip``; what its body returned."""

    def __init__(self, result: unittest.TestResult, seconds: float, returned: Any):
        self.seconds = seconds
        self.returned = returned
        if result.failures:
            self.kind, self.text = "failure", result.failures[0][1]
        elif result.errors:
            self.kind, self.text = "error", result.errors[0][1]
        elif result.skipped:
            self.kind, self.text = "skip", result.skipped[0][1]
        else:
            self.kind, self.text = "pass", ""

    @property
    def message(self) -> str:
        """The failure's message: the last line of its traceback."""
        return self.text.rstrip().splitlines()[-1] if self.text else ""


class SupportTestCase(FakeServerCase):
    """A session against the fake server, and a way to run a helper inside a throwaway test."""

    def setUp(self) -> None:
        super().setUp()
        self.reply("system.test", json_reply({"account_id": ACCOUNT_ID}))
        self.fake_session = self.built_session(COCALC_PROJECT_ID=PROJECT_ID, CI="true")
        self.fake_session.background.submit("jupyter warm-up", dict)  # the kernel counts as warm

    def outcome(self, body: Callable[[Any], Any], base: type = support.APITestCase) -> Outcome:
        """Run ``body(case)`` as the test of a throwaway *base* case on the fake session."""

        class Throwaway(base):  # type: ignore[misc, valid-type]
            def runTest(case) -> None:  # noqa: N802 (unittest's name)
                case.returned = body(case)

        Throwaway.session = self.fake_session  # instead of the process-wide session
        case = Throwaway()
        result = unittest.TestResult()
        started = time.monotonic()
        case.run(result)
        return Outcome(result, time.monotonic() - started, getattr(case, "returned", None))

    def assertFailsNaming(self, outcome: Outcome, *fragments: str) -> None:
        """The case failed (not errored), and its message holds every fragment."""
        self.assertEqual(outcome.kind, "failure", f"expected a test failure, got {outcome.kind}: {outcome.text}")
        for fragment in fragments:
            self.assertIn(fragment, outcome.message)


# ------------------------------------------------------------------------ call


class CallTest(SupportTestCase):
    def test_answer_is_returned(self) -> None:
        self.reply("org.get", json_reply({"name": "acme"}))
        outcome = self.outcome(lambda case: case.call(case.hub.org.get, "acme"))
        self.assertEqual((outcome.kind, outcome.returned), ("pass", {"name": "acme"}))

    def test_server_error_fails_naming_call_arguments_and_answer(self) -> None:
        self.reply("org.get", json_reply({"error": "Error: no organization named 'acme'"}))
        outcome = self.outcome(lambda case: case.call(case.hub.org.get, "acme"))
        self.assertFailsNaming(outcome, "org.get('acme')", "Error: no organization named 'acme'", "[client call org.get(")


class AssertCallFailsTest(SupportTestCase):
    def test_expected_error_passes_and_is_returned(self) -> None:
        self.reply("org.get", json_reply({"error": "Error: no organization named 'acme'"}))
        outcome = self.outcome(lambda case: case.assertCallFails(case.hub.org.get, "acme", contains="no organization"))
        self.assertEqual(outcome.kind, "pass", outcome.text)
        self.assertIsInstance(outcome.returned, CoCalcAPIError)
        self.assertEqual(outcome.returned.call, "org.get")

    def test_a_call_that_succeeds_fails_naming_call_and_answer(self) -> None:
        self.reply("org.get", json_reply({"name": "acme", "title": "accepted"}))
        outcome = self.outcome(lambda case: case.assertCallFails(case.hub.org.get, "acme", contains="no organization"))
        self.assertFailsNaming(outcome, "org.get('acme') answered", "'title': 'accepted'", "'no organization'")

    def test_another_error_text_fails_naming_call_and_answer(self) -> None:
        self.reply("org.get", json_reply({"error": "Error: must be a site admin"}))
        outcome = self.outcome(lambda case: case.assertCallFails(case.hub.org.get, "acme", contains="no organization"))
        self.assertFailsNaming(outcome, "org.get(", "'acme'", "Error: must be a site admin", "'no organization'")


# -------------------------------------------------------------------- poll_call


class PollCallTest(SupportTestCase):
    def state(self, accept: Callable[[Any], bool], timeout: float) -> Outcome:
        return self.outcome(lambda case: case.poll_call(
            case.hub.projects.state, PROJECT_ID, accept=accept, timeout=timeout, what="the project opened",
        ))

    def test_transient_errors_are_retried_until_the_answer_is_accepted(self) -> None:
        self.reply("projects.state", script(TIMEOUT, BRIDGE_TIMEOUT, json_reply({"state": "opening"}), json_reply({"state": "opened"})))
        outcome = self.state(lambda s: s["state"] == "opened", timeout=30)
        self.assertEqual((outcome.kind, outcome.returned), ("pass", {"state": "opened"}), outcome.text)
        self.assertEqual(self.count("projects.state"), 4)

    def test_a_refusal_fails_at_once(self) -> None:
        self.reply("projects.state", json_reply({"error": "Error: must be collaborator on project"}))
        outcome = self.state(lambda s: True, timeout=10)
        self.assertFailsNaming(outcome, "the project opened failed", "projects.state(", "Error: must be collaborator on project")
        self.assertEqual(self.count("projects.state"), 1, "a refusal was retried")
        self.assertLess(outcome.seconds, 5, "a refusal waited for the timeout")

    def test_an_answer_never_accepted_fails_naming_what_and_the_last_value(self) -> None:
        self.reply("projects.state", script(json_reply({"state": "starting"}), json_reply({"state": "opening"})))
        outcome = self.state(lambda s: s["state"] == "opened", timeout=2)
        self.assertFailsNaming(outcome, "the project opened not reached within 2 s", "last value: {'state': 'opening'}")
        self.assertGreaterEqual(self.count("projects.state"), 2, "the answer was not asked again")

    def test_timeouts_until_the_deadline_fail_saying_so(self) -> None:
        self.reply("projects.state", TIMEOUT)
        outcome = self.state(lambda s: True, timeout=2)
        self.assertFailsNaming(outcome, "the project opened kept timing out (2 s at most)", "-> error 'timeout'")
        self.assertGreaterEqual(self.count("projects.state"), 2, "a timeout was not retried")


# ------------------------------------------------------------ Jupyter retries


class JupyterRetryTest(SupportTestCase):
    """``JupyterTestCase._retrying`` (through ``execute_via_project``) and :func:`retry_transient`."""

    OUTPUT = [{"data": {"text/plain": "2"}}]

    def execute(self, budget: float) -> Outcome:
        with mock.patch.object(globals_of(support.JupyterTestCase), "JUPYTER_BUDGET", budget):
            return self.outcome(lambda case: case.execute_via_project("1 + 1"), base=support.JupyterTestCase)

    def test_timeouts_are_retried_within_the_budget_and_reported(self) -> None:
        self.reply("system.jupyterExecute", script(TIMEOUT, BRIDGE_TIMEOUT, json_reply(self.OUTPUT)))
        outcome = self.execute(budget=30)
        self.assertEqual((outcome.kind, outcome.returned), ("pass", self.OUTPUT), outcome.text)
        self.assertEqual(self.count("system.jupyterExecute"), 3)
        reported = [e.attempts for e in self.fake_session.calls.entries() if e.call == "system.jupyterExecute"]
        self.assertEqual(reported, [3], "the retries are missing from the run's report of slow calls")

    def test_a_budget_spent_on_timeouts_fails_naming_the_call_and_every_wait(self) -> None:
        # Timeouts for longer than the budget lasts; an answer after that, should the budget be ignored.
        self.reply("system.jupyterExecute", script(*[TIMEOUT] * 20, json_reply(self.OUTPUT)))
        outcome = self.execute(budget=2.5)
        attempts = self.count("system.jupyterExecute")
        self.assertFailsNaming(
            outcome, "system.jupyterExecute('1 + 1') did not answer within the retry budget",
            f"{attempts} attempts in ", "last answer: timeout",
        )
        self.assertGreater(attempts, 1, "a timeout was not retried")
        self.assertEqual(outcome.message.count("timeout after "), attempts, "not every wait is named")
        self.assertLess(outcome.seconds, 10, "the budget was not kept")

    def test_a_refusal_fails_at_once(self) -> None:
        self.reply("system.jupyterExecute", script(json_reply({"error": "Error: no kernel named 'python3'"}), json_reply(self.OUTPUT)))
        outcome = self.execute(budget=30)
        self.assertFailsNaming(outcome, "system.jupyterExecute(", "Error: no kernel named 'python3'")
        self.assertEqual(self.count("system.jupyterExecute"), 1, "a refusal was retried")


# ------------------------------------------------------------- background work


class PreparedTest(SupportTestCase):
    def test_a_failing_background_job_fails_the_test_naming_the_call(self) -> None:
        self.reply("projects.createProject", json_reply({"error": "Error: you may not create more projects"}))
        session = self.fake_session
        outcome = self.outcome(lambda case: case.prepared(
            "lifecycle project", lambda: support.background_project(session, "lifecycle project")
        ))
        self.assertFailsNaming(
            outcome, "background work 'lifecycle project' failed", "projects.createProject(",
            "Error: you may not create more projects",
        )

    def test_a_background_job_that_does_not_finish_fails_the_test(self) -> None:
        release = threading.Event()
        self.addCleanup(release.set)
        job = self.fake_session.background.submit("stuck", release.wait)
        with mock.patch.object(globals_of(support.APITestCase), "BACKGROUND_WAIT", 0.3):
            outcome = self.outcome(lambda case: case.prepared("stuck", lambda: job))
        self.assertFailsNaming(outcome, "background work 'stuck' did not finish within 0.3 s")

    def test_the_job_result_is_returned(self) -> None:
        self.reply("projects.createProject", json_reply(PROJECT_ID))
        session = self.fake_session
        outcome = self.outcome(lambda case: case.prepared(
            "lifecycle project", lambda: support.background_project(session, "lifecycle project")
        ))
        self.assertEqual(outcome.kind, "pass", outcome.text)
        self.assertEqual(outcome.returned["project_id"], PROJECT_ID)
        self.assertEqual(session.tracker.ids("project"), [PROJECT_ID], "the background project was not tracked")


# ------------------------------------------------------------------------ poll


class Calls:
    """An attempt function that raises or returns the given outcomes in turn (the last for ever)."""

    def __init__(self, *outcomes: Any):
        self.outcomes = list(outcomes)
        self.count = 0

    def __call__(self) -> Any:
        self.count += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def api_error(text: str) -> CoCalcAPIError:
    return CoCalcAPIError(text, "projects.state", [PROJECT_ID])


class PollTest(unittest.TestCase):
    def test_transient_errors_and_unaccepted_values_are_retried(self) -> None:
        attempt = Calls(api_error("timeout"), CoCalcConnectionError("refused", "http://x", transient=True), "starting", "running")
        value = poll(attempt, timeout=30, interval=0.01, accept=lambda v: v == "running")
        self.assertEqual((value, attempt.count), ("running", 4))

    def test_a_refusal_is_raised_at_once(self) -> None:
        refusal = api_error("Error: must be collaborator")
        attempt = Calls(refusal, "running")
        with self.assertRaises(CoCalcAPIError) as caught:
            poll(attempt, timeout=30, interval=0.01)
        self.assertIs(caught.exception, refusal)
        self.assertEqual(attempt.count, 1)

    def test_errors_outside_retry_on_are_raised_at_once(self) -> None:
        attempt = Calls(CoCalcConnectionError("refused", "http://x", transient=True), "running")
        with self.assertRaises(CoCalcConnectionError):
            poll(attempt, timeout=30, interval=0.01, retry_on=(CoCalcAPIError,))
        self.assertEqual(attempt.count, 1)

    def test_at_the_deadline_the_last_transient_error_is_raised(self) -> None:
        last = api_error(HUB_TIMEOUT_TEXT)
        attempt = Calls(api_error("timeout"), last)
        started = time.monotonic()
        with self.assertRaises(CoCalcAPIError) as caught:
            poll(attempt, timeout=0.3, interval=0.05)
        self.assertIs(caught.exception, last)
        self.assertGreater(attempt.count, 2)
        self.assertLess(time.monotonic() - started, 3)

    def test_at_the_deadline_a_value_never_accepted_is_a_timeout_naming_it(self) -> None:
        attempt = Calls("starting", "opening")
        with self.assertRaises(TimeoutError) as caught:
            poll(attempt, timeout=0.3, interval=0.05, accept=lambda v: v == "running", what="project running")
        self.assertEqual(str(caught.exception), "project running not reached within 0.3 s; last value: 'opening'")
        self.assertGreater(attempt.count, 2)


class RetryTransientTest(unittest.TestCase):
    def run_it(self, attempt: Calls, budget: float) -> Tuple[Any, List[Attempts]]:
        seen: List[Attempts] = []
        try:
            value: Any = retry_transient(attempt, budget=budget, what="system.jupyterExecute('x')", pause=0.05,
                                         on_done=seen.append)
        except Exception as err:  # returned for the test to inspect
            value = err
        return value, seen

    def test_timeouts_are_retried_and_every_attempt_reported(self) -> None:
        value, seen = self.run_it(Calls(api_error("timeout"), api_error(HUB_TIMEOUT_TEXT), "answer"), budget=30)
        self.assertEqual(value, "answer")
        [attempts] = seen
        self.assertEqual([error for _, error in attempts.tries], ["timeout", HUB_TIMEOUT_TEXT, None])
        self.assertRegex(attempts.describe(), r"^3 attempts in \d+\.\d s: timeout after \d+\.\d s, timeout - Error: operation has timed out - callHub: subje\.\.\. after "
                                              r"\d+\.\d s, answered after \d+\.\d s$")

    def test_a_refusal_is_raised_at_once_and_reported(self) -> None:
        refusal = api_error("Error: no kernel")
        attempt = Calls(refusal, "answer")
        value, seen = self.run_it(attempt, budget=30)
        self.assertIs(value, refusal)
        self.assertEqual(attempt.count, 1)
        self.assertEqual(len(seen[0].tries), 1)

    def test_a_spent_budget_raises_still_transient_naming_every_wait(self) -> None:
        attempt = Calls(*[api_error("timeout")] * 50, "answer")
        value, seen = self.run_it(attempt, budget=0.3)
        self.assertIsInstance(value, StillTransient)
        self.assertGreater(attempt.count, 1)
        self.assertLess(attempt.count, 50, "the budget was not kept")
        self.assertEqual(len(value.attempts.tries), attempt.count)
        self.assertEqual(str(value).count("timeout after "), attempt.count)
        self.assertTrue(str(value).startswith("system.jupyterExecute('x') did not answer within the retry budget"))
        self.assertEqual(seen, [value.attempts])


if __name__ == "__main__":
    unittest.main()
