"""The cleaner: at exit, stop what the run started and hard-delete what it created.

Over 400 lines because the cleaner is one transaction plan over many kinds (intents, stops,
per-kind deletes with their side rows, the report); its helpers that have another job live in
``db`` (connection, side-row table) and ``custody``.

Only ids in the tracker (or a ledger) are touched, minus the protected ones (the
account that owns the API key and ``COCALC_PROJECT_ID``).  The order is:

1. **intents**: a creating call whose answer never came (a timeout, a killed run)
   left an intent; its row is looked up by the unique value the call carried
   (:data:`LOOKUPS`) and tracked like the rest.  A protected id is never the answer;
2. **stop** the tracked projects that still exist and are running or starting (read
   from the database), all at once, each with a short timeout: a stop that does
   not answer in time goes on inside CoCalc, and the row is deleted anyway;
3. **projects**: their side rows (:data:`cocalc_api_tests.db.SIDE_ROWS`: logs, file
   use, syncstrings, ...), their project-scoped API keys, then the rows;
4. **accounts**: every project they own (and its side rows and API keys) unless it
   is protected; their side rows (``central_log`` auth-token events, password resets,
   ...); their entries in other projects' ``users`` and in organizations' ``users``
   and ``admin_account_ids``; messages they sent or whose every recipient is tracked;
   their auth tokens and API keys; then the account rows;
5. **organizations**, **messages**, **API keys** (by id): the rows;
6. **licenses**: their usage log, their key in projects' ``site_license``, the rows;
7. **events** (unique tags a test wrote into CoCalc's logs): the rows carrying them.

Each kind is one transaction with batched ``= ANY(...)`` statements, so thousands of
rows go in a few round trips.  A kind that fails is rolled back and reported; the
others go on (a deadlock or lock timeout is tried once more; nothing else is).  A
connection that breaks ends the cleanup with one line naming what was not
finished.  A side table or column the server lacks is skipped, said once in the
summary.  ``run(dry_run=True)`` does the same work inside one transaction that is
rolled back, and reports what it would have done.

>>> cleaner = Cleaner(config, hub, tracker)
>>> cleaner.preflight()           # before anything is created: database, schema, privileges?
>>> report = cleaner.run()        # at exit; prints a per-kind summary to stderr
>>> report.complete
True
"""
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, TextIO, Tuple

from . import db
from .client import Hub
from .config import Config
from .errors import CoCalcAPIError, CoCalcConnectionError, DatabaseError
from .tracking import KINDS, Intent, Tracker

#: Seconds each exit-time ``projects.stop`` may take before it is left to go on inside CoCalc.  The hub bridge
#: is asked to wait that long (the body's ``timeout``) and answers a timeout itself; the cleaner never hangs up
#: on a request (a hub logs a request its client left mid-way as an ``uncaught_exception`` row in ``central_log``).
STOP_TIMEOUT = 2.0
#: Seconds beyond :data:`STOP_TIMEOUT` a busy hub may take to send that answer (the HTTP request's own limit).
STOP_ANSWER_MARGIN = 20.0
#: At most this many stops are in flight at once.
MAX_STOPS_AT_ONCE = 64
#: ``projects.state ->> 'state'`` values of a project that is (or is about to be) running.
LIVE_STATES = ("running", "starting", "pending")
#: SQLSTATEs after which a kind's transaction is tried once more (nothing else is retried).
RETRIED_SQLSTATES = ("40P01", "40001", "55P03")  # deadlock, serialization failure, lock timeout
#: SQLSTATE prefixes of a connection that is gone (connection exception, operator intervention).
BROKEN_SQLSTATES = ("08", "57P")

#: How an intent's row is found: kind -> (the intent's key fields, the query).  ``:owners``
#: holds the protected accounts (the key owner): a project or message counts only if one
#: of them owns or sent it.
LOOKUPS: Dict[str, Tuple[Tuple[str, ...], str]] = {
    "project": (("title",), (
        "SELECT project_id::text FROM projects WHERE title = :title AND jsonb_typeof(users) = 'object' "
        "AND EXISTS (SELECT 1 FROM unnest(CAST(:owners AS text[])) AS o(id) WHERE users -> o.id ->> 'group' = 'owner')"
    )),
    "account": (("email",), "SELECT account_id::text FROM accounts WHERE email_address = :email"),
    "organization": (("name",), "SELECT organization_id::text FROM organizations WHERE name = :name"),
    "message": (("subject",), (
        "SELECT id::text FROM messages WHERE subject = :subject AND from_id = ANY(CAST(:owners AS uuid[]))"
    )),
    "api_key": (("name", "project_id"), (
        "SELECT id::text FROM api_keys WHERE name = :name AND project_id = CAST(:project_id AS uuid)"
    )),
    "license": (("title",), "SELECT id::text FROM site_licenses WHERE title = :title"),
}

PREFIX = "cocalc-api-tests cleanup:"


@dataclass
class KindReport:
    """What happened to the tracked resources of one kind."""

    kind: str
    deleted: List[str] = field(default_factory=list)
    already_gone: int = 0
    protected: int = 0
    failed: int = 0
    error: str = ""
    related: Dict[str, int] = field(default_factory=dict)
    owned_projects: List[str] = field(default_factory=list)

    @property
    def touched(self) -> bool:
        """Anything to say: ids were tracked (deleted, gone, failed or protected) or side rows went."""
        return bool(self.deleted or self.already_gone or self.protected or self.failed or self.related)

    def fail(self, count: int, why: str) -> None:
        """Count *count* ids as failed for reason *why* (reasons add up)."""
        self.failed += count
        self.error = f"{self.error}; {why}" if self.error else why

    def line(self, dry_run: bool) -> str:
        verb = "would delete" if dry_run else "deleted"
        text = f"{self.kind}s: {len(self.deleted)} {verb}, {self.already_gone} already gone, {self.failed} failed"
        extras = [f"{n} {what}" for what, n in self.related.items() if n]
        if extras:
            text += f" (with {', '.join(extras)})"
        if self.protected:
            text += f"; {self.protected} protected, left alone"
        if self.error:
            text += f" -- {self.error}"
        return text


@dataclass
class CleanupReport:
    """The outcome of :meth:`Cleaner.run`."""

    dry_run: bool = False
    #: Projects whose stop answered (in a dry run: that would be stopped).
    stopped: List[str] = field(default_factory=list)
    #: Projects whose stop did not answer within the stop timeout (CoCalc goes on stopping them).
    stopping: List[str] = field(default_factory=list)
    stop_failures: Dict[str, str] = field(default_factory=dict)
    kinds: Dict[str, KindReport] = field(default_factory=dict)
    #: Intents whose row was found: ``(intent, id)``.
    resolved: List[Tuple[Intent, str]] = field(default_factory=list)
    #: Intents whose row does not exist (the call created nothing).
    not_found: List[Intent] = field(default_factory=list)
    #: Side tables (or ``table.column``) this server lacks -> why they were skipped.
    skipped: Dict[str, str] = field(default_factory=dict)
    #: Nothing was deleted, because of this.
    error: str = ""
    #: The database connection broke part way; this says where and what was left.
    lost: str = ""
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Everything tracked is gone (a dry run is never complete)."""
        return (
            not self.dry_run and not self.error and not self.lost
            and all(k.failed == 0 for k in self.kinds.values())
        )

    def lines(self) -> List[str]:
        """The summary, one line per step."""
        out: List[str] = []
        if self.resolved or self.not_found:
            out.append(f"resolved {len(self.resolved)} intents (found by the unique value their call carried), "
                       f"{len(self.not_found)} not found (their call created nothing)")
        verb = "would stop" if self.dry_run else "stopped"
        text = f"projects {verb}: {len(self.stopped)}"
        if self.stopping:
            text += f", {len(self.stopping)} still stopping (no answer in time; CoCalc goes on)"
        if self.stop_failures:
            text += f", {len(self.stop_failures)} could not be stopped"
        out.append(text)
        out += [f"  stop {pid}: {why}" for pid, why in self.stop_failures.items()]
        if self.error:
            out.append(f"nothing deleted: {self.error}")
        if self.skipped:
            out.append("not on this server, so skipped: " + ", ".join(f"{what} ({why})" for what, why in self.skipped.items()))
        out += [self.kinds[k].line(self.dry_run) for k in KINDS if k in self.kinds and self.kinds[k].touched]
        if self.lost:
            out.append(self.lost)
        if self.dry_run:
            out += [f"  would stop project {pid}" for pid in self.stopped]
            for entry in self.kinds.values():
                out += [f"  would delete {entry.kind} {rid}" for rid in entry.deleted]
                out += [f"  would delete project {pid} (owned by a tracked account)" for pid in entry.owned_projects]
        return out


class _ConnectionLost(Exception):
    """The database connection broke inside a kind's transaction."""


class Cleaner:
    """Removes what a :class:`~cocalc_api_tests.tracking.Tracker` holds.

    *hub* is a :class:`~cocalc_api_tests.client.Hub` (its key and host stop projects,
    each call bounded by *stop_timeout* seconds); *connect* opens the database
    (default :func:`cocalc_api_tests.db.connect`).
    """

    def __init__(
        self,
        config: Config,
        hub: Any,
        tracker: Tracker,
        *,
        out: Optional[TextIO] = None,
        connect: Callable[[Config], Any] = db.connect,
        stop_timeout: float = STOP_TIMEOUT,
    ):
        self.config = config
        self.hub = hub
        self.tracker = tracker
        self.out = out
        self.stop_timeout = stop_timeout
        self._connect = connect
        self._protected: Dict[str, Set[str]] = {"account": set(), "project": set()}
        self._side: Dict[str, List[db.SideRows]] = {}
        self._lock = threading.Lock()
        self._report: Optional[CleanupReport] = None
        self._stop_keys: Dict[str, str] = {}
        self._stop_keys_lock = threading.Lock()  # not _lock: run() holds that while it stops

    def stop_as(self, project_id: str, api_key: str) -> None:
        """Stop *project_id* with *api_key* (a project the suite's key may not stop: another account's).

        Kept in memory only, never in the ledger: ``cleanup --ledger`` deletes such a
        project's rows but cannot stop it.
        """
        with self._stop_keys_lock:
            self._stop_keys[project_id] = api_key

    def protect(self, account_ids: Iterable[Optional[str]] = (), project_ids: Iterable[Optional[str]] = ()) -> None:
        """Never delete these, even if tracked (the key's account, ``COCALC_PROJECT_ID``)."""
        self._protected["account"].update(a for a in account_ids if a)
        self._protected["project"].update(p for p in project_ids if p)

    def preflight(self) -> None:
        """Fail now, before anything is created, if cleanup could not run at the end.

        Checks the connection, the schema and the privileges (:func:`db.check_privileges`).
        """
        conn = self._connect(self.config)
        try:
            db.check_schema(conn)
            db.check_privileges(conn)
        except DatabaseError:
            raise
        except Exception as err:  # a driver error while reading the catalog
            raise DatabaseError(db.scrub(
                f"Reading the schema of the {self.config.describe_database()} failed ({db.reason(err, self.config)}).", self.config
            )) from None
        finally:
            _close(conn)

    def run(self, dry_run: bool = False, stop: bool = True) -> Optional[CleanupReport]:
        """Stop and delete everything tracked; print and return the report.

        Does nothing (returns ``None``) when cleanup is disabled.  A real run happens
        once: calling it again returns the first report.  *stop* ``False`` skips the
        API calls that stop projects.
        """
        if not self.config.cleanup:
            return None
        with self._lock:
            if self._report is not None and not dry_run:
                return self._report
            started = time.monotonic()
            report = CleanupReport(dry_run=dry_run)
            try:
                conn = self._connect(self.config)
            except DatabaseError as err:
                report.error = db.scrub(str(err), self.config)
                self._fail_all(report)
            else:
                try:
                    self._clean(conn, report, stop)
                finally:
                    _close(conn)
            report.seconds = time.monotonic() - started
            if not dry_run:
                self._report = report
            self._print(report)
            return report

    # -- the work -----------------------------------------------------------------

    def _clean(self, conn: Any, report: CleanupReport, stop: bool) -> None:
        try:
            db.check_schema(conn)
            usable, report.skipped = db.side_rows(conn)
            self._side = {kind: [e for e in usable if e.kind == kind] for kind in KINDS}
            found = self._resolve(conn, report)
            targets = {kind: self._targets(kind, report, found.get(kind, ())) for kind in KINDS}
            live = self._live(conn, targets["project"]) if stop else []
        except DatabaseError as err:
            report.error = db.scrub(str(err), self.config)
            self._fail_all(report)
            return
        except Exception as err:  # a driver error, or the connection broke
            report.error = db.scrub(f"reading the {self.config.describe_database()} failed ({db.reason(err, self.config)})", self.config)
            self._fail_all(report)
            return
        if stop:
            self._stop(live, report)
        steps: Dict[str, Callable[[Any, List[str], KindReport], List[str]]] = {
            "project": self._delete_projects,
            "account": self._delete_accounts,
            "organization": self._delete_organizations,
            "message": self._delete_messages,
            "api_key": self._delete_api_keys,
            "license": self._delete_licenses,
            "event": self._delete_events,
        }
        try:
            if report.dry_run:
                conn.run("BEGIN")
            for kind in KINDS:
                if targets[kind]:
                    self._run_kind(conn, steps[kind], targets[kind], report.kinds[kind], report.dry_run)
            if report.dry_run:
                conn.run("ROLLBACK")
        except _ConnectionLost as lost:
            kind = str(lost.args[0])
            rest = [k for k in KINDS[KINDS.index(kind) + 1:] if targets[k]]
            for other in rest:
                report.kinds[other].fail(len(targets[other]), "not attempted: the database connection was lost")
            report.lost = (
                f"the database connection was lost during the {kind}s ({lost.args[1]}); the {kind}s"
                + (f" and the {', '.join(k + 's' for k in rest)}" if rest else "")
                + " were not cleaned up (run the cleanup again)"
            )
        except Exception as err:  # BEGIN or the dry run's final ROLLBACK
            report.lost = f"the database connection was lost ({db.reason(err, self.config)}); run the cleanup again"

    def _run_kind(self, conn: Any, step: Callable[[Any, List[str], KindReport], List[str]], ids: List[str],
                  entry: KindReport, dry_run: bool) -> None:
        """*step* in its own transaction (a savepoint in a dry run), rolled back if it fails."""
        begin, commit, rollback = (
            ("SAVEPOINT kind", "RELEASE SAVEPOINT kind", "ROLLBACK TO SAVEPOINT kind") if dry_run
            else ("BEGIN", "COMMIT", "ROLLBACK")
        )
        for attempt in (1, 2):
            try:
                conn.run(begin)
                deleted = step(conn, ids, entry)
                conn.run(commit)
            except Exception as err:  # one kind failing must not stop the others
                why = db.reason(err, self.config)
                entry.related, entry.owned_projects = {}, []
                if db.sqlstate(err).startswith(BROKEN_SQLSTATES) or not _rolled_back(conn, rollback):
                    entry.fail(len(ids), f"the database connection was lost ({why})")
                    raise _ConnectionLost(entry.kind, why) from None
                if attempt == 1 and db.sqlstate(err) in RETRIED_SQLSTATES:
                    continue
                entry.fail(len(ids), why)
                return
            entry.deleted = deleted
            entry.already_gone = len(ids) - len(deleted)
            return

    # -- what to delete ---------------------------------------------------------------

    def _protected_ids(self, kind: str) -> Set[str]:
        canonical = _CANONICAL.get(kind, _uuid)
        return {c for c in map(canonical, self._protected.get(kind, set())) if c is not None}

    def _resolve(self, conn: Any, report: CleanupReport) -> Dict[str, List[str]]:
        """Look up the row of every unresolved intent; track what is found (report it in a dry run)."""
        found: Dict[str, List[str]] = {}
        owners = sorted(self._protected_ids("account"))
        for intent in self.tracker.unresolved():
            entry = report.kinds.setdefault(intent.kind, KindReport(intent.kind))
            fields, sql = LOOKUPS.get(intent.kind, ((), ""))
            values = {f: intent.key.get(f, "") for f in fields}
            if not sql or not all(values.values()) or ("project_id" in values and _uuid(values["project_id"]) is None):
                entry.fail(1, f"intent {intent.serial} ({intent.key}) cannot be looked up")
                continue
            if intent.kind == "license" and "site_licenses" in report.skipped:
                report.not_found.append(intent)
                continue
            protected = self._protected_ids(intent.kind)
            ids = [r[0] for r in conn.run(sql, owners=owners, **values) if r[0] not in protected]
            if not ids:
                report.not_found.append(intent)
            for resource_id in ids:
                report.resolved.append((intent, resource_id))
                if report.dry_run:
                    found.setdefault(intent.kind, []).append(resource_id)
                else:
                    self.tracker.add(intent.kind, resource_id, intent=intent)
        return found

    def _targets(self, kind: str, report: CleanupReport, extra: Iterable[str] = ()) -> List[str]:
        """The ids of *kind* to delete, in canonical form, minus the protected ones."""
        canonical = _CANONICAL.get(kind, _uuid)
        protected = self._protected_ids(kind)
        entry = report.kinds.setdefault(kind, KindReport(kind))
        targets: Dict[str, None] = {}
        bad: List[str] = []
        for raw in list(self.tracker.ids(kind)) + list(extra):
            value = canonical(raw)
            if value is None:
                bad.append(raw)
            elif value in protected:
                entry.protected += 1
            else:
                targets[value] = None
        if bad:
            entry.fail(len(bad), f"not a valid {kind} id: {', '.join(map(repr, bad[:3]))}")
        return list(targets)

    def _live(self, conn: Any, project_ids: List[str]) -> List[str]:
        """The tracked projects whose row exists and whose state is running or starting."""
        if not project_ids:
            return []
        rows = conn.run(
            "SELECT project_id::text FROM projects WHERE project_id = ANY(CAST(:p AS uuid[])) "
            "AND jsonb_typeof(state) = 'object' AND state ->> 'state' = ANY(CAST(:s AS text[]))",
            p=project_ids, s=list(LIVE_STATES),
        )
        live = {r[0] for r in rows}
        return [p for p in project_ids if p in live]

    # -- stopping ---------------------------------------------------------------------

    def _stop(self, project_ids: List[str], report: CleanupReport) -> None:
        """``projects.stop`` for each of *project_ids*, all at once, each bounded by :attr:`stop_timeout`."""
        if report.dry_run or not project_ids:
            report.stopped = list(project_ids)
            return
        with self._stop_keys_lock:
            keys = {p: self._stop_keys.get(p, self.hub.api_key) for p in project_ids}
        stoppers = {key: Hub(key, self.hub.host, http_timeout=self.stop_timeout + STOP_ANSWER_MARGIN) for key in set(keys.values())}
        outcomes: Dict[str, Optional[str]] = {}
        pending = list(project_ids)
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    project_id = pending.pop()
                outcome = _stop_one(stoppers[keys[project_id]], project_id, self.stop_timeout)
                with lock:
                    outcomes[project_id] = outcome

        # Plain threads: the cleaner runs from atexit, where concurrent.futures refuses work.
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(MAX_STOPS_AT_ONCE, len(project_ids)))]
        for thread in threads:
            thread.start()
        rounds = -(-len(project_ids) // MAX_STOPS_AT_ONCE)
        deadline = time.monotonic() + rounds * (self.stop_timeout + STOP_ANSWER_MARGIN + 5.0)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for stopper in stoppers.values():
            stopper.close()
        with lock:
            for project_id in project_ids:
                outcome = outcomes.get(project_id, _STILL_STOPPING)
                if outcome is None:
                    report.stopped.append(project_id)
                elif outcome is _STILL_STOPPING:
                    report.stopping.append(project_id)
                else:
                    report.stop_failures[project_id] = outcome

    # -- deleting ---------------------------------------------------------------------

    def _side_rows(self, conn: Any, kind: str, ids: List[str], entry: KindReport, emails: Iterable[str] = ()) -> Set[str]:
        """Delete (or edit) the side rows of *ids*; the ids that had a row (for entries with a key)."""
        found: Set[str] = set()
        for side in self._side.get(kind, []):
            action = f"UPDATE {side.table} SET {side.update}" if side.update else f"DELETE FROM {side.table}"
            rows = conn.run(
                f"WITH done AS ({action} WHERE {side.where} RETURNING {side.key or 'NULL'}::text AS k) "
                "SELECT k, count(*) FROM done GROUP BY k",
                ids=ids, emails=list(emails),
            )
            _count(entry, side.label, sum(n for _, n in rows))
            found.update(k for k, _ in rows if k is not None)
        return found

    def _delete_projects(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        self._side_rows(conn, "project", ids, entry)
        keys = conn.run("DELETE FROM api_keys WHERE project_id = ANY(CAST(:p AS uuid[])) RETURNING id", p=ids)
        _count(entry, "project API keys", len(keys))
        rows = conn.run("DELETE FROM projects WHERE project_id = ANY(CAST(:p AS uuid[])) RETURNING project_id::text", p=ids)
        return [r[0] for r in rows]

    def _owned_projects(self, conn: Any, account_ids: List[str]) -> List[str]:
        rows = conn.run(
            "SELECT project_id::text FROM projects "
            "WHERE jsonb_typeof(users) = 'object' AND users ?| CAST(:a AS text[]) "
            "AND EXISTS (SELECT 1 FROM unnest(CAST(:a AS text[])) AS t(id) WHERE users -> t.id ->> 'group' = 'owner') "
            "AND NOT project_id = ANY(CAST(:keep AS uuid[]))",
            a=account_ids,
            keep=sorted(self._protected_ids("project")),
        )
        return [r[0] for r in rows]

    def _delete_accounts(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        owned = self._owned_projects(conn, ids)
        if owned:
            self._side_rows(conn, "project", owned, entry)
            keys = conn.run("DELETE FROM api_keys WHERE project_id = ANY(CAST(:p AS uuid[])) RETURNING 1", p=owned)
            _count(entry, "project API keys", len(keys))
            owned_deleted = conn.run(
                "DELETE FROM projects WHERE project_id = ANY(CAST(:p AS uuid[])) RETURNING project_id::text", p=owned
            )
            entry.owned_projects = [r[0] for r in owned_deleted]
        emails = [r[0] for r in conn.run(
            "SELECT email_address FROM accounts WHERE account_id = ANY(CAST(:a AS uuid[])) AND email_address IS NOT NULL",
            a=ids,
        )]
        self._side_rows(conn, "account", ids, entry, emails=emails)
        counts = {
            "project memberships": conn.run(
                "UPDATE projects SET users = users - CAST(:a AS text[]) "
                "WHERE jsonb_typeof(users) = 'object' AND users ?| CAST(:a AS text[]) RETURNING 1",
                a=ids,
            ),
            "organization admin entries": conn.run(
                "UPDATE organizations SET admin_account_ids = ARRAY(SELECT x FROM unnest(admin_account_ids) AS x "
                "WHERE NOT x = ANY(CAST(:a AS uuid[]))) WHERE admin_account_ids && CAST(:a AS uuid[]) RETURNING 1",
                a=ids,
            ),
            "organization user entries": conn.run(
                "UPDATE organizations SET users = users - CAST(:a AS text[]) "
                "WHERE jsonb_typeof(users) IN ('object', 'array') AND users ?| CAST(:a AS text[]) RETURNING 1",
                a=ids,
            ),
            "messages": conn.run(
                "DELETE FROM messages WHERE from_id = ANY(CAST(:a AS uuid[])) "
                "OR (cardinality(to_ids) > 0 AND to_ids <@ CAST(:a AS uuid[])) RETURNING 1",
                a=ids,
            ),
            "auth tokens": conn.run("DELETE FROM auth_tokens WHERE account_id = ANY(CAST(:a AS uuid[])) RETURNING 1", a=ids),
            "API keys": conn.run("DELETE FROM api_keys WHERE account_id = ANY(CAST(:a AS uuid[])) RETURNING 1", a=ids),
        }
        _count(entry, "owned projects", len(entry.owned_projects))
        for label, rows in counts.items():
            _count(entry, label, len(rows))
        rows = conn.run("DELETE FROM accounts WHERE account_id = ANY(CAST(:a AS uuid[])) RETURNING account_id::text", a=ids)
        return [r[0] for r in rows]

    def _delete_organizations(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        self._side_rows(conn, "organization", ids, entry)
        rows = conn.run(
            "DELETE FROM organizations WHERE organization_id = ANY(CAST(:o AS uuid[])) RETURNING organization_id::text",
            o=ids,
        )
        return [r[0] for r in rows]

    def _delete_messages(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        self._side_rows(conn, "message", ids, entry)
        rows = conn.run("DELETE FROM messages WHERE id = ANY(CAST(:m AS int[])) RETURNING id::text", m=ids)
        return [r[0] for r in rows]

    def _delete_api_keys(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        self._side_rows(conn, "api_key", ids, entry)
        rows = conn.run("DELETE FROM api_keys WHERE id = ANY(CAST(:k AS int[])) RETURNING id::text", k=ids)
        return [r[0] for r in rows]

    def _delete_licenses(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        found = self._side_rows(conn, "license", ids, entry)
        return [i for i in ids if i in found]

    def _delete_events(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        found = self._side_rows(conn, "event", ids, entry)
        return [i for i in ids if i in found]

    # -- reporting ----------------------------------------------------------------

    def _fail_all(self, report: CleanupReport) -> None:
        unresolved: Dict[str, int] = {}
        for intent in self.tracker.unresolved():
            unresolved[intent.kind] = unresolved.get(intent.kind, 0) + 1
        for kind in KINDS:
            entry = report.kinds.setdefault(kind, KindReport(kind))
            protected = self._protected.get(kind, set())
            entry.failed = sum(1 for i in self.tracker.ids(kind) if i not in protected) + unresolved.get(kind, 0)

    def _print(self, report: CleanupReport) -> None:
        if not len(self.tracker) and not self.tracker.unresolved() and not report.error:
            return
        out = self.out or sys.stderr
        for line in report.lines():
            print(f"{PREFIX} {line}", file=out)
        out.flush()


_STILL_STOPPING = "still stopping"


def _stop_one(hub: Hub, project_id: str, wait: float) -> Optional[str]:
    """``None`` (stopped), :data:`_STILL_STOPPING` (no answer in time), or why the stop failed."""
    try:
        hub.call("projects.stop", [{"project_id": project_id}], int(wait * 1000))
        return None
    except CoCalcConnectionError as err:
        return _STILL_STOPPING if "Read timed out" in str(err) else str(err)
    except CoCalcAPIError as err:
        return _STILL_STOPPING if err.transient else str(err)
    except Exception as err:  # report every failure; stopping is best effort
        return str(err) or type(err).__name__


def _rolled_back(conn: Any, statement: str) -> bool:
    """Roll back with *statement*; False when even that fails (the connection is gone)."""
    try:
        conn.run(statement)
    except Exception:
        return False
    return True


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # the connection may already be broken
        pass


def _count(entry: KindReport, label: str, n: int) -> None:
    if n:
        entry.related[label] = entry.related.get(label, 0) + n


def _uuid(value: Any) -> Optional[str]:
    """*value* as a lower-case hyphenated UUID (how CoCalc writes ids in jsonb), or None."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _serial(value: Any) -> Optional[str]:
    """A positive 32-bit integer id (messages, API keys) as text, or None."""
    text = str(value).strip()
    return text if text.isdigit() and 0 < int(text) < 2 ** 31 else None


def _tag(value: Any) -> Optional[str]:
    """An event tag: 8 to 200 printable characters without spaces, so it cannot match rows it did not write."""
    text = str(value)
    return text if 8 <= len(text) <= 200 and text.isprintable() and not any(c.isspace() for c in text) else None


_CANONICAL: Dict[str, Callable[[Any], Optional[str]]] = {"message": _serial, "api_key": _serial, "event": _tag}
