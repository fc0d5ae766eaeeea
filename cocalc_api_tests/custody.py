"""Custody of what one run creates and must protect: tracker, ledger, cleaner and protected ids.

One :class:`Custody` is built per run and used the same way by the session,
the doctor and ``cleanup --ledger``::

    custody = Custody(config, hub, run_id="1a2b3c4d")
    custody.preflight()                               # cleanup database usable? (before anything exists)
    custody.protect(account_ids=[me], project_ids=[config.project_id])
    project_id = custody.create("project", {"title": t}, lambda: hub.projects.create_project(title=t))
    report = custody.close()                          # stop, hard-delete, drop the ledger if complete

A creating call is bracketed by an intent (written to the ledger before the
call) and the id (written after), so a run killed at any instant leaves a
ledger from which ``cleanup --ledger`` finds every row.  Once :meth:`close`
has begun, no new creating call is let through, and the ones in flight are
waited for (a bounded time) before the cleaner runs.
"""
import sys
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, TextIO, Tuple

from . import db
from .cleanup import Cleaner, CleanupReport
from .config import Config
from .errors import CoCalcError, NotSettled, RunEnding, is_transient
from .ledger import Ledger, LedgerContents
from .poll import Settled, settle
from .tracking import Intent, Resource, Tracker

#: Seconds :meth:`Custody.close` waits for creating calls still in flight.
IN_FLIGHT_WAIT = 30.0
#: Seconds the row of a creation that timed out may take to show (the creation goes on in the hub).
FIND_WAIT = 180.0
#: Seconds after which a creation that timed out and whose row has not shown is made again (a busy hub may
#: drop what it answered a timeout for).
CREATE_AGAIN = 60.0
#: Seconds the removal of a scratch folder may take.
SCRATCH_TIMEOUT = 30.0


class Custody:
    """The tracker, ledger and cleaner of one run, and the ids it must never delete.

    *ledger* ``False`` keeps no ledger on disk (``cleanup --ledger`` works from an
    existing one); the ledger is only kept when cleanup is enabled.
    """

    def __init__(
        self,
        config: Config,
        hub: Any,
        run_id: str,
        *,
        tracker: Optional[Tracker] = None,
        ledger: bool = True,
        out: Optional[TextIO] = None,
        connect: Callable[[Config], Any] = db.connect,
    ):
        self.config = config
        self.hub = hub
        self.run_id = run_id
        self._want_ledger = ledger and config.cleanup
        self.ledger: Optional[Ledger] = None
        self.tracker = tracker if tracker is not None else Tracker(on_add=self._record, on_intent=self._record_intent)
        self.cleaner = Cleaner(config, hub, self.tracker, out=out, connect=connect)
        self.protected_accounts: List[str] = []
        self.protected_projects: List[str] = []
        self._scratch: List[Tuple[str, str]] = []
        self._state = threading.Condition()
        self._in_flight = 0
        self._closing = False

    @classmethod
    def from_ledger(cls, contents: LedgerContents, config: Config, hub: Any, out: Optional[TextIO] = None) -> "Custody":
        """The custody of an interrupted run, read back from its ledger (no new ledger is written)."""
        custody = cls(config, hub, str(contents.run.get("run_id", "?")), tracker=contents.tracker, ledger=False, out=out)
        custody.protect(account_ids=contents.protected_accounts, project_ids=contents.protected_projects + [config.project_id])
        custody._scratch = list(contents.scratch)
        return custody

    # -- the ledger ---------------------------------------------------------------------

    def _open_ledger(self) -> Optional[Ledger]:
        with self._state:
            if self.ledger is None and self._want_ledger:
                self.ledger = Ledger.for_run(self.config, self.run_id)
            return self.ledger

    def _record(self, resource: Resource) -> None:
        ledger = self._open_ledger()
        if ledger is not None:
            ledger.record(resource)

    def _record_intent(self, intent: Intent) -> None:
        ledger = self._open_ledger()
        if ledger is not None:
            ledger.record_intent(intent)

    # -- before anything is created -----------------------------------------------------

    def preflight(self) -> None:
        """Fail now (:class:`DatabaseError`), before anything is created, if cleanup could not run at the end."""
        if self.config.cleanup:
            self.cleaner.preflight()

    def protect(self, account_ids: Iterable[Optional[str]] = (), project_ids: Iterable[Optional[str]] = ()) -> None:
        """Never delete these, even if tracked (the key's account, ``COCALC_PROJECT_ID``)."""
        accounts, projects = [a for a in account_ids if a], [p for p in project_ids if p]
        self.protected_accounts += accounts
        self.protected_projects += projects
        self.cleaner.protect(account_ids=accounts, project_ids=projects)
        ledger = self._open_ledger()
        if ledger is not None:
            ledger.protect(account_ids=accounts, project_ids=projects)

    # -- creating -------------------------------------------------------------------------

    def create(self, kind: str, key: Dict[str, Any], call: Callable[[], Any],
               find: Optional[Callable[[], List[Any]]] = None, **extra: Any) -> Any:
        """*call()*, which creates one *kind* carrying the unique *key*; tracked, its id returned.

        A refusal abandons the intent (nothing was created); a timeout or a lost
        connection leaves it open, so the cleaner looks the row up by *key*.  With
        *find* (the ids of rows carrying *key*, read through the API), such an answer
        is a creation still in progress: the new row is waited for and its id
        returned; a busy hub may also drop what it timed out on, so a row still not
        seen after :data:`CREATE_AGAIN` seconds is created again (under the same open
        intent: the cleaner finds every row carrying *key*).  If none shows within
        :data:`FIND_WAIT` seconds, the first timeout is raised.
        """
        with self._state:
            if self._closing:
                raise RunEnding(f"the run is ending, so no new {kind} is created")
            self._in_flight += 1
        try:
            intent = self.tracker.intend(kind, **key)
            try:
                resource_id = call() if find is None else self._made(kind, key, call, find)
            except CoCalcError as err:
                if not is_transient(err):
                    self.tracker.abandon(intent)
                raise
            self.tracker.add(kind, resource_id, intent=intent, **dict(key, **extra))
            return resource_id
        finally:
            with self._state:
                self._in_flight -= 1
                self._state.notify_all()

    @staticmethod
    def _made(kind: str, key: Dict[str, Any], call: Callable[[], Any], find: Callable[[], List[Any]]) -> Any:
        """*call()*'s id, or, when it answered a timeout, the id of the row carrying *key* once it shows."""
        try:
            answer = settle(call, read=find, accept=bool, timeout=FIND_WAIT, again=CREATE_AGAIN, what=f"the new {kind} {key}")
        except NotSettled as err:
            raise err.last if isinstance(err.last, CoCalcError) else err from None
        return find()[0] if isinstance(answer, Settled) else answer

    def track(self, kind: str, resource_id: Any, **extra: Any) -> Resource:
        """Track a resource whose id is known before (or without) a creating call."""
        return self.tracker.add(kind, resource_id, **extra)

    def scratch(self, project_id: str, path: str) -> None:
        """*path* in *project_id* holds files the run writes; it is removed at the end when the project stays."""
        with self._state:
            if (project_id, path) in self._scratch:
                return
            self._scratch.append((project_id, path))
        ledger = self._open_ledger()
        if ledger is not None:
            ledger.scratch(project_id, path)

    # -- the end ----------------------------------------------------------------------------

    def close(self, dry_run: bool = False, stop: bool = True) -> Optional[CleanupReport]:
        """Refuse new creating calls, wait for those in flight, remove scratch folders, clean up.

        Returns the cleaner's report (``None`` with cleanup disabled); the ledger is
        removed when the report is complete.
        """
        with self._state:
            self._closing = True
            self._state.wait_for(lambda: self._in_flight == 0, timeout=IN_FLIGHT_WAIT)
        if not dry_run:
            self._remove_scratch()
        report = self.cleaner.run(dry_run=dry_run, stop=stop)
        if self.ledger is not None and report is not None and report.complete:
            self.ledger.finish()
        return report

    def _remove_scratch(self) -> None:
        """Delete the run's scratch folders from projects that are not deleted with the run."""
        doomed = set(self.tracker.ids("project"))
        for project_id, path in self._scratch:
            if project_id in doomed and project_id not in self.protected_projects:
                continue
            client = self.hub.project(project_id)
            try:
                client.system.exec("rm", args=["-rf", "--", path], timeout=SCRATCH_TIMEOUT)
            except CoCalcError as err:
                print(f"cocalc-api-tests: could not remove {path} from project {project_id}: {err}", file=sys.stderr)
            finally:
                client.close()
