"""The suite with a project-scoped key: what the project endpoint allows runs, the rest skips for one reason.

A user makes a key for one of their projects and runs the suite with it and
``COCALC_PROJECT_ID`` set to that project (``CI=true``).  CoCalc's hub refuses such
keys, so every test that needs an account's key must skip with
:data:`~cocalc_api_tests.session.PROJECT_KEY_REASON` (not fail, not skip for the
site-admin or second-account reasons, not pass with every subtest skipped), while
the tests of the project's own endpoint run and pass; the run leaves no row.  A fake
server checks the decision itself: a project key only when the hub refuses it with
CoCalc's words for that.
"""
import collections
import tempfile
import unittest
from typing import Any, Dict

from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_api_tests.session import PROJECT_KEY_REASON, AccountKeyNeeded
from cocalc_api_tests.support import JUPYTER_SKIP_REASON
from cocalc_api_tests.test_project import THEIR_KERNELS_REASON
from cocalc_standin.launch import leaked_rows, snapshot

from helpers import (
    API_KEY, HUB_PATH, MUST_SIGN_IN, OTHER_PROJECT_ID, PROJECT_ID, FakeServerCase, Recorded, Reply, flatten, json_reply, outcomes,
    start_standin, subtest_skips, user_project,
)
from suite_runner import PY, run, suite_environ, summary

ENV: Any = None
#: Modules whose every test calls only the shared project's endpoint: with a project key they all pass.
PROJECT_ENDPOINT_MODULES = ("test_files", "test_exec")


def setUpModule() -> None:
    global ENV
    ENV = start_standin()


class TestProjectScopedKey(unittest.TestCase):
    """One run of the whole suite with a key scoped to ``COCALC_PROJECT_ID`` (``CI=true``)."""

    @classmethod
    def setUpClass(cls) -> None:
        key, cls.project_id = user_project(ENV, scoped_key=True)
        before = snapshot(ENV.store)
        with tempfile.TemporaryDirectory() as ledgers:
            environ = suite_environ(ENV.environ, ledgers, COCALC_API_KEY=key, COCALC_PROJECT_ID=cls.project_id, CI="true")
            cls.status, cls.out, cls.err = run([PY, "-m", "cocalc_api_tests", "run", "-v"], environ)
        cls.leaks = leaked_rows(ENV.store, before)
        cls.outcomes = outcomes(cls.err)
        cls.reason = PROJECT_KEY_REASON.format(project_id=cls.project_id)

    def test_no_test_fails_and_every_test_is_accounted_for(self) -> None:
        self.assertEqual(self.status, 0, summary(self.out, self.err))
        everything = {t.id() for t in flatten(unittest.defaultTestLoader.loadTestsFromName("cocalc_api_tests"))}
        self.assertEqual(set(self.outcomes), everything, "tests the verbose run does not account for (or names twice)")
        bad = {test: outcome for test, outcome in self.outcomes.items() if not outcome.startswith(("ok", "skipped: "))}
        self.assertEqual(bad, {}, summary(self.out, self.err))
        self.assertEqual(self.leaks, [], "rows the run left")

    def test_tests_that_need_an_account_key_skip_for_the_one_reason(self) -> None:
        reasons = collections.Counter(o[len("skipped: "):] for o in self.outcomes.values() if o.startswith("skipped: "))
        self.assertGreater(reasons[self.reason], 100, f"skips for the project key's reason: {reasons}")
        others = {r: n for r, n in reasons.items()
                  if r not in (self.reason, JUPYTER_SKIP_REASON, THEIR_KERNELS_REASON) and not r.startswith("the project has no ")}
        self.assertEqual(others, {}, "skips for another reason than the key's, CI's or a missing tool's")

    def test_a_test_whose_subtests_need_an_account_key_skips_whole(self) -> None:
        self.assertNotIn(self.reason, subtest_skips(self.err), "a subtest skipped for the key's reason: its test counts as passed")

    def test_the_project_endpoints_tests_run_and_pass(self) -> None:
        for module in PROJECT_ENDPOINT_MODULES:
            ran = self.of_module(module)
            with self.subTest(module=module):
                self.assertTrue(ran, f"no test of {module} in the run")
                self.assertEqual({t: o for t, o in ran.items() if o != "ok"}, {}, f"{module} with a key of its project")
        passed = sum(1 for o in self.outcomes.values() if o == "ok")
        self.assertGreaterEqual(passed, sum(len(self.of_module(m)) for m in PROJECT_ENDPOINT_MODULES))

    def test_the_start_names_the_project_and_what_runs(self) -> None:
        self.assertIn(f"COCALC_API_KEY is scoped to project {self.project_id}; CoCalc's hub refuses such keys", self.err)

    def of_module(self, module: str) -> Dict[str, str]:
        prefix = f"cocalc_api_tests.{module}."
        return {t: o for t, o in self.outcomes.items() if t.startswith(prefix)}



class TestProjectKeyDecision(FakeServerCase):
    """The session takes a key for a project's only when the hub refuses it as CoCalc refuses project keys."""

    def scoped(self, hub_refusal: str) -> None:
        def answer(request: Recorded) -> Reply:
            if request.path == HUB_PATH:
                return json_reply({"error": hub_refusal})
            return json_reply({"project_id": PROJECT_ID, "server_time": 1795556211094})

        self.reply("system.test", answer)

    def test_the_hubs_refusal_of_project_keys_makes_a_project_key_session(self) -> None:
        self.scoped(MUST_SIGN_IN)
        session = self.built_session(COCALC_PROJECT_ID=PROJECT_ID)
        self.assertEqual(session.account_key_needed, PROJECT_KEY_REASON.format(project_id=PROJECT_ID))
        for what, project_id in (("the hub", None), ("no project named", ""), ("another project", OTHER_PROJECT_ID)):
            with self.subTest(what), self.assertRaises(AccountKeyNeeded):
                session.client(API_KEY, project_id)
        session.client(API_KEY, PROJECT_ID)
        with self.assertRaises(AccountKeyNeeded):
            session.create_project()
        self.assertEqual([r.path for r in self.server.requests() if r.path == HUB_PATH], [HUB_PATH],
                         "the hub was asked again after it refused the key")

    def test_another_refusal_of_the_hub_stops_the_run(self) -> None:
        self.scoped("Error: the database is not reachable")
        with self.assertRaises(CoCalcAPIError) as caught:
            self.built_session(COCALC_PROJECT_ID=PROJECT_ID)
        self.assertIn("not with CoCalc's refusal of project-scoped keys", str(caught.exception))
