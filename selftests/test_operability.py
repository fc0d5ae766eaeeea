"""Interrupted runs, the ledger, `cleanup --ledger`, JUnit reports and parallel runs, against a real stand-in.

Each test runs the suite in child processes, exactly as a user would, and compares
every table of the stand-in's database with its state before the run.  A cleanup
that is slow or fails is made so by a trigger on ``organizations`` in the
stand-in's database (:meth:`SuiteRunCase.on_organization_delete`).
"""
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid
import xml.etree.ElementTree as ET
from typing import Dict, List, Tuple

from cocalc_api_tests.client import Hub
from cocalc_api_tests.config import Config
from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_api_tests.ledger import Ledger
from cocalc_api_tests.poll import poll
from cocalc_api_tests.session import Session
from cocalc_standin.api_auth import create_api_key
from cocalc_api_tests.tracking import Resource
from cocalc_standin.launch import StandinEnvironment, leaked_rows, snapshot

from helpers import assert_one_paragraph, start_standin
from suite_runner import PY, finish, ledger_files, run, start, suite_environ, summary

ENV: StandinEnvironment
#: Seconds to wait for the interruptible run to create its resources.
READY_WAIT = 120.0
#: Seconds to wait for an interrupted run's cleanup to reach the organizations.
CLEANUP_WAIT = 60.0
#: Seconds between two Ctrl-C presses while the cleanup works.
CTRL_C_PACE = 0.2
#: The note a JUnit report carries for an interrupted run and for an incomplete cleanup.
INTERRUPTED_NOTE = "the run was interrupted (Ctrl-C or SIGTERM); what it created was cleaned up"
INCOMPLETE_NOTE = "the cleanup did not finish; the ledger is kept for `cleanup --ledger`"


def setUpModule() -> None:
    global ENV
    ENV = start_standin()


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

    def ready_run(self, argv: List[str]) -> subprocess.Popen:
        """Start *argv* on the interruptible module; the child, once it created everything."""
        ready = os.path.join(self.ledgers, "ready")
        child = start(argv, self.environ(SELFTEST_READY_FILE=ready))
        self.addCleanup(lambda: child.poll() is None and child.kill())
        poll(lambda: os.path.exists(ready) or child.poll() is not None, timeout=READY_WAIT, accept=bool, what="resources created")
        if child.poll() is not None:
            self.fail("the run ended before it could be interrupted:\n" + summary(*finish(child)))
        self.assertTrue(self.leaks(), "the interruptible run created nothing")
        return child

    def interrupted_run(self, argv: List[str], signum: int) -> Tuple[int, str, str]:
        """Start *argv* on the interruptible module, wait until it created everything, send *signum*."""
        child = self.ready_run(argv)
        child.send_signal(signum)
        out, err = finish(child)
        return child.returncode, out, err

    def on_organization_delete(self, statement: str) -> None:
        """Run the PL/pgSQL *statement* before every ``DELETE FROM organizations`` until the test ends."""
        ENV.store.query(
            "CREATE OR REPLACE FUNCTION selftest_on_delete() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {statement}; RETURN NULL; END $$"
        )
        ENV.store.query(
            "CREATE TRIGGER selftest_on_delete BEFORE DELETE ON organizations "
            "FOR EACH STATEMENT EXECUTE FUNCTION selftest_on_delete()"
        )
        self.addCleanup(self.normal_organization_delete)

    @staticmethod
    def normal_organization_delete() -> None:
        ENV.store.query("DROP TRIGGER IF EXISTS selftest_on_delete ON organizations")
        ENV.store.query("DROP FUNCTION IF EXISTS selftest_on_delete()")

    def cleanup_sleeping(self) -> bool:
        """Whether a connection to the stand-in's database waits in ``pg_sleep`` (the slowed-down delete)."""
        rows = ENV.store.query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()"
        )
        return rows[0]["n"] > 0


class TestSignals(SuiteRunCase):
    def test_sigint_cleans_up_and_writes_the_junit_report(self) -> None:
        report = os.path.join(self.ledgers, "report.xml")
        argv = [PY, "-m", "cocalc_api_tests", "run", "--junit-xml", report, "interruptible"]
        status, out, err = self.interrupted_run(argv, signal.SIGINT)
        self.assertEqual(status, 130, summary(out, err))
        self.assertIn("cleanup: projects: ", err)
        self.assertEqual(self.leaks(), [], summary(out, err))
        self.assertEqual(ledger_files(self.ledgers), [], "a finished cleanup keeps no ledger")
        root = junit_report(self, report, out, err)
        self.assertEqual(notes(root), [INTERRUPTED_NOTE])
        self.assertIn(INTERRUPTED_NOTE, root.find("system-out").text)
        self.assertEqual(counts(root), counted(root), "the suite's counts disagree with its test cases")
        (case,) = root.findall("testcase")
        self.assertEqual(case.get("name"), "test_create_then_wait", "the test running at Ctrl-C is not in the report")
        self.assertIn("interrupted during this test", case.find("error").get("message"))

    def test_ctrl_c_during_the_cleanup_is_held_off(self) -> None:
        self.on_organization_delete("PERFORM pg_sleep(2)")
        child = self.ready_run([PY, "-m", "cocalc_api_tests", "run", "interruptible"])
        child.send_signal(signal.SIGINT)
        poll(lambda: self.cleanup_sleeping() or child.poll() is not None, timeout=CLEANUP_WAIT, accept=bool,
             what="the cleanup deleting the organization")
        presses = 0
        while child.poll() is None and self.cleanup_sleeping():
            child.send_signal(signal.SIGINT)
            presses += 1
            time.sleep(CTRL_C_PACE)
        out, err = finish(child)
        self.assertGreater(presses, 0, "the run ended before its cleanup could be interrupted:\n" + summary(out, err))
        self.assertEqual(self.leaks(), [], f"{presses} Ctrl-C during the cleanup left rows behind:\n" + summary(out, err))
        self.assertEqual(child.returncode, 130, summary(out, err))
        self.assertNotIn("Traceback", err)
        self.assertIn("cleanup: organizations: 1 deleted", err)
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
        outputs = [finish(child) for child in children]  # each child has ended before its status is read
        for number, (child, (out, err)) in enumerate(zip(children, outputs)):
            with self.subTest(run=number):
                self.assertEqual(child.returncode, 0, summary(out, err))
                self.assertRegex(err, r"Ran \d+ tests")
                self.assertIn("OK (skipped=", err)
                self.assertNotIn("WARNING", err, "a live run's ledger was reported as left over")
        self.assertEqual(self.leaks(), [])


class TestKillAtAnyInstant(SuiteRunCase):
    """The write-ahead ledger: a run killed at any instant leaves nothing after ``cleanup --ledger``."""

    #: How many instants, and the API modules the killed runs make (projects, accounts, orgs, messages, keys).
    KILLS = 20
    MODULES = ["cocalc_api_tests.test_org", "cocalc_api_tests.test_keys", "cocalc_api_tests.test_messages",
               "cocalc_api_tests.test_hub"]
    def test_sigkill_at_random_instants_then_cleanup_ledger(self) -> None:
        started = time.monotonic()
        status, out, err = run([PY, "-m", "cocalc_api_tests", "run", "-q", *self.MODULES], self.environ(CI="true"))
        duration = time.monotonic() - started
        self.assertEqual((status, self.leaks()), (0, []), summary(out, err))
        rng = random.Random(os.environ.get("SELFTEST_KILL_SEED", str(uuid.uuid4())))
        instants = sorted(rng.uniform(0.1 * duration, 0.95 * duration) for _ in range(self.KILLS))
        made_something = 0
        for instant in instants:
            with self.subTest(kill_after=round(instant, 2)):
                child = start([PY, "-m", "cocalc_api_tests", "run", "-q", *self.MODULES], self.environ(CI="true"))
                try:
                    child.wait(timeout=instant)
                except subprocess.TimeoutExpired:
                    child.kill()
                out, err = finish(child)
                self.settle()
                made_something += bool(self.leaks())
                for ledger in ledger_files(self.ledgers):
                    status, cout, cerr = run([PY, "-m", "cocalc_api_tests", "cleanup", "--ledger", ledger], self.environ())
                    self.assertEqual(status, 0, summary(cout, cerr))
                self.assertEqual(self.leaks(), [], f"killed after {instant:.2f} s:\n" + summary(out, err))
        self.assertGreater(made_something, self.KILLS // 2, "most kills should fall while the run has rows on the server")

    def test_killed_between_the_servers_commit_and_the_ledgers_id(self) -> None:
        for kind in ("project", "organization", "account", "message", "api_key"):
            with self.subTest(kind=kind):
                status, out, err = run([PY, "-m", "cocalc_api_tests", "run", "dies_mid_create"],
                                       self.environ(CI="true", SELFTEST_DIE_ON=kind))
                self.assertEqual(status, -signal.SIGKILL, summary(out, err))
                self.assertTrue(self.leaks(), f"the killed run created no {kind}")
                (ledger,) = ledger_files(self.ledgers)
                status, out, err = run([PY, "-m", "cocalc_api_tests", "cleanup", "--ledger", ledger], self.environ())
                self.assertEqual(status, 0, summary(out, err))
                self.assertEqual(self.leaks(), [], summary(out, err))

    def settle(self) -> None:
        """Wait until the server has finished what the killed run had asked of it (its rows stop changing)."""
        previous: List = [None]

        def unchanged() -> bool:
            now = snapshot(ENV.store)
            same = now == previous[0]
            previous[0] = now
            return same

        poll(unchanged, timeout=60, interval=0.5, accept=bool, what="the stand-in's rows stopped changing")


def junit_report(case: unittest.TestCase, path: str, out: str, err: str) -> ET.Element:
    """The root of the JUnit report at *path*, which the run must have written."""
    if not os.path.exists(path):
        case.fail(f"the run wrote no JUnit report to {path}:\n" + summary(out, err))
    return ET.parse(path).getroot()


def counts(root: ET.Element) -> Dict[str, str]:
    """The counts the report's ``<testsuite>`` states."""
    return {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")}


def counted(root: ET.Element) -> Dict[str, str]:
    """The counts of the report's ``<testcase>`` elements and their outcomes."""
    cases = root.findall("testcase")

    def having(outcome: str) -> str:
        return str(sum(1 for case in cases if case.find(outcome) is not None))

    return {"tests": str(len(cases)), "failures": having("failure"), "errors": having("error"), "skipped": having("skipped")}


def notes(root: ET.Element) -> List[str]:
    return [p.get("value") for p in root.iter("property") if p.get("name", "").startswith("note.")]


class TestJUnitReport(SuiteRunCase):
    """``run --junit-xml``: the report is written whatever the run's end, with its counts and notes."""

    def reported_run(self, **extra: str) -> Tuple[int, str, str, ET.Element]:
        folder = tempfile.mkdtemp(prefix="selftest-junit-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "report.xml")
        status, out, err = run([PY, "-m", "cocalc_api_tests", "run", "--junit-xml", path, "reported"], self.environ(**extra))
        root = junit_report(self, path, out, err)
        self.assertEqual(counts(root), counted(root), "the suite's counts disagree with its test cases")
        return status, out, err, root

    def test_a_passing_run(self) -> None:
        status, out, err, root = self.reported_run()
        self.assertEqual(status, 0, summary(out, err))
        self.assertEqual(counts(root), {"tests": "3", "failures": "0", "errors": "0", "skipped": "1"})
        self.assertEqual(notes(root), [])
        self.assertEqual(self.leaks(), [], summary(out, err))

    def test_a_failing_run(self) -> None:
        status, out, err, root = self.reported_run(SELFTEST_FAILURE="the server said no")
        self.assertEqual(status, 1, summary(out, err))
        self.assertEqual(counts(root), {"tests": "3", "failures": "1", "errors": "0", "skipped": "1"})
        [failure] = root.iter("failure")
        self.assertEqual(failure.get("message"), "the server said no")
        self.assertEqual(notes(root), [])
        self.assertEqual(self.leaks(), [], summary(out, err))

    def test_a_run_whose_cleanup_is_incomplete_then_cleanup_ledger(self) -> None:
        self.on_organization_delete("RAISE EXCEPTION 'selftest refuses to delete organizations'")
        status, out, err, root = self.reported_run()
        self.assertEqual(status, 1, summary(out, err))
        self.assertEqual(counts(root), {"tests": "3", "failures": "0", "errors": "0", "skipped": "1"})
        self.assertEqual(notes(root), [INCOMPLETE_NOTE])
        self.assertIn(INCOMPLETE_NOTE, root.find("system-out").text)
        self.assertIn("selftest refuses to delete organizations", err)
        left = self.leaks()
        self.assertEqual({table for table, _ in left}, {"organizations"}, "the other kinds must be cleaned up all the same")
        kept = ledger_files(self.ledgers)
        self.assertEqual(len(kept), 1, "an incomplete cleanup must keep its ledger")
        ledger = kept[0]

        cleanup = [PY, "-m", "cocalc_api_tests", "cleanup", "--ledger", ledger]
        status, out, err = run(cleanup, self.environ())
        self.assertEqual(status, 1, summary(out, err))
        self.assertIn(f"cleanup incomplete; the ledger {ledger} is kept so that you can try again.", err)
        self.assertEqual(ledger_files(self.ledgers), [ledger])
        self.assertEqual(self.leaks(), left)

        self.normal_organization_delete()
        status, out, err = run(cleanup, self.environ())
        self.assertEqual(status, 0, summary(out, err))
        self.assertEqual(self.leaks(), [], summary(out, err))
        self.assertEqual(ledger_files(self.ledgers), [], "a completed cleanup removes the ledger")


class TestCleanupCommand(SuiteRunCase):
    """``cleanup --ledger`` refuses what it cannot work with: one paragraph, exit 2, nothing deleted."""

    def assertRefused(self, argv: List[str], environ: Dict[str, str], *fragments: str) -> None:
        status, out, err = run(argv, environ)
        assert_one_paragraph(self, status, err, *fragments, out=out)
        self.assertEqual(snapshot(ENV.store), self.before)

    def test_a_file_that_is_not_a_ledger(self) -> None:
        path = os.path.join(self.ledgers, "run-20260101T000000-garbled.jsonl")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("this is not a ledger\n{\"type\": \"run\"}\n")
        self.assertRefused([PY, "-m", "cocalc_api_tests", "cleanup", "--ledger", path], self.environ(),
                           f"cannot read the ledger {path}: ", "Name a run-*.jsonl file")
        self.assertEqual(ledger_files(self.ledgers), [path], "a file that is not a ledger was removed")

    def test_cleanup_disabled(self) -> None:
        config = Config.from_env(dict(ENV.environ, COCALC_TESTS_LEDGER_DIR=self.ledgers))
        ledger = Ledger.for_run(config, "disabled")
        ledger.record(Resource("account", str(uuid.uuid4())))
        argv = [PY, "-m", "cocalc_api_tests", "cleanup", "--force", "--ledger", ledger.path]
        self.assertRefused(argv, self.environ(COCALC_TESTS_CLEANUP="false"), "COCALC_TESTS_CLEANUP is false")
        self.assertEqual(ledger_files(self.ledgers), [ledger.path])


if __name__ == "__main__":
    unittest.main()
