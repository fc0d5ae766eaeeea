"""The session's start-up path against a fake CoCalc: the key check, names, a remembered failure, a server that is down.

A real loopback HTTP server (:class:`helpers.RecordingServer`) answers
``system.test`` as each case needs; cleanup is disabled, so no database is involved.
"""
import contextlib
import io
import os
import re
import shutil
import tempfile
import unittest
from unittest import mock

from cocalc_api_tests import session as session_module
from cocalc_api_tests.errors import CoCalcAPIError, KeyRefused
from cocalc_api_tests.session import NAME_LIMIT, Session, check_key, get_session

from cocalc_api_tests import custody as custody_module
from helpers import ACCOUNT_ID, API_KEY, MUST_SIGN_IN, PROJECT_ID, FakeServerCase, assert_one_paragraph, closed_port, json_reply
from suite_runner import FIXTURES, PY, ROOT, clean_environ, run


class CheckKeyTest(FakeServerCase):
    def test_an_account_scope_is_returned(self) -> None:
        self.reply("system.test", json_reply({"account_id": ACCOUNT_ID}))
        self.assertEqual(check_key(self.hub, self.config(), wait=5), {"account_id": ACCOUNT_ID})

    def test_an_answer_naming_neither_account_nor_project_is_refused(self) -> None:
        for answer in ({"now": 1795556211094}, {"account_id": "", "project_id": None}, ["not", "a", "scope"], None):
            with self.subTest(answer=answer):
                self.reply("system.test", json_reply(answer))
                with self.assertRaises(CoCalcAPIError) as caught:
                    check_key(self.hub, self.config(), wait=5)
                self.assertIn(f"system.test at {self.server.base_url} named neither an account nor a project", str(caught.exception))
                self.assertIn("check COCALC_HOST", str(caught.exception))

    def test_a_key_echoed_in_such_an_answer_is_redacted(self) -> None:
        self.reply("system.test", lambda request: json_reply({"caller": request.api_key}))
        with self.assertRaises(CoCalcAPIError) as caught:
            check_key(self.hub, self.config(), wait=5)
        self.assertIn("{'caller': '<redacted>'}", str(caught.exception))
        self.assertNotIn(API_KEY, str(caught.exception))

    def test_a_session_is_never_built_on_such_an_answer(self) -> None:
        self.reply("system.test", json_reply({"now": 1795556211094}))
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(CoCalcAPIError):
            Session(self.config())
        self.assertEqual(os.listdir(self.ledgers), [])


class TimedOutCreationTest(FakeServerCase):
    """A creation the hub answers with a timeout goes on: its row is read back by its unique key, and tracked."""

    TIMED_OUT = "timeout - callHub: subject='hub.account.x.api', name='projects.createProject', code='408' "

    def setUp(self) -> None:
        super().setUp()
        self.reply("system.test", json_reply({"account_id": ACCOUNT_ID}))
        self.reply("projects.createProject", json_reply({"error": self.TIMED_OUT}))

    def rows_after(self, reads: int) -> None:
        """``db.userQuery`` of projects shows the new project from the *reads*-th read on."""
        seen = []

        def answer(request: object) -> object:
            seen.append(request)
            rows = [{"project_id": PROJECT_ID, "title": "made-under-load"}] if len(seen) >= reads else []
            return json_reply({"projects_all": rows})

        self.reply("db.userQuery", answer)

    def test_the_new_row_is_read_back_and_tracked(self) -> None:
        self.rows_after(3)
        built = self.built_session()
        self.assertEqual(built.create_project(title="made-under-load"), PROJECT_ID)
        self.assertIn(PROJECT_ID, built.custody.tracker.ids("project"))
        self.assertEqual(self.count("projects.createProject"), 1, "a timed-out creation is never asked again")

    def test_a_creation_whose_row_never_shows_is_made_again(self) -> None:
        self.rows_after(10 ** 6)
        answers = iter([json_reply({"error": self.TIMED_OUT}), json_reply(PROJECT_ID)])
        self.reply("projects.createProject", lambda request: next(answers))
        built = self.built_session()
        with mock.patch.object(custody_module, "CREATE_AGAIN", 0.5):
            self.assertEqual(built.create_project(title="made-under-load"), PROJECT_ID)
        self.assertEqual(self.count("projects.createProject"), 2, "a dropped creation is made again, once")
        self.assertIn(PROJECT_ID, built.custody.tracker.ids("project"))

    def test_a_row_that_never_shows_raises_the_timeout(self) -> None:
        self.rows_after(10 ** 6)
        built = self.built_session()
        with mock.patch.object(custody_module, "FIND_WAIT", 1.0), self.assertRaises(CoCalcAPIError) as caught:
            built.create_project(title="made-under-load")
        self.assertEqual(caught.exception.message, self.TIMED_OUT)
        self.assertEqual(built.custody.tracker.ids("project"), [], "nothing is tracked by id: the intent stays open")


class UniqueNameTest(FakeServerCase):
    def test_names_are_unique_carry_the_run_id_and_fit_the_limit(self) -> None:
        self.reply("system.test", json_reply({"account_id": ACCOUNT_ID}))
        session = self.built_session()
        names = {session.unique_name("org") for _ in range(50)}
        self.assertEqual(len(names), 50)
        for name in names:
            self.assertRegex(name, rf"^org-{session.run_id}-[0-9a-f]{{8}}$")

    def test_a_prefix_too_long_for_the_limit_is_refused(self) -> None:
        self.reply("system.test", json_reply({"account_id": ACCOUNT_ID}))
        session = self.built_session()
        longest = "p" * (NAME_LIMIT - len(session.unique_name("")))
        self.assertEqual(len(session.unique_name(longest)), NAME_LIMIT)
        with self.assertRaises(ValueError) as caught:
            session.unique_name(longest + "p")
        self.assertIn(f"prefix {longest + 'p'!r} is too long for a {NAME_LIMIT}-character name", str(caught.exception))


class RememberedFailureTest(FakeServerCase):
    def test_a_failed_start_is_raised_again_without_a_second_attempt(self) -> None:
        self.reply("system.test", json_reply({"error": MUST_SIGN_IN}))
        drop = ("COCALC_PROJECT_ID", "PGHOST", "PGUSER", "PGDATABASE", "PGPORT", "PGPASSWORD", "CI")
        environ = {k: v for k, v in os.environ.items() if k not in drop}
        environ.update(self.environ())
        with mock.patch.dict(os.environ, environ, clear=True), contextlib.redirect_stderr(io.StringIO()), \
                mock.patch.object(session_module, "_session", None), mock.patch.object(session_module, "_failure", None):
            with self.assertRaises(KeyRefused) as first:
                get_session()
            self.assertEqual(self.count("system.test"), 1)
            with self.assertRaises(KeyRefused) as second:
                get_session()
        self.assertIs(second.exception, first.exception)
        self.assertEqual(self.count("system.test"), 1, "the second get_session() asked the server again")
        self.assertIn("refused COCALC_API_KEY", str(first.exception))


#: Runs the command line with the wait for the server shortened to one second.
SHORT_WAIT_MAIN = (
    "import sys; import cocalc_api_tests.session as s; s.SERVER_WAIT = 1.0; "
    "from cocalc_api_tests.__main__ import main; sys.exit(main())"
)


class ServerDownTest(unittest.TestCase):
    def test_a_server_that_is_down_at_start_is_one_paragraph_and_exit_2(self) -> None:
        ledgers = tempfile.mkdtemp(prefix="session-ledgers-")
        self.addCleanup(shutil.rmtree, ledgers, True)
        host = f"http://127.0.0.1:{closed_port()}"
        environ = clean_environ(COCALC_API_KEY=API_KEY, COCALC_HOST=host, COCALC_TESTS_CLEANUP="false",
                                COCALC_TESTS_LEDGER_DIR=ledgers, PYTHONPATH=os.pathsep.join([FIXTURES, ROOT]))
        status, out, err = run([PY, "-c", SHORT_WAIT_MAIN, "run", "interruptible"], environ, timeout=120)
        line = assert_one_paragraph(self, status, err, out=out, ignore=("COCALC_TESTS_CLEANUP is false",))
        self.assertNotIn(API_KEY, out + err)
        self.assertRegex(line, rf"^cocalc-api-tests: The CoCalc server at {re.escape(host)} did not answer within 1 s \(")
        self.assertIn("Start it, or point COCALC_HOST at a running server.", line)
        self.assertEqual(os.listdir(ledgers), [], "a run that never started left a ledger")


if __name__ == "__main__":
    unittest.main()
