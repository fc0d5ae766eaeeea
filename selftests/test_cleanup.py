"""The cleaner against a real PostgreSQL database with CoCalc's tables.

Each test seeds the same small world of tracked and untracked rows (accounts,
projects, organizations, messages, API keys, auth tokens), runs the real
:class:`~cocalc_api_tests.cleanup.Cleaner` and compares whole tables before
and after with ``row_to_json``.  Every case runs twice: over the Unix socket
(superuser, trust) and over TCP with a password (a throwaway cluster checking
scram-sha-256).  Only the hub is a stand-in: its ``projects.stop`` records calls.
"""
import dataclasses
import io
import json
import secrets
import threading
import unittest
import uuid
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Set

from cocalc_api_tests import db
from cocalc_api_tests.cleanup import PREFIX, CleanupReport, Cleaner
from cocalc_api_tests.config import Config
from cocalc_api_tests.errors import CoCalcAPIError, DatabaseError
from cocalc_api_tests.tracking import Tracker

import pgsupport
from pgsupport import ScratchDatabase

#: Each table the cleaner touches, and its primary key.
TABLES: Dict[str, str] = {
    "accounts": "account_id",
    "projects": "project_id",
    "organizations": "organization_id",
    "messages": "id",
    "api_keys": "id",
    "auth_tokens": "auth_token",
}

Snapshot = Dict[str, Dict[str, str]]

#: Rows of the world that must remain after a full run; those marked (edited) lose tracked members.
SURVIVORS: Dict[str, List[str]] = {
    "accounts": ["UA1", "UA2", "UA3"],
    "projects": ["P_UA1", "P_UA2", "P_UA3", "P_NOUSERS"],
    "organizations": ["UO1", "UO2", "UO3", "UO4"],
    "messages": ["M_MIXED", "M_UNTRACKED", "M_NOBODY"],
    "api_keys": ["K_UA1", "K_UA1_P", "K_UA2_P"],
    "auth_tokens": ["AT_UA1", "AT_UA2_BY_TA1"],
}
#: Untracked rows from which tracked accounts are removed (users / admin_account_ids only).
EDITED = {"P_UA1", "P_UA3", "UO1", "UO3"}
#: What is tracked; the *_GONE ids are tracked but were never in the database.
TRACKED: Dict[str, List[str]] = {
    "project": ["TP1", "TP2", "TP3", "TP_GONE"],
    "account": ["TA1", "TA2", "TA3", "TA_GONE"],
    "organization": ["TO1", "TO_GONE"],
    "message": ["M_TRACKED", "M_GONE"],
}
#: Projects the tracked accounts own (deleted with them).
OWNED = ["P_TA1_FIRST", "P_TA1_SHARED", "P_TA2_FIRST", "P_TA3_FIRST"]


# -- the world ------------------------------------------------------------------------


class World:
    """The seeded rows: label -> primary key (as text) and label -> table."""

    def __init__(self) -> None:
        self.ids: Dict[str, str] = {}
        self.table: Dict[str, str] = {}

    def __getitem__(self, label: str) -> str:
        return self.ids[label]

    def add(self, table: Optional[str], label: str, key: Any) -> str:
        """Record row *label* of *table* (None: an id that is tracked but not stored)."""
        self.ids[label] = str(key)
        if table:
            self.table[label] = table
        return str(key)

    def labels(self, table: str) -> List[str]:
        """The labels of *table*'s seeded rows."""
        return [label for label, t in self.table.items() if t == table]


def owner() -> Dict[str, Any]:
    return {"group": "owner"}


def collaborator() -> Dict[str, Any]:
    return {"group": "collaborator"}


def seed(conn: Any) -> World:
    """Insert the world (see the module constants) and return its ids."""
    w = World()
    for label in ("TA1", "TA2", "TA3", "UA1", "UA2", "UA3"):
        aid = w.add("accounts", label, uuid.uuid4())
        conn.run(
            "INSERT INTO accounts (account_id, created, email_address, first_name, last_name, password_hash, "
            "other_settings, groups, last_active, balance, tags, unread_message_count) VALUES "
            "(CAST(:a AS uuid), NOW() - interval '1 day', :e, :f, :l, :h, CAST(:o AS jsonb), CAST(:g AS text[]), "
            "NOW(), 12.5, CAST(:t AS text[]), 0)",
            a=aid, e=f"{label.lower()}-{aid[:8]}@example.com", f=label, l="Tester", h="sha512$" + "ab" * 40,
            o=json.dumps({"dark_mode": label == "UA1", "katex": True}),
            g=["admin"] if label == "UA1" else [], t=["selftest", label],
        )
    w.add(None, "TA_GONE", uuid.uuid4())

    def project(label: str, users: Optional[Dict[str, Dict[str, Any]]], title: str) -> None:
        pid = w.add("projects", label, uuid.uuid4())
        members = None if users is None else {w[who]: info for who, info in users.items()}
        active = None if users is None else {w[who]: "2024-05-01T12:00:00.000Z" for who in users}
        conn.run(
            "INSERT INTO projects (project_id, title, description, users, last_active, created, last_edited, "
            "state, settings, compute_image, deleted) VALUES (CAST(:p AS uuid), :t, :d, CAST(:u AS jsonb), "
            "CAST(:la AS jsonb), NOW(), NOW(), CAST(:s AS jsonb), CAST(:st AS jsonb), 'ubuntu2204', false)",
            p=pid, t=title, d=f"seeded {label}", u=None if members is None else json.dumps(members),
            la=None if active is None else json.dumps(active),
            s=json.dumps({"state": "running", "time": "2024-05-01T12:00:00.000Z"}),
            st=json.dumps({"cores": 1, "memory": 1000}),
        )

    project("P_TA1_FIRST", {"TA1": owner()}, "My First Project")
    project("P_TA1_SHARED", {"TA1": owner(), "UA1": collaborator()}, "TA1 shares with UA1")
    project("P_TA2_FIRST", {"TA2": owner()}, "My First Project")
    project("P_TA3_FIRST", {"TA3": owner()}, "My First Project")
    project("P_UA1", {"UA1": owner(), "TA1": collaborator(), "UA2": collaborator()}, "UA1's, TA1 collaborates")
    project("P_UA2", {"UA2": owner()}, "UA2's own")
    project("P_UA3", {"UA3": owner(), "TA2": collaborator(), "TA3": collaborator()}, "UA3's, TA2 and TA3 collaborate")
    project("P_NOUSERS", None, "no users at all")
    project("TP1", {"UA1": owner()}, "tracked, made by the key's account")
    project("TP2", {"UA1": owner(), "TA1": collaborator()}, "tracked, TA1 collaborates")
    project("TP3", {"TA2": owner()}, "tracked and owned by a tracked account")
    w.add(None, "TP_GONE", uuid.uuid4())

    def org(label: str, admins: Optional[List[str]], users: Any) -> None:
        oid = w.add("organizations", label, uuid.uuid4())
        if isinstance(users, dict):
            users = {w[who]: info for who, info in users.items()}
        elif isinstance(users, list):
            users = [w[who] for who in users]
        conn.run(
            "INSERT INTO organizations (organization_id, created, name, title, description, email_address, "
            "profile, users, admin_account_ids) VALUES (CAST(:o AS uuid), NOW(), :n, :t, 'seeded', "
            "'org@example.com', CAST(:p AS jsonb), CAST(:u AS jsonb), CAST(:a AS uuid[]))",
            o=oid, n=f"{label.lower()}-{oid[:8]}", t=f"Organization {label}", p=json.dumps({"color": "#abcdef"}),
            u=None if users is None else json.dumps(users), a=None if admins is None else [w[a] for a in admins],
        )

    member, boss = {"role": "member"}, {"role": "admin"}
    org("TO1", ["TA1", "UA1"], {"TA1": boss, "UA1": boss})
    org("UO1", ["TA1", "UA1", "TA2"], {"TA1": boss, "UA1": boss, "UA2": member})
    org("UO2", ["UA2"], {"UA2": boss})
    org("UO3", ["UA3"], ["TA2", "UA3"])
    org("UO4", None, None)
    w.add(None, "TO_GONE", uuid.uuid4())

    def message(label: str, sender: str, recipients: List[str]) -> None:
        rows = conn.run(
            "INSERT INTO messages (sent, from_id, to_ids, subject, body, thread_id, read, saved) VALUES "
            "(NOW(), CAST(:f AS uuid), CAST(:t AS uuid[]), :s, :b, 0, B'0', B'1') RETURNING id",
            f=w[sender], t=[w[r] for r in recipients], s=f"subject {label}", b=f"body of {label}",
        )
        w.add("messages", label, rows[0][0])

    message("M_FROM_TA1", "TA1", ["UA1"])
    message("M_TO_TRACKED", "UA1", ["TA1", "TA2"])
    message("M_TO_TA3", "UA2", ["TA3"])
    message("M_MIXED", "UA1", ["TA1", "UA2"])
    message("M_UNTRACKED", "UA2", ["UA1"])
    message("M_TRACKED", "UA1", ["UA2"])
    message("M_NOBODY", "UA1", [])
    w.add(None, "M_GONE", 2147483000)

    def api_key(label: str, account: str, project: Optional[str] = None) -> None:
        rows = conn.run(
            "INSERT INTO api_keys (account_id, project_id, created, expire, hash, name, trunc) VALUES "
            "(CAST(:a AS uuid), CAST(:p AS uuid), NOW(), NOW() + interval '30 days', :h, :n, :t) RETURNING id",
            a=w[account], p=w[project] if project else None, h="sha512$" + secrets.token_hex(20),
            n=f"key {label}", t="sk-ab...yz",
        )
        w.add("api_keys", label, rows[0][0])

    api_key("K_TA1", "TA1")
    api_key("K_TA3", "TA3")
    api_key("K_TP1", "UA1", "TP1")
    api_key("K_OWNED", "UA1", "P_TA1_SHARED")
    api_key("K_UA1", "UA1")
    api_key("K_UA1_P", "UA1", "P_UA1")
    api_key("K_UA2_P", "UA2", "P_UA2")

    def token(label: str, account: str, created_by: Optional[str] = None) -> None:
        value = secrets.token_hex(12)
        conn.run(
            "INSERT INTO auth_tokens (auth_token, account_id, expire, created, created_by, is_admin) VALUES "
            "(:v, CAST(:a AS uuid), NOW() + interval '1 hour', NOW(), CAST(:c AS uuid), false)",
            v=value, a=w[account], c=w[created_by] if created_by else None,
        )
        w.add("auth_tokens", label, value)

    token("AT_TA1", "TA1")
    token("AT_TA2", "TA2")
    token("AT_UA1", "UA1")
    token("AT_UA2_BY_TA1", "UA2", created_by="TA1")
    return w


def snapshot(conn: Any) -> Snapshot:
    """Every row of every table: primary key -> ``row_to_json`` text."""
    return {
        table: {key: text for key, text in conn.run(f"SELECT {pk}::text, row_to_json(t)::text FROM {table} AS t")}
        for table, pk in TABLES.items()
    }


def without_members(row_json: str, account_ids: Set[str]) -> Dict[str, Any]:
    """The row with *account_ids* taken out of ``users`` and ``admin_account_ids``, all else unchanged."""
    row = json.loads(row_json)
    users = row.get("users")
    if isinstance(users, dict):
        row["users"] = {k: v for k, v in users.items() if k not in account_ids}
    elif isinstance(users, list):
        row["users"] = [u for u in users if u not in account_ids]
    if isinstance(row.get("admin_account_ids"), list):
        row["admin_account_ids"] = [a for a in row["admin_account_ids"] if a not in account_ids]
    return row


# -- the hub ----------------------------------------------------------------------------


class RecordingProjects:
    """``hub.projects`` whose ``stop`` records each call (thread-safe) and fails for *failing* ids."""

    def __init__(self, failing: Iterable[str] = ()) -> None:
        self.calls: List[str] = []
        self.failing = set(failing)
        self._lock = threading.Lock()

    def stop(self, project_id: str) -> None:
        with self._lock:
            self.calls.append(project_id)
        if project_id in self.failing:
            raise CoCalcAPIError("project is not running", "projects.stop", [{"project_id": project_id}])


class RecordingHub:
    """A hub with only ``projects.stop``."""

    def __init__(self, failing: Iterable[str] = ()) -> None:
        self.projects = RecordingProjects(failing)


# -- the cases --------------------------------------------------------------------------


class CleanerCases:
    """The cleaner's cases, mixed into a TestCase that says how to make a database."""

    database: ScratchDatabase

    @classmethod
    def make_database(cls) -> ScratchDatabase:
        """A fresh database with CoCalc's tables (the transport is the subclass's choice)."""
        raise NotImplementedError

    @classmethod
    def setUpClass(cls) -> None:
        cls.database = cls.make_database()
        cls.addClassCleanup(cls.database.drop)

    def setUp(self) -> None:
        self.conn = self.database.connect()
        self.addCleanup(self.conn.close)
        self.conn.run("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY")
        self.world = seed(self.conn)
        self.config = self.database.config()
        self.tracker = Tracker()
        for kind, labels in TRACKED.items():
            for label in labels:
                self.tracker.add(kind, self.world[label])
        self.hub = RecordingHub()
        self.out = io.StringIO()

    def tearDown(self) -> None:
        self.assertNoSecrets(self.out.getvalue())

    # helpers

    def cleaner(self, config: Optional[Config] = None, hub: Any = None, **kwargs: Any) -> Cleaner:
        return Cleaner(config or self.config, hub or self.hub, self.tracker, out=self.out, **kwargs)

    def ids(self, *labels: str) -> Set[str]:
        return {self.world[label] for label in labels}

    def assertNoSecrets(self, text: str) -> None:
        for secret in (self.config.pgpassword, self.config.api_key):
            if secret:
                self.assertNotIn(secret, text)

    def assertReportQuiet(self, report: Optional[CleanupReport]) -> None:
        """Neither the report nor what was printed holds the password or the API key."""
        self.assertNoSecrets(repr(report))
        self.assertNoSecrets("\n".join(report.lines()) if report else "")
        self.assertNoSecrets(self.out.getvalue())

    def assertUnchanged(self, before: Snapshot) -> None:
        after = snapshot(self.conn)
        for table in TABLES:
            self.assertEqual(after[table], before[table], f"{table} changed")

    # cases

    def test_preflight_accepts_cocalcs_schema(self) -> None:
        self.cleaner().preflight()

    def test_run_deletes_every_tracked_row_and_its_dependents(self) -> None:
        report = self.cleaner().run(stop=False)
        self.assertTrue(report.complete, report.lines())
        after = snapshot(self.conn)
        keep = {label for labels in SURVIVORS.values() for label in labels}
        for label, table in self.world.table.items():
            if label not in keep:
                self.assertNotIn(self.world[label], after[table], f"{label} should be gone from {table}")
        for table, labels in SURVIVORS.items():
            self.assertEqual(set(after[table]), self.ids(*labels), table)

        kinds = report.kinds
        self.assertEqual(set(kinds["project"].deleted), self.ids("TP1", "TP2", "TP3"))
        self.assertEqual(set(kinds["account"].deleted), self.ids("TA1", "TA2", "TA3"))
        self.assertEqual(set(kinds["organization"].deleted), self.ids("TO1"))
        self.assertEqual(set(kinds["message"].deleted), self.ids("M_TRACKED"))
        for kind in kinds:
            self.assertEqual(kinds[kind].already_gone, 1, kind)
            self.assertEqual(kinds[kind].failed, 0, kind)
        self.assertEqual(set(kinds["account"].owned_projects), self.ids(*OWNED))
        self.assertEqual(kinds["project"].related, {"project API keys": 1})
        self.assertEqual(kinds["account"].related, {
            "owned projects": 4,
            "project memberships": 2,           # P_UA1, P_UA3 (TP2 went with the projects)
            "organization admin entries": 2,    # TO1, UO1
            "organization user entries": 3,     # TO1, UO1, UO3
            "messages": 3,                      # from TA1; to TA1+TA2; to TA3
            "auth tokens": 2,
            "API keys": 2,
        })
        printed = self.out.getvalue()
        self.assertIn(f"{PREFIX} accounts: 3 deleted, 1 already gone, 0 failed", printed)
        self.assertIn(f"{PREFIX} projects: 3 deleted, 1 already gone, 0 failed", printed)
        self.assertReportQuiet(report)

    def test_untracked_rows_are_byte_identical_except_membership_edits(self) -> None:
        before = snapshot(self.conn)
        self.cleaner().run(stop=False)
        after = snapshot(self.conn)
        tracked_accounts = self.ids("TA1", "TA2", "TA3", "TA_GONE")
        for table, labels in SURVIVORS.items():
            for label in labels:
                key = self.world[label]
                if label in EDITED:
                    self.assertNotEqual(after[table][key], before[table][key], f"{label} should have lost members")
                    self.assertEqual(json.loads(after[table][key]), without_members(before[table][key], tracked_accounts),
                                     label)
                else:
                    self.assertEqual(after[table][key], before[table][key], f"{label} changed")
        # Spelled out for one project and one organization:
        p_ua1 = json.loads(after["projects"][self.world["P_UA1"]])
        self.assertEqual(p_ua1["users"], {self.world["UA1"]: owner(), self.world["UA2"]: collaborator()})
        uo1 = json.loads(after["organizations"][self.world["UO1"]])
        self.assertEqual(uo1["admin_account_ids"], [self.world["UA1"]])
        self.assertEqual(uo1["users"], {self.world["UA1"]: {"role": "admin"}, self.world["UA2"]: {"role": "member"}})
        uo3 = json.loads(after["organizations"][self.world["UO3"]])
        self.assertEqual(uo3["users"], [self.world["UA3"]])

    def test_protected_ids_are_never_deleted(self) -> None:
        before = snapshot(self.conn)
        cleaner = self.cleaner()
        cleaner.protect(account_ids=[self.world["TA3"], None], project_ids=[self.world["TP1"]])
        report = cleaner.run()
        after = snapshot(self.conn)
        for label in ("TA3", "TP1", "P_TA3_FIRST", "K_TA3", "K_TP1", "M_TO_TA3"):
            table = self.world.table[label]
            self.assertEqual(after[table].get(self.world[label]), before[table][self.world[label]], label)
        self.assertEqual(set(report.kinds["account"].deleted), self.ids("TA1", "TA2"))
        self.assertEqual(set(report.kinds["project"].deleted), self.ids("TP2", "TP3"))
        self.assertEqual(report.kinds["account"].protected, 1)
        self.assertEqual(report.kinds["project"].protected, 1)
        self.assertNotIn(self.world["P_TA3_FIRST"], report.kinds["account"].owned_projects)
        self.assertNotIn(self.world["TP1"], self.hub.projects.calls)
        self.assertNotIn(self.world["P_TA3_FIRST"], self.hub.projects.calls)
        # The protected collaborator stays on P_UA3; the unprotected one is removed.
        p_ua3 = json.loads(after["projects"][self.world["P_UA3"]])
        self.assertEqual(set(p_ua3["users"]), self.ids("UA3", "TA3"))
        self.assertTrue(report.complete)
        self.assertIn("1 protected, left alone", self.out.getvalue())

    def test_stop_hook_gets_each_tracked_project_once(self) -> None:
        report = self.cleaner().run()
        # Tracked projects only (TP3 is also owned by a tracked account: still once).  A tracked
        # account's own projects are deleted without a stop call: the suite never starts them
        # and the key may not stop them (see the cleanup module's docstring).
        expected = self.ids("TP1", "TP2", "TP3", "TP_GONE")
        self.assertEqual(Counter(self.hub.projects.calls), Counter(expected))
        self.assertEqual(set(report.stopped), expected)
        self.assertEqual(report.stop_failures, {})
        self.assertEqual(set(report.kinds["account"].owned_projects), self.ids(*OWNED))

    def test_stop_false_calls_no_stop_hook(self) -> None:
        report = self.cleaner().run(stop=False)
        self.assertEqual(self.hub.projects.calls, [])
        self.assertEqual(report.stopped, [])
        self.assertTrue(report.complete)

    def test_a_failing_stop_is_reported_and_deletion_goes_on(self) -> None:
        hub = RecordingHub(failing=self.ids("TP1"))
        report = self.cleaner(hub=hub).run()
        self.assertEqual(set(report.stop_failures), self.ids("TP1"))
        self.assertIn("project is not running", report.stop_failures[self.world["TP1"]])
        self.assertIn(self.world["TP1"], report.kinds["project"].deleted)
        self.assertTrue(report.complete)
        self.assertIn("1 could not be stopped", self.out.getvalue())

    def test_dry_run_changes_nothing_and_reports_what_it_would_delete(self) -> None:
        before = snapshot(self.conn)
        cleaner = self.cleaner()
        dry = cleaner.run(dry_run=True)
        self.assertUnchanged(before)
        self.assertEqual(self.hub.projects.calls, [])
        self.assertTrue(dry.dry_run)
        self.assertFalse(dry.complete)
        self.assertEqual(set(dry.kinds["account"].deleted), self.ids("TA1", "TA2", "TA3"))
        self.assertEqual(set(dry.kinds["account"].owned_projects), self.ids(*OWNED))
        self.assertEqual(set(dry.stopped), self.ids("TP1", "TP2", "TP3", "TP_GONE"))
        printed = self.out.getvalue()
        self.assertIn(f"would delete account {self.world['TA1']}", printed)
        self.assertIn(f"would delete project {self.world['P_TA1_FIRST']} (owned by a tracked account)", printed)
        self.assertIn(f"would stop project {self.world['TP1']}", printed)
        self.assertReportQuiet(dry)
        # A dry run does not count as the run: the real one still happens, and agrees.
        real = cleaner.run(stop=False)
        self.assertIsNot(real, dry)
        for kind in real.kinds:
            self.assertEqual(sorted(real.kinds[kind].deleted), sorted(dry.kinds[kind].deleted), kind)
            self.assertEqual(real.kinds[kind].related, dry.kinds[kind].related, kind)
            self.assertEqual(real.kinds[kind].already_gone, dry.kinds[kind].already_gone, kind)
        self.assertNotIn(self.world["TA1"], snapshot(self.conn)["accounts"])

    def test_run_twice_does_the_work_once(self) -> None:
        cleaner = self.cleaner()
        first = cleaner.run()
        printed = self.out.getvalue()
        calls = list(self.hub.projects.calls)
        # Re-create a tracked account: a second run must not touch it.
        self.conn.run("INSERT INTO accounts (account_id, first_name) VALUES (CAST(:a AS uuid), 'back')",
                      a=self.world["TA1"])
        second = cleaner.run()
        self.assertIs(second, first)
        self.assertEqual(self.hub.projects.calls, calls)
        self.assertEqual(self.out.getvalue(), printed)
        self.assertIn(self.world["TA1"], snapshot(self.conn)["accounts"])

    def test_only_ids_already_gone(self) -> None:
        tracker = Tracker()
        for label, kind in (("TA_GONE", "account"), ("TP_GONE", "project"), ("TO_GONE", "organization"),
                            ("M_GONE", "message")):
            tracker.add(kind, self.world[label])
        before = snapshot(self.conn)
        report = Cleaner(self.config, self.hub, tracker, out=self.out).run()
        self.assertUnchanged(before)
        self.assertTrue(report.complete)
        for kind, entry in report.kinds.items():
            self.assertEqual((entry.deleted, entry.already_gone, entry.failed), ([], 1, 0), kind)
        self.assertEqual(self.hub.projects.calls, [self.world["TP_GONE"]])

    def test_cleanup_disabled_touches_nothing(self) -> None:
        connects: List[Config] = []

        def counting_connect(config: Config) -> Any:
            connects.append(config)
            return db.connect(config)

        env = {"COCALC_API_KEY": self.config.api_key, "COCALC_TESTS_CLEANUP": "false", "PGHOST": self.config.pghost,
               "PGPORT": str(self.config.pgport), "PGUSER": self.config.pguser, "PGDATABASE": self.config.pgdatabase}
        if self.config.pgpassword:
            env["PGPASSWORD"] = self.config.pgpassword
        config = Config.from_env(env)
        self.assertFalse(config.cleanup)
        before = snapshot(self.conn)
        self.assertIsNone(self.cleaner(config, connect=counting_connect).run())
        self.assertIsNone(self.cleaner(config, connect=counting_connect).run(dry_run=True))
        self.assertUnchanged(before)
        self.assertEqual(connects, [])
        self.assertEqual(self.hub.projects.calls, [])
        self.assertEqual(self.out.getvalue(), "")

    def test_a_database_missing_a_required_column_is_refused(self) -> None:
        scratch = self.make_database()
        self.addCleanup(scratch.drop)
        conn = scratch.connect()
        self.addCleanup(conn.close)
        world = seed(conn)
        conn.run("ALTER TABLE organizations DROP COLUMN admin_account_ids")
        tracker = Tracker()
        for kind, labels in TRACKED.items():
            for label in labels:
                tracker.add(kind, world[label])
        config = scratch.config()
        cleaner = Cleaner(config, self.hub, tracker, out=self.out)
        with self.assertRaises(DatabaseError) as caught:
            cleaner.preflight()
        self.assertIn("organizations.admin_account_ids", str(caught.exception))
        self.assertIn("Nothing was deleted", str(caught.exception))
        before = snapshot(conn)
        report = cleaner.run()
        self.assertEqual(snapshot(conn), before)
        self.assertFalse(report.complete)
        self.assertIn("organizations.admin_account_ids", report.error)
        self.assertEqual(self.hub.projects.calls, [])
        self.assertEqual(report.stopped, [])
        for kind, labels in TRACKED.items():
            self.assertEqual(report.kinds[kind].deleted, [], kind)
            self.assertEqual(report.kinds[kind].failed, len(labels), kind)
        self.assertIn("nothing deleted: The cleanup database does not look like CoCalc's", self.out.getvalue())
        self.assertNoSecrets(str(caught.exception))
        self.assertReportQuiet(report)


class SocketCleanerTest(CleanerCases, unittest.TestCase):
    """Over the Unix socket, as the superuser (trust authentication)."""

    @classmethod
    def make_database(cls) -> ScratchDatabase:
        return pgsupport.socket_database()

    def test_config_is_a_socket(self) -> None:
        self.assertTrue(self.config.pg_uses_socket)
        self.assertIsNone(self.config.pgpassword)


class PasswordCleanerTest(CleanerCases, unittest.TestCase):
    """Over TCP as a role with a password (the cluster checks scram-sha-256 there)."""

    @classmethod
    def make_database(cls) -> ScratchDatabase:
        return pgsupport.password_database()

    def test_config_is_tcp_with_a_password(self) -> None:
        self.assertFalse(self.config.pg_uses_socket)
        self.assertTrue(self.config.pgpassword)
        self.assertEqual(self.config.pghost, "127.0.0.1")

    def test_no_password_is_refused_by_the_server(self) -> None:
        config = dataclasses.replace(self.config, pgpassword=None)
        with self.assertRaises(DatabaseError):
            self.cleaner(config).preflight()

    def test_wrong_password_preflight_fails_without_the_password(self) -> None:
        wrong = "pw-wrong-" + secrets.token_hex(12)
        config = dataclasses.replace(self.config, pgpassword=wrong)
        with self.assertRaises(DatabaseError) as caught:
            self.cleaner(config).preflight()
        text = str(caught.exception)
        self.assertIn("password authentication failed", text)
        self.assertIn(f"TCP {config.pghost}:{config.pgport}", text)
        self.assertNotIn(wrong, text)
        self.assertNoSecrets(text)
        self.assertTrue(caught.exception.__suppress_context__)  # no chained traceback with driver details

    def test_wrong_password_run_deletes_nothing_and_hides_the_password(self) -> None:
        wrong = "pw-wrong-" + secrets.token_hex(12)
        config = dataclasses.replace(self.config, pgpassword=wrong)
        before = snapshot(self.conn)
        report = self.cleaner(config).run()
        self.assertUnchanged(before)
        self.assertFalse(report.complete)
        self.assertIn("password authentication failed", report.error)
        self.assertEqual(self.hub.projects.calls, [])
        self.assertEqual(report.kinds["account"].failed, len(TRACKED["account"]))
        for text in (report.error, repr(report), self.out.getvalue()):
            self.assertNotIn(wrong, text)
        self.assertReportQuiet(report)


class NoDatabaseTest(unittest.TestCase):
    """With cleanup on and PGHOST unset, the cleaner refuses and says how to fix it."""

    def setUp(self) -> None:
        self.config = Config(api_key=pgsupport.API_KEY, pghost=None, pgpassword="pw-" + secrets.token_hex(8))
        self.tracker = Tracker()
        self.tracker.add("project", uuid.uuid4())
        self.tracker.add("account", uuid.uuid4())
        self.hub = RecordingHub()
        self.out = io.StringIO()

    def assertRemedies(self, text: str) -> None:
        self.assertIn("PGHOST is unset", text)
        self.assertIn("PostgreSQL socket directory", text)        # (1) the socket
        self.assertIn("over the network", text)                   # (2) TCP with a password
        self.assertIn("PGPASSWORD", text)
        self.assertIn("COCALC_TESTS_CLEANUP=false", text)         # (3) no cleanup
        self.assertNotIn(self.config.pgpassword, text)

    def test_preflight_names_all_three_remedies(self) -> None:
        with self.assertRaises(DatabaseError) as caught:
            Cleaner(self.config, self.hub, self.tracker, out=self.out).preflight()
        self.assertRemedies(str(caught.exception))

    def test_run_reports_the_remedies_and_stops_nothing(self) -> None:
        report = Cleaner(self.config, self.hub, self.tracker, out=self.out).run()
        self.assertRemedies(report.error)
        self.assertRemedies(self.out.getvalue())
        self.assertFalse(report.complete)
        self.assertEqual(self.hub.projects.calls, [])
        self.assertEqual(report.kinds["project"].failed, 1)
        self.assertEqual(report.kinds["account"].failed, 1)


if __name__ == "__main__":
    unittest.main()
