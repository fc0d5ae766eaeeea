"""PostgreSQL for the self-tests: one server per process, and throwaway databases with CoCalc's tables.

>>> db = socket_database()            # fresh database over the Unix socket (trust)
>>> cfg = db.config()                 # a Config the cleaner can use
>>> conn = db.connect()               # superuser pg8000.native connection to it
>>> db.drop()

:func:`password_database` is the same on a throwaway cluster whose TCP port
checks scram-sha-256 passwords, owned by a new role with a random password;
its :meth:`ScratchDatabase.config` connects over TCP with that password.
:func:`socket_connection` and :func:`row_counts` reach any server's database over its socket.

Only when no PostgreSQL can be found or started (``PostgresUnavailable``) do
these raise :class:`unittest.SkipTest`, carrying the install hint; any other
failure propagates, so a machine with PostgreSQL never hides a real failure.
Databases left over and clusters started here are removed at exit.
"""
import atexit
import os
import secrets
import shutil
import tempfile
import threading
import unittest
import uuid
from typing import Any, Callable, Dict, Iterable, List, Optional

import pg8000.native

from cocalc_api_tests.config import Config
from cocalc_standin.pgserver import PostgresServer, PostgresUnavailable
from cocalc_standin.store import SCHEMA_FILE, sql_statements

#: Every scratch database's (and role's) name starts with this.
PREFIX = "cocalc_selftest_"
#: The API key the configs carry (never sent anywhere; scrubbed from cleaner output).
API_KEY = "sk-selftest-" + secrets.token_hex(12)

_lock = threading.Lock()
_servers: Dict[str, PostgresServer] = {}
_unavailable: Dict[str, str] = {}
_workdir: Optional[str] = None
_live: List["ScratchDatabase"] = []


def _obtain(kind: str, factory: Callable[[], PostgresServer]) -> PostgresServer:
    """The server of *kind*, made once per process; SkipTest only if PostgreSQL is unavailable."""
    with _lock:
        if kind in _servers:
            return _servers[kind]
        if kind in _unavailable:
            raise unittest.SkipTest(_unavailable[kind])
        try:
            server = factory()
        except PostgresUnavailable as err:
            _unavailable[kind] = str(err)
            raise unittest.SkipTest(str(err)) from None
        _servers[kind] = server
        return server


def _find_or_start() -> PostgresServer:
    global _workdir
    _workdir = tempfile.mkdtemp(prefix="cocalc-selftest-pg-")
    os.chmod(_workdir, 0o711)
    return PostgresServer.find_or_start(_workdir)


def server() -> PostgresServer:
    """A server on which we are superuser over its Unix socket (the running one, else a new cluster)."""
    return _obtain("any", _find_or_start)


def password_server() -> PostgresServer:
    """A cluster started here, whose TCP port requires scram-sha-256 passwords."""
    try:
        shared = server()
    except unittest.SkipTest:
        shared = None
    if shared is not None and shared.started_here:
        return shared  # a cluster we started already checks passwords on TCP
    return _obtain("password", PostgresServer.start)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ScratchDatabase:
    """A new, uniquely named database (with CoCalc's tables unless *schema* is False).

    With *role_password* the database belongs to a new login role of that
    password, and :meth:`config` connects as it over TCP; otherwise :meth:`config`
    connects as the server's superuser over the Unix socket.
    """

    def __init__(self, pg: PostgresServer, *, schema: bool = True, with_password: bool = False):
        self.pg = pg
        self.name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        self.tcp = with_password
        self.user = pg.user
        self.password: Optional[str] = None
        self._role: Optional[str] = None
        self._dropped = False
        if with_password:
            self._role = self.name
            self.user = self._role
            self.password = "pw-" + secrets.token_urlsafe(18)
            pg.create_role(self._role, self.password)
        try:
            pg.create_database(self.name, owner=self._role)
            with _lock:
                _live.append(self)
            if schema:
                self.load_schema()
        except BaseException:
            self.drop()
            raise

    def connect(self, as_owner: bool = False) -> pg8000.native.Connection:
        """A pg8000 native connection to this database over the Unix socket (superuser, or the owner)."""
        user = self.user if as_owner else self.pg.user
        return socket_connection(user, self.name, self.pg.socket_dir, self.pg.port,
                                 password=self.pg.password if user == self.pg.user else self.password)

    def load_schema(self, path: str = SCHEMA_FILE) -> None:
        """Create CoCalc's tables (as the owner, in one transaction, on a connection used only for that)."""
        with open(path, encoding="utf-8") as fh:
            statements = sql_statements(fh.read())
        conn = self.connect(as_owner=True)
        try:
            conn.run("BEGIN")
            for statement in statements:
                conn.run(statement)
            conn.run("COMMIT")
        finally:
            conn.close()  # the dump emptied search_path; later connections start afresh

    def config(self, **overrides: Any) -> Config:
        """A Config for the cleaner: TCP with the password, or the superuser over the socket."""
        if self.tcp:
            values: Dict[str, Any] = dict(pghost=self.pg.host, pgport=self.pg.port, pguser=self.user,
                                          pgpassword=self.password)
        else:  # the socket trusts local users on a found server and on a throwaway cluster alike
            values = dict(pghost=self.pg.socket_dir, pgport=self.pg.port, pguser=self.pg.user, pgpassword=None)
        values.update(api_key=API_KEY, pgdatabase=self.name)
        values.update(overrides)
        return Config(**values)

    def drop(self) -> None:
        """Drop the database (and its role); harmless twice."""
        if self._dropped:
            return
        self._dropped = True
        with _lock:
            if self in _live:
                _live.remove(self)
        try:
            self.pg.drop_database(self.name)
        finally:
            if self._role:
                self.pg.drop_role(self._role)


def socket_database(schema: bool = True) -> ScratchDatabase:
    """A fresh database reached as superuser over the Unix socket (SkipTest without PostgreSQL)."""
    return ScratchDatabase(server(), schema=schema)


def password_database(schema: bool = True) -> ScratchDatabase:
    """A fresh database on a password-checking cluster, owned by a new role with a password."""
    return ScratchDatabase(password_server(), schema=schema, with_password=True)


def socket_connection(user: str, database: str, socket_dir: str, port: Any,
                      password: Optional[str] = None) -> pg8000.native.Connection:
    """A pg8000 native connection over the Unix socket ``<socket_dir>/.s.PGSQL.<port>``."""
    return pg8000.native.Connection(user, database=database, unix_sock=os.path.join(socket_dir, f".s.PGSQL.{port}"),
                                    password=password, timeout=30)


def row_counts(tables: Iterable[str], **connect: Any) -> Dict[str, int]:
    """Rows in each of *tables*, on a :func:`socket_connection` of *connect* opened for that."""
    conn = socket_connection(**connect)
    try:
        return {table: conn.run(f"SELECT count(*) FROM {table}")[0][0] for table in tables}
    finally:
        conn.close()


def _at_exit() -> None:
    """Drop databases still alive, then stop clusters started here and remove the work directory."""
    for database in list(_live):
        try:
            database.drop()
        except Exception:  # the server may be gone already
            pass
    for pg in _servers.values():
        if pg.started_here:
            pg.stop()
    if _workdir:
        shutil.rmtree(_workdir, ignore_errors=True)


atexit.register(_at_exit)
