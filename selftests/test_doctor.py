"""The doctor against a real stand-in server and real PostgreSQL (no mocks).

One stand-in environment (database, server, projects) serves the module.  Each
case runs :func:`cocalc_api_tests.doctor.doctor` with an explicit environment
and compares its checklist line by line; every run must keep the API key and
the database password out of its output, and a passing run must leave no row
behind in the stand-in's database.  The wrong-password case uses
a throwaway cluster whose TCP port checks scram-sha-256 passwords (:func:`pgsupport.password_server`).
"""
import io
import os
import re
import secrets
import shutil
import tempfile
import unittest
import uuid
from typing import Any, Dict, List, Optional, Tuple

from cocalc_api_tests import db
from cocalc_api_tests.client import Hub
from cocalc_api_tests.config import MISSING_KEY_HELP, Config
from cocalc_api_tests.doctor import KEY_FIX, admin_only_count, doctor, project_key_line
from cocalc_standin.api_auth import create_api_key

import pgsupport
from helpers import (
    API_KEY, MUST_SIGN_IN, BridgeTestCase, closed_port, json_reply, needs_jupyter, overridden,
    start_standin,
)

#: The tables whose row counts a passing run must not change.
COUNTED = ("accounts", "projects", "organizations", "api_keys", "messages")

ENV: Any = None
LEDGERS: Optional[str] = None
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

PROJECT_OK = "✓ project: a temporary project started and answered system.ping; it was stopped and hard-deleted"
ADMIN_OK = "✓ site admin: org.getAll succeeds"
SCHEMA_OK = "✓ schema: every table, column and privilege the cleaner needs is present"
JUPYTER_OK = "✓ Jupyter: the python3 kernel is available"
JUPYTER_CI = "- Jupyter: skipped, CI is true (the suite skips the Jupyter tests on CI)"


def setUpModule() -> None:
    global ENV, LEDGERS
    ENV = start_standin()
    LEDGERS = tempfile.mkdtemp(prefix="doctor-ledgers-")


def tearDownModule() -> None:
    if ENV is not None:
        ENV.close()
    if LEDGERS is not None:
        shutil.rmtree(LEDGERS, ignore_errors=True)


def base_environ(**overrides: Optional[str]) -> Dict[str, str]:
    """The stand-in's variables (site admin's key, socket), CI=true, ledgers in a temporary directory.

    An override of ``None`` removes the variable.
    """
    return overridden(dict(ENV.environ, CI="true", COCALC_TESTS_LEDGER_DIR=LEDGERS), **overrides)


def row_counts() -> Dict[str, int]:
    """Rows in each of :data:`COUNTED`, read over the stand-in's Unix socket."""
    pg = ENV.pg
    return pgsupport.row_counts(COUNTED, user=pg.user, database=ENV.database, socket_dir=pg.socket_dir, port=pg.port,
                                password=pg.password or None)


def database_line(environ: Dict[str, str]) -> str:
    return f"✓ database: {Config.from_env(environ).describe_database()}"


class DoctorTestCase(unittest.TestCase):
    maxDiff = None

    def run_doctor(self, environ: Dict[str, str], *secret_values: str) -> Tuple[int, List[str]]:
        """Run the doctor; its status and lines, after checking that no secret was printed."""
        out = io.StringIO()
        status = doctor(environ=environ, out=out)
        text = out.getvalue()
        secrets_ = [ENV.admin_key, environ.get("COCALC_API_KEY", ""), environ.get("PGPASSWORD", ""), *secret_values]
        for secret in filter(None, secrets_):
            self.assertNotIn(secret, text)
        self.assertNotIn("Traceback", text)
        lines = text.splitlines()
        self.assertEqual(len(lines), 8, text)
        for line in lines:
            self.assertRegex(line, r"^[✓✗-] ")
        self.assertEqual(os.listdir(LEDGERS), [], "the doctor left a ledger behind")
        return status, lines

    def assertLinesMatch(self, lines: List[str], expected: List[Any]) -> None:
        """Each line equals its expected string, or matches its compiled pattern in full."""
        self.assertEqual(len(lines), len(expected), lines)
        for line, want in zip(lines, expected):
            if isinstance(want, str):
                self.assertEqual(line, want)
            else:
                self.assertRegex(line, want)
                self.assertIsNotNone(want.fullmatch(line), f"{line!r} does not fully match {want.pattern!r}")

    def good_head(self, environ: Dict[str, str], ci: bool = True, account_id: Optional[str] = None,
                  project_id: Optional[str] = None, cleanup: bool = True) -> List[str]:
        """The expected configuration, server and key lines of *environ*."""
        host = environ["COCALC_HOST"]
        project = f", project {project_id}" if project_id else ""
        return [
            f"✓ configuration: server {host}{project}, cleanup {'on' if cleanup else 'off'}, CI {'on' if ci else 'off'}",
            f"✓ server reachable: {host} answers",
            f"✓ API key: account {account_id or ENV.admin_account_id}",
        ]

    def given_project(self, title: str, start: bool = False) -> str:
        """A project made with the admin key, stopped and hard-deleted after the test."""
        admin = Hub(ENV.admin_key, ENV.environ["COCALC_HOST"])
        self.addCleanup(admin.close)
        project_id = admin.projects.create_project(title=title)
        self.addCleanup(lambda: ENV.store.query("DELETE FROM projects WHERE project_id = :p::UUID", p=project_id))
        self.addCleanup(admin.projects.stop, project_id)
        if start:
            admin.projects.start(project_id)
        return project_id

    def project_row(self, project_id: str) -> Optional[Dict[str, Any]]:
        rows = ENV.store.query("SELECT project_id, deleted FROM projects WHERE project_id = :p::UUID", p=project_id)
        return rows[0] if rows else None


class PassingTest(DoctorTestCase):
    """Runs in which every check passes: exit 0, and not one row more or less afterwards."""

    def check_passing(self, environ: Dict[str, str], ci: bool) -> None:
        before = row_counts()
        status, lines = self.run_doctor(environ)
        self.assertLinesMatch(lines, self.good_head(environ, ci) + [
            ADMIN_OK,
            database_line(environ),
            SCHEMA_OK,
            PROJECT_OK,
            JUPYTER_CI if ci else JUPYTER_OK,
        ])
        self.assertEqual(status, 0)
        self.assertEqual(row_counts(), before, "the doctor left rows behind")

    def test_all_good_on_ci(self) -> None:
        self.check_passing(base_environ(), ci=True)

    @needs_jupyter
    def test_all_good_without_ci_checks_jupyter(self) -> None:
        self.check_passing(base_environ(CI=None), ci=False)

    @needs_jupyter
    def test_ci_false_checks_jupyter_too(self) -> None:
        self.check_passing(base_environ(CI="false"), ci=False)

    def test_given_project_is_checked_and_never_deleted(self) -> None:
        project_id = self.given_project("doctor's given project")
        environ = base_environ(COCALC_PROJECT_ID=project_id)
        before = row_counts()
        status, lines = self.run_doctor(environ)
        self.assertLinesMatch(lines, self.good_head(environ, project_id=project_id) + [
            ADMIN_OK,
            database_line(environ),
            SCHEMA_OK,
            f"✓ project: COCALC_PROJECT_ID {project_id} started and answered system.ping (it is never deleted)",
            JUPYTER_CI,
        ])
        self.assertEqual(status, 0)
        self.assertEqual(row_counts(), before)
        row = self.project_row(project_id)
        self.assertIsNotNone(row, "the doctor deleted COCALC_PROJECT_ID")
        self.assertFalse(row["deleted"])

    def test_cleanup_disabled_skips_the_database_and_says_what_stays(self) -> None:
        environ = base_environ(COCALC_TESTS_CLEANUP="false")
        status, lines = self.run_doctor(environ)
        self.assertLinesMatch(lines, self.good_head(environ, cleanup=False) + [
            ADMIN_OK,
            "- database: cleanup disabled (COCALC_TESTS_CLEANUP=false), so everything a run creates stays on the server",
            "- schema: skipped, cleanup disabled",
            re.compile(
                r"✓ project: a temporary project started and answered system\.ping; it was stopped and marked "
                rf"deleted through the API, but project ({UUID}) stays on the server because cleanup is disabled"
            ),
            JUPYTER_CI,
        ])
        self.assertEqual(status, 0)
        project_id = re.search(UUID, lines[6]).group(0)
        self.assertTrue(self.project_row(project_id)["deleted"], "the project was not marked deleted")
        ENV.store.query("DELETE FROM projects WHERE project_id = :p::UUID", p=project_id)

    def test_key_without_site_admin(self) -> None:
        """Another account's key is fine: one ``-`` line says how many admin-only tests will skip."""
        account_id, key = ENV.mint_key(admin=False)
        environ = base_environ(COCALC_API_KEY=key)
        before = row_counts()
        status, lines = self.run_doctor(environ, key)
        self.assertLinesMatch(lines, self.good_head(environ, account_id=account_id) + [
            f"- site admin: not a site admin's key: {admin_only_count()} admin-only tests will skip",
            database_line(environ),
            SCHEMA_OK,
            PROJECT_OK,
            JUPYTER_CI,
        ])
        self.assertGreater(admin_only_count(), 0)
        self.assertEqual(status, 0)
        self.assertEqual(row_counts(), before, "the doctor left rows behind (or removed the key's account)")


class FailingTest(DoctorTestCase):
    """One thing wrong at a time: its line says what and how to fix it, the exit status is 1."""

    def test_no_key(self) -> None:
        status, lines = self.run_doctor(base_environ(COCALC_API_KEY=None))
        self.assertLinesMatch(lines, [
            f"✗ configuration: {MISSING_KEY_HELP}",
            "- server reachable: skipped, no usable configuration",
            "- API key: skipped, no usable configuration",
            "- site admin: skipped, no usable configuration",
            "- database: skipped, no usable configuration",
            "- schema: skipped, no usable configuration",
            "- project: skipped, no usable configuration",
            "- Jupyter: skipped, no usable configuration",
        ])
        self.assertIn("COCALC_API_KEY", lines[0])
        self.assertEqual(status, 1)

    def test_wrong_key(self) -> None:
        wrong = "sk-" + secrets.token_hex(10)
        environ = base_environ(COCALC_API_KEY=wrong)
        status, lines = self.run_doctor(environ, wrong)
        self.assertLinesMatch(lines, self.good_head(environ)[:2] + [
            f"✗ API key: the server refused COCALC_API_KEY ({MUST_SIGN_IN}); {KEY_FIX}",
            "- site admin: skipped, the API key was refused",
            database_line(environ),
            SCHEMA_OK,
            "- project: skipped, the API key was refused",
            JUPYTER_CI,
        ])
        self.assertIn("create a new API key", lines[2])
        self.assertEqual(status, 1)

    def test_server_down(self) -> None:
        host = f"http://127.0.0.1:{closed_port()}"
        environ = base_environ(COCALC_HOST=host)
        status, lines = self.run_doctor(environ)
        self.assertLinesMatch(lines, [
            f"✓ configuration: server {host}, cleanup on, CI on",
            re.compile(
                rf"✗ server reachable: no answer from {re.escape(host)} \(system\.ping: POST "
                rf"{re.escape(host)}/api/conat/hub failed: .*\); start the CoCalc server, or set COCALC_HOST to its address"
            ),
            "- API key: skipped, the server is unreachable",
            "- site admin: skipped, the server is unreachable",
            database_line(environ),
            SCHEMA_OK,
            "- project: skipped, the server is unreachable",
            JUPYTER_CI,
        ])
        self.assertEqual(status, 1)

    def test_server_down_without_ci_names_the_reason_for_the_jupyter_skip(self) -> None:
        environ = base_environ(COCALC_HOST=f"http://127.0.0.1:{closed_port()}", CI=None)
        status, lines = self.run_doctor(environ)
        self.assertEqual(lines[7], "- Jupyter: skipped, the server is unreachable")
        self.assertEqual(status, 1)

    def test_wrong_database_password(self) -> None:
        cluster = pgsupport.password_server()  # a throwaway cluster whose TCP port checks passwords
        role = "doctor_" + uuid.uuid4().hex[:10]
        right = "right-" + secrets.token_urlsafe(12)
        wrong = "wrong-" + secrets.token_urlsafe(12)
        cluster.create_role(role, right)
        self.addCleanup(cluster.drop_role, role)
        environ = base_environ(
            PGHOST="127.0.0.1", PGPORT=str(cluster.port), PGUSER=role, PGDATABASE="postgres", PGPASSWORD=wrong
        )
        before = row_counts()
        status, lines = self.run_doctor(environ, right, wrong)
        self.assertEqual(row_counts(), before, "the doctor created something it could not remove")
        where = f"database 'postgres' as user {role!r} over TCP 127.0.0.1:{cluster.port}"
        self.assertLinesMatch(lines, self.good_head(environ) + [
            ADMIN_OK,
            f"✗ database: Cleanup is enabled but the {where} cannot be used "
            f"(password authentication failed for user \"{role}\"). {db.REMEDIES}",
            "- schema: skipped, no database connection",
            "- project: skipped, the database check failed, and the doctor creates nothing it could not hard-delete",
            JUPYTER_CI,
        ])
        self.assertEqual(status, 1)
        # The right password passes the same checks up to the schema (the postgres database has no CoCalc tables).
        status, lines = self.run_doctor(dict(environ, PGPASSWORD=right), right, wrong)
        self.assertEqual(lines[4], f"✓ database: {where}")
        self.assertTrue(lines[5].startswith("✗ schema: "), lines[5])

    def test_missing_tables(self) -> None:
        name = "cocalc_doctor_empty_" + uuid.uuid4().hex[:10]
        ENV.pg.create_database(name)
        self.addCleanup(ENV.pg.drop_database, name)
        environ = base_environ(PGDATABASE=name)
        lacking = ", ".join(f"{t}.{c}" for t, columns in db.REQUIRED_COLUMNS.items() for c in columns)
        before = row_counts()
        status, lines = self.run_doctor(environ)
        self.assertEqual(row_counts(), before, "the doctor created something it could not remove")
        self.assertLinesMatch(lines, self.good_head(environ) + [
            ADMIN_OK,
            database_line(environ),
            f"✗ schema: The cleanup database does not look like CoCalc's: it lacks {lacking}. Nothing was deleted. "
            "Check PGDATABASE (CoCalc's database is usually 'smc') and PGHOST, or set COCALC_TESTS_CLEANUP=false.",
            "- project: skipped, the database check failed, and the doctor creates nothing it could not hard-delete",
            JUPYTER_CI,
        ])
        self.assertIn("projects.project_id", lines[5])
        self.assertEqual(status, 1)

    def test_project_scoped_key(self) -> None:
        project_id = self.given_project("doctor's scoped project", start=True)
        key = create_api_key(ENV.store, ENV.admin_account_id, project_id=project_id, name="doctor scoped")
        self.addCleanup(lambda: ENV.store.query("DELETE FROM api_keys WHERE project_id = :p::UUID", p=project_id))
        environ = base_environ(COCALC_API_KEY=key, COCALC_PROJECT_ID=project_id)
        status, lines = self.run_doctor(environ, key)
        self.assertEqual(lines[2], f"✓ API key: project {project_id}")
        self.assertEqual(lines[3], f"- site admin: {project_key_line(project_id)}")
        self.assertEqual(lines[6], f"✓ project: COCALC_PROJECT_ID {project_id} started and answered system.ping (it is never deleted)")
        self.assertEqual(status, 0)

    def test_unknown_given_project(self) -> None:
        project_id = str(uuid.uuid4())
        environ = base_environ(COCALC_PROJECT_ID=project_id, CI=None)
        before = row_counts()
        status, lines = self.run_doctor(environ)
        self.assertLinesMatch(lines[6:], [
            f"✗ project: COCALC_PROJECT_ID {project_id} could not be started and pinged "
            "(Error: must be collaborator on project to start it); check that the key's account collaborates "
            "on it and that the server can run projects",
            "- Jupyter: skipped, no running project",
        ])
        self.assertEqual(status, 1)
        self.assertEqual(row_counts(), before)


class EchoingServerTest(BridgeTestCase, DoctorTestCase):
    """A server that names the caller by the key it sent, in its errors and in its answers."""

    def test_the_echoed_key_is_redacted_from_every_line(self) -> None:
        self.reply("system.ping", lambda r: json_reply({"error": f"Error: no call system.ping for {r.api_key}"}))
        self.reply("system.test", lambda r: json_reply({"account_id": r.api_key}))
        self.reply("org.getAll", lambda r: json_reply({"error": f"Error: {r.api_key} is not a site admin"}))
        self.reply("projects.createProject", lambda r: json_reply({"error": f"Error: {r.api_key} may not create projects"}))
        environ = base_environ(COCALC_HOST=self.server.base_url, COCALC_API_KEY=API_KEY, COCALC_TESTS_CLEANUP="false")
        status, lines = self.run_doctor(environ, API_KEY)
        host = self.server.base_url
        self.assertLinesMatch(lines, [
            f"✓ configuration: server {host}, cleanup off, CI on",
            f"✓ server reachable: {host} answers",
            "✓ API key: account <redacted>",
            "✗ site admin: db.userQuery or org.getAll failed, so whether the key is a site admin's is unknown (Error: "
            "<redacted> is not a site admin); check the server's logs",
            "- database: cleanup disabled (COCALC_TESTS_CLEANUP=false), so everything a run creates stays on the server",
            "- schema: skipped, cleanup disabled",
            "✗ project: creating a project failed (Error: <redacted> may not create projects); check that account "
            "<redacted> may create projects, or set COCALC_PROJECT_ID to an existing project",
            JUPYTER_CI,
        ])
        self.assertEqual(status, 1)


if __name__ == "__main__":
    unittest.main()
