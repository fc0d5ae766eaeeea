"""The cleaner: at exit, stop what the run started and hard-delete what it created.

Only ids in the tracker (or a ledger) are touched, minus the protected ones (the
account that owns the API key and ``COCALC_PROJECT_ID``).  The order is:

1. stop every tracked project through the API (a tracked account's own projects are
   never started by the suite, and the key may not stop them);
2. **projects**: their project-scoped API keys, then the rows;
3. **accounts**: every project they own (with its API keys); their entries in other
   projects' ``users`` and in organizations' ``users`` and ``admin_account_ids``;
   messages they sent or whose every recipient is tracked; their auth tokens and API
   keys; then the account rows;
4. **organizations**: the rows;
5. **messages**: tracked message ids.

Each kind is one transaction with batched ``= ANY(...)`` statements, so thousands of
rows go in a few round trips.  ``run(dry_run=True)`` does the same work inside one
transaction that is rolled back, and reports what it would have done.

>>> cleaner = Cleaner(config, hub, tracker)
>>> cleaner.preflight()           # before anything is created: database and schema usable?
>>> report = cleaner.run()        # at exit; prints a per-kind summary to stderr
>>> report.complete
True
"""
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, TextIO

from . import db
from .config import Config
from .errors import DatabaseError
from .tracking import KINDS, Tracker

#: Parallel ``projects.stop`` calls.
STOP_WORKERS = 8

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
    stopped: List[str] = field(default_factory=list)
    stop_failures: Dict[str, str] = field(default_factory=dict)
    kinds: Dict[str, KindReport] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Everything tracked is gone (a dry run is never complete)."""
        return not self.dry_run and not self.error and all(k.failed == 0 for k in self.kinds.values())

    def lines(self) -> List[str]:
        """The summary, one line per step."""
        verb = "would stop" if self.dry_run else "stopped"
        out = [f"projects {verb}: {len(self.stopped)}" + (f", {len(self.stop_failures)} could not be stopped" if self.stop_failures else "")]
        out += [f"  stop {pid}: {why}" for pid, why in self.stop_failures.items()]
        if self.error:
            out.append(f"nothing deleted: {self.error}")
        out += [self.kinds[k].line(self.dry_run) for k in KINDS if k in self.kinds]
        if self.dry_run:
            out += [f"  would stop project {pid}" for pid in self.stopped]
            for entry in self.kinds.values():
                out += [f"  would delete {entry.kind} {rid}" for rid in entry.deleted]
                out += [f"  would delete project {pid} (owned by a tracked account)" for pid in entry.owned_projects]
        return out


class Cleaner:
    """Removes what a :class:`~cocalc_api_tests.tracking.Tracker` holds.

    *hub* is a :class:`~cocalc_api_tests.client.Hub` (used to stop projects);
    *connect* opens the database (default :func:`cocalc_api_tests.db.connect`).
    """

    def __init__(
        self,
        config: Config,
        hub: Any,
        tracker: Tracker,
        *,
        out: Optional[TextIO] = None,
        connect: Callable[[Config], Any] = db.connect,
    ):
        self.config = config
        self.hub = hub
        self.tracker = tracker
        self.out = out
        self._connect = connect
        self._protected: Dict[str, Set[str]] = {"account": set(), "project": set()}
        self._lock = threading.Lock()
        self._report: Optional[CleanupReport] = None

    def protect(self, account_ids: Iterable[Optional[str]] = (), project_ids: Iterable[Optional[str]] = ()) -> None:
        """Never delete these, even if tracked (the key's account, ``COCALC_PROJECT_ID``)."""
        self._protected["account"].update(a for a in account_ids if a)
        self._protected["project"].update(p for p in project_ids if p)

    def preflight(self) -> None:
        """Fail now, before anything is created, if cleanup could not run at the end."""
        conn = self._connect(self.config)
        try:
            db.check_schema(conn)
        finally:
            conn.close()

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
                report.error = str(err)
                self._fail_all(report)
            else:
                try:
                    self._clean(conn, report, stop)
                finally:
                    conn.close()
            report.seconds = time.monotonic() - started
            if not dry_run:
                self._report = report
            self._print(report)
            return report

    # -- the work -----------------------------------------------------------------

    def _targets(self, kind: str, report: CleanupReport) -> List[str]:
        """The ids of *kind* to delete, in canonical form, minus the protected ones."""
        canonical = {"message": _message_id, "api_key": _message_id, "event": str}.get(kind, _uuid)
        protected = {canonical(p) for p in self._protected.get(kind, set())}
        entry = report.kinds.setdefault(kind, KindReport(kind))
        targets: List[str] = []
        bad: List[str] = []
        for raw in self.tracker.ids(kind):
            value = canonical(raw)
            if value is None:
                bad.append(raw)
            elif value in protected:
                entry.protected += 1
            elif value not in targets:
                targets.append(value)
        if bad:
            entry.failed += len(bad)
            entry.error = f"not a valid {kind} id: {', '.join(bad[:3])}"
        return targets

    def _clean(self, conn: Any, report: CleanupReport, stop: bool) -> None:
        targets = {kind: self._targets(kind, report) for kind in KINDS}
        try:
            db.check_schema(conn)
        except DatabaseError as err:
            report.error = str(err)
            self._fail_all(report)
            return
        if stop:
            self._stop(targets["project"], report)
        steps = {
            "project": self._delete_projects,
            "account": self._delete_accounts,
            "organization": self._delete_organizations,
            "message": self._delete_messages,
        }
        if report.dry_run:
            conn.run("BEGIN")
        for kind in KINDS:
            entry = report.kinds[kind]
            ids = targets[kind]
            if not ids or kind not in steps:  # TODO(cleaner): api_key, license, event
                continue
            conn.run("SAVEPOINT kind" if report.dry_run else "BEGIN")
            try:
                entry.deleted = steps[kind](conn, ids, entry)
            except Exception as err:  # one kind failing must not stop the others
                conn.run("ROLLBACK TO SAVEPOINT kind" if report.dry_run else "ROLLBACK")
                entry.failed += len(ids)
                entry.deleted = []
                entry.related = {}
                entry.owned_projects = []
                entry.error = db.scrub(db._reason(err), self.config)
                continue
            conn.run("RELEASE SAVEPOINT kind" if report.dry_run else "COMMIT")
            entry.already_gone = len(ids) - len(entry.deleted)
        if report.dry_run:
            conn.run("ROLLBACK")

    def _stop(self, project_ids: List[str], report: CleanupReport) -> None:
        if report.dry_run or not project_ids:
            report.stopped = project_ids
            return

        def stop_one(project_id: str) -> Optional[str]:
            try:
                self.hub.projects.stop(project_id)
                return None
            except Exception as err:  # report every failure; stopping is best effort
                return str(err) or type(err).__name__

        # Plain threads: the cleaner runs from atexit, where concurrent.futures refuses work.
        failures: Dict[str, Optional[str]] = {}
        pending = list(project_ids)
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    project_id = pending.pop()
                failure = stop_one(project_id)
                with lock:
                    failures[project_id] = failure

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(STOP_WORKERS, len(project_ids)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for project_id in project_ids:
            failure = failures.get(project_id, "not attempted")
            if failure is None:
                report.stopped.append(project_id)
            else:
                report.stop_failures[project_id] = failure

    def _owned_projects(self, conn: Any, account_ids: List[str]) -> List[str]:
        if not account_ids:
            return []
        rows = conn.run(
            "SELECT project_id::text FROM projects "
            "WHERE jsonb_typeof(users) = 'object' AND users ?| CAST(:a AS text[]) "
            "AND EXISTS (SELECT 1 FROM unnest(CAST(:a AS text[])) AS t(id) WHERE users -> t.id ->> 'group' = 'owner') "
            "AND NOT project_id = ANY(CAST(:keep AS uuid[]))",
            a=account_ids,
            keep=sorted(filter(None, map(_uuid, self._protected["project"]))),
        )
        return [r[0] for r in rows]

    @staticmethod
    def _delete_projects(conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        keys = conn.run("DELETE FROM api_keys WHERE project_id = ANY(CAST(:p AS uuid[])) RETURNING id", p=ids)
        entry.related = {"project API keys": len(keys)}
        rows = conn.run("DELETE FROM projects WHERE project_id = ANY(CAST(:p AS uuid[])) RETURNING project_id::text", p=ids)
        return [r[0] for r in rows]

    def _delete_accounts(self, conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        owned = self._owned_projects(conn, ids)
        conn.run("DELETE FROM api_keys WHERE project_id = ANY(CAST(:p AS uuid[]))", p=owned)
        owned_deleted = conn.run("DELETE FROM projects WHERE project_id = ANY(CAST(:p AS uuid[])) RETURNING project_id::text", p=owned)
        entry.owned_projects = [r[0] for r in owned_deleted]
        collaborations = conn.run(
            "UPDATE projects SET users = users - CAST(:a AS text[]) "
            "WHERE jsonb_typeof(users) = 'object' AND users ?| CAST(:a AS text[]) RETURNING 1",
            a=ids,
        )
        admin_of = conn.run(
            "UPDATE organizations SET admin_account_ids = ARRAY(SELECT x FROM unnest(admin_account_ids) AS x "
            "WHERE NOT x = ANY(CAST(:a AS uuid[]))) WHERE admin_account_ids && CAST(:a AS uuid[]) RETURNING 1",
            a=ids,
        )
        member_of = conn.run(
            "UPDATE organizations SET users = users - CAST(:a AS text[]) "
            "WHERE jsonb_typeof(users) IN ('object', 'array') AND users ?| CAST(:a AS text[]) RETURNING 1",
            a=ids,
        )
        messages = conn.run(
            "DELETE FROM messages WHERE from_id = ANY(CAST(:a AS uuid[])) "
            "OR (cardinality(to_ids) > 0 AND to_ids <@ CAST(:a AS uuid[])) RETURNING 1",
            a=ids,
        )
        tokens = conn.run("DELETE FROM auth_tokens WHERE account_id = ANY(CAST(:a AS uuid[])) RETURNING 1", a=ids)
        keys = conn.run("DELETE FROM api_keys WHERE account_id = ANY(CAST(:a AS uuid[])) RETURNING 1", a=ids)
        rows = conn.run("DELETE FROM accounts WHERE account_id = ANY(CAST(:a AS uuid[])) RETURNING account_id::text", a=ids)
        entry.related = {
            "owned projects": len(owned_deleted),
            "project memberships": len(collaborations),
            "organization admin entries": len(admin_of),
            "organization user entries": len(member_of),
            "messages": len(messages),
            "auth tokens": len(tokens),
            "API keys": len(keys),
        }
        return [r[0] for r in rows]

    @staticmethod
    def _delete_organizations(conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        rows = conn.run(
            "DELETE FROM organizations WHERE organization_id = ANY(CAST(:o AS uuid[])) RETURNING organization_id::text",
            o=ids,
        )
        return [r[0] for r in rows]

    @staticmethod
    def _delete_messages(conn: Any, ids: List[str], entry: KindReport) -> List[str]:
        rows = conn.run("DELETE FROM messages WHERE id = ANY(CAST(:m AS int[])) RETURNING id::text", m=[int(i) for i in ids])
        return [r[0] for r in rows]

    # -- reporting ----------------------------------------------------------------

    def _fail_all(self, report: CleanupReport) -> None:
        for kind in KINDS:
            entry = report.kinds.setdefault(kind, KindReport(kind))
            protected = self._protected.get(kind, set())
            entry.failed = sum(1 for i in self.tracker.ids(kind) if i not in protected)

    def _print(self, report: CleanupReport) -> None:
        if not len(self.tracker) and not report.error:
            return
        out = self.out or sys.stderr
        for line in report.lines():
            print(f"{PREFIX} {line}", file=out)
        out.flush()


def _uuid(value: str) -> Optional[str]:
    """*value* as a lower-case hyphenated UUID (how CoCalc writes ids in jsonb), or None."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _message_id(value: str) -> Optional[str]:
    text = str(value).strip()
    return text if text.isdigit() and 0 < int(text) < 2 ** 31 else None
