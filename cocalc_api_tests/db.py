"""The cleaner's connection to CoCalc's PostgreSQL database, with pure-Python pg8000, and the schema it relies on.

``PGHOST`` starting with ``/`` is a Unix-socket directory (the socket is
``$PGHOST/.s.PGSQL.$PGPORT``, as libpq has it); any other value is a TCP host,
with ``PGPORT`` and ``PGPASSWORD``.  Every connection bounds its lock waits and
statements on the server (``lock_timeout``, ``statement_timeout``); the socket
waits longer than both, so a slow statement ends with the server's clear error,
never with a cut socket.

>>> conn = connect(Config.from_env())
>>> check_schema(conn)          # raises DatabaseError naming what is missing
>>> check_privileges(conn)      # raises DatabaseError naming the missing grants
>>> usable, skipped = side_rows(conn)
"""
import os
import socket
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import pg8000.native

from .config import Config
from .errors import DatabaseError
from .text import redact

#: Seconds to reach the server (TCP connect).
CONNECT_TIMEOUT = 10.0
#: Seconds a statement may wait for a row or table lock held by someone else.
LOCK_TIMEOUT = 10.0
#: Seconds one statement may run, lock waits included.
STATEMENT_TIMEOUT = 60.0
#: Seconds the socket waits for the server beyond :data:`STATEMENT_TIMEOUT`.
SOCKET_MARGIN = 30.0

#: The tables and columns the cleaner reads or writes.  A database without them
#: is not CoCalc's (or is a version the cleaner does not know), and is refused.
REQUIRED_COLUMNS: Dict[str, Tuple[str, ...]] = {
    "projects": ("project_id", "users", "title", "state"),
    "accounts": ("account_id", "email_address"),
    "organizations": ("organization_id", "name", "users", "admin_account_ids"),
    "messages": ("id", "from_id", "to_ids", "subject"),
    "api_keys": ("id", "account_id", "project_id", "name"),
    "auth_tokens": ("account_id",),
}
#: Tables whose rows the cleaner edits (removing tracked members or licenses) besides deleting.
UPDATED_TABLES = ("projects", "organizations")


# ------------------------------------------------------------------------ side rows


@dataclass(frozen=True)
class SideRows:
    """Rows that CoCalc writes into *table* because of a tracked resource of *kind*.

    *where* selects them: ``:ids`` is the kind's ids as ``text[]`` (for the
    ``project`` kind, the projects about to be deleted: tracked ones, or the ones
    a tracked account owns), ``:emails`` the tracked accounts' e-mail addresses
    (read before the accounts are deleted).  *key* is the tie, returned by the
    delete so that the cleaner can tell which ids had rows (``None``: not an id).
    *needs* lists every ``table.column`` the statement reads; where the server
    lacks one, the entry is skipped (and said so once).  *update*, if given, is
    a ``SET`` clause: such rows are edited, not deleted.
    """

    table: str
    kind: str
    tie: str
    where: str
    needs: Tuple[str, ...]
    key: Optional[str] = None
    update: Optional[str] = None

    @property
    def label(self) -> str:
        """How the summary names what was done (``project_log rows``)."""
        return f"{self.table} rows" if self.update is None else f"{self.table} {self.tie} entries"


def _uuids(column: str) -> str:
    return f"{column} = ANY(CAST(:ids AS uuid[]))"


def _texts(expression: str) -> str:
    return f"({expression}) = ANY(CAST(:ids AS text[]))"


def _by_syncstring(table: str) -> SideRows:
    return SideRows(
        table, "project", "string_id of a tracked project's syncstrings",
        f"string_id IN (SELECT s.string_id FROM syncstrings AS s WHERE s.{_uuids('project_id')})",
        (f"{table}.string_id", "syncstrings.string_id", "syncstrings.project_id"),
    )


def _jupyter_cache(kind: str, column: str, type_: str) -> SideRows:
    """Cached outputs named only by the ``jupyter_api_log`` rows whose *column* is one of the ids.

    A cache row that any other log row names (an untracked identical execution)
    is kept; the log rows themselves go in the next entry.
    """
    ours = f"{column} = ANY(CAST(:ids AS {type_}[]))"
    return SideRows(
        "jupyter_api_cache", kind, f"hash named only by jupyter_api_log rows of those {column}s",
        f"hash IN (SELECT l.hash FROM jupyter_api_log AS l WHERE l.{ours}) "
        "AND NOT EXISTS (SELECT 1 FROM jupyter_api_log AS o WHERE o.hash = jupyter_api_cache.hash "
        f"AND NOT COALESCE(o.{ours}, false))",
        ("jupyter_api_cache.hash", "jupyter_api_log.hash", f"jupyter_api_log.{column}"),
    )


#: Every table besides the core ones in which the calls the suite makes write rows tied
#: to a tracked resource, with the tie, in the order they are removed (within a kind's
#: transaction, before the kind's own rows).  From CoCalc's server code at 5cb3315c:
#:
#: * projects: ``project_log`` (collaborator changes, ``inviteCollaborator``,
#:   ``changeUserType``), ``jupyter_api_log``/``jupyter_api_cache`` (hub ``jupyter.execute``),
#:   ``file_use`` (``db.touch`` with a path), ``file_access_log``, ``listings``,
#:   ``syncstrings`` and the ``patches``/``cursors`` of their ``string_id``,
#:   ``project_invite_tokens``, ``copy_paths`` (KuCalc's copy queue),
#:   ``site_license_usage_log`` (a licensed project that runs);
#: * accounts: ``central_log`` ``auth-token`` events (``generateUserAuthToken``,
#:   ``org.createToken``) naming the account as ``user_account_id`` (or as the caller,
#:   ``account_id``, only when that is a tracked account: the key owner is never
#:   tracked); ``project_log`` entries of other projects naming the account;
#:   ``remember_me`` (signing in with an impersonation token); ``password_reset`` and
#:   ``password_reset_attempts`` (``adminResetPasswordLink``, by e-mail);
#:   ``file_access_log``, ``user_tracking``, ``client_error_log``, ``webapp_errors``
#:   written as the account;
#: * licenses: ``site_licenses`` (the rows), ``site_license_usage_log``, and the license's
#:   key in other projects' ``site_license``;
#: * events (a unique tag a test wrote): ``user_tracking.event``,
#:   ``client_error_log.event``, ``webapp_errors.message``, ``jupyter_api_log.tag``
#:   (and the cache rows only those name).
#:
#: Not rows, so left alone: ``accounts.unread_message_count`` of a message's untracked
#: recipients (a counter CoCalc recomputes), ``last_active`` stamps.  Not removed:
#: ``blobs`` (content-addressed, possibly shared with untracked rows).
SIDE_ROWS: Tuple[SideRows, ...] = (
    # -- projects ------------------------------------------------------------------
    _jupyter_cache("project", "project_id", "uuid"),
    SideRows("jupyter_api_log", "project", "project_id", _uuids("project_id"), ("jupyter_api_log.project_id",)),
    SideRows("project_log", "project", "project_id", _uuids("project_id"), ("project_log.project_id",)),
    SideRows("file_use", "project", "project_id", _uuids("project_id"), ("file_use.project_id",)),
    SideRows("file_access_log", "project", "project_id", _uuids("project_id"), ("file_access_log.project_id",)),
    SideRows("listings", "project", "project_id", _uuids("project_id"), ("listings.project_id",)),
    _by_syncstring("patches"),
    _by_syncstring("cursors"),
    SideRows("syncstrings", "project", "project_id", _uuids("project_id"), ("syncstrings.project_id",)),
    SideRows("project_invite_tokens", "project", "project_id", _uuids("project_id"), ("project_invite_tokens.project_id",)),
    SideRows("public_paths", "project", "project_id", _uuids("project_id"), ("public_paths.project_id",)),
    SideRows(
        "copy_paths", "project", "source_project_id or target_project_id",
        f"{_uuids('source_project_id')} OR {_uuids('target_project_id')}",
        ("copy_paths.source_project_id", "copy_paths.target_project_id"),
    ),
    SideRows("site_license_usage_log", "project", "project_id", _uuids("project_id"), ("site_license_usage_log.project_id",)),
    # -- accounts ------------------------------------------------------------------
    SideRows(
        "central_log", "account", "value->>'user_account_id' or value->>'account_id'",
        _texts("value ->> 'user_account_id'") + " OR " + _texts("value ->> 'account_id'"),
        ("central_log.value",),
    ),
    SideRows(
        "project_log", "account", "account_id, or the account named by the event",
        " OR ".join([_uuids("account_id")] + [
            _texts(f"event ->> '{field}'") for field in ("invitee_account_id", "removed_account_id", "target_account_id")
        ]),
        ("project_log.account_id", "project_log.event"),
    ),
    SideRows("remember_me", "account", "account_id", _uuids("account_id"), ("remember_me.account_id",)),
    SideRows("password_reset", "account", "email_address", "email_address = ANY(CAST(:emails AS text[]))",
             ("password_reset.email_address",)),
    SideRows("password_reset_attempts", "account", "email_address", "email_address = ANY(CAST(:emails AS text[]))",
             ("password_reset_attempts.email_address",)),
    SideRows("file_access_log", "account", "account_id", _uuids("account_id"), ("file_access_log.account_id",)),
    SideRows("user_tracking", "account", "account_id", _uuids("account_id"), ("user_tracking.account_id",)),
    SideRows("client_error_log", "account", "account_id", _uuids("account_id"), ("client_error_log.account_id",)),
    SideRows("webapp_errors", "account", "account_id", _uuids("account_id"), ("webapp_errors.account_id",)),
    # -- licenses ------------------------------------------------------------------
    SideRows("site_license_usage_log", "license", "license_id", _uuids("license_id"), ("site_license_usage_log.license_id",)),
    SideRows(
        "projects", "license", "site_license", "jsonb_typeof(site_license) = 'object' AND site_license ?| CAST(:ids AS text[])",
        ("projects.site_license",), update="site_license = site_license - CAST(:ids AS text[])",
    ),
    SideRows("site_licenses", "license", "id", _uuids("id"), ("site_licenses.id",), key="id"),
    # -- events --------------------------------------------------------------------
    SideRows("user_tracking", "event", "event", _texts("event"), ("user_tracking.event",), key="event"),
    SideRows("client_error_log", "event", "event", _texts("event"), ("client_error_log.event",), key="event"),
    SideRows("webapp_errors", "event", "message", _texts("message"), ("webapp_errors.message",), key="message"),
    _jupyter_cache("event", "tag", "text"),
    SideRows("jupyter_api_log", "event", "tag", _texts("tag"), ("jupyter_api_log.tag",), key="tag"),
)


def side_rows(conn: "Connection") -> Tuple[List[SideRows], Dict[str, str]]:
    """The :data:`SIDE_ROWS` entries this database can serve, and what is missing for the others.

    The second value maps each missing ``table`` (or ``table.column``) to why it is skipped.
    """
    tables = sorted({need.split(".")[0] for entry in SIDE_ROWS for need in entry.needs})
    present = _columns(conn, tables)
    have_tables = {table for table, _ in present}
    usable: List[SideRows] = []
    skipped: Dict[str, str] = {}
    for entry in SIDE_ROWS:
        missing = [need for need in entry.needs if tuple(need.split(".")) not in present]
        if not missing:
            usable.append(entry)
            continue
        for need in missing:
            table = need.split(".")[0]
            if table not in have_tables:
                skipped[table] = "no such table"
            else:
                skipped.setdefault(need, "no such column")
    return usable, skipped


# ------------------------------------------------------------------------ connecting


Connection = pg8000.native.Connection


def connect(
    config: Config,
    timeout: float = CONNECT_TIMEOUT,
    *,
    lock_timeout: float = LOCK_TIMEOUT,
    statement_timeout: float = STATEMENT_TIMEOUT,
) -> Connection:
    """Open a connection as *config* describes; :class:`DatabaseError` if that fails.

    *timeout* bounds reaching the server; after that the socket waits
    *statement_timeout* plus :data:`SOCKET_MARGIN`, and the server itself ends a
    lock wait after *lock_timeout* and a statement after *statement_timeout*
    (seconds).  The error text names the target (never a secret) and the remedies.
    """
    if not config.pghost:
        raise DatabaseError(f"Cleanup is enabled but PGHOST is unset, so the suite cannot remove what it creates. {REMEDIES}")
    sock: Optional[socket.socket] = None
    try:
        sock = _open_socket(config, timeout)
        sock.settimeout(statement_timeout + SOCKET_MARGIN)
        conn = pg8000.native.Connection(
            config.pguser,
            database=config.pgdatabase,
            password=config.pgpassword,
            sock=sock,
            application_name="cocalc-api-tests",
        )
    except Exception as err:  # socket and pg8000 raise several unrelated types for a failed connect
        if sock is not None:
            sock.close()
        raise DatabaseError(scrub(
            f"Cleanup is enabled but the {config.describe_database()} cannot be used ({reason(err, config)}). {REMEDIES}", config
        )) from None
    try:
        conn.run(f"SET lock_timeout = {int(lock_timeout * 1000)}")
        conn.run(f"SET statement_timeout = {int(statement_timeout * 1000)}")
    except Exception as err:
        conn.close()
        raise DatabaseError(scrub(f"Setting the timeouts of the {config.describe_database()} failed ({reason(err, config)}).", config)) from None
    return conn


def _open_socket(config: Config, timeout: float) -> socket.socket:
    """A connected socket to the server (pg8000 then negotiates TLS and signs in on it)."""
    if config.pg_uses_socket:
        path = os.path.join(config.pghost or "", f".s.PGSQL.{config.pgport}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as err:
            sock.close()
            raise OSError(f"cannot connect to {path}: {err.strerror or err}") from None
        return sock
    try:
        sock = socket.create_connection((config.pghost, config.pgport), timeout)
    except OSError as err:
        raise OSError(f"cannot connect to {config.pghost}:{config.pgport}: {err.strerror or err}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


REMEDIES = (
    "Give the cleaner its database in one of three ways: (1) on the CoCalc machine, point "
    "PGHOST at the PostgreSQL socket directory (for example PGHOST=/var/run/postgresql or "
    "CoCalc's data/postgres/socket) with PGUSER and PGDATABASE; (2) over the network, set "
    "PGHOST to the database host with PGPORT, PGUSER, PGDATABASE and PGPASSWORD; or (3) "
    "set COCALC_TESTS_CLEANUP=false to run without cleanup, leaving everything the run "
    "creates on the server."
)


# ------------------------------------------------------------------------ checks


def _columns(conn: Connection, tables: List[str]) -> set:
    rows = conn.run(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY(CAST(:t AS text[]))",
        t=tables,
    )
    return {(table, column) for table, column in rows}


def check_schema(conn: Connection) -> None:
    """Raise :class:`DatabaseError` unless every table and column in :data:`REQUIRED_COLUMNS` exists."""
    present = _columns(conn, list(REQUIRED_COLUMNS))
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


def needed_privileges(conn: Connection) -> List[Tuple[str, str]]:
    """``(table, privilege)`` pairs the cleaner needs on this database's tables.

    SELECT and DELETE on every core table and every side table present, UPDATE on
    :data:`UPDATED_TABLES`.
    """
    usable, _ = side_rows(conn)
    tables = list(REQUIRED_COLUMNS) + [t for t in dict.fromkeys(e.table for e in usable) if t not in REQUIRED_COLUMNS]
    pairs = [(table, privilege) for table in tables for privilege in ("SELECT", "DELETE")]
    return pairs + [(table, "UPDATE") for table in UPDATED_TABLES]


def check_privileges(conn: Connection) -> None:
    """Raise :class:`DatabaseError` naming every privilege of :func:`needed_privileges` the user lacks."""
    pairs = needed_privileges(conn)
    rows = conn.run(
        "SELECT t, p FROM unnest(CAST(:t AS text[]), CAST(:p AS text[])) AS x(t, p) "
        "WHERE to_regclass(quote_ident(current_schema()) || '.' || quote_ident(t)) IS NOT NULL "
        "AND NOT has_table_privilege(to_regclass(quote_ident(current_schema()) || '.' || quote_ident(t)), p)",
        t=[t for t, _ in pairs], p=[p for _, p in pairs],
    )
    if rows:
        user = conn.run("SELECT current_user")[0][0]
        lacking = ", ".join(f"{privilege} on {table}" for table, privilege in rows)
        raise DatabaseError(
            f"The database user {user!r} lacks privileges the cleaner needs: {lacking}. Nothing was deleted. "
            "Grant them (for example GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO that user), "
            "connect as CoCalc's own database user, or set COCALC_TESTS_CLEANUP=false."
        )


# ------------------------------------------------------------------------ errors


def scrub(text: str, config: Config) -> str:
    """*text* without the database password and the API key (see :func:`cocalc_api_tests.errors.redact`)."""
    return redact(text, config.pgpassword, config.api_key)


def sqlstate(err: BaseException) -> str:
    """The SQLSTATE of a server error (``"40P01"``), or ``""`` for any other exception."""
    first = err.args[0] if err.args else None
    return str(first.get("C", "")) if isinstance(first, dict) else ""


def _first_line(err: BaseException) -> str:
    """pg8000's errors carry a dict of server fields; make one readable line."""
    first = err.args[0] if err.args else err
    if isinstance(first, dict):
        return str(first.get("M") or first)
    text = str(first).strip() or type(err).__name__
    cause = err.__cause__
    if cause is not None and str(cause).strip() and text in ("network error", "communication error"):
        text = f"{text}: {cause}"
    return text.splitlines()[0]


def reason(err: BaseException, config: Config) -> str:
    """One readable line for *err*, without a secret."""
    return scrub(_first_line(err), config)
