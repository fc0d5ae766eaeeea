"""Reading back what CoCalc writes where no API call reads it: the suite's database, read only.

The logging calls (``userTracking``, ``logClientError``, ``webappError``) answer ``null``
and leave a row that no call of the API returns; ``db.removeBlobTtls`` changes rows only
a blob upload could make.  A test reads such effects here, over the connection the
cleaner uses (``PGHOST``, ``PGUSER``, ``PGDATABASE``, ``PGPORT``, ``PGPASSWORD``; see
:mod:`cocalc_api_tests.db`), in a session that PostgreSQL itself keeps read only.  When
no database is configured (``PGHOST`` unset) the test skips, saying so; a database that
is configured but cannot be read fails the test.

>>> rows = read_rows(self, "the user_tracking row", "SELECT value FROM user_tracking WHERE event = :tag", tag=tag)
"""
import uuid
from typing import Any, Dict, List

from .. import db
from ..errors import DatabaseError

#: Why a read-back does not run without a database (``{what}`` names what is read).
NO_DATABASE_REASON = (
    "no database is configured (PGHOST is unset) and no API call reads {what} back; set PGHOST (with PGUSER, "
    "PGDATABASE), as for the cleanup, to check it"
)


def database_configured(test: Any) -> bool:
    """Whether the run has a database to read back from (``PGHOST`` is set)."""
    return bool(test.session.config.pghost)


def read_rows(test: Any, what: str, sql: str, **params: Any) -> List[Dict[str, Any]]:
    """The rows of *sql* (``:name`` parameters from *params*) as ``{column: value}``, UUIDs as text.

    *test* (a running test case) skips with :data:`NO_DATABASE_REASON` when no database is
    configured, and fails, naming *what*, when the database cannot be reached or refuses
    the query.  The session is read only: a statement that writes is refused by PostgreSQL.
    """
    config = test.session.config
    if not database_configured(test):
        test.skipTest(NO_DATABASE_REASON.format(what=what))
    try:
        conn = db.connect(config)
    except DatabaseError as err:
        test.fail(f"reading {what} back from the database failed: {err}")
    try:
        conn.run("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        rows = conn.run(sql, **params)
        names = [column["name"] for column in conn.columns or []]
    except Exception as err:  # pg8000 raises its own types for a refused statement or a broken connection
        test.fail(f"reading {what} back from the database failed ({sql}): {db.reason(err, config)}")
    finally:
        conn.close()
    return [{name: (str(v) if isinstance(v, uuid.UUID) else v) for name, v in zip(names, row)} for row in rows]


def table_scans(test: Any, table: str) -> int:
    """How many scans (sequential and by index) PostgreSQL has counted on *table* so far.

    Every statement that reads or changes *table* (even one that matches no row) adds
    one; PostgreSQL publishes a server process's counts within about 10 s of the statement.
    """
    rows = read_rows(
        test, f"the scan counts of {table}",
        "SELECT COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0) AS scans FROM pg_stat_user_tables WHERE relname = :t",
        t=table,
    )
    if len(rows) != 1:
        test.fail(f"pg_stat_user_tables has {len(rows)} rows for table {table!r}, not one")
    return int(rows[0]["scans"])
