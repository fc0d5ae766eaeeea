"""The cleaner's connection to CoCalc's PostgreSQL database, with pure-Python pg8000.

``PGHOST`` starting with ``/`` is a Unix-socket directory (the socket is
``$PGHOST/.s.PGSQL.$PGPORT``, as libpq has it); any other value is a TCP host,
with ``PGPORT`` and ``PGPASSWORD``.

>>> conn = connect(Config.from_env())
>>> check_schema(conn)          # raises DatabaseError naming what is missing
"""
import os
from typing import Dict, List, Tuple

import pg8000.native

from .config import Config
from .errors import DatabaseError

#: The tables and columns the cleaner reads or writes.  A database without them
#: is not CoCalc's (or is a version the cleaner does not know), and is refused.
REQUIRED_COLUMNS: Dict[str, Tuple[str, ...]] = {
    "projects": ("project_id", "users"),
    "accounts": ("account_id",),
    "organizations": ("organization_id", "users", "admin_account_ids"),
    "messages": ("id", "from_id", "to_ids"),
    "api_keys": ("account_id", "project_id"),
    "auth_tokens": ("account_id",),
}

REMEDIES = (
    "Give the cleaner its database in one of three ways: (1) on the CoCalc machine, point "
    "PGHOST at the PostgreSQL socket directory (for example PGHOST=/var/run/postgresql or "
    "CoCalc's data/postgres/socket) with PGUSER and PGDATABASE; (2) over the network, set "
    "PGHOST to the database host with PGPORT, PGUSER, PGDATABASE and PGPASSWORD; or (3) "
    "set COCALC_TESTS_CLEANUP=false to run without cleanup, leaving everything the run "
    "creates on the server."
)

Connection = pg8000.native.Connection


def connect(config: Config, timeout: float = 10.0) -> Connection:
    """Open a connection as *config* describes; :class:`DatabaseError` if that fails.

    The error text names the target (never the password) and the remedies.
    """
    if not config.pghost:
        raise DatabaseError(f"Cleanup is enabled but PGHOST is unset, so the suite cannot remove what it creates. {REMEDIES}")
    where: Dict[str, object]
    if config.pg_uses_socket:
        where = {"unix_sock": os.path.join(config.pghost, f".s.PGSQL.{config.pgport}")}
    else:
        where = {"host": config.pghost, "port": config.pgport}
    try:
        return pg8000.native.Connection(
            config.pguser,
            database=config.pgdatabase,
            password=config.pgpassword,
            timeout=timeout,
            application_name="cocalc-api-tests",
            **where,
        )
    except Exception as err:  # pg8000 raises several unrelated types for a failed connect
        reason = scrub(_reason(err), config)
        raise DatabaseError(
            f"Cleanup is enabled but the {config.describe_database()} cannot be used ({reason}). {REMEDIES}"
        ) from None


def check_schema(conn: Connection) -> None:
    """Raise :class:`DatabaseError` unless every table and column in :data:`REQUIRED_COLUMNS` exists."""
    rows = conn.run(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY(CAST(:t AS text[]))",
        t=list(REQUIRED_COLUMNS),
    )
    present = {(table, column) for table, column in rows}
    missing: List[str] = [
        f"{table}.{column}" for table, columns in REQUIRED_COLUMNS.items() for column in columns
        if (table, column) not in present
    ]
    if missing:
        raise DatabaseError(
            "The cleanup database does not look like CoCalc's: it lacks "
            + ", ".join(missing)
            + ". Nothing was deleted. Check PGDATABASE (CoCalc's database is usually 'smc') and "
            "PGHOST, or set COCALC_TESTS_CLEANUP=false."
        )


def scrub(text: str, config: Config) -> str:
    """*text* with the database password and the API key blotted out."""
    for secret, label in ((config.pgpassword, "<password>"), (config.api_key, "<api key>")):
        if secret:
            text = text.replace(secret, label)
    return text


def _reason(err: Exception) -> str:
    """pg8000's errors carry a dict of server fields; make one readable line."""
    first = err.args[0] if err.args else err
    if isinstance(first, dict):
        return str(first.get("M") or first)
    text = str(first).strip() or type(err).__name__
    return text.splitlines()[0]
