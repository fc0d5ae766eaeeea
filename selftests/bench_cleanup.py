"""Benchmark of the cleaner's hard delete on a realistically large run (not a unit test).

    .venv/bin/python selftests/bench_cleanup.py [--strict]

Seeds a fresh database (CoCalc's tables) with bulk SQL: 1,000 tracked projects,
300 tracked accounts (each owning a first project, collaborating on an untracked
project and a tracked one, with API keys, auth tokens and messages), 100 tracked
organizations (plus 100 tracked messages), and about as many untracked rows, several of
which list tracked accounts as members or admins.  Then times
``Cleaner.run(stop=False)``, prints the figures, checks every untracked row
survived (unchanged but for the removed tracked members) and drops the database.

Exit status: 0 when the untracked rows survived and every tracked row is gone (with
``--strict`` the time must also be under the target), 1 otherwise, 2 without PostgreSQL.
"""
import io
import os
import sys
import time
import unittest
import uuid
from typing import Any, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cocalc_api_tests.cleanup import Cleaner  # noqa: E402
from cocalc_api_tests.tracking import Tracker  # noqa: E402

import pgsupport  # noqa: E402

TRACKED_PROJECTS = 1000
TRACKED_ACCOUNTS = 300
TRACKED_ORGS = 100
TRACKED_MESSAGES = 100
#: Seconds the hard delete should take at most.
TARGET_SECONDS = 2.0

TABLES = ("accounts", "projects", "organizations", "messages", "api_keys", "auth_tokens")


def new_ids(n: int) -> List[str]:
    """*n* fresh UUIDs as text."""
    return [str(uuid.uuid4()) for _ in range(n)]


class NullHub:
    """A hub whose ``projects.stop`` must not be called (the benchmark runs with stop=False)."""

    class projects:  # noqa: N801 - mirrors hub.projects
        @staticmethod
        def stop(project_id: str) -> None:
            raise AssertionError("stop=False must not stop projects")


def seed(conn: Any) -> Dict[str, List[str]]:
    """Insert the tracked and untracked rows in a few bulk statements; return the ids by role."""
    n_acc, n_proj, n_org = TRACKED_ACCOUNTS, TRACKED_PROJECTS, TRACKED_ORGS
    ids = {
        "key": new_ids(1),                      # the API key's account: untracked, owns the tracked projects
        "ta": new_ids(n_acc), "ua": new_ids(n_acc),
        "tp": new_ids(n_proj), "up": new_ids(n_proj),
        "ta_first": new_ids(n_acc), "ua_first": new_ids(n_acc),
        "to": new_ids(n_org), "uo": new_ids(n_org),
    }
    conn.run("BEGIN")
    conn.run(
        "INSERT INTO accounts (account_id, created, email_address, first_name, last_name, other_settings, "
        "last_active, tags) SELECT a, NOW(), 'bench-' || i || '-' || left(a::text, 8) || '@example.com', "
        "'Bench' || i, 'User', '{\"katex\": true}'::jsonb, NOW(), ARRAY['bench'] "
        "FROM unnest(CAST(:a AS uuid[])) WITH ORDINALITY AS t(a, i)",
        a=ids["key"] + ids["ta"] + ids["ua"],
    )
    owner, collab = "'{\"group\": \"owner\"}'::jsonb", "'{\"group\": \"collaborator\"}'::jsonb"
    project_columns = ("INSERT INTO projects (project_id, title, description, users, created, last_edited, "
                       "state, compute_image, deleted) ")
    project_tail = ", NOW(), NOW(), '{\"state\": \"opened\"}'::jsonb, 'ubuntu2204', false "
    # Tracked projects: owned by the key's account, one tracked collaborator each.
    conn.run(
        project_columns + "SELECT p, 'tracked ' || i, 'bench', "
        f"jsonb_build_object(CAST(:k AS text), {owner}, (CAST(:ta AS text[]))[1 + (i - 1) % :na], {collab})"
        + project_tail + "FROM unnest(CAST(:p AS uuid[])) WITH ORDINALITY AS t(p, i)",
        p=ids["tp"], k=ids["key"][0], ta=ids["ta"], na=n_acc,
    )
    # Untracked projects: owned by untracked accounts; the first n_acc have a tracked collaborator.
    conn.run(
        project_columns + "SELECT p, 'untracked ' || i, 'bench', "
        f"jsonb_build_object((CAST(:ua AS text[]))[1 + (i - 1) % :na], {owner}, "
        f"CASE WHEN i <= :na THEN (CAST(:ta AS text[]))[i] ELSE (CAST(:ua AS text[]))[1 + i % :na] END, {collab})"
        + project_tail + "FROM unnest(CAST(:p AS uuid[])) WITH ORDINALITY AS t(p, i)",
        p=ids["up"], ua=ids["ua"], ta=ids["ta"], na=n_acc,
    )
    # Every account's first project.
    for projects, accounts in (("ta_first", "ta"), ("ua_first", "ua")):
        conn.run(
            project_columns + f"SELECT p, 'My First Project', 'bench', jsonb_build_object(a::text, {owner})"
            + project_tail + "FROM unnest(CAST(:p AS uuid[]), CAST(:a AS uuid[])) AS t(p, a)",
            p=ids[projects], a=ids[accounts],
        )
    # Organizations: tracked ones with tracked and untracked admins; untracked ones likewise.
    conn.run(
        "INSERT INTO organizations (organization_id, created, name, title, users, admin_account_ids) "
        "SELECT o, NOW(), 'bench-' || left(o::text, 13), 'Bench org ' || i, "
        "jsonb_build_object(t1::text, '{\"role\": \"admin\"}'::jsonb, u1::text, '{\"role\": \"member\"}'::jsonb), "
        "ARRAY[t1, u1] "
        "FROM unnest(CAST(:o AS uuid[]), CAST(:t AS uuid[]), CAST(:u AS uuid[])) WITH ORDINALITY AS x(o, t1, u1, i)",
        o=ids["to"] + ids["uo"], t=(ids["ta"][:n_org] * 2), u=(ids["ua"][:n_org] * 2),
    )
    # Messages: sent by tracked accounts; to tracked accounts only; between untracked accounts;
    # mixed recipients; and the tracked ones (key's account to untracked accounts).
    conn.run(
        "INSERT INTO messages (sent, from_id, to_ids, subject, body) "
        "SELECT NOW(), f, ARRAY[u], 'bench', 'body' FROM unnest(CAST(:f AS uuid[]), CAST(:u AS uuid[])) AS x(f, u)",
        f=ids["ta"], u=ids["ua"],
    )
    conn.run(
        "INSERT INTO messages (sent, from_id, to_ids, subject, body) "
        "SELECT NOW(), u1, to_ids, 'bench', 'body' FROM unnest(CAST(:t AS uuid[]), CAST(:u AS uuid[]), "
        "CAST(:u2 AS uuid[])) AS x(t1, u1, u2), "
        "LATERAL (VALUES (ARRAY[t1]), (ARRAY[u2]), (ARRAY[t1, u2])) AS v(to_ids)",
        t=ids["ta"], u=ids["ua"], u2=ids["ua"][1:] + ids["ua"][:1],
    )
    tracked_messages = conn.run(
        "INSERT INTO messages (sent, from_id, to_ids, subject, body) "
        "SELECT NOW(), CAST(:k AS uuid), ARRAY[u], 'tracked', 'body' FROM unnest(CAST(:u AS uuid[])) AS x(u) "
        "RETURNING id::text",
        k=ids["key"][0], u=ids["ua"][:TRACKED_MESSAGES],
    )
    ids["tm"] = [r[0] for r in tracked_messages]
    # API keys: per account, per tracked project, per first project, per untracked project.
    conn.run(
        "INSERT INTO api_keys (account_id, project_id, created, hash, name, trunc) "
        "SELECT a, p, NOW(), 'sha512$bench', 'bench', 'sk-bench' "
        "FROM unnest(CAST(:a AS uuid[]), CAST(:p AS uuid[])) AS x(a, p)",
        a=ids["ta"] + ids["ua"] + [ids["key"][0]] * n_proj + ids["ta"] + ids["ua"][:1] * n_proj,
        p=[None] * (2 * n_acc) + ids["tp"] + ids["ta_first"] + ids["up"],
    )
    conn.run(
        "INSERT INTO auth_tokens (auth_token, account_id, expire, created) "
        "SELECT left(replace(a::text, '-', ''), 24), a, NOW() + interval '1 hour', NOW() "
        "FROM unnest(CAST(:a AS uuid[])) AS x(a)",
        a=ids["ta"] + ids["ua"],
    )
    conn.run("COMMIT")
    conn.run("ANALYZE")
    return ids


def survivors(conn: Any, ids: Dict[str, List[str]]) -> Dict[str, Tuple[int, str]]:
    """Per table: (count, md5 of every untracked row), with tracked accounts left out of member lists."""
    tracked = ids["ta"]
    queries = {
        "accounts": "SELECT row_to_json(t)::text AS r FROM accounts t WHERE NOT account_id = ANY(CAST(:ta AS uuid[]))",
        "projects": "SELECT ((to_jsonb(t) - 'users') || jsonb_build_object('users', users - CAST(:ta AS text[])))::text "
                    "AS r FROM projects t WHERE project_id = ANY(CAST(:keep AS uuid[]))",
        "organizations": "SELECT ((to_jsonb(t) - 'users' - 'admin_account_ids') || jsonb_build_object('users', "
                         "users - CAST(:ta AS text[]), 'admins', ARRAY(SELECT x FROM unnest(admin_account_ids) x "
                         "WHERE NOT x = ANY(CAST(:ta AS uuid[]))))) ::text AS r FROM organizations t "
                         "WHERE organization_id = ANY(CAST(:uo AS uuid[]))",
        "messages": "SELECT row_to_json(t)::text AS r FROM messages t WHERE NOT from_id = ANY(CAST(:ta AS uuid[])) "
                    "AND NOT to_ids <@ CAST(:ta AS uuid[]) AND NOT id = ANY(CAST(:tm AS int[]))",
        "api_keys": "SELECT row_to_json(t)::text AS r FROM api_keys t WHERE NOT COALESCE(account_id = ANY(CAST(:ta AS uuid[])), false) "
                    "AND NOT COALESCE(project_id = ANY(CAST(:gone AS uuid[])), false)",
        "auth_tokens": "SELECT row_to_json(t)::text AS r FROM auth_tokens t WHERE NOT account_id = ANY(CAST(:ta AS uuid[]))",
    }
    params = {"ta": tracked, "keep": ids["up"] + ids["ua_first"], "uo": ids["uo"], "tm": [int(m) for m in ids["tm"]],
              "gone": ids["tp"] + ids["ta_first"]}
    result = {}
    for table, sql in queries.items():
        names = [n for n in params if f":{n}" in sql]
        row = conn.run(f"SELECT count(*), md5(COALESCE(string_agg(r, E'\\n' ORDER BY r), '')) FROM ({sql}) AS s",
                       **{n: params[n] for n in names})[0]
        result[table] = (row[0], row[1])
    return result


def count_rows(conn: Any) -> Dict[str, int]:
    """Rows per table."""
    return {table: conn.run(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


def leftovers(conn: Any, ids: Dict[str, List[str]]) -> int:
    """Tracked rows (and rows naming tracked accounts) still present: should be 0."""
    return conn.run(
        "SELECT (SELECT count(*) FROM projects WHERE project_id = ANY(CAST(:gone AS uuid[])) "
        "        OR users ?| CAST(:ta AS text[])) "
        "     + (SELECT count(*) FROM accounts WHERE account_id = ANY(CAST(:ta AS uuid[]))) "
        "     + (SELECT count(*) FROM organizations WHERE organization_id = ANY(CAST(:to AS uuid[])) "
        "        OR admin_account_ids && CAST(:ta AS uuid[]) OR users ?| CAST(:ta AS text[])) "
        "     + (SELECT count(*) FROM messages WHERE id = ANY(CAST(:tm AS int[])) OR from_id = ANY(CAST(:ta AS uuid[]))) "
        "     + (SELECT count(*) FROM api_keys WHERE account_id = ANY(CAST(:ta AS uuid[])) "
        "        OR project_id = ANY(CAST(:gone AS uuid[]))) "
        "     + (SELECT count(*) FROM auth_tokens WHERE account_id = ANY(CAST(:ta AS uuid[])))",
        gone=ids["tp"] + ids["ta_first"], ta=ids["ta"], to=ids["to"], tm=[int(m) for m in ids["tm"]],
    )[0][0]


def main(argv: List[str]) -> int:
    strict = "--strict" in argv
    try:
        database = pgsupport.socket_database()
    except unittest.SkipTest as err:
        print(f"benchmark skipped: {err}")
        return 2
    try:
        conn = database.connect()
        try:
            started = time.monotonic()
            ids = seed(conn)
            seeded = time.monotonic() - started
            before_counts = count_rows(conn)
            before = survivors(conn, ids)
            tracker = Tracker()
            for kind, key in (("project", "tp"), ("account", "ta"), ("organization", "to"), ("message", "tm")):
                for resource_id in ids[key]:
                    tracker.add(kind, resource_id)
            out = io.StringIO()
            cleaner = Cleaner(database.config(), NullHub(), tracker, out=out)
            cleaner.preflight()
            started = time.monotonic()
            report = cleaner.run(stop=False)
            seconds = time.monotonic() - started
            after_counts = count_rows(conn)
            after = survivors(conn, ids)
            left = leftovers(conn, ids)
        finally:
            conn.close()
    finally:
        database.drop()

    deleted = {t: before_counts[t] - after_counts[t] for t in TABLES}
    print(f"seeded {sum(before_counts.values())} rows in {seeded:.2f} s: "
          + ", ".join(f"{before_counts[t]} {t}" for t in TABLES))
    print(f"tracked: {len(ids['tp'])} projects, {len(ids['ta'])} accounts, {len(ids['to'])} organizations, "
          f"{len(ids['tm'])} messages")
    for line in out.getvalue().splitlines():
        print(f"  {line}")
    print(f"hard delete (Cleaner.run(stop=False)): {seconds:.3f} s, {sum(deleted.values())} rows deleted ("
          + ", ".join(f"{deleted[t]} {t}" for t in TABLES) + ")")
    met = seconds < TARGET_SECONDS
    print(f"target < {TARGET_SECONDS:.0f} s: {'met' if met else 'NOT met'}")
    survived = before == after
    print(f"untracked rows survived unchanged (but for removed tracked members): {'yes' if survived else 'NO'} "
          f"({sum(c for c, _ in after.values())} rows)")
    if not survived:
        for table in TABLES:
            if before[table] != after[table]:
                print(f"  {table}: before {before[table][0]} rows, after {after[table][0]} rows (or contents differ)")
    print(f"tracked rows left: {left}; report complete: {report.complete}")
    ok = survived and left == 0 and report.complete
    return 0 if ok and (met or not strict) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
