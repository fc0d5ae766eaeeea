"""PostgreSQL storage of the stand-in: a small thread-safe pool of pg8000 connections.

The stand-in keeps everything in CoCalc's own tables (``accounts``, ``projects``,
``organizations``, ``api_keys``, ``messages``, ``auth_tokens``), so the suite's
cleaner can run its real SQL against the same database.  Every session runs in
UTC, so ``NOW()`` stored in CoCalc's ``timestamp without time zone`` columns is
UTC, as on a CoCalc server.

A failed statement raises :class:`DatabaseFailure`, whose text is what
node-postgres gives CoCalc (``error: <message>``), because CoCalc passes those
texts on to the API caller.
"""
import datetime
import decimal
import json
import os
import queue
import threading
import uuid
from typing import Any, Callable, Dict, List, Optional

import pg8000.native

from .api_common import JsError

#: Connections kept open at most; more requests wait for a free one.
POOL_SIZE = 8

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.sql")


class DatabaseFailure(JsError):
    """A statement failed; ``str()`` is ``error: <PostgreSQL's message>``."""

    def __init__(self, message: str):
        super().__init__(message, name="error")


def iso(moment: Optional[datetime.datetime]) -> Optional[str]:
    """JavaScript's ``Date.toJSON()`` of a UTC timestamp: ``2026-11-24T21:36:51.169Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def utcnow() -> datetime.datetime:
    """The current UTC time as a naive timestamp (how the database stores it)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def epoch_ms(moment: datetime.datetime) -> int:
    """Milliseconds since the epoch of a naive UTC timestamp."""
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def jsonable(value: Any) -> Any:
    """``json.dumps`` fallback: timestamps as CoCalc sends them, UUIDs as strings."""
    if isinstance(value, datetime.datetime):
        return iso(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def plain(value: Any) -> Any:
    """*value* with UUIDs as strings (rows are compared and returned as JSON-like data)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Store:
    """Run SQL on the stand-in's database from any thread.

    *connect* makes a new ``pg8000.native.Connection``; the store keeps up to
    :data:`POOL_SIZE` of them.  Parameters use pg8000's ``:name`` style.
    """

    def __init__(self, connect: Callable[[], pg8000.native.Connection]):
        self._connect = connect
        self._idle: "queue.LifoQueue[pg8000.native.Connection]" = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        self._all: List[pg8000.native.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _take(self) -> pg8000.native.Connection:
        self._slots.acquire()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            conn = self._connect()
            conn.run("SET TIME ZONE 'UTC'")
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._all.append(conn)
        return conn

    def _give(self, conn: pg8000.native.Connection, healthy: bool) -> None:
        if healthy and not self._closed:
            self._idle.put(conn)
        else:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            _close_quietly(conn)
        self._slots.release()

    def query(self, sql: str, **params: Any) -> List[Dict[str, Any]]:
        """Run *sql*; the result rows as dicts (UUIDs as strings)."""
        conn = self._take()
        healthy = True
        try:
            rows = conn.run(sql, **params)
            names = [c["name"] for c in (conn.columns or [])]
            return [{n: plain(v) for n, v in zip(names, row)} for row in rows or []]
        except pg8000.native.DatabaseError as err:
            detail = err.args[0] if err.args and isinstance(err.args[0], dict) else {}
            raise DatabaseFailure(detail.get("M", str(err))) from None
        except pg8000.native.InterfaceError:
            healthy = False
            if self._closed:  # a call still running while the stand-in shuts down: nobody waits for it
                raise JsError("the stand-in is shutting down") from None
            raise
        finally:
            self._give(conn, healthy)

    def one(self, sql: str, **params: Any) -> Optional[Dict[str, Any]]:
        """The first row of *sql*, or None."""
        rows = self.query(sql, **params)
        return rows[0] if rows else None

    def load_schema(self, path: str = SCHEMA_FILE) -> None:
        """Create CoCalc's tables from *path* (a ``pg_dump --schema-only`` file)."""
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        conn = self._take()
        try:
            for statement in sql_statements(text):
                conn.run(statement)
            conn.run("SELECT pg_catalog.set_config('search_path', '\"$user\", public', false)")
        finally:
            self._give(conn, True)

    def close(self) -> None:
        """Close every connection (idle ones now, busy ones when they come back)."""
        self._closed = True
        with self._lock:
            conns, self._all = list(self._all), []
        for conn in conns:
            _close_quietly(conn)


def _close_quietly(conn: pg8000.native.Connection) -> None:
    try:
        conn.close()
    except Exception:  # the server may already be gone
        pass


def sql_statements(text: str) -> List[str]:
    """Split a pg_dump file into statements (it has no functions or quoted semicolons)."""
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def dumps(value: Any) -> str:
    """JSON text of *value* as the stand-in answers it."""
    return json.dumps(value, default=jsonable, ensure_ascii=False, separators=(",", ":"))
