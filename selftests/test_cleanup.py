"""The cleaner against a real PostgreSQL database with CoCalc's tables.

Each test seeds the same small world of tracked and untracked rows (accounts,
projects, organizations, messages, API keys, auth tokens, licenses, and rows in
every side table: logs, file use, syncstrings, password resets, ...), runs the
real :class:`~cocalc_api_tests.cleanup.Cleaner` and compares whole tables before
and after with ``row_to_json``.  The world has a protected key owner (``KEY``)
and a protected ``COCALC_PROJECT_ID`` project (``PP``, which a tracked account
co-owns), both with side rows of their own that must survive.  Every case runs
twice: over the Unix socket (superuser, trust) and over TCP with a password (a
throwaway cluster checking scram-sha-256).  Projects are stopped through a real
HTTP server on loopback that answers ``projects.stop``.
"""
import dataclasses
import io
import json
import secrets
import threading
import time
import unittest
import uuid
from collections import Counter
from typing import Any, Dict, List, Optional, Set

from cocalc_api_tests import db
from cocalc_api_tests.cleanup import PREFIX, CleanupReport, Cleaner
from cocalc_api_tests.client import Hub
from cocalc_api_tests.config import Config
from cocalc_api_tests.errors import DatabaseError
from cocalc_api_tests.tracking import Tracker

import pgsupport
from helpers import RecordingServer, Recorded, Reply, json_reply
from pgsupport import ScratchDatabase

#: The core tables, and their primary key; their rows are compared by key.
TABLES: Dict[str, str] = {
    "accounts": "account_id",
    "projects": "project_id",
    "organizations": "organization_id",
    "messages": "id",
    "api_keys": "id",
    "auth_tokens": "auth_token",
    "site_licenses": "id",
}
#: Every side table the cleaner must clean (seeded below); their rows are compared as a multiset.
SIDE_TABLES = [
    "central_log", "client_error_log", "copy_paths", "cursors", "file_access_log", "file_use", "jupyter_api_cache",
    "jupyter_api_log", "listings", "password_reset", "password_reset_attempts", "patches", "project_invite_tokens",
    "project_log", "public_paths", "remember_me", "site_license_usage_log", "syncstrings", "user_tracking",
    "webapp_errors",
]

Snapshot = Dict[str, Any]

#: Core rows that must remain after a full run.
SURVIVORS: Dict[str, List[str]] = {
    "accounts": ["KEY", "UA1", "UA2", "UA3"],
    "projects": ["PP", "P_KEY", "P_UA1", "P_UA2", "P_UA3", "P_NOUSERS"],
    "organizations": ["UO1", "UO2", "UO3", "UO4"],
    "messages": ["M_MIXED", "M_UNTRACKED", "M_NOBODY", "M_KEY"],
    "api_keys": ["K_UA1", "K_UA1_P", "K_UA2_P", "K_PP"],
    "auth_tokens": ["AT_UA1", "AT_UA2_BY_TA1", "AT_KEY"],
    "site_licenses": ["L_UNTRACKED"],
}
#: Untracked rows that lose tracked members (users / admin_account_ids) or a tracked license.
EDITED = {"PP", "P_UA1", "P_UA3", "P_UA2", "UO1", "UO3"}
#: What is tracked; the *_GONE ids are tracked but were never in the database.
TRACKED: Dict[str, List[str]] = {
    "project": ["TP1", "TP2", "TP3", "TP_GONE"],
    "account": ["TA1", "TA2", "TA3", "TA_GONE"],
    "organization": ["TO1", "TO_GONE"],
    "message": ["M_TRACKED", "M_GONE"],
    "api_key": ["K_TRACKED", "K_GONE"],
    "license": ["L1", "L_GONE"],
    "event": ["EV1", "EV2", "EV_GONE"],
}
#: Projects the tracked accounts own (deleted with them); PP is co-owned by TA1 but protected.
OWNED = ["P_TA1_FIRST", "P_TA1_SHARED", "P_TA2_FIRST", "P_TA3_FIRST"]
#: Tracked projects whose state says running or starting: the only ones stopped at exit.
LIVE = ["TP1", "TP2"]


# -- the world ------------------------------------------------------------------------


def owner() -> Dict[str, Any]:
    return {"group": "owner"}


def collaborator() -> Dict[str, Any]:
    return {"group": "collaborator"}


class World:
    """Seeds rows and remembers them: label -> key, label -> table, and side rows by fate."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.ids: Dict[str, str] = {}
        self.table: Dict[str, str] = {}
        self.emails: Dict[str, str] = {}
        #: table -> label -> row_to_json text of side rows that must go / must stay.
        self.gone: Dict[str, Dict[str, str]] = {}
        self.kept: Dict[str, Dict[str, str]] = {}

    def __getitem__(self, label: str) -> str:
        return self.ids[label]

    def add(self, table: Optional[str], label: str, key: Any) -> str:
        """Record row *label* of *table* (None: an id that is tracked but not stored)."""
        self.ids[label] = str(key)
        if table:
            self.table[label] = table
        return str(key)

    def labels(self, table: str) -> List[str]:
        return [label for label, t in self.table.items() if t == table]

    # core rows

    def account(self, label: str, email: Optional[str] = None) -> str:
        aid = self.add("accounts", label, uuid.uuid4())
        email = email or f"{label.lower()}-{aid[:8]}@example.com"
        self.emails[label] = email
        self.conn.run(
            "INSERT INTO accounts (account_id, created, email_address, first_name, last_name, password_hash, "
            "other_settings, groups, last_active, balance, tags, unread_message_count) VALUES "
            "(CAST(:a AS uuid), NOW() - interval '1 day', :e, :f, :l, :h, CAST(:o AS jsonb), CAST(:g AS text[]), "
            "NOW(), 12.5, CAST(:t AS text[]), 0)",
            a=aid, e=email, f=label, l="Tester", h="sha512$" + "ab" * 40,
            o=json.dumps({"dark_mode": label == "UA1", "katex": True}),
            g=["admin"] if label == "KEY" else [], t=["selftest", label],
        )
        return aid

    def project(self, label: str, users: Optional[Dict[str, Dict[str, Any]]], title: str, state: str = "running",
                licenses: Optional[List[str]] = None) -> str:
        pid = self.add("projects", label, uuid.uuid4())
        members = None if users is None else {self[who]: info for who, info in users.items()}
        active = None if users is None else {self[who]: "2024-05-01T12:00:00.000Z" for who in users}
        self.conn.run(
            "INSERT INTO projects (project_id, title, description, users, last_active, created, last_edited, "
            "state, settings, compute_image, deleted, site_license) VALUES (CAST(:p AS uuid), :t, :d, CAST(:u AS jsonb), "
            "CAST(:la AS jsonb), NOW(), NOW(), CAST(:s AS jsonb), CAST(:st AS jsonb), 'ubuntu2204', false, "
            "CAST(:sl AS jsonb))",
            p=pid, t=title, d=f"seeded {label}", u=None if members is None else json.dumps(members),
            la=None if active is None else json.dumps(active),
            s=json.dumps({"state": state, "time": "2024-05-01T12:00:00.000Z"}),
            st=json.dumps({"cores": 1, "memory": 1000}),
            sl=None if licenses is None else json.dumps({self[lic]: {} for lic in licenses}),
        )
        return pid

    def org(self, label: str, admins: Optional[List[str]], users: Any, name: Optional[str] = None) -> str:
        oid = self.add("organizations", label, uuid.uuid4())
        if isinstance(users, dict):
            users = {self[who]: info for who, info in users.items()}
        elif isinstance(users, list):
            users = [self[who] for who in users]
        self.conn.run(
            "INSERT INTO organizations (organization_id, created, name, title, description, email_address, "
            "profile, users, admin_account_ids) VALUES (CAST(:o AS uuid), NOW(), :n, :t, 'seeded', "
            "'org@example.com', CAST(:p AS jsonb), CAST(:u AS jsonb), CAST(:a AS uuid[]))",
            o=oid, n=name or f"{label.lower()}-{oid[:8]}", t=f"Organization {label}", p=json.dumps({"color": "#abcdef"}),
            u=None if users is None else json.dumps(users), a=None if admins is None else [self[a] for a in admins],
        )
        return oid

    def message(self, label: str, sender: str, recipients: List[str], subject: Optional[str] = None) -> str:
        rows = self.conn.run(
            "INSERT INTO messages (sent, from_id, to_ids, subject, body, thread_id, read, saved) VALUES "
            "(NOW(), CAST(:f AS uuid), CAST(:t AS uuid[]), :s, :b, 0, B'0', B'1') RETURNING id",
            f=self[sender], t=[self[r] for r in recipients], s=subject or f"subject {label}", b=f"body of {label}",
        )
        return self.add("messages", label, rows[0][0])

    def api_key(self, label: str, account: str, project: Optional[str] = None, name: Optional[str] = None) -> str:
        rows = self.conn.run(
            "INSERT INTO api_keys (account_id, project_id, created, expire, hash, name, trunc) VALUES "
            "(CAST(:a AS uuid), CAST(:p AS uuid), NOW(), NOW() + interval '30 days', :h, :n, :t) RETURNING id",
            a=self[account], p=self[project] if project else None, h="sha512$" + secrets.token_hex(20),
            n=name or f"key {label}", t="sk-ab...yz",
        )
        return self.add("api_keys", label, rows[0][0])

    def token(self, label: str, account: str, created_by: Optional[str] = None) -> None:
        value = secrets.token_hex(12)
        self.conn.run(
            "INSERT INTO auth_tokens (auth_token, account_id, expire, created, created_by, is_admin) VALUES "
            "(:v, CAST(:a AS uuid), NOW() + interval '1 hour', NOW(), CAST(:c AS uuid), false)",
            v=value, a=self[account], c=self[created_by] if created_by else None,
        )
        self.add("auth_tokens", label, value)

    def license(self, label: str) -> None:
        lid = self.add("site_licenses", label, uuid.uuid4())
        self.conn.run(
            "INSERT INTO site_licenses (id, title, created, activates, expires, run_limit, quota) VALUES "
            "(CAST(:i AS uuid), :t, NOW(), NOW(), NOW() + interval '1 day', 1, CAST(:q AS jsonb))",
            i=lid, t=f"license {label}", q=json.dumps({"cpu": 1, "ram": 2}),
        )

    # side rows

    def side(self, fate: str, label: str, table: str, columns: Dict[str, Any]) -> str:
        """Insert one side row (*fate* ``gone`` or ``kept``); values given as SQL expressions with params."""
        names = list(columns)
        params = {f"v{i}": value for i, value in enumerate(columns.values())}
        casts = [_cast(table, name) for name in names]
        sql = (
            f"INSERT INTO {table} AS t ({', '.join(_quote(n) for n in names)}) VALUES ("
            + ", ".join(f"CAST(:v{i} AS {cast})" if cast else f":v{i}" for i, cast in enumerate(casts))
            + ") RETURNING row_to_json(t)::text"
        )
        row = self.conn.run(sql, **params)[0][0]
        (self.gone if fate == "gone" else self.kept).setdefault(table, {})[label] = row
        return row


#: Column types the seeding must cast parameters to (everything else is sent as text or number).
_CASTS = {
    "project_id": "uuid", "account_id": "uuid", "license_id": "uuid", "source_project_id": "uuid",
    "target_project_id": "uuid", "id": "uuid", "value": "jsonb", "event": "text", "users": "jsonb",
    "locs": "jsonb[]", "output": "jsonb[]", "time": "timestamp", "start": "timestamp", "expire": "timestamp",
    "created": "timestamp", "is_snapshot": "boolean", "history": "text[]", "listing": "jsonb[]",
}


def _cast(table: str, column: str) -> Optional[str]:
    if table == "project_log" and column == "event":
        return "jsonb"
    if column == "id" and table in ("jupyter_api_cache", "jupyter_api_log", "file_use", "public_paths"):
        return None
    return _CASTS.get(column)


def _quote(name: str) -> str:
    return f'"{name}"'


def seed(conn: Any) -> World:
    """Insert the world (see the module constants) and return it."""
    w = World(conn)
    for label in ("KEY", "TA1", "TA2", "TA3", "UA1", "UA2", "UA3"):
        w.account(label)
    w.add(None, "TA_GONE", uuid.uuid4())
    w.license("L1")
    w.license("L_UNTRACKED")
    w.add(None, "L_GONE", uuid.uuid4())

    w.project("PP", {"KEY": owner(), "TA1": owner(), "UA1": collaborator()}, "COCALC_PROJECT_ID, co-owned by TA1")
    w.project("P_KEY", {"KEY": owner()}, "the key owner's own project")
    w.project("P_TA1_FIRST", {"TA1": owner()}, "My First Project", state="opened")
    w.project("P_TA1_SHARED", {"TA1": owner(), "UA1": collaborator()}, "TA1 shares with UA1")
    w.project("P_TA2_FIRST", {"TA2": owner()}, "My First Project", state="opened")
    w.project("P_TA3_FIRST", {"TA3": owner()}, "My First Project", state="opened")
    w.project("P_UA1", {"UA1": owner(), "TA1": collaborator(), "UA2": collaborator()}, "UA1's, TA1 collaborates")
    w.project("P_UA2", {"UA2": owner()}, "UA2's own, with licenses", licenses=["L1", "L_UNTRACKED"])
    w.project("P_UA3", {"UA3": owner(), "TA2": collaborator(), "TA3": collaborator()}, "UA3's, TA2 and TA3 collaborate")
    w.project("P_NOUSERS", None, "no users at all")
    w.project("TP1", {"KEY": owner()}, "tracked, made by the key's account", licenses=["L1"])
    w.project("TP2", {"KEY": owner(), "TA1": collaborator()}, "tracked, TA1 collaborates", state="starting")
    w.project("TP3", {"TA2": owner()}, "tracked and owned by a tracked account", state="opened")
    w.add(None, "TP_GONE", uuid.uuid4())

    member, boss = {"role": "member"}, {"role": "admin"}
    w.org("TO1", ["TA1", "UA1"], {"TA1": boss, "UA1": boss})
    w.org("UO1", ["TA1", "UA1", "TA2"], {"TA1": boss, "UA1": boss, "UA2": member})
    w.org("UO2", ["UA2"], {"UA2": boss})
    w.org("UO3", ["UA3"], ["TA2", "UA3"])
    w.org("UO4", None, None)
    w.add(None, "TO_GONE", uuid.uuid4())

    w.message("M_FROM_TA1", "TA1", ["UA1"])
    w.message("M_TO_TRACKED", "UA1", ["TA1", "TA2"])
    w.message("M_TO_TA3", "UA2", ["TA3"])
    w.message("M_MIXED", "UA1", ["TA1", "UA2"])
    w.message("M_UNTRACKED", "UA2", ["UA1"])
    w.message("M_TRACKED", "KEY", ["UA2"])
    w.message("M_NOBODY", "UA1", [])
    w.message("M_KEY", "KEY", ["UA1"])
    w.add(None, "M_GONE", 2147483000)

    w.api_key("K_TA1", "TA1")
    w.api_key("K_TA3", "TA3")
    w.api_key("K_TP1", "KEY", "TP1")
    w.api_key("K_OWNED", "KEY", "P_TA1_SHARED")
    w.api_key("K_UA1", "UA1")
    w.api_key("K_UA1_P", "UA1", "P_UA1")
    w.api_key("K_UA2_P", "UA2", "P_UA2")
    w.api_key("K_PP", "KEY", "PP")
    w.api_key("K_TRACKED", "KEY", "P_KEY")
    w.add(None, "K_GONE", 2147483001)

    w.token("AT_TA1", "TA1")
    w.token("AT_TA2", "TA2")
    w.token("AT_UA1", "UA1")
    w.token("AT_KEY", "KEY")
    w.token("AT_UA2_BY_TA1", "UA2", created_by="TA1")

    for label in ("EV1", "EV2", "EV_GONE"):
        w.add(None, label, f"{label.lower()}-selftest-{secrets.token_hex(4)}")
    seed_side_rows(w)
    return w


def seed_side_rows(w: World) -> None:
    """Rows in every side table: tied to tracked ids (``gone``) and not (``kept``), the protected ones included."""
    def gone(label: str, table: str, **columns: Any) -> None:
        w.side("gone", label, table, columns)

    def kept(label: str, table: str, **columns: Any) -> None:
        w.side("kept", label, table, columns)

    def auth(caller: str, user: str) -> str:
        return json.dumps({"account_id": caller, "user_account_id": user, "is_admin": True})

    key = w["KEY"]

    def log(event: str, **fields: Any) -> str:
        return json.dumps(dict(event=event, **fields))

    # project_log: tracked and owned projects; other projects' entries naming a tracked account or made by one.
    gone("PL_TP1", "project_log", id=uuid.uuid4(), project_id=w["TP1"], account_id=key,
         event=log("invite_user", invitee_account_id=w["UA1"]), time="2024-05-01 12:00")
    gone("PL_OWNED", "project_log", id=uuid.uuid4(), project_id=w["P_TA1_FIRST"], account_id=w["TA1"],
         event=log("open_project"), time="2024-05-01 12:00")
    gone("PL_PP_INVITED_TA2", "project_log", id=uuid.uuid4(), project_id=w["PP"], account_id=key,
         event=log("invite_user", invitee_account_id=w["TA2"]), time="2024-05-01 12:00")
    gone("PL_PP_REMOVED_TA3", "project_log", id=uuid.uuid4(), project_id=w["PP"], account_id=key,
         event=log("remove_collaborator", removed_account_id=w["TA3"], removed_name="TA3"), time="2024-05-01 12:00")
    gone("PL_KEY_TYPE_TA1", "project_log", id=uuid.uuid4(), project_id=w["P_KEY"], account_id=key,
         event=log("change_collaborator_type", target_account_id=w["TA1"], old_group="collaborator", new_group="owner"),
         time="2024-05-01 12:00")
    gone("PL_UA1_BY_TA1", "project_log", id=uuid.uuid4(), project_id=w["P_UA1"], account_id=w["TA1"],
         event=log("open", filename="a.txt"), time="2024-05-01 12:00")
    kept("PL_PP", "project_log", id=uuid.uuid4(), project_id=w["PP"], account_id=key,
         event=log("invite_user", invitee_account_id=w["UA2"]), time="2024-05-01 12:00")
    kept("PL_UA2", "project_log", id=uuid.uuid4(), project_id=w["P_UA2"], account_id=w["UA2"],
         event=log("open_project"), time="2024-05-01 12:00")
    kept("PL_KEY", "project_log", id=uuid.uuid4(), project_id=w["P_KEY"], account_id=key,
         event=log("change_collaborator_type", target_account_id=w["UA1"]), time="2024-05-01 12:00")

    # jupyter_api_log / jupyter_api_cache: a cache row goes only when no surviving log row names its hash.
    def execution(fate: str, label: str, digest: str, project: Optional[str], tag: Optional[str] = None) -> None:
        w.side(fate, label, "jupyter_api_log", dict(
            created="2024-05-01 12:00", account_id=key, project_id=w[project] if project else None, hash=digest,
            kernel="python3", input="2+2", tag=tag, total_time_s=0.5, history=["x = 1"],
        ))

    def cache(fate: str, label: str, digest: str) -> None:
        w.side(fate, label, "jupyter_api_cache", dict(created="2024-05-01 12:00", hash=digest,
                                                        output=[json.dumps({"data": {"text/plain": "4"}})]))

    execution("gone", "JL_TP1", "h-tp1", "TP1")
    cache("gone", "JC_TP1", "h-tp1")
    execution("gone", "JL_SHARED_TP1", "h-shared", "TP1")
    execution("kept", "JL_SHARED_UA1", "h-shared", "P_UA1")
    cache("kept", "JC_SHARED", "h-shared")
    execution("gone", "JL_TP2", "h-pool", "TP2")
    execution("kept", "JL_POOL", "h-pool", None)
    cache("kept", "JC_POOL", "h-pool")
    execution("gone", "JL_OWNED", "h-owned", "P_TA2_FIRST")
    cache("gone", "JC_OWNED", "h-owned")
    execution("gone", "JL_PP_TAGGED", "h-tagged", "PP", tag=w["EV1"])
    cache("gone", "JC_TAGGED", "h-tagged")
    execution("kept", "JL_PP", "h-pp", "PP", tag="untracked-tag-1234")
    cache("kept", "JC_PP", "h-pp")
    cache("kept", "JC_ORPHAN", "h-orphan")

    gone("FU_TP2", "file_use", id="a" * 40, project_id=w["TP2"], path="a.txt", users=json.dumps({key: {"edit": 1}}))
    kept("FU_PP", "file_use", id="b" * 40, project_id=w["PP"], path="a.txt", users=json.dumps({key: {"edit": 1}}))
    gone("FA_TP1", "file_access_log", id=uuid.uuid4(), project_id=w["TP1"], account_id=key, filename="a.txt")
    gone("FA_BY_TA1", "file_access_log", id=uuid.uuid4(), project_id=w["P_UA1"], account_id=w["TA1"], filename="b.txt")
    kept("FA_PP", "file_access_log", id=uuid.uuid4(), project_id=w["PP"], account_id=key, filename="a.txt")
    gone("LS_TP1", "listings", project_id=w["TP1"], compute_server_id=0, path="", listing=[])
    kept("LS_PP", "listings", project_id=w["PP"], compute_server_id=0, path="", listing=[])

    for fate, label, project, string_id in (("gone", "TP1", "TP1", "1" * 40), ("gone", "OWNED", "P_TA3_FIRST", "2" * 40),
                                            ("kept", "PP", "PP", "3" * 40)):
        w.side(fate, f"SS_{label}", "syncstrings", dict(string_id=string_id, project_id=w[project], path="a.txt"))
        for n in (1, 2):
            w.side(fate, f"PA_{label}_{n}", "patches", dict(string_id=string_id, time=f"2024-05-01 12:0{n}",
                                                            is_snapshot=False, patch="[]", user_id=0))
        w.side(fate, f"CU_{label}", "cursors", dict(string_id=string_id, user_id=0, locs=[json.dumps({"x": 1})]))

    gone("IT_TP3", "project_invite_tokens", token=secrets.token_hex(8), project_id=w["TP3"])
    kept("IT_PP", "project_invite_tokens", token=secrets.token_hex(8), project_id=w["PP"])
    gone("PUB_TP3", "public_paths", id=secrets.token_hex(20), project_id=w["TP3"], path="a")
    kept("PUB_PP", "public_paths", id=secrets.token_hex(20), project_id=w["PP"], path="a")
    gone("CP_PP_TO_TP1", "copy_paths", id=uuid.uuid4(), source_project_id=w["PP"], target_project_id=w["TP1"],
         source_path="a", target_path="a")
    kept("CP_PP_TO_KEY", "copy_paths", id=uuid.uuid4(), source_project_id=w["PP"], target_project_id=w["P_KEY"],
         source_path="a", target_path="a")
    gone("SLU_L1", "site_license_usage_log", license_id=w["L1"], project_id=w["P_UA2"], start="2024-05-01 12:00")
    gone("SLU_TP1", "site_license_usage_log", license_id=w["L_UNTRACKED"], project_id=w["TP1"], start="2024-05-01 12:00")
    kept("SLU_UA2", "site_license_usage_log", license_id=w["L_UNTRACKED"], project_id=w["P_UA2"], start="2024-05-01 12:00")

    # central_log: only events naming a tracked account; the key owner's own events stay.
    gone("CL_TOKEN_TA1", "central_log", id=uuid.uuid4(), event="auth-token", value=auth(key, w["TA1"]))
    gone("CL_TOKEN_BY_TA2", "central_log", id=uuid.uuid4(), event="auth-token", value=auth(w["TA2"], w["UA1"]))
    kept("CL_TOKEN_UA1", "central_log", id=uuid.uuid4(), event="auth-token", value=auth(key, w["UA1"]))
    kept("CL_SIGN_IN", "central_log", id=uuid.uuid4(), event="successful_sign_in", value=json.dumps({"account_id": key}))
    kept("CL_ARRAY", "central_log", id=uuid.uuid4(), event="odd", value=json.dumps([w["TA1"]]))
    kept("CL_NULL", "central_log", id=uuid.uuid4(), event="odd", value=None)

    gone("RM_TA1", "remember_me", hash="r" * 127, account_id=w["TA1"], value=json.dumps({"x": 1}))
    kept("RM_KEY", "remember_me", hash="s" * 127, account_id=key, value=json.dumps({"x": 1}))
    gone("PR_TA2", "password_reset", id=uuid.uuid4(), email_address=w.emails["TA2"])
    kept("PR_UA1", "password_reset", id=uuid.uuid4(), email_address=w.emails["UA1"])
    kept("PR_KEY", "password_reset", id=uuid.uuid4(), email_address=w.emails["KEY"])
    gone("PRA_TA2", "password_reset_attempts", id=uuid.uuid4(), email_address=w.emails["TA2"])
    kept("PRA_UA2", "password_reset_attempts", id=uuid.uuid4(), email_address=w.emails["UA2"])

    # Logs tagged with a tracked event (the caller is the key owner), or written as a tracked account.
    gone("UT_EV1", "user_tracking", account_id=key, time="2024-05-01 12:00", event=w["EV1"], value=json.dumps({}))
    gone("UT_TA3", "user_tracking", account_id=w["TA3"], time="2024-05-01 12:00", event="open", value=json.dumps({}))
    kept("UT_KEY", "user_tracking", account_id=key, time="2024-05-01 12:01", event="untracked-event-1", value=json.dumps({}))
    gone("CE_EV2", "client_error_log", id=uuid.uuid4(), account_id=key, event=w["EV2"], error="boom")
    gone("CE_TA1", "client_error_log", id=uuid.uuid4(), account_id=w["TA1"], event="other", error="boom")
    kept("CE_KEY", "client_error_log", id=uuid.uuid4(), account_id=key, event="other", error="boom")
    gone("WE_EV1", "webapp_errors", id=uuid.uuid4(), account_id=key, message=w["EV1"], name="Error")
    gone("WE_TA2", "webapp_errors", id=uuid.uuid4(), account_id=w["TA2"], message="oops", name="Error")
    kept("WE_KEY", "webapp_errors", id=uuid.uuid4(), account_id=key, message="untracked", name="Error")
    kept("WE_PREFIX", "webapp_errors", id=uuid.uuid4(), account_id=key, message=w["EV1"] + " and more", name="Error")


def snapshot(conn: Any) -> Snapshot:
    """Core tables: primary key -> ``row_to_json`` text; side tables: a Counter of ``row_to_json`` texts."""
    shot: Snapshot = {
        table: {key: text for key, text in conn.run(f"SELECT {pk}::text, row_to_json(t)::text FROM {table} AS t")}
        for table, pk in TABLES.items()
    }
    present = {r[0] for r in conn.run("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
    for table in SIDE_TABLES:
        if table in present:
            shot[table] = Counter(r[0] for r in conn.run(f"SELECT row_to_json(t)::text FROM {table} AS t"))
    return shot


def without_members(row_json: str, account_ids: Set[str], license_ids: Set[str]) -> Dict[str, Any]:
    """The row with tracked accounts out of ``users``/``admin_account_ids`` and tracked licenses out of ``site_license``."""
    row = json.loads(row_json)
    users = row.get("users")
    if isinstance(users, dict):
        row["users"] = {k: v for k, v in users.items() if k not in account_ids}
    elif isinstance(users, list):
        row["users"] = [u for u in users if u not in account_ids]
    if isinstance(row.get("admin_account_ids"), list):
        row["admin_account_ids"] = [a for a in row["admin_account_ids"] if a not in account_ids]
    if isinstance(row.get("site_license"), dict):
        row["site_license"] = {k: v for k, v in row["site_license"].items() if k not in license_ids}
    return row


# -- the hub: a real HTTP server on loopback --------------------------------------------


class StopServer(RecordingServer):
    """Answers ``projects.stop`` on ``/api/conat/hub``: records each call, and per project
    answers ``null``, an error (*failing*), or only after *slow* seconds — unless the body's
    ``timeout`` (ms) is shorter: then, as CoCalc's bridge does, a timeout answer at that time."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.reset()
        self.serve_in_background("stop-server")

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.generation = getattr(self, "generation", 0) + 1
            self.calls: List[str] = []
            self.keys: Set[str] = set()
            self.failing: Set[str] = set()
            self.slow: Dict[str, float] = {}
            self.in_flight = 0
            self.most_in_flight = 0
            self.gather = 0  # hold each answer until this many stops were in flight at once (or 2 s pass)

    @property
    def url(self) -> str:
        return self.base_url

    def respond(self, request: Recorded) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        key = request.api_key if request.headers.get("Authorization", "").startswith("Basic ") else ""
        return json_reply(self.answer(body, key))

    def answer(self, body: Dict[str, Any], key: str) -> Any:
        project_id = (body.get("args") or [{}])[0].get("project_id")
        with self.lock:
            self.calls.append(project_id)
            self.keys.add(key)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            failing, slow, gather = project_id in self.failing, self.slow.get(project_id, 0.0), self.gather
            generation = self.generation
        try:
            deadline = time.monotonic() + 2.0
            while gather and self.most_in_flight < gather and time.monotonic() < deadline:
                time.sleep(0.01)
            wait = body.get("timeout")
            if isinstance(wait, (int, float)) and slow > wait / 1000:
                time.sleep(wait / 1000)
                return {"error": f"timeout - callHub: subject='hub.account.x.api', name='{body.get('name')}', code='408' "}
            time.sleep(slow)
            if body.get("name") != "projects.stop":
                return {"error": f"unexpected call {body.get('name')}"}
            return {"error": "project is not running"} if failing else None
        finally:
            with self.lock:
                if generation == self.generation:  # a slow answer of an earlier test must not count here
                    self.in_flight -= 1


# -- the cases --------------------------------------------------------------------------


class CleanerCases:
    """The cleaner's cases, mixed into a TestCase that says how to make a database."""

    database: ScratchDatabase
    server: StopServer

    @classmethod
    def make_database(cls) -> ScratchDatabase:
        """A fresh database with CoCalc's tables (the transport is the subclass's choice)."""
        raise NotImplementedError

    @classmethod
    def setUpClass(cls) -> None:
        cls.database = cls.make_database()
        cls.addClassCleanup(cls.database.drop)
        cls.server = StopServer()
        cls.addClassCleanup(cls.server.server_close)
        cls.addClassCleanup(cls.server.shutdown)

    def setUp(self) -> None:
        self.conn = self.database.connect()
        self.addCleanup(self.conn.close)
        self.conn.run("TRUNCATE " + ", ".join(list(TABLES) + SIDE_TABLES) + " RESTART IDENTITY")
        self.world = seed(self.conn)
        self.config = self.database.config()
        self.tracker = Tracker()
        for kind, labels in TRACKED.items():
            for label in labels:
                self.tracker.add(kind, self.world[label])
        self.server.reset()
        self.hub = Hub(pgsupport.API_KEY, self.server.url)
        self.addCleanup(self.hub.close)
        self.out = io.StringIO()

    def tearDown(self) -> None:
        self.assertNoSecrets(self.out.getvalue())

    # helpers

    def cleaner(self, config: Optional[Config] = None, tracker: Optional[Tracker] = None, **kwargs: Any) -> Cleaner:
        """A cleaner that protects the key owner and ``COCALC_PROJECT_ID`` (PP), as a run does."""
        cleaner = Cleaner(config or self.config, self.hub, self.tracker if tracker is None else tracker, out=self.out, **kwargs)
        cleaner.protect(account_ids=[self.world["KEY"]], project_ids=[self.world["PP"]])
        return cleaner

    def ids(self, *labels: str) -> Set[str]:
        return {self.world[label] for label in labels}

    def secrets(self) -> List[str]:
        return [s for s in (self.config.pgpassword, self.config.api_key) if s]

    def assertNoSecrets(self, text: str) -> None:
        for secret in self.secrets():
            self.assertNotIn(secret, text)

    def assertReportQuiet(self, report: Optional[CleanupReport]) -> None:
        """Neither the report nor what was printed holds the password or the API key."""
        self.assertNoSecrets(repr(report))
        self.assertNoSecrets("\n".join(report.lines()) if report else "")
        self.assertNoSecrets(self.out.getvalue())

    def assertUnchanged(self, before: Snapshot) -> None:
        after = snapshot(self.conn)
        for table in before:
            self.assertEqual(after[table], before[table], f"{table} changed")

    def assertSideRows(self, before: Snapshot, after: Snapshot, gone: Optional[Set[str]] = None) -> None:
        """Each side table lost exactly its tied rows (all ``gone`` rows, or the labels in *gone*)."""
        for table in SIDE_TABLES:
            doomed = {label: row for label, row in self.world.gone.get(table, {}).items() if gone is None or label in gone}
            still = [label for label, row in doomed.items() if after[table][row]]
            self.assertEqual(still, [], f"{table}: rows tied to tracked ids are still there")
            lost = [label for label, row in self.world.kept.get(table, {}).items() if not after[table][row]]
            self.assertEqual(lost, [], f"{table}: untracked rows were deleted or changed")
            expected = before[table] - Counter(doomed.values())
            self.assertEqual(after[table], expected, f"{table}: the untracked rows are not byte-identical")

    def tracked_events(self) -> Set[str]:
        return self.ids("EV1", "EV2", "EV_GONE")

    # cases: what goes and what stays

    def test_preflight_accepts_cocalcs_schema_and_privileges(self) -> None:
        self.cleaner().preflight()

    def test_every_side_table_of_the_cleaner_is_seeded_here(self) -> None:
        self.assertLessEqual({entry.table for entry in db.SIDE_ROWS}, set(TABLES) | set(SIDE_TABLES))
        self.assertEqual(set(SIDE_TABLES), set(self.world.gone) | set(self.world.kept))

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
        self.assertEqual(set(kinds["api_key"].deleted), self.ids("K_TRACKED"))
        self.assertEqual(set(kinds["license"].deleted), self.ids("L1"))
        self.assertEqual(set(kinds["event"].deleted), self.ids("EV1", "EV2"))
        for kind in kinds:
            self.assertEqual(kinds[kind].already_gone, 1, kind)
            self.assertEqual(kinds[kind].failed, 0, kind)
            self.assertEqual(kinds[kind].protected, 0, kind)
        self.assertEqual(set(kinds["account"].owned_projects), self.ids(*OWNED))
        self.assertEqual(kinds["project"].related, {
            "jupyter_api_cache rows": 1, "jupyter_api_log rows": 3, "project_log rows": 1, "file_use rows": 1,
            "file_access_log rows": 1, "listings rows": 1, "patches rows": 2, "cursors rows": 1, "syncstrings rows": 1,
            "project_invite_tokens rows": 1, "public_paths rows": 1, "copy_paths rows": 1,
            "site_license_usage_log rows": 1, "project API keys": 1,
        })
        self.assertEqual(kinds["account"].related, {
            "jupyter_api_cache rows": 1, "jupyter_api_log rows": 1, "project_log rows": 5, "patches rows": 2,
            "cursors rows": 1, "syncstrings rows": 1, "project API keys": 1,
            "central_log rows": 2, "remember_me rows": 1, "password_reset rows": 1, "password_reset_attempts rows": 1,
            "file_access_log rows": 1, "user_tracking rows": 1, "client_error_log rows": 1, "webapp_errors rows": 1,
            "owned projects": 4,
            "project memberships": 3,           # PP, P_UA1, P_UA3 (TP2 went with the projects)
            "organization admin entries": 2,    # TO1, UO1
            "organization user entries": 3,     # TO1, UO1, UO3
            "messages": 3,                      # from TA1; to TA1+TA2; to TA3
            "auth tokens": 2,
            "API keys": 2,
        })
        self.assertEqual(kinds["license"].related, {
            "site_license_usage_log rows": 1, "projects site_license entries": 1, "site_licenses rows": 1,
        })
        self.assertEqual(kinds["event"].related, {
            "user_tracking rows": 1, "client_error_log rows": 1, "webapp_errors rows": 1,
            "jupyter_api_cache rows": 1, "jupyter_api_log rows": 1,
        })
        printed = self.out.getvalue()
        self.assertIn(f"{PREFIX} accounts: 3 deleted, 1 already gone, 0 failed", printed)
        self.assertIn(f"{PREFIX} projects: 3 deleted, 1 already gone, 0 failed", printed)
        self.assertIn(f"{PREFIX} events: 2 deleted, 1 already gone, 0 failed", printed)
        self.assertNotIn("skipped", printed)
        self.assertReportQuiet(report)

    def test_untracked_rows_are_byte_identical_except_membership_edits(self) -> None:
        before = snapshot(self.conn)
        self.assertTrue(self.cleaner().run(stop=False).complete)
        after = snapshot(self.conn)
        tracked_accounts = self.ids("TA1", "TA2", "TA3", "TA_GONE")
        for table, labels in SURVIVORS.items():
            for label in labels:
                key = self.world[label]
                if label in EDITED:
                    self.assertNotEqual(after[table][key], before[table][key], f"{label} should have lost members")
                    self.assertEqual(json.loads(after[table][key]),
                                     without_members(before[table][key], tracked_accounts, self.ids("L1")), label)
                else:
                    self.assertEqual(after[table][key], before[table][key], f"{label} changed")
        self.assertSideRows(before, after)
        # Spelled out for a few rows:
        pp = json.loads(after["projects"][self.world["PP"]])
        self.assertEqual(pp["users"], {self.world["KEY"]: owner(), self.world["UA1"]: collaborator()})
        p_ua2 = json.loads(after["projects"][self.world["P_UA2"]])
        self.assertEqual(p_ua2["site_license"], {self.world["L_UNTRACKED"]: {}})
        uo1 = json.loads(after["organizations"][self.world["UO1"]])
        self.assertEqual(uo1["admin_account_ids"], [self.world["UA1"]])
        uo3 = json.loads(after["organizations"][self.world["UO3"]])
        self.assertEqual(uo3["users"], [self.world["UA3"]])

    def test_the_sweep_of_a_tracked_accounts_projects_spares_a_protected_project_it_owns(self) -> None:
        before = snapshot(self.conn)
        report = self.cleaner().run(stop=False)
        after = snapshot(self.conn)
        pp = self.world["PP"]
        self.assertIn(pp, after["projects"], "the protected project went with its co-owner TA1")
        self.assertNotIn(pp, report.kinds["account"].owned_projects)
        self.assertEqual(set(report.kinds["account"].owned_projects), self.ids(*OWNED))
        self.assertIn(self.world["K_PP"], after["api_keys"])
        for table, label in (("project_log", "PL_PP"), ("file_use", "FU_PP"), ("listings", "LS_PP"),
                             ("syncstrings", "SS_PP"), ("patches", "PA_PP_1"), ("jupyter_api_log", "JL_PP")):
            self.assertTrue(after[table][self.world.kept[table][label]], f"{label} of the protected project went")
        self.assertEqual(json.loads(after["projects"][pp]), without_members(before["projects"][pp], self.ids("TA1"), set()))

    def test_protected_ids_are_never_deleted(self) -> None:
        before = snapshot(self.conn)
        cleaner = self.cleaner()
        cleaner.protect(account_ids=[self.world["TA3"], None], project_ids=[self.world["TP1"]])
        report = cleaner.run()
        after = snapshot(self.conn)
        for label in ("TA3", "P_TA3_FIRST", "K_TA3", "K_TP1", "M_TO_TA3", "KEY", "P_KEY"):
            table = self.world.table[label]
            self.assertEqual(after[table].get(self.world[label]), before[table][self.world[label]], label)
        # The protected projects stay, losing only tracked members and the tracked license.
        for label in ("TP1", "PP"):
            self.assertEqual(json.loads(after["projects"][self.world[label]]),
                             without_members(before["projects"][self.world[label]], self.ids("TA1", "TA2"), self.ids("L1")))
        for table, label in (("project_log", "PL_TP1"), ("listings", "LS_TP1"), ("remember_me", "RM_KEY"),
                             ("user_tracking", "UT_TA3"), ("syncstrings", "SS_OWNED")):
            row = self.world.gone.get(table, {}).get(label) or self.world.kept[table][label]
            self.assertTrue(after[table][row], f"{label} of a protected id went")
        self.assertEqual(set(report.kinds["account"].deleted), self.ids("TA1", "TA2"))
        self.assertEqual(set(report.kinds["project"].deleted), self.ids("TP2", "TP3"))
        self.assertEqual(report.kinds["account"].protected, 1)
        self.assertEqual(report.kinds["project"].protected, 1)
        self.assertNotIn(self.world["P_TA3_FIRST"], report.kinds["account"].owned_projects)
        self.assertNotIn(self.world["TP1"], self.server.calls)
        # The protected collaborator stays on P_UA3; the unprotected one is removed.
        p_ua3 = json.loads(after["projects"][self.world["P_UA3"]])
        self.assertEqual(set(p_ua3["users"]), self.ids("UA3", "TA3"))
        self.assertTrue(report.complete)
        self.assertIn("1 protected, left alone", self.out.getvalue())

    # cases: stopping

    def test_exit_stops_only_live_tracked_projects_all_at_once(self) -> None:
        self.server.gather = len(LIVE)
        report = self.cleaner().run()
        # TP3 is opened, TP_GONE has no row; P_KEY runs but is not tracked; PP runs but is protected;
        # a tracked account's own projects are deleted without a stop (the suite never starts them).
        self.assertEqual(Counter(self.server.calls), Counter(self.ids(*LIVE)))
        self.assertEqual(self.server.most_in_flight, len(LIVE), "the stops were not made at once")
        self.assertEqual(self.server.keys, {pgsupport.API_KEY})
        self.assertEqual(set(report.stopped), self.ids(*LIVE))
        self.assertEqual((report.stopping, report.stop_failures), ([], {}))
        self.assertTrue(report.complete)
        self.assertIn(f"{PREFIX} projects stopped: {len(LIVE)}\n", self.out.getvalue())

    def test_a_stop_that_does_not_answer_in_time_is_left_to_go_on(self) -> None:
        self.server.slow[self.world["TP1"]] = 3.0
        started = time.monotonic()
        report = self.cleaner(stop_timeout=0.5).run()
        self.assertLess(time.monotonic() - started, 2.5, "the cleaner waited for the slow stop")
        self.assertEqual(report.stopping, [self.world["TP1"]])
        self.assertEqual(report.stopped, [self.world["TP2"]])
        self.assertEqual(report.stop_failures, {})
        self.assertIn(self.world["TP1"], report.kinds["project"].deleted)
        self.assertTrue(report.complete)
        self.assertIn("1 still stopping (no answer in time; CoCalc goes on)", self.out.getvalue())

    def test_a_failing_stop_is_reported_and_deletion_goes_on(self) -> None:
        self.server.failing.add(self.world["TP1"])
        report = self.cleaner().run()
        self.assertEqual(set(report.stop_failures), self.ids("TP1"))
        self.assertIn("project is not running", report.stop_failures[self.world["TP1"]])
        self.assertIn(self.world["TP1"], report.kinds["project"].deleted)
        self.assertTrue(report.complete)
        self.assertIn("1 could not be stopped", self.out.getvalue())

    def test_stop_false_calls_no_stop(self) -> None:
        report = self.cleaner().run(stop=False)
        self.assertEqual(self.server.calls, [])
        self.assertEqual(report.stopped, [])
        self.assertTrue(report.complete)

    # cases: runs

    def test_dry_run_changes_nothing_and_reports_what_it_would_delete(self) -> None:
        before = snapshot(self.conn)
        cleaner = self.cleaner()
        dry = cleaner.run(dry_run=True)
        self.assertUnchanged(before)
        self.assertEqual(self.server.calls, [])
        self.assertTrue(dry.dry_run)
        self.assertFalse(dry.complete)
        self.assertEqual(set(dry.kinds["account"].deleted), self.ids("TA1", "TA2", "TA3"))
        self.assertEqual(set(dry.kinds["account"].owned_projects), self.ids(*OWNED))
        self.assertEqual(set(dry.stopped), self.ids(*LIVE))
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
        calls = list(self.server.calls)
        # Re-create a tracked account: a second run must not touch it.
        self.conn.run("INSERT INTO accounts (account_id, first_name) VALUES (CAST(:a AS uuid), 'back')",
                      a=self.world["TA1"])
        second = cleaner.run()
        self.assertIs(second, first)
        self.assertEqual(self.server.calls, calls)
        self.assertEqual(self.out.getvalue(), printed)
        self.assertIn(self.world["TA1"], snapshot(self.conn)["accounts"])

    def test_only_ids_already_gone(self) -> None:
        tracker = Tracker()
        for label, kind in (("TA_GONE", "account"), ("TP_GONE", "project"), ("TO_GONE", "organization"),
                            ("M_GONE", "message"), ("K_GONE", "api_key"), ("L_GONE", "license"), ("EV_GONE", "event")):
            tracker.add(kind, self.world[label])
        before = snapshot(self.conn)
        report = self.cleaner(tracker=tracker).run()
        self.assertUnchanged(before)
        self.assertTrue(report.complete)
        for kind, entry in report.kinds.items():
            self.assertEqual((entry.deleted, entry.already_gone, entry.failed), ([], 1, 0), kind)
        self.assertEqual(self.server.calls, [])

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
        self.assertEqual(self.server.calls, [])
        self.assertEqual(self.out.getvalue(), "")

    # cases: schemas

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
        self.assertEqual(self.server.calls, [])
        self.assertEqual(report.stopped, [])
        for kind, labels in TRACKED.items():
            self.assertEqual(report.kinds[kind].deleted, [], kind)
            self.assertEqual(report.kinds[kind].failed, len(labels), kind)
        self.assertIn("nothing deleted: The cleanup database does not look like CoCalc's", self.out.getvalue())
        self.assertNoSecrets(str(caught.exception))
        self.assertReportQuiet(report)

    def test_side_tables_the_server_lacks_are_skipped_and_said_once(self) -> None:
        self.conn.run("ALTER TABLE listings RENAME TO listings_elsewhere")
        self.addCleanup(self.conn.run, "ALTER TABLE listings_elsewhere RENAME TO listings")
        self.conn.run("ALTER TABLE jupyter_api_log RENAME COLUMN tag TO tag_elsewhere")
        self.addCleanup(self.conn.run, "ALTER TABLE jupyter_api_log RENAME COLUMN tag_elsewhere TO tag")
        cleaner = self.cleaner()
        cleaner.preflight()
        report = cleaner.run(stop=False)
        self.assertTrue(report.complete, report.lines())
        self.assertEqual(report.skipped, {"listings": "no such table", "jupyter_api_log.tag": "no such column"})
        printed = self.out.getvalue()
        self.assertEqual(printed.count("skipped"), 1, printed)
        self.assertIn("not on this server, so skipped: listings (no such table), jupyter_api_log.tag (no such column)",
                      printed)
        # The other side rows still go: of the executions, only the tagged one (found by its tag) stays.
        hashes = lambda table: sorted(r[0] for r in self.conn.run(f"SELECT hash FROM {table}"))  # noqa: E731
        self.assertEqual(hashes("jupyter_api_log"), ["h-pool", "h-pp", "h-shared", "h-tagged"])
        self.assertEqual(hashes("jupyter_api_cache"), ["h-orphan", "h-pool", "h-pp", "h-shared", "h-tagged"])
        self.assertEqual(self.conn.run("SELECT count(*) FROM listings_elsewhere")[0][0], 2)
        self.assertEqual(report.kinds["event"].deleted and set(report.kinds["event"].deleted), self.ids("EV1", "EV2"))

    # cases: failures

    def test_invalid_tracked_ids_fail_alone(self) -> None:
        bad = {"project": "not-a-uuid", "account": "x' OR true --", "organization": "", "message": "-3",
               "api_key": "0", "license": "lic-1", "event": "has space"}
        for kind, value in bad.items():
            self.tracker.add(kind, value)
        self.tracker.add("event", "short")
        before = snapshot(self.conn)
        report = self.cleaner().run(stop=False)
        self.assertFalse(report.complete)
        for kind, value in bad.items():
            entry = report.kinds[kind]
            self.assertEqual(entry.failed, 2 if kind == "event" else 1, kind)
            self.assertIn(f"not a valid {kind} id", entry.error)
            self.assertEqual(len(entry.deleted), len(TRACKED[kind]) - 1, kind)
        after = snapshot(self.conn)
        self.assertSideRows(before, after)
        for table, labels in SURVIVORS.items():
            self.assertEqual(set(after[table]), self.ids(*labels), table)

    def test_a_failing_kind_is_rolled_back_and_the_others_go_on(self) -> None:
        # The server refuses to delete accounts, echoing both secrets in its message (a trigger stands in for
        # any server-side refusal).  The account kind must roll back entirely, be tried once (a refusal is
        # permanent), and the kinds after it must still run.
        secret = " ".join(self.secrets())
        self.conn.run("CREATE SEQUENCE refusals")
        self.conn.run(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('refusals'); "
            f"RAISE EXCEPTION 'no deleting accounts for %', {_literal(secret)}; END $$"
        )
        self.conn.run("CREATE TRIGGER refuse BEFORE DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION refuse()")
        self.addCleanup(self.conn.run, "DROP SEQUENCE IF EXISTS refusals")
        self.addCleanup(self.conn.run, "DROP FUNCTION IF EXISTS refuse() CASCADE")
        before = snapshot(self.conn)
        report = self.cleaner().run(stop=False)
        after = snapshot(self.conn)
        self.assertFalse(report.complete)
        entry = report.kinds["account"]
        self.assertEqual((entry.deleted, entry.failed, entry.owned_projects, entry.related), ([], 4, [], {}))
        self.assertIn("no deleting accounts for", entry.error)
        self.assertIn("<redacted>", entry.error)
        self.assertEqual(self.conn.run("SELECT last_value FROM refusals")[0][0], 1, "a refusal was retried")
        # Nothing of the account kind happened: owned projects, memberships, side rows all back.
        for label in ("TA1", "P_TA1_FIRST", "P_UA1", "UO1", "M_FROM_TA1", "AT_TA1", "K_TA1"):
            table = self.world.table[label]
            self.assertEqual(after[table][self.world[label]], before[table][self.world[label]], label)
        for table, label in (("central_log", "CL_TOKEN_TA1"), ("password_reset", "PR_TA2"), ("project_log", "PL_OWNED")):
            self.assertTrue(after[table][self.world.gone[table][label]], f"{label} was not rolled back")
        # The kinds after it ran.
        for kind, labels in (("organization", ["TO1"]), ("message", ["M_TRACKED"]), ("api_key", ["K_TRACKED"]),
                             ("license", ["L1"]), ("event", ["EV1", "EV2"])):
            self.assertEqual(set(report.kinds[kind].deleted), self.ids(*labels), kind)
            self.assertEqual(report.kinds[kind].failed, 0, kind)
        self.assertEqual(set(report.kinds["project"].deleted), self.ids("TP1", "TP2", "TP3"))
        self.assertReportQuiet(report)

    def test_a_held_lock_fails_its_kind_after_the_lock_timeout(self) -> None:
        holder = self.database.connect()
        self.addCleanup(holder.close)
        holder.run("BEGIN")
        holder.run("SELECT 1 FROM messages WHERE id = :m FOR UPDATE", m=int(self.world["M_TRACKED"]))
        started = time.monotonic()
        report = self.cleaner(connect=lambda c: db.connect(c, lock_timeout=0.3)).run(stop=False)
        self.assertLess(time.monotonic() - started, 5.0)
        holder.run("ROLLBACK")
        entry = report.kinds["message"]
        self.assertEqual((entry.deleted, entry.failed), ([], 2))
        self.assertIn("lock timeout", entry.error)
        self.assertEqual(set(report.kinds["organization"].deleted), self.ids("TO1"))
        self.assertEqual(set(report.kinds["event"].deleted), self.ids("EV1", "EV2"))
        self.assertIn(self.world["M_TRACKED"], snapshot(self.conn)["messages"])

    def test_a_lock_released_during_the_wait_is_retried_once(self) -> None:
        holder = self.database.connect()
        self.addCleanup(holder.close)
        holder.run("BEGIN")
        holder.run("SELECT 1 FROM messages WHERE id = :m FOR UPDATE", m=int(self.world["M_TRACKED"]))
        release = threading.Timer(0.5, holder.run, args=("ROLLBACK",))
        release.start()
        self.addCleanup(release.join)
        started = time.monotonic()
        report = self.cleaner(connect=lambda c: db.connect(c, lock_timeout=0.3)).run(stop=False)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertTrue(report.complete, report.lines())
        self.assertEqual(report.kinds["message"].deleted, [self.world["M_TRACKED"]])

    def test_a_lost_connection_fails_the_rest_with_one_line(self) -> None:
        admin = self.database.connect()
        self.addCleanup(admin.close)

        def connect(config: Config) -> Any:
            return Terminating(db.connect(config), admin, "DELETE FROM organizations")

        report = self.cleaner(connect=connect).run(stop=False)
        self.assertFalse(report.complete)
        self.assertIn("the database connection was lost during the organizations", report.lost)
        self.assertIn("messages, api_keys, licenses, events were not cleaned up", report.lost)
        self.assertEqual(set(report.kinds["project"].deleted), self.ids("TP1", "TP2", "TP3"))
        self.assertEqual(set(report.kinds["account"].deleted), self.ids("TA1", "TA2", "TA3"))
        for kind in ("organization", "message", "api_key", "license", "event"):
            self.assertEqual(report.kinds[kind].deleted, [], kind)
            self.assertEqual(report.kinds[kind].failed, len(TRACKED[kind]), kind)
        printed = self.out.getvalue()
        self.assertEqual(printed.count("connection was lost during"), 1, printed)
        self.assertNotIn("Traceback", printed)
        after = snapshot(self.conn)
        self.assertIn(self.world["TO1"], after["organizations"])
        self.assertNotIn(self.world["TA1"], after["accounts"])

    def test_preflight_names_every_missing_privilege(self) -> None:
        role = f"{pgsupport.PREFIX}role_{secrets.token_hex(4)}"
        self.conn.run(f'CREATE ROLE "{role}" NOLOGIN')
        self.addCleanup(self.conn.run, f'DROP ROLE IF EXISTS "{role}"')
        self.conn.run(f'GRANT SELECT, DELETE, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}"')
        self.addCleanup(self.conn.run, f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')

        def connect(config: Config) -> Any:
            conn = db.connect(config)
            conn.run(f'SET ROLE "{role}"')
            return conn

        self.cleaner(connect=connect).preflight()  # everything granted
        self.conn.run(f'REVOKE DELETE ON central_log FROM "{role}"')
        self.conn.run(f'REVOKE UPDATE ON organizations FROM "{role}"')
        self.conn.run(f'REVOKE SELECT ON accounts FROM "{role}"')
        with self.assertRaises(DatabaseError) as caught:
            self.cleaner(connect=connect).preflight()
        text = str(caught.exception)
        for missing in ("DELETE on central_log", "UPDATE on organizations", "SELECT on accounts"):
            self.assertIn(missing, text)
        self.assertNotIn("DELETE on projects", text)
        self.assertIn("Nothing was deleted", text)

    # cases: secrets

    def test_secrets_the_database_echoes_are_redacted(self) -> None:
        # PostgreSQL repeats the database and user names it refuses: put the secrets into them.
        for overrides in ({"pgdatabase": f"db-{self.config.api_key}"},
                          {"pguser": f"u-{self.config.pgpassword or self.config.api_key}"}):
            config = dataclasses.replace(self.config, **overrides)
            with self.assertRaises(DatabaseError) as caught:
                self.cleaner(config).preflight()
            text = str(caught.exception)
            self.assertIn("<redacted>", text)
            self.assertNoSecrets(text)
            report = self.cleaner(config).run()
            self.assertIn("<redacted>", report.error)
            self.assertReportQuiet(report)
        self.assertEqual(db.scrub(f"a {self.config.api_key} b", self.config), "a <redacted> b")

    def test_timeouts_are_set_on_every_connection(self) -> None:
        conn = db.connect(self.config)
        try:
            self.assertEqual(conn.run("SHOW lock_timeout")[0][0], f"{int(db.LOCK_TIMEOUT)}s")
            self.assertEqual(conn.run("SHOW statement_timeout")[0][0], f"{int(db.STATEMENT_TIMEOUT) // 60}min")
        finally:
            conn.close()
        conn = db.connect(self.config, statement_timeout=0.2)
        try:
            with self.assertRaises(Exception) as caught:
                conn.run("SELECT pg_sleep(2)")
            self.assertEqual(db.sqlstate(caught.exception), "57014")  # cancelled by the server, not the socket
        finally:
            conn.close()

    # cases: intents

    def test_intents_are_resolved_by_their_unique_value(self) -> None:
        w = self.world
        tag = secrets.token_hex(4)
        title, email, org, subject, key_name = (f"intent-{what}-{tag}" for what in ("project", "user", "org", "subject", "key"))
        w.project("IP", {"KEY": owner()}, title)
        w.project("IP_DECOY", {"UA1": owner()}, title)                 # same title, not the key owner's
        w.account("IA", email=f"{email}@test.local")
        w.project("IA_FIRST", {"IA": owner()}, "My First Project", state="opened")
        w.org("IO", None, None, name=org)
        w.message("IM", "KEY", ["UA1"], subject=subject)
        w.message("IM_DECOY", "UA1", ["UA2"], subject=subject)          # same subject, another sender
        w.api_key("IK", "KEY", "P_KEY", name=key_name)
        w.api_key("IK_DECOY", "KEY", "PP", name=key_name)               # same name, another project
        intents = [
            self.tracker.intend("project", title=title),
            self.tracker.intend("account", email=f"{email}@test.local"),
            self.tracker.intend("organization", name=org),
            self.tracker.intend("message", subject=subject),
            self.tracker.intend("api_key", name=key_name, project_id=w["P_KEY"]),
        ]
        never = self.tracker.intend("organization", name=f"never-created-{tag}")
        protected = self.tracker.intend("project", title="COCALC_PROJECT_ID, co-owned by TA1")
        refused = self.tracker.intend("organization", name=self.conn.run(
            "SELECT name FROM organizations WHERE organization_id = :o", o=w["UO2"])[0][0])
        self.tracker.abandon(refused)
        before = snapshot(self.conn)
        report = self.cleaner().run()
        after = snapshot(self.conn)
        self.assertTrue(report.complete, report.lines())
        self.assertEqual(sorted((i.serial, rid) for i, rid in report.resolved),
                         sorted(zip([i.serial for i in intents], [w[x] for x in ("IP", "IA", "IO", "IM", "IK")])))
        self.assertEqual(sorted(i.serial for i in report.not_found), sorted([never.serial, protected.serial]))
        for label in ("IP", "IA", "IA_FIRST", "IO", "IM", "IK"):
            self.assertNotIn(w[label], after[w.table[label]], f"{label} was not resolved and deleted")
        for label in ("IP_DECOY", "IM_DECOY", "IK_DECOY", "P_KEY", "UO2"):
            self.assertEqual(after[w.table[label]][w[label]], before[w.table[label]][w[label]], label)
        self.assertIn(w["IP"], self.server.calls, "a resolved running project was not stopped")
        self.assertEqual([i.serial for i in self.tracker.unresolved()], sorted([never.serial, protected.serial]))
        self.assertIn(w["IA"], self.tracker.ids("account"))
        self.assertIn(f"{PREFIX} resolved 5 intents (found by the unique value their call carried), 2 not found",
                      self.out.getvalue())

    def test_an_intent_without_its_lookup_value_fails_its_kind(self) -> None:
        tracker = Tracker()
        tracker.intend("api_key", name="some-key", project_id="not-a-uuid")
        tracker.intend("project", label="no title")
        report = self.cleaner(tracker=tracker).run(stop=False)
        self.assertFalse(report.complete)
        self.assertEqual(report.kinds["api_key"].failed, 1)
        self.assertIn("cannot be looked up", report.kinds["api_key"].error)
        self.assertEqual(report.kinds["project"].failed, 1)

    def test_intents_in_a_dry_run_are_reported_not_tracked(self) -> None:
        title = f"intent-dry-{secrets.token_hex(4)}"
        self.world.project("IP", {"KEY": owner()}, title)
        self.tracker.intend("project", title=title)
        before = snapshot(self.conn)
        dry = self.cleaner().run(dry_run=True)
        self.assertUnchanged(before)
        self.assertEqual([rid for _, rid in dry.resolved], [self.world["IP"]])
        self.assertIn(self.world["IP"], dry.kinds["project"].deleted)
        self.assertNotIn(self.world["IP"], self.tracker.ids("project"))
        self.assertEqual(len(self.tracker.unresolved()), 1)


class Terminating:
    """A connection whose server process is ended (by *admin*) just before the first statement containing *trigger*."""

    def __init__(self, conn: Any, admin: Any, trigger: str) -> None:
        self.conn, self.admin, self.trigger = conn, admin, trigger
        self.pid = conn.run("SELECT pg_backend_pid()")[0][0]

    def run(self, sql: str, **params: Any) -> Any:
        if self.trigger and self.trigger in sql:
            self.trigger = ""
            self.admin.run("SELECT pg_terminate_backend(:p)", p=self.pid)
            deadline = time.monotonic() + 5
            while self.admin.run("SELECT count(*) FROM pg_stat_activity WHERE pid = :p", p=self.pid)[0][0]:
                if time.monotonic() > deadline:
                    raise AssertionError("the backend did not end")
                time.sleep(0.02)
        return self.conn.run(sql, **params)

    def close(self) -> None:
        self.conn.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
        self.assertEqual(self.server.calls, [])
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
        self.tracker.intend("organization", name="in-flight")
        self.hub = Hub(pgsupport.API_KEY, "http://127.0.0.1:9")
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
        self.assertEqual(report.stopped, [])
        self.assertEqual(report.kinds["project"].failed, 1)
        self.assertEqual(report.kinds["account"].failed, 1)
        self.assertEqual(report.kinds["organization"].failed, 1)  # the unresolved intent


if __name__ == "__main__":
    unittest.main()
