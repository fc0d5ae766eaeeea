"""Benchmark of the cleaner's hard delete on a realistically large run (not a unit test).

    .venv/bin/python selftests/bench_cleanup.py [--strict]

Seeds a fresh database (CoCalc's tables) with bulk SQL: 1,000 tracked projects,
300 tracked accounts (each owning a first project, collaborating on an untracked
project and a tracked one, with API keys, auth tokens and messages), 100 tracked
organizations (plus 100 tracked messages, 100 tracked API keys, 50 tracked licenses
and 100 tracked event tags), and about as many untracked rows, several of which list
tracked accounts as members or admins.  Every side table the cleaner knows
(``db.SIDE_ROWS``) gets rows of both fates: project logs, Jupyter log and cache,
file use, syncstrings and patches, auth-token events, password resets, remember-me
cookies, license usage, tagged user-tracking / error rows.  Then times
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
TRACKED_KEYS = 100
TRACKED_LICENSES = 50
TRACKED_EVENTS = 100
#: Seconds the hard delete should take at most.
TARGET_SECONDS = 2.0

TABLES = ("accounts", "projects", "organizations", "messages", "api_keys", "auth_tokens")
SIDE_TABLES = ("project_log", "jupyter_api_log", "jupyter_api_cache", "file_use", "syncstrings", "patches",
               "central_log", "remember_me", "password_reset", "site_license_usage_log", "site_licenses",
               "user_tracking", "client_error_log", "webapp_errors")


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
    seed_kinds(conn, ids)
    seed_side_rows(conn, ids)
    conn.run("COMMIT")
    conn.run("ANALYZE")
    return ids


def seed_kinds(conn: Any, ids: Dict[str, List[str]]) -> None:
    """Tracked API keys (the key owner's, on untracked projects), licenses and event tags, and untracked twins."""
    rows = conn.run(
        "INSERT INTO api_keys (account_id, project_id, created, hash, name, trunc) "
        "SELECT CAST(:k AS uuid), p, NOW(), 'sha512$bench', 'tracked', 'sk-bench' "
        "FROM unnest(CAST(:p AS uuid[])) AS x(p) RETURNING id::text",
        k=ids["key"][0], p=ids["up"][:TRACKED_KEYS],
    )
    ids["tk"] = [r[0] for r in rows]
    ids["tl"], ids["ul"] = new_ids(TRACKED_LICENSES), new_ids(TRACKED_LICENSES)
    conn.run(
        "INSERT INTO site_licenses (id, title, created, activates, expires, run_limit) "
        "SELECT l, CASE WHEN i <= :n THEN 'gone' ELSE 'keep' END, NOW(), NOW(), NOW() + interval '1 day', 1 "
        "FROM unnest(CAST(:l AS uuid[])) WITH ORDINALITY AS x(l, i)",
        l=ids["tl"] + ids["ul"], n=TRACKED_LICENSES,
    )
    # Each untracked project of the first TRACKED_LICENSES uses a tracked and an untracked license.
    conn.run(
        "UPDATE projects SET site_license = jsonb_build_object(t::text, '{}'::jsonb, u::text, '{}'::jsonb) "
        "FROM unnest(CAST(:p AS uuid[]), CAST(:t AS uuid[]), CAST(:u AS uuid[])) AS x(p, t, u) WHERE project_id = p",
        p=ids["up"][:TRACKED_LICENSES], t=ids["tl"], u=ids["ul"],
    )
    ids["tags"] = [f"bench-tag-{uuid.uuid4().hex}" for _ in range(TRACKED_EVENTS)]


def seed_side_rows(conn: Any, ids: Dict[str, List[str]]) -> None:
    """Rows in every side table, each marked with its fate (``gone`` or ``keep``) in a column the cleaner ignores."""
    gone_projects, kept_projects = ids["tp"] + ids["ta_first"], ids["up"] + ids["ua_first"]
    projects = gone_projects + kept_projects
    fates = ["gone"] * len(gone_projects) + ["keep"] * len(kept_projects)
    each = "FROM unnest(CAST(:p AS uuid[]), CAST(:f AS text[])) WITH ORDINALITY AS x(p, f, i)"
    conn.run(
        "INSERT INTO project_log (id, project_id, time, account_id, event) "
        "SELECT gen_random_uuid(), p, NOW(), CAST(:k AS uuid), jsonb_build_object('event', 'open', 'fate', f) "
        f"{each}, generate_series(1, 2)",
        p=projects, f=fates, k=ids["key"][0],
    )
    # A tracked account invited to an untracked project: the entry goes with the account.
    conn.run(
        "INSERT INTO project_log (id, project_id, time, account_id, event) "
        "SELECT gen_random_uuid(), p, NOW(), CAST(:k AS uuid), "
        "jsonb_build_object('event', 'invite_user', 'invitee_account_id', a::text, 'fate', 'gone') "
        "FROM unnest(CAST(:p AS uuid[]), CAST(:a AS uuid[])) AS x(p, a)",
        p=ids["up"][:TRACKED_ACCOUNTS], a=ids["ta"], k=ids["key"][0],
    )
    # Jupyter: one execution per project; the first 100 untracked ones repeat a tracked one's hash.
    conn.run(
        "INSERT INTO jupyter_api_log (created, account_id, project_id, hash, kernel, input) "
        "SELECT NOW(), CAST(:k AS uuid), p, 'h-' || p::text, f, '2+2' " + each,
        p=projects, f=fates, k=ids["key"][0],
    )
    conn.run(
        "INSERT INTO jupyter_api_log (created, account_id, project_id, hash, kernel, input) "
        "SELECT NOW(), CAST(:k AS uuid), u, 'h-' || t::text, 'keep', '2+2' "
        "FROM unnest(CAST(:t AS uuid[]), CAST(:u AS uuid[])) AS x(t, u)",
        t=ids["tp"][:100], u=ids["up"][:100], k=ids["key"][0],
    )
    conn.run(
        "INSERT INTO jupyter_api_cache (created, hash, output) "
        "SELECT NOW(), 'h-' || p::text, ARRAY[jsonb_build_object('fate', "
        "CASE WHEN f = 'gone' AND i > 100 THEN 'gone' ELSE 'keep' END)] " + each,
        p=projects, f=fates,
    )
    conn.run("INSERT INTO file_use (id, project_id, path, users) SELECT md5(p::text) || left(md5(f), 8), p, f, '{}' " + each,
             p=projects, f=fates)
    conn.run("INSERT INTO syncstrings (string_id, project_id, path) SELECT md5(p::text) || left(md5(f), 8), p, f " + each,
             p=projects, f=fates)
    conn.run(
        "INSERT INTO patches (string_id, time, is_snapshot, patch) "
        "SELECT md5(p::text) || left(md5(f), 8), NOW() + n * interval '1 s', false, f "
        f"{each}, generate_series(1, 2) AS n",
        p=projects, f=fates,
    )
    accounts = ids["ta"] + ids["ua"]
    account_fates = ["gone"] * len(ids["ta"]) + ["keep"] * len(ids["ua"])
    per_account = "FROM unnest(CAST(:a AS uuid[]), CAST(:f AS text[])) WITH ORDINALITY AS x(a, f, i)"
    conn.run(
        "INSERT INTO central_log (id, event, value, time) SELECT gen_random_uuid(), 'auth-token', "
        "jsonb_build_object('account_id', CAST(:k AS text), 'user_account_id', a::text, 'fate', f), NOW() " + per_account,
        a=accounts, f=account_fates, k=ids["key"][0],
    )
    conn.run(
        "INSERT INTO remember_me (hash, value, account_id, expire) "
        "SELECT md5(a::text) || md5(f), jsonb_build_object('fate', f), a, NOW() + interval '1 day' " + per_account,
        a=accounts, f=account_fates,
    )
    conn.run(
        "INSERT INTO password_reset (id, email_address, expire) "
        "SELECT gen_random_uuid(), email_address, NOW() + interval '1 day' FROM accounts WHERE account_id = ANY(CAST(:a AS uuid[]))",
        a=accounts,
    )
    conn.run(
        "INSERT INTO site_license_usage_log (license_id, project_id, start) "
        "SELECT l, p, NOW() FROM unnest(CAST(:l AS uuid[]), CAST(:p AS uuid[])) AS x(l, p)",
        l=ids["tl"] + ids["ul"], p=ids["up"][:2 * TRACKED_LICENSES],
    )
    tags = ids["tags"] + [f"keep-tag-{i}" for i in range(TRACKED_EVENTS)]
    for table, column, extra in (("user_tracking", "event", "time, value"), ("client_error_log", "event", "id, error"),
                                 ("webapp_errors", "message", "id, name")):
        values = {"time, value": "NOW() + i * interval '1 ms', '{}'", "id, error": "gen_random_uuid(), 'boom'",
                  "id, name": "gen_random_uuid(), 'Error'"}[extra]
        conn.run(
            f"INSERT INTO {table} (account_id, {column}, {extra}) SELECT CAST(:k AS uuid), t, {values} "
            "FROM unnest(CAST(:t AS text[])) WITH ORDINALITY AS x(t, i)",
            k=ids["key"][0], t=tags,
        )


#: Side table -> SQL for each row's fate (``gone``: tied to a tracked id; ``keep``: untracked).
FATES = {
    "project_log": "event ->> 'fate'",
    "jupyter_api_log": "kernel",
    "jupyter_api_cache": "output[1] ->> 'fate'",
    "file_use": "path",
    "syncstrings": "path",
    "patches": "patch",
    "central_log": "value ->> 'fate'",
    "remember_me": "value ->> 'fate'",
    "password_reset": "CASE WHEN email_address IN (SELECT email_address FROM accounts WHERE account_id = ANY(CAST(:ua AS uuid[]))) "
                      "THEN 'keep' ELSE 'gone' END",
    "site_license_usage_log": "CASE WHEN license_id = ANY(CAST(:ul AS uuid[])) AND NOT project_id = ANY(CAST(:tp AS uuid[])) "
                              "THEN 'keep' ELSE 'gone' END",
    "site_licenses": "title",
    "user_tracking": "CASE WHEN event LIKE 'keep-%' THEN 'keep' ELSE 'gone' END",
    "client_error_log": "CASE WHEN event LIKE 'keep-%' THEN 'keep' ELSE 'gone' END",
    "webapp_errors": "CASE WHEN message LIKE 'keep-%' THEN 'keep' ELSE 'gone' END",
}


def side_fates(conn: Any, ids: Dict[str, List[str]]) -> Dict[str, Dict[str, Tuple[int, str]]]:
    """Per side table and fate: (rows, md5 of the rows)."""
    params = {"ua": ids["ua"], "ul": ids["ul"], "tp": ids["tp"]}
    result: Dict[str, Dict[str, Tuple[int, str]]] = {}
    for table, fate in FATES.items():
        rows = conn.run(
            f"SELECT {fate} AS fate, count(*), md5(string_agg(row_to_json(t)::text, E'\\n' ORDER BY row_to_json(t)::text)) "
            f"FROM {table} AS t GROUP BY 1",
            **{n: v for n, v in params.items() if f":{n}" in fate},
        )
        result[table] = {f: (n, digest) for f, n, digest in rows}
    return result


def survivors(conn: Any, ids: Dict[str, List[str]]) -> Dict[str, Tuple[int, str]]:
    """Per table: (count, md5 of every untracked row), with tracked accounts left out of member lists."""
    tracked = ids["ta"]
    queries = {
        "accounts": "SELECT row_to_json(t)::text AS r FROM accounts t WHERE NOT account_id = ANY(CAST(:ta AS uuid[]))",
        "projects": "SELECT ((to_jsonb(t) - 'users' - 'site_license') || jsonb_build_object('users', "
                    "users - CAST(:ta AS text[]), 'site_license', site_license - CAST(:tl AS text[])))::text "
                    "AS r FROM projects t WHERE project_id = ANY(CAST(:keep AS uuid[]))",
        "organizations": "SELECT ((to_jsonb(t) - 'users' - 'admin_account_ids') || jsonb_build_object('users', "
                         "users - CAST(:ta AS text[]), 'admins', ARRAY(SELECT x FROM unnest(admin_account_ids) x "
                         "WHERE NOT x = ANY(CAST(:ta AS uuid[]))))) ::text AS r FROM organizations t "
                         "WHERE organization_id = ANY(CAST(:uo AS uuid[]))",
        "messages": "SELECT row_to_json(t)::text AS r FROM messages t WHERE NOT from_id = ANY(CAST(:ta AS uuid[])) "
                    "AND NOT to_ids <@ CAST(:ta AS uuid[]) AND NOT id = ANY(CAST(:tm AS int[]))",
        "api_keys": "SELECT row_to_json(t)::text AS r FROM api_keys t WHERE NOT COALESCE(account_id = ANY(CAST(:ta AS uuid[])), false) "
                    "AND NOT COALESCE(project_id = ANY(CAST(:gone AS uuid[])), false) AND NOT id = ANY(CAST(:tk AS int[]))",
        "auth_tokens": "SELECT row_to_json(t)::text AS r FROM auth_tokens t WHERE NOT account_id = ANY(CAST(:ta AS uuid[]))",
    }
    params = {"ta": tracked, "keep": ids["up"] + ids["ua_first"], "uo": ids["uo"], "tm": [int(m) for m in ids["tm"]],
              "gone": ids["tp"] + ids["ta_first"], "tl": ids["tl"], "tk": ids["tk"]}
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
        "        OR project_id = ANY(CAST(:gone AS uuid[])) OR id = ANY(CAST(:tk AS int[]))) "
        "     + (SELECT count(*) FROM projects WHERE site_license ?| CAST(:tl AS text[])) "
        "     + (SELECT count(*) FROM auth_tokens WHERE account_id = ANY(CAST(:ta AS uuid[])))",
        gone=ids["tp"] + ids["ta_first"], ta=ids["ta"], to=ids["to"], tm=[int(m) for m in ids["tm"]], tk=ids["tk"],
        tl=ids["tl"],
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
            side_before = side_fates(conn, ids)
            tracker = Tracker()
            for kind, key in (("project", "tp"), ("account", "ta"), ("organization", "to"), ("message", "tm"),
                              ("api_key", "tk"), ("license", "tl"), ("event", "tags")):
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
            side_after = side_fates(conn, ids)
        finally:
            conn.close()
    finally:
        database.drop()

    deleted = {t: before_counts[t] - after_counts[t] for t in TABLES}
    print(f"seeded {sum(before_counts.values())} rows in {seeded:.2f} s: "
          + ", ".join(f"{before_counts[t]} {t}" for t in TABLES))
    print(f"tracked: {len(ids['tp'])} projects, {len(ids['ta'])} accounts, {len(ids['to'])} organizations, "
          f"{len(ids['tm'])} messages, {len(ids['tk'])} API keys, {len(ids['tl'])} licenses, {len(ids['tags'])} event tags")
    side_gone = {t: side_before[t].get("gone", (0, ""))[0] for t in SIDE_TABLES}
    print(f"side rows seeded: {sum(sum(n for n, _ in f.values()) for f in side_before.values())}, of which "
          f"{sum(side_gone.values())} tied to tracked ids (" + ", ".join(f"{side_gone[t]} {t}" for t in SIDE_TABLES) + ")")
    for line in out.getvalue().splitlines():
        print(f"  {line}")
    print(f"hard delete (Cleaner.run(stop=False)): {seconds:.3f} s, {sum(deleted.values())} rows deleted ("
          + ", ".join(f"{deleted[t]} {t}" for t in TABLES) + f"), and {sum(side_gone.values())} side rows")
    met = seconds < TARGET_SECONDS
    print(f"target < {TARGET_SECONDS:.0f} s: {'met' if met else 'NOT met'}")
    survived = before == after
    print(f"untracked rows survived unchanged (but for removed tracked members): {'yes' if survived else 'NO'} "
          f"({sum(c for c, _ in after.values())} rows)")
    if not survived:
        for table in TABLES:
            if before[table] != after[table]:
                print(f"  {table}: before {before[table][0]} rows, after {after[table][0]} rows (or contents differ)")
    side_left = {t: side_after[t].get("gone", (0, ""))[0] for t in SIDE_TABLES}
    side_survived = all(side_before[t].get("keep") == side_after[t].get("keep") for t in SIDE_TABLES)
    print(f"untracked side rows survived byte-identical: {'yes' if side_survived else 'NO'} "
          f"({sum(side_after[t].get('keep', (0, ''))[0] for t in SIDE_TABLES)} rows)")
    for table in SIDE_TABLES:
        if side_before[table].get("keep") != side_after[table].get("keep") or side_left[table]:
            print(f"  {table}: untracked before {side_before[table].get('keep')}, after {side_after[table].get('keep')}; "
                  f"tied rows left {side_left[table]}")
    left += sum(side_left.values())
    print(f"tracked rows left: {left}; report complete: {report.complete}")
    ok = survived and side_survived and left == 0 and report.complete
    return 0 if ok and (met or not strict) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
