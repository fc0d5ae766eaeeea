"""Interrupted runs, the ledger, `cleanup --ledger` and parallel runs, against a real stand-in.

Each test runs the suite in child processes, exactly as a user would, and compares
every table of the stand-in's database with its state before the run.
"""
import contextlib
import io
import os
import signal
import tempfile
import unittest
from typing import List, Tuple

from cocalc_api_tests.client import Hub
from cocalc_api_tests.config import Config
from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_api_tests.ledger import Ledger
from cocalc_api_tests.poll import poll
from cocalc_api_tests.session import Session
from cocalc_api_tests.standin.api_auth import create_api_key
from cocalc_api_tests.tracking import Resource
from cocalc_api_tests.standin.launch import StandinEnvironment, leaked_rows, snapshot

from suite_runner import PY, finish, ledger_files, run, start, start_standin, suite_environ, summary

ENV: StandinEnvironment
#: Seconds to wait for the interruptible run to create its resources.
READY_WAIT = 120.0


def setUpModule() -> None:
    global ENV
    ENV = start_standin()
    unittest.addModuleCleanup(ENV.close)


class SuiteRunCase(unittest.TestCase):
    """A fresh ledger directory per test, and the database state before it."""

    def setUp(self) -> None:
        self.ledgers = tempfile.mkdtemp(prefix="selftest-ledgers-")
        self.addCleanup(lambda: [os.unlink(p) for p in ledger_files(self.ledgers)] and None)
        self.before = snapshot(ENV.store)

    def environ(self, **extra: str):
        return suite_environ(ENV.environ, self.ledgers, **extra)

    def leaks(self) -> List[Tuple[str, dict]]:
        return leaked_rows(ENV.store, self.before)

    def interrupted_run(self, argv: List[str], signum: int) -> Tuple[int, str, str]:
        """Start *argv* on the interruptible module, wait until it created everything, send *signum*."""
        ready = os.path.join(self.ledgers, "ready")
        child = start(argv, self.environ(SELFTEST_READY_FILE=ready))
        self.addCleanup(lambda: child.poll() is None and child.kill())
        poll(lambda: os.path.exists(ready) or child.poll() is not None, timeout=READY_WAIT, accept=bool, what="resources created")
        if child.poll() is not None:
            self.fail("the run ended before it could be interrupted:\n" + summary(*finish(child)))
        self.assertTrue(self.leaks(), "the interruptible run created nothing")
        child.send_signal(signum)
        out, err = finish(child)
        return child.returncode, out, err


class TestSignals(SuiteRunCase):
    def test_sigint_cleans_up(self) -> None:
        status, out, err = self.interrupted_run([PY, "-m", "cocalc_api_tests", "run", "interruptible"], signal.SIGINT)
        self.assertEqual(status, 130, summary(out, err))
        self.assertIn("cleanup: projects: ", err)
        self.assertEqual(self.leaks(), [], summary(out, err))
        self.assertEqual(ledger_files(self.ledgers), [], "a finished cleanup keeps no ledger")

    def test_sigterm_cleans_up_under_plain_unittest(self) -> None:
        status, out, err = self.interrupted_run([PY, "-m", "unittest", "interruptible"], signal.SIGTERM)
        self.assertNotEqual(status, 0, summary(out, err))
        self.assertIn("cleanup: accounts: 1 deleted", err)
        self.assertEqual(self.leaks(), [], summary(out, err))


class TestLedger(SuiteRunCase):
    def test_sigkill_then_cleanup_ledger(self) -> None:
        status, out, err = self.interrupted_run([PY, "-m", "cocalc_api_tests", "run", "interruptible"], signal.SIGKILL)
        self.assertEqual(status, -signal.SIGKILL)
        left = self.leaks()
        self.assertTrue(left, "SIGKILL gave the cleaner no chance, so rows must remain")
        [ledger] = ledger_files(self.ledgers)
        with open(ledger, encoding="utf-8") as fh:
            text = fh.read()
        self.assertNotIn(ENV.environ["COCALC_API_KEY"], text)

        status, out, err = run([PY, "-m", "cocalc_api_tests", "run"], self.environ(COCALC_API_KEY=""))
        self.assertEqual(status, 2)
        self.assertIn(f"cleanup --ledger {ledger}", err, "the next run must report the leftover ledger")

        status, out, err = run([PY, "-m", "cocalc_api_tests", "cleanup", "--ledger", ledger, "--dry-run"], self.environ())
        self.assertEqual(status, 0, summary(out, err))
        self.assertEqual(self.leaks(), left, "--dry-run changed the database")
        for table, key in left:
            if table in ("projects", "accounts", "organizations"):
                self.assertIn(next(iter(key.values())), err, f"--dry-run does not mention {table} {key}")
        self.assertEqual(ledger_files(self.ledgers), [ledger])

        status, out, err = run([PY, "-m", "cocalc_api_tests", "cleanup", "--ledger", ledger], self.environ())
        self.assertEqual(status, 0, summary(out, err))
        self.assertEqual(self.leaks(), [], summary(out, err))
        self.assertEqual(ledger_files(self.ledgers), [], "a completed cleanup removes the ledger")

    def test_cleanup_refuses_a_ledger_of_another_server(self) -> None:
        account_id = ENV.mint_key()[0]  # an existing account: the cleaner must not get that far
        config = Config.from_env(dict(ENV.environ, COCALC_HOST="http://cocalc.example.org", COCALC_TESTS_LEDGER_DIR=self.ledgers))
        ledger = Ledger.for_run(config, "otherrun")
        ledger.record(Resource("account", account_id))
        self.before = snapshot(ENV.store)
        status, out, err = run([PY, "-m", "cocalc_api_tests", "cleanup", "--ledger", ledger.path], self.environ())
        self.assertEqual(status, 2, summary(out, err))
        self.assertIn("is still going", err, "this process wrote the ledger, so its run counts as alive")
        argv = [PY, "-m", "cocalc_api_tests", "cleanup", "--force", "--ledger", ledger.path]
        status, out, err = run(argv, self.environ())
        self.assertEqual(status, 2, summary(out, err))
        self.assertIn("cocalc.example.org", err)
        self.assertIn("nothing was deleted", err)
        self.assertEqual(self.leaks(), [])
        self.assertEqual(snapshot(ENV.store), self.before)


class TestProjectScopedKey(unittest.TestCase):
    def test_session_accepts_a_key_scoped_to_cocalc_project_id(self) -> None:
        hub = Hub(ENV.environ["COCALC_API_KEY"], ENV.environ["COCALC_HOST"])
        self.addCleanup(hub.close)
        project_id = hub.projects.create_project(title="scoped-key selftest")
        self.addCleanup(ENV.store.query, "DELETE FROM projects WHERE project_id = :p::UUID", p=project_id)
        hub.projects.start(project_id)
        key = create_api_key(ENV.store, ENV.admin_account_id, name="scoped", project_id=project_id)
        self.addCleanup(ENV.store.query, "DELETE FROM api_keys WHERE project_id = :p::UUID", p=project_id)
        environ = dict(ENV.environ, COCALC_API_KEY=key, COCALC_PROJECT_ID=project_id)
        with contextlib.redirect_stderr(io.StringIO()) as err:
            session = Session(Config.from_env(environ))
            self.addCleanup(session.close)
        self.assertEqual(session.scope.get("project_id"), project_id)
        self.assertIsNone(session.account_id)
        self.assertIn("scoped to project", err.getvalue())
        self.assertIn("now", session.project.system.ping())

    def test_refused_key_names_both_remedies(self) -> None:
        environ = dict(ENV.environ, COCALC_API_KEY="sk-not-a-key-" + "x" * 20)
        with self.assertRaises(CoCalcAPIError) as caught:
            Session(Config.from_env(environ))
        self.assertIn("refused COCALC_API_KEY", str(caught.exception))
        self.assertIn("COCALC_PROJECT_ID", str(caught.exception))
        self.assertNotIn(environ["COCALC_API_KEY"], str(caught.exception))


class TestParallelRuns(SuiteRunCase):
    def test_two_runs_at_once(self) -> None:
        argv = [PY, "-m", "cocalc_api_tests", "run"]
        children = [start(argv, self.environ(CI="true")) for _ in range(2)]
        results = [(child.returncode, *finish(child)) for child in children]
        for number, child in enumerate(children):
            status = child.returncode
            out, err = results[number][1], results[number][2]
            with self.subTest(run=number):
                self.assertEqual(status, 0, summary(out, err))
                self.assertIn("Ran 64 tests", err)
                self.assertIn("OK (skipped=13)", err)
                self.assertNotIn("WARNING", err, "a live run's ledger was reported as left over")
        self.assertEqual(self.leaks(), [])


if __name__ == "__main__":
    unittest.main()
